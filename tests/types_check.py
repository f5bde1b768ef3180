"""Types survive the API: checked by ``mypy --strict`` in CI (.ci/run), never run.

Each ``assert_type`` fails the type check if the library's annotations stop
inferring what a user of it would expect.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from deferred import (
    Deferred,
    DeferredList,
    DeferredLock,
    DeferredQueue,
    ensureDeferred,
    gatherResults,
    inlineCallbacks,
    maybeDeferred,
    race,
    succeed,
)

if TYPE_CHECKING:
    from collections.abc import Generator

    from typing_extensions import assert_type


def _deferredInt() -> Deferred[int]:
    return succeed(1)


async def _coroutineStr() -> str:
    return "x"


def _plainBytes(size: int) -> bytes:
    return bytes(size)


@inlineCallbacks
def _generator(n: int) -> Generator[Deferred[int], int, str]:
    value = yield succeed(n)
    return str(value)


def check() -> None:
    d: Deferred[int] = Deferred()
    assert_type(d.addCallback(lambda n: str(n)), Deferred[str])
    assert_type(d.addCallback(lambda n: succeed(b"")), Deferred[bytes])
    assert_type(maybeDeferred(_deferredInt), Deferred[int])
    assert_type(maybeDeferred(_coroutineStr), Deferred[str])
    assert_type(maybeDeferred(_plainBytes, 3), Deferred[bytes])
    assert_type(ensureDeferred(_coroutineStr()), Deferred[str])
    assert_type(_generator(1), Deferred[str])
    assert_type(gatherResults([d, d]), Deferred[list[int]])
    assert_type(race([d, d]), Deferred[tuple[int, int]])
    assert_type(DeferredList([d]), DeferredList[list[tuple[bool, int]]])
    queue: DeferredQueue[str] = DeferredQueue()
    assert_type(queue.get(), Deferred[str])
    assert_type(DeferredLock().run(_plainBytes, 2), Deferred[bytes])
