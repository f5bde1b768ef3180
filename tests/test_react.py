"""Tests for react: run a main function on a fresh asyncio loop, return its
result or raise its failure, and leave nothing behind."""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings
from collections.abc import AsyncGenerator
from typing import Any

import pytest

from deferred import Deferred, ensureDeferred, fail, react
from deferred.clock import AsyncioClock
from support import UNHANDLED, Log


def test_react_returns_the_result_of_a_deferred_returning_main() -> None:
    def main(clock: AsyncioClock) -> Deferred[str]:
        d: Deferred[str] = Deferred()
        clock.callLater(0.001, d.callback, "done")
        return d

    assert react(main) == "done"


def test_react_runs_a_coroutine_returning_main() -> None:
    async def main(clock: AsyncioClock) -> int:
        d: Deferred[int] = Deferred()
        clock.callLater(0, d.callback, 41)
        return await d + 1

    assert react(main) == 42


def test_react_accepts_a_main_returning_a_plain_value() -> None:
    assert react(lambda clock: "plain") == "plain"


def test_react_passes_extra_arguments_to_main() -> None:
    async def main(clock: AsyncioClock, a: int, b: str) -> str:
        return f"{a}{b}"

    assert react(main, 1, "x") == "1x"


def test_react_gives_main_an_AsyncioClock_on_the_running_loop() -> None:
    async def main(clock: AsyncioClock) -> bool:
        loop = asyncio.get_running_loop()
        return isinstance(clock, AsyncioClock) and clock.seconds() <= loop.time()

    assert react(main) is True


def test_react_raises_the_exception_of_a_failed_deferred(deferredLog: Log) -> None:
    with pytest.raises(ValueError, match="failed"):
        react(lambda clock: fail(ValueError("failed")))
    gc.collect()
    assert [r for r in deferredLog if r.getMessage().startswith(UNHANDLED)] == []


def test_react_raises_the_exception_of_a_failing_coroutine() -> None:
    async def main(clock: AsyncioClock) -> None:
        await asyncio.sleep(0)
        raise KeyError("from the coroutine")

    with pytest.raises(KeyError):
        react(main)


def test_react_raises_what_main_raises_synchronously() -> None:
    def main(clock: AsyncioClock) -> None:
        raise LookupError("at once")

    with pytest.raises(LookupError):
        react(main)


def test_react_runs_each_call_on_a_fresh_loop_and_closes_it() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def main(clock: AsyncioClock) -> None:
        loops.append(asyncio.get_running_loop())

    react(main)
    react(main)
    assert loops[0] is not loops[1]
    assert all(loop.is_closed() for loop in loops)


def test_react_closes_the_loop_when_main_fails() -> None:
    loops: list[asyncio.AbstractEventLoop] = []

    async def main(clock: AsyncioClock) -> None:
        loops.append(asyncio.get_running_loop())
        raise ValueError

    with pytest.raises(ValueError):
        react(main)
    assert loops[0].is_closed()


def test_react_cancels_leftover_tasks_without_destroyed_task_warnings(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cancelled: list[bool] = []

    async def forever() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(True)
            raise

    tasks: list[asyncio.Task[None]] = []

    async def main(clock: AsyncioClock) -> str:
        tasks.append(asyncio.ensure_future(forever()))
        await asyncio.sleep(0)
        return "left a task behind"

    with warnings.catch_warnings(), caplog.at_level(logging.WARNING):
        warnings.simplefilter("error")
        assert react(main) == "left a task behind"
        gc.collect()
    assert cancelled == [True]
    assert [r for r in caplog.records if "destroyed" in r.getMessage()] == []


def test_react_shuts_down_async_generators() -> None:
    closed: list[bool] = []

    async def agen() -> AsyncGenerator[int, None]:
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    gens: list[Any] = []

    async def main(clock: AsyncioClock) -> int:
        gen = agen()
        gens.append(gen)  # kept alive: only the shutdown can close it
        return await gen.__anext__()

    assert react(main) == 1
    assert closed == [True]


def test_react_cannot_run_inside_a_running_loop() -> None:
    async def outer() -> None:
        with pytest.raises(RuntimeError, match="running event loop"):
            react(lambda clock: None)

    asyncio.run(outer())


def test_cancelling_the_main_task_cancels_the_deferred() -> None:
    cancelled: list[Deferred[Any]] = []

    def main(clock: AsyncioClock) -> Deferred[None]:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().call_soon(task.cancel)
        return Deferred(cancelled.append)

    with pytest.raises(asyncio.CancelledError):
        react(main)
    assert len(cancelled) == 1


def test_error_main_ends_with_after_react_was_cancelled_is_reported(
    deferredLog: Log,
) -> None:
    # main's canceller fails it with a real error: react() ends cancelled,
    # and that error is reported, not dropped.
    def main(clock: AsyncioClock) -> Deferred[None]:
        task = asyncio.current_task()
        assert task is not None
        asyncio.get_running_loop().call_soon(task.cancel)
        return Deferred(lambda d: d.errback(ValueError("while cancelling")))

    with pytest.raises(asyncio.CancelledError):
        react(main)
    gc.collect()
    [report] = [r for r in deferredLog if r.getMessage().startswith(UNHANDLED)]
    assert report.failure.check(ValueError)  # type: ignore[attr-defined]


def test_react_with_ensureDeferred_main() -> None:
    async def work(clock: AsyncioClock) -> str:
        d: Deferred[str] = Deferred()
        clock.callLater(0.001, d.callback, "ok")
        return await d

    assert react(lambda clock: ensureDeferred(work(clock))) == "ok"
