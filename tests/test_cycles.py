"""Handled failures leave no reference cycles behind, on every supported
Python (3.12 links a finished generator's frame back to its caller, which
made a failure thrown into a generator and caught there part of a cycle)."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from deferred import CancelledError, Deferred, ensureDeferred, inlineCallbacks


@pytest.fixture
def collectorOff() -> Iterator[None]:
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def cyclicGarbage(run: Callable[[], object], times: int = 20) -> float:
    gc.collect()
    for _ in range(times):
        run()
    return gc.collect() / times


def generatorCatchingAFailure() -> None:
    waited: Deferred[int] = Deferred()

    @inlineCallbacks
    def generator() -> Any:
        try:
            yield waited
        except ValueError:
            return "caught"

    d = generator()
    waited.errback(ValueError("thrown in"))
    assert d.result == "caught"


def generatorCatchingItsCancellation() -> None:
    @inlineCallbacks
    def generator() -> Any:
        try:
            yield Deferred()
        except CancelledError:
            return "cancelled"

    d = generator()
    d.cancel()
    assert d.result == "cancelled"


def coroutineCatchingAFailure() -> None:
    waited: Deferred[int] = Deferred()

    async def coroutine() -> str:
        try:
            await waited
        except ValueError:
            return "caught"
        return "not caught"

    d = ensureDeferred(coroutine())
    waited.errback(ValueError("thrown in"))
    assert d.result == "caught"


def coroutineCatchingItsCancellation() -> None:
    async def coroutine() -> str:
        try:
            await Deferred()
        except CancelledError:
            return "cancelled"
        return "not cancelled"

    d = ensureDeferred(coroutine())
    d.cancel()
    assert d.result == "cancelled"


def generatorLettingAFailureOut() -> None:
    waited: Deferred[int] = Deferred()

    @inlineCallbacks
    def generator() -> Any:
        yield waited

    d = generator()
    waited.errback(ValueError("let out"))
    d.addErrback(lambda f: f.trap(ValueError))


@pytest.mark.parametrize(
    "run",
    [
        generatorCatchingAFailure,
        generatorCatchingItsCancellation,
        coroutineCatchingAFailure,
        coroutineCatchingItsCancellation,
        generatorLettingAFailureOut,
    ],
)
def test_handled_failures_leave_no_cycles(
    run: Callable[[], object], collectorOff: None
) -> None:
    assert cyclicGarbage(run) == 0
