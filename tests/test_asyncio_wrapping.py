"""asyncio runs a Deferred as a task's own coroutine: create_task() takes one,
and a task cancelled before it first runs cancels its Deferred."""

from __future__ import annotations

import asyncio
import gc
import logging

from deferred import CancelledError, Deferred, NotACoroutineError, succeed


def test_create_task_runs_a_deferred() -> None:
    async def main() -> int:
        d: Deferred[int] = Deferred()
        task = asyncio.create_task(d)  # type: ignore[arg-type]
        await asyncio.sleep(0)
        d.callback(5)
        return await task

    assert asyncio.run(main()) == 5


def test_a_task_cancelled_before_it_runs_cancels_its_deferred(
    deferredLog: list[logging.LogRecord],
) -> None:
    ran: list[str] = []

    async def main() -> None:
        d: Deferred[int] = Deferred(lambda _: ran.append("canceller"))
        for wrap in (asyncio.ensure_future, asyncio.gather):
            ran.clear()
            task = wrap(d)
            task.cancel()
            results = await asyncio.gather(task, return_exceptions=True)
            assert isinstance(results[0], asyncio.CancelledError)
            assert ran == ["canceller"]
            assert d.called
            d = Deferred(lambda _: ran.append("canceller"))

    asyncio.run(main())
    gc.collect()
    # Nobody was there to see the CancelledError: not reported.
    assert [r for r in deferredLog if "CancelledError" in r.getMessage()] == []


def test_a_fired_deferred_run_as_a_task_gives_its_result_or_raises() -> None:
    async def main() -> list[object]:
        failing: Deferred[int] = Deferred()
        failing.errback(KeyError("k"))
        results = await asyncio.gather(
            asyncio.create_task(succeed(1)),  # type: ignore[arg-type]
            asyncio.create_task(failing),  # type: ignore[arg-type]
            return_exceptions=True,
        )
        return [
            type(r).__name__ if isinstance(r, BaseException) else r for r in results
        ]

    assert asyncio.run(main()) == [1, "KeyError"]


def test_fromCoroutine_still_refuses_a_deferred() -> None:
    import pytest

    with pytest.raises(NotACoroutineError):
        Deferred.fromCoroutine(Deferred())  # type: ignore[arg-type]
    assert CancelledError  # (imported for the canceller's failure type)
