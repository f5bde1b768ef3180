"""Deferred-likes of other libraries (Twisted's own, in a program ported a
piece at a time) awaited or yielded by our generators and coroutines."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

from deferred import CancelledError, Deferred, ensureDeferred, inlineCallbacks
from deferred.failure import Failure


class ForeignFailure:
    def __init__(self, value: BaseException) -> None:
        self.value = value
        self.type = type(value)
        self.tb = None


class ForeignDeferred:
    """Like Twisted's Deferred as seen from outside: ``addCallbacks``, and an
    ``__await__`` that yields the Deferred itself until it has fired."""

    def __init__(self) -> None:
        self.pairs: list[tuple[Callable[..., Any], Callable[..., Any]]] = []
        self.cancelled = False
        self.outcome: list[Any] = []

    def addCallbacks(
        self, callback: Callable[..., Any], errback: Callable[..., Any]
    ) -> ForeignDeferred:
        self.pairs.append((callback, errback))
        return self

    def fire(self, value: object) -> None:
        self.outcome.append(value)
        for callback, _ in self.pairs:
            callback(value)

    def fail(self, error: BaseException) -> None:
        self.outcome.append(error)
        for _, errback in self.pairs:
            errback(ForeignFailure(error))

    def cancel(self) -> None:
        self.cancelled = True
        self.fail(CancelledError())

    def __await__(self) -> Generator[Any, Any, Any]:
        while not self.outcome:
            yield self  # what it is sent back means nothing to it
        [outcome] = self.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


def test_a_coroutine_awaits_a_foreign_deferred() -> None:
    foreign = ForeignDeferred()

    async def coroutine() -> Any:
        return await foreign

    d = ensureDeferred(coroutine())
    assert not d.called  # waiting, not spinning
    foreign.fire(5)
    assert d.result == 5


def test_a_generator_gets_a_foreign_failure_raised() -> None:
    foreign = ForeignDeferred()

    @inlineCallbacks
    def generator() -> Any:
        try:
            yield foreign
        except KeyError as e:
            return f"caught {e.args[0]}"

    d = generator()
    foreign.fail(KeyError("k"))
    assert d.result == "caught k"


def test_cancelling_reaches_the_foreign_deferred() -> None:
    foreign = ForeignDeferred()

    async def coroutine() -> Any:
        return await foreign

    d = ensureDeferred(coroutine())
    d.cancel()
    assert foreign.cancelled
    seen: list[Failure] = []
    d.addErrback(seen.append)
    seen[0].trap(CancelledError)


def test_a_yielded_failure_is_not_taken_for_a_deferred_like() -> None:
    @inlineCallbacks
    def generator() -> Any:
        try:
            yield Failure(ValueError("thrown back"))
        except ValueError:
            return "raised at the yield"

    assert generator().result == "raised at the yield"


def test_our_own_deferreds_still_go_the_direct_way() -> None:
    ours: Deferred[int] = Deferred()

    async def coroutine() -> int:
        return await ours

    d = ensureDeferred(coroutine())
    ours.callback(3)
    assert d.result == 3


def test_fromCoroutine_rejects_a_queue_get_deferred_as_twisted_does() -> None:
    import pytest

    from deferred import DeferredQueue, NotACoroutineError

    with pytest.raises(NotACoroutineError):
        Deferred.fromCoroutine(DeferredQueue().get())  # type: ignore[arg-type]


def test_cancelling_gives_our_cancelled_error_so_timeouts_work() -> None:
    from deferred import TimeoutError
    from deferred.clock import Clock

    class ForeignCancelledError(Exception):
        pass

    ForeignCancelledError.__name__ = "CancelledError"

    class Cancellable(ForeignDeferred):
        def cancel(self) -> None:
            self.cancelled = True
            self.fail(ForeignCancelledError())

    foreign = Cancellable()

    async def coroutine() -> Any:
        return await foreign

    clock = Clock()
    d = ensureDeferred(coroutine()).addTimeout(1, clock)
    clock.advance(2)
    seen: list[Failure] = []
    d.addErrback(seen.append)
    assert seen[0].check(TimeoutError)
