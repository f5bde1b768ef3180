"""Tests for deferred.threads: running blocking code in threads, and calling
back into the loop from them, on real asyncio loops."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
import traceback
from typing import Any

import pytest

from deferred import CancelledError, Deferred, ensureDeferred
from deferred.clock import AsyncioClock
from deferred.testing import failureResultOf
from deferred.threads import (
    blockingCallFromThread,
    callMultipleInThread,
    deferToThread,
    deferToThreadPool,
)

_var: contextvars.ContextVar[str] = contextvars.ContextVar("_var", default="unset")


# -- deferToThread ------------------------------------------------------------------


async def test_deferToThread_runs_in_another_thread_and_fires_on_the_loop() -> None:
    loopThread = threading.get_ident()
    firedIn: list[int] = []
    d = deferToThread(lambda a, b=0: (threading.get_ident(), a + b), 1, b=2)
    d.addCallback(lambda r: firedIn.append(threading.get_ident()) or r)
    workerThread, total = await d
    assert total == 3
    assert workerThread != loopThread
    assert firedIn == [loopThread]


async def test_deferToThread_fails_with_the_functions_exception() -> None:
    def boom() -> None:
        raise KeyError("in the thread")

    with pytest.raises(KeyError, match="in the thread") as info:
        await deferToThread(boom)
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert "boom" in frames


async def test_deferToThread_copies_context_variables() -> None:
    _var.set("caller's")

    def read() -> str:
        seen = _var.get()
        _var.set("changed in the thread")
        return seen

    assert await deferToThread(read) == "caller's"
    assert _var.get() == "caller's"


async def test_deferToThread_uses_the_loops_default_executor() -> None:
    names = await deferToThread(lambda: threading.current_thread().name)
    assert names == await asyncio.to_thread(lambda: threading.current_thread().name)


async def test_deferToThread_with_a_custom_default_executor() -> None:
    loop = asyncio.get_running_loop()
    with concurrent.futures.ThreadPoolExecutor(thread_name_prefix="mine") as pool:
        loop.set_default_executor(pool)
        name = await deferToThread(lambda: threading.current_thread().name)
    assert name.startswith("mine")


def test_deferToThread_of_a_non_callable_raises_at_the_call() -> None:
    with pytest.raises(TypeError, match="callable"):
        deferToThread(42)  # type: ignore[arg-type]


def test_deferToThread_without_a_running_loop_says_so() -> None:
    with pytest.raises(RuntimeError, match="running asyncio event loop"):
        deferToThread(print)


async def test_cancelling_deferToThread_before_it_starts_skips_the_call() -> None:
    loop = asyncio.get_running_loop()
    release = threading.Event()
    ran: list[str] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        loop.set_default_executor(pool)
        busy = deferToThread(release.wait, 10)
        queued = deferToThread(ran.append, "queued")
        queued.cancel()
        failureResultOf(queued, CancelledError)
        release.set()
        assert await busy is True
        await deferToThread(lambda: None)  # anything queued has run by now
    assert ran == []


async def test_cancelling_deferToThread_while_it_runs_drops_its_result() -> None:
    started = threading.Event()
    release = threading.Event()

    def work() -> str:
        started.set()
        release.wait(10)
        return "late"

    d = deferToThread(work)
    await asyncio.to_thread(started.wait, 10)
    d.cancel()
    failureResultOf(d, CancelledError)
    release.set()
    await deferToThread(lambda: None)
    await asyncio.sleep(0)


async def test_an_error_after_cancellation_is_still_reported(
    deferredLog: list[Any],
) -> None:
    started = threading.Event()
    release = threading.Event()

    def work() -> None:
        started.set()
        release.wait(10)
        raise OSError("after cancel")

    d = deferToThread(work)
    await asyncio.to_thread(started.wait, 10)
    d.cancel()
    failureResultOf(d, CancelledError)
    release.set()
    for _ in range(100):
        if deferredLog:
            break
        await asyncio.sleep(0.01)
    assert any(
        record.exc_info and isinstance(record.exc_info[1], OSError)
        for record in deferredLog
    )


async def test_deferToThread_under_load() -> None:
    # Many more calls than workers: all complete, each with its own result.
    results = await ensureDeferred(
        _gather([deferToThread(pow, i, 2) for i in range(500)])
    )
    assert results == [i * i for i in range(500)]


async def _gather(ds: list[Deferred[int]]) -> list[int]:
    return [await d for d in ds]


# -- deferToThreadPool --------------------------------------------------------------


async def test_deferToThreadPool_uses_the_given_executor_and_loop() -> None:
    loop = asyncio.get_running_loop()
    with concurrent.futures.ThreadPoolExecutor(thread_name_prefix="pool") as pool:
        name = await deferToThreadPool(
            loop, pool, lambda: threading.current_thread().name
        )
        assert name.startswith("pool")
        clockName = await deferToThreadPool(
            AsyncioClock(loop), pool, lambda: threading.current_thread().name
        )
        assert clockName.startswith("pool")
        assert await deferToThreadPool(None, pool, lambda x: x + 1, 1) == 2


async def test_deferToThreadPool_under_load_with_a_small_pool() -> None:
    loop = asyncio.get_running_loop()
    inFlight = 0
    most = 0
    lock = threading.Lock()

    def work(i: int) -> int:
        nonlocal inFlight, most
        with lock:
            inFlight += 1
            most = max(most, inFlight)
        try:
            return i
        finally:
            with lock:
                inFlight -= 1

    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        ds = [deferToThreadPool(loop, pool, work, i) for i in range(300)]
        assert await ensureDeferred(_gather(ds)) == list(range(300))
    assert most <= 3


def test_deferToThreadPool_fires_once_the_loop_runs() -> None:
    loop = asyncio.new_event_loop()
    try:
        with concurrent.futures.ThreadPoolExecutor() as pool:
            d = deferToThreadPool(loop, pool, lambda: "done")

            async def wait() -> str:
                return await d

            assert loop.run_until_complete(wait()) == "done"
    finally:
        loop.close()


def test_deferToThreadPool_rejects_bad_arguments() -> None:
    with concurrent.futures.ThreadPoolExecutor() as pool:
        with pytest.raises(TypeError, match="callable"):
            deferToThreadPool(None, pool, "no")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="Executor"):
            deferToThreadPool(None, object(), print)  # type: ignore[arg-type]
        with pytest.raises(TypeError, match="event loop"):
            deferToThreadPool("loop", pool, print)  # type: ignore[arg-type]
        with pytest.raises(RuntimeError, match="none is running"):
            deferToThreadPool(None, pool, print)


# -- blockingCallFromThread ---------------------------------------------------------


async def test_blockingCallFromThread_returns_a_plain_result() -> None:
    loop = asyncio.get_running_loop()
    where: list[int] = []

    def onLoop(x: int) -> int:
        where.append(threading.get_ident())
        return x * 2

    assert await deferToThread(blockingCallFromThread, loop, onLoop, 21) == 42
    assert where == [threading.get_ident()]


async def test_blockingCallFromThread_waits_for_a_Deferred() -> None:
    loop = asyncio.get_running_loop()

    def later() -> Deferred[str]:
        d: Deferred[str] = Deferred()
        loop.call_later(0.01, d.callback, "fired")
        return d

    assert await deferToThread(blockingCallFromThread, loop, later) == "fired"


async def test_blockingCallFromThread_runs_a_coroutine() -> None:
    loop = asyncio.get_running_loop()

    async def work(a: int, *, b: int) -> int:
        await asyncio.sleep(0)
        return a + b

    result = await deferToThread(
        blockingCallFromThread, AsyncioClock(loop), work, 1, b=2
    )
    assert result == 3


async def test_blockingCallFromThread_raises_the_exception_with_its_traceback() -> None:
    loop = asyncio.get_running_loop()

    def failing() -> None:
        raise ValueError("on the loop")

    def worker() -> list[str]:
        try:
            blockingCallFromThread(loop, failing)
        except ValueError as e:
            return [f.name for f in traceback.extract_tb(e.__traceback__)]
        raise AssertionError("did not raise")

    frames = await deferToThread(worker)
    assert "failing" in frames


async def test_blockingCallFromThread_raises_a_failed_Deferreds_exception() -> None:
    loop = asyncio.get_running_loop()

    async def failing() -> None:
        await asyncio.sleep(0)
        raise KeyError("from a coroutine")

    def worker() -> str:
        try:
            blockingCallFromThread(loop, failing)
        except KeyError as e:
            return "".join(traceback.format_exception(e))
        raise AssertionError("did not raise")

    text = await deferToThread(worker)
    assert "from a coroutine" in text
    assert "failing" in text  # where it was raised is shown


async def test_blockingCallFromThread_on_the_loop_thread_raises() -> None:
    loop = asyncio.get_running_loop()
    with pytest.raises(RuntimeError, match="loop's own thread"):
        blockingCallFromThread(loop, lambda: None)


def test_blockingCallFromThread_to_a_closed_loop_raises() -> None:
    loop = asyncio.new_event_loop()
    loop.close()
    with pytest.raises(RuntimeError):
        blockingCallFromThread(loop, lambda: None)


def test_blockingCallFromThread_rejects_a_non_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        blockingCallFromThread(asyncio.new_event_loop(), 3)  # type: ignore[arg-type]


# -- callMultipleInThread -----------------------------------------------------------


async def test_callMultipleInThread_runs_the_calls_in_order_in_one_thread() -> None:
    seen: list[tuple[int, int]] = []
    done = threading.Event()

    def record(i: int, *, last: bool = False) -> None:
        seen.append((i, threading.get_ident()))
        if last:
            done.set()

    callMultipleInThread(
        [(record, (1,), {}), (record, (2,), {}), (record, (3,), {"last": True})]
    )
    assert await asyncio.to_thread(done.wait, 10)
    assert [i for i, _ in seen] == [1, 2, 3]
    assert len({thread for _, thread in seen}) == 1
    assert seen[0][1] != threading.get_ident()


async def test_callMultipleInThread_reports_an_exception(
    deferred_errors: Any,
) -> None:
    ran: list[int] = []
    callMultipleInThread([(int, ("x",), {}), (ran.append, (1,), {})])
    for _ in range(200):
        await asyncio.sleep(0.005)
        if deferred_errors.flush(ValueError):
            break
    else:
        raise AssertionError("the error was not reported")
    assert ran == []  # the run stops at the first error
