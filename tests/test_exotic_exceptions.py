"""Exceptions that refuse attributes, fail to print or cannot be hashed travel
every path of the library like any other exception: nothing escapes from
``callback()``/``errback()``, the generator and coroutine drivers,
``maybeDeferred``, ``lock.run`` or an asyncio task."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
from collections.abc import Callable
from typing import Any

import pytest

from deferred import (
    Deferred,
    DeferredLock,
    ensureDeferred,
    fail,
    inlineCallbacks,
    maybeDeferred,
    succeed,
)
from deferred.failure import Failure


@dataclasses.dataclass(frozen=True)
class FrozenError(Exception):
    code: int = 1


class RefusesAttributes(Exception):
    def __setattr__(self, name: str, value: object) -> None:
        raise RuntimeError("no attributes here")


class Unprintable(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class Unhashable(Exception):
    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        return other is self


EXOTIC = [FrozenError, RefusesAttributes, Unprintable, Unhashable]


def caughtType(d: Deferred[Any]) -> type[BaseException]:
    seen: list[Failure] = []
    d.addErrback(seen.append)
    assert seen, f"{d!r} did not fail"
    return seen[0].type


def raising(error: type[BaseException]) -> Callable[..., Any]:
    def raiseIt(*args: object) -> None:
        raise error()

    return raiseIt


@pytest.mark.parametrize("error", EXOTIC)
def test_raised_in_a_callback(error: type[Exception]) -> None:
    d: Deferred[int] = Deferred()
    d.addCallback(raising(error))
    d.callback(1)
    assert caughtType(d) is error


@pytest.mark.parametrize("error", EXOTIC)
def test_given_to_errback_and_formatted(error: type[Exception]) -> None:
    d: Deferred[int] = Deferred()
    d.errback(error())
    seen: list[Failure] = []
    d.addErrback(seen.append)
    [failure] = seen
    assert failure.getTraceback().strip()
    assert isinstance(failure.getErrorMessage(), str)
    assert error.__name__ in repr(failure)


@pytest.mark.parametrize("error", EXOTIC)
def test_left_unhandled_is_reported(
    error: type[Exception], deferredLog: list[logging.LogRecord]
) -> None:
    d: Deferred[int] = Deferred()
    d.errback(error())
    del d
    gc.collect()
    [record] = deferredLog
    assert record.getMessage().startswith("Unhandled error in Deferred:")


@pytest.mark.parametrize("error", EXOTIC)
def test_raised_by_an_inlineCallbacks_generator(error: type[Exception]) -> None:
    @inlineCallbacks
    def generator() -> Any:
        yield succeed(None)
        raise error()

    assert caughtType(generator()) is error


@pytest.mark.parametrize("error", EXOTIC)
def test_thrown_into_and_caught_by_a_generator(error: type[Exception]) -> None:
    waited: Deferred[int] = Deferred()

    @inlineCallbacks
    def generator() -> Any:
        try:
            yield waited
        except error:
            return "caught"

    d = generator()
    waited.errback(error())
    assert d.result == "caught"


@pytest.mark.parametrize("error", EXOTIC)
def test_raised_by_a_coroutine(error: type[Exception]) -> None:
    async def coroutine() -> None:
        raise error()

    assert caughtType(ensureDeferred(coroutine())) is error


@pytest.mark.parametrize("error", EXOTIC)
def test_raised_under_maybeDeferred_and_lock_run(error: type[Exception]) -> None:
    assert caughtType(maybeDeferred(raising(error))) is error
    lock = DeferredLock()
    assert caughtType(lock.run(raising(error))) is error
    assert not lock.locked


@pytest.mark.parametrize("error", EXOTIC)
def test_awaited_in_an_asyncio_task(error: type[Exception]) -> None:
    async def main() -> list[str]:
        caught = []
        try:
            await fail(error())
        except error:
            caught.append("fired")
        pending: Deferred[int] = Deferred()
        asyncio.get_running_loop().call_soon(pending.errback, error())
        try:
            await asyncio.wait_for(pending, 5)
        except error:
            caught.append("pending")
        return caught

    assert asyncio.run(main()) == ["fired", "pending"]


class _ReprRaises:
    def __repr__(self) -> str:
        raise RuntimeError("repr failed")


def test_bad_input_errors_never_depend_on_repr() -> None:
    from deferred import DeferredQueue, waitForDeferred
    from deferred.clock import Clock
    from deferred.task import LoopingCall, deferLater

    bad = _ReprRaises()
    for call in (
        lambda: LoopingCall(bad),  # type: ignore[arg-type]
        lambda: deferLater(Clock(), 1, bad),  # type: ignore[arg-type]
        lambda: Clock().callLater(1, bad),  # type: ignore[arg-type]
        lambda: Failure(bad),  # type: ignore[arg-type]
        lambda: DeferredLock().run(bad),  # type: ignore[arg-type]
        lambda: DeferredQueue().put(Deferred()),
    ):
        with pytest.raises(TypeError):
            call()
    with pytest.raises(TypeError), pytest.deprecated_call():
        waitForDeferred(bad)  # type: ignore[arg-type]
