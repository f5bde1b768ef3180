"""Tests for the asyncio bridges: Deferred.asFuture, Deferred.fromFuture (asyncio
and concurrent.futures futures) and the future-like object a pending Deferred
yields when awaited."""

from __future__ import annotations

import asyncio
import concurrent.futures
import gc
import logging
import pickle
import threading
from collections.abc import Callable
from typing import Any

import pytest

from deferred import CancelledError, Deferred, TimeoutError, fail, succeed
from deferred._futures import DeferredFuture
from deferred.clock import AsyncioClock
from support import Log, failureOf, outcome, unhandled


def loopErrors(loop: asyncio.AbstractEventLoop) -> list[dict[str, Any]]:
    """Collect what reaches the loop's exception handler."""
    errors: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda loop, context: errors.append(context))
    return errors


async def turns(n: int = 3) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


# --- asFuture ------------------------------------------------------------------


def test_asFuture_completes_with_the_result() -> None:
    async def main() -> list[Any]:
        loop = asyncio.get_running_loop()
        pending: Deferred[str] = Deferred()
        future = pending.asFuture(loop)
        loop.call_soon(pending.callback, "later")
        return [await future, await succeed("now").asFuture(loop)]

    assert asyncio.run(main()) == ["later", "now"]


def test_asFuture_hands_the_failure_over(deferredLog: Log) -> None:
    async def main() -> None:
        d = fail(ValueError("bad"))
        future = d.asFuture(asyncio.get_running_loop())
        with pytest.raises(ValueError, match="bad"):
            await future
        assert d.result is None  # handed over, so handled

    asyncio.run(main())
    gc.collect()
    assert unhandled(deferredLog) == []


def test_asFuture_of_a_cancelled_deferred_raises_deferred_CancelledError() -> None:
    # As in Twisted: the failure's exception is set on the Future as it is.
    async def main() -> None:
        d: Deferred[int] = Deferred()
        future = d.asFuture(asyncio.get_running_loop())
        d.cancel()
        with pytest.raises(CancelledError):
            await future
        assert not future.cancelled()

    asyncio.run(main())


def test_cancelling_the_future_cancels_the_deferred(deferredLog: Log) -> None:
    async def main() -> None:
        cancelled: list[Deferred[Any]] = []
        d: Deferred[int] = Deferred(cancelled.append)
        future = d.asFuture(asyncio.get_running_loop())
        future.cancel()
        await turns()
        assert cancelled == [d]
        assert d.result is None  # its CancelledError was taken

    asyncio.run(main())
    gc.collect()
    assert unhandled(deferredLog) == []


def test_error_the_deferred_ends_with_after_the_future_was_cancelled_is_reported(
    deferredLog: Log,
) -> None:
    # The canceller fails the Deferred with a real error, which nobody
    # awaits any more: it stays on the Deferred and is reported, not dropped.
    async def main() -> None:
        d: Deferred[int] = Deferred(lambda d: d.errback(ValueError("late")))
        future = d.asFuture(asyncio.get_running_loop())
        future.cancel()
        await turns()
        assert d.called

    asyncio.run(main())
    gc.collect()
    [report] = unhandled(deferredLog)
    assert report.failure.check(ValueError)  # type: ignore[attr-defined]


def test_task_cancel_with_a_raising_canceller_cancels_the_task(
    deferredLog: Log,
) -> None:
    # Task.cancel() must not raise, and the task must end cancelled (so
    # asyncio.timeout works): the canceller's error is logged instead.
    def brokenCanceller(d: Deferred[Any]) -> None:
        raise ValueError("canceller broke")

    d: Deferred[int] = Deferred(brokenCanceller)

    async def waiter() -> int:
        return await d

    async def main() -> None:
        task = asyncio.ensure_future(waiter())
        await turns()
        assert task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The Deferred did not fire; what it ends with later stays on it.
        assert not d.called
        d.callback(5)
        assert outcome(d) == 5

    asyncio.run(main())
    [record] = deferredLog
    assert "canceller" in record.getMessage()
    assert record.failure.check(ValueError)  # type: ignore[attr-defined]


def test_late_cancellation_after_a_raising_canceller_is_not_reported_again(
    deferredLog: Log,
) -> None:
    # The canceller raised (logged once) and the task ended cancelled; the
    # producer's own CancelledError arriving later is no news.
    aborted: list[Deferred[int]] = []

    def canceller(d: Deferred[int]) -> None:
        aborted.append(d)
        raise RuntimeError("canceller broke")

    async def main() -> None:
        d: Deferred[int] = Deferred(canceller)
        task = asyncio.ensure_future(_awaitIt(d))
        await turns()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        late = aborted.pop()
        late.errback(CancelledError())
        assert late.result is None  # taken: nothing left to report

    asyncio.run(main())
    gc.collect()
    assert len(deferredLog) == 1
    assert unhandled(deferredLog) == []


def test_asyncio_timeout_works_with_a_raising_canceller(deferredLog: Log) -> None:
    def brokenCanceller(d: Deferred[Any]) -> None:
        raise ValueError("canceller broke")

    async def main() -> None:
        d: Deferred[int] = Deferred(brokenCanceller)
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.ensure_future(_awaitIt(d)), 0.01)

    asyncio.run(main())
    assert len(deferredLog) == 1


async def _awaitIt(d: Deferred[int]) -> int:
    return await d


def test_asFuture_wraps_StopIteration_which_a_future_refuses() -> None:
    async def main() -> None:
        future = fail(StopIteration(1)).asFuture(asyncio.get_running_loop())
        with pytest.raises(RuntimeError) as info:
            await future
        assert isinstance(info.value.__cause__, StopIteration)

    asyncio.run(main())


# --- fromFuture, asyncio ---------------------------------------------------------


def test_fromFuture_fires_with_the_future_result() -> None:
    async def main() -> Any:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[str] = loop.create_future()
        d = Deferred.fromFuture(future)
        assert not d.called
        loop.call_soon(future.set_result, "value")
        await turns()
        return outcome(d)

    assert asyncio.run(main()) == "value"


def test_fromFuture_fails_with_the_future_exception() -> None:
    async def main() -> None:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        d = Deferred.fromFuture(future)
        future.set_exception(KeyError("k"))
        await turns()
        assert failureOf(d).check(KeyError)

    asyncio.run(main())


def test_fromFuture_of_a_done_future_fires_at_once() -> None:
    async def main() -> None:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        future.set_result(3)
        assert outcome(Deferred.fromFuture(future)) == 3

    asyncio.run(main())


def test_fromFuture_on_a_subclass_makes_that_subclass() -> None:
    class Tagged(Deferred[Any]):
        pass

    async def main() -> None:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        threaded: concurrent.futures.Future[int] = concurrent.futures.Future()
        for source in (future, threaded):
            d = Tagged.fromFuture(source)
            assert type(d) is Tagged
            source.set_result(8)
            await turns()
            assert outcome(d) == 8

    asyncio.run(main())


def test_fromFuture_of_a_task() -> None:
    async def job() -> str:
        await asyncio.sleep(0)
        return "task result"

    async def main() -> Any:
        return await Deferred.fromFuture(asyncio.ensure_future(job()))

    assert asyncio.run(main()) == "task result"


def test_cancelling_the_deferred_cancels_the_asyncio_future() -> None:
    # As in Twisted: the Deferred then takes what the future ends with -- its
    # asyncio.CancelledError -- once the loop turns.
    async def main() -> None:
        loop = asyncio.get_running_loop()
        errors = loopErrors(loop)
        future: asyncio.Future[int] = loop.create_future()
        d = Deferred.fromFuture(future)
        d.cancel()
        assert future.cancelled()
        assert not d.called or "waiting on" in repr(d)
        await turns()
        assert failureOf(d).check(asyncio.CancelledError)
        assert errors == []

    asyncio.run(main())


def test_cancelling_before_the_loop_runs_fails_once_the_loop_turns() -> None:
    # Twisted's own check: a loop that is not running yet.
    loop = asyncio.new_event_loop()
    try:
        errors = loopErrors(loop)
        future: asyncio.Future[int] = loop.create_future()
        d = Deferred.fromFuture(future)
        seen: list[Any] = []
        d.addBoth(seen.append)
        d.cancel()
        assert future.cancelled()
        assert seen == []
        loop.call_soon(loop.stop)
        loop.run_forever()
        assert len(seen) == 1
        assert seen[0].check(asyncio.CancelledError)
        with pytest.raises(asyncio.CancelledError):
            future.result()
        assert errors == []
    finally:
        loop.close()


def test_cancelling_a_task_before_the_loop_runs() -> None:
    async def work() -> str:
        await asyncio.sleep(10)
        return "no"

    loop = asyncio.new_event_loop()
    try:
        task = loop.create_task(work())
        d = Deferred.fromFuture(task)
        d.cancel()
        assert not d.called or "waiting on" in repr(d)
        loop.run_until_complete(asyncio.sleep(0))
        assert task.cancelled()
        assert failureOf(d).check(asyncio.CancelledError)
    finally:
        loop.close()


def test_cancelled_task_that_does_not_stop_gives_its_outcome() -> None:
    async def main() -> None:
        async def stubborn() -> str:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                return "finished anyway"
            return "no"

        task = asyncio.ensure_future(stubborn())
        await asyncio.sleep(0)  # it is waiting in sleep()
        d = Deferred.fromFuture(task)
        d.cancel()
        await turns()
        assert outcome(d) == "finished anyway"

    asyncio.run(main())


def test_cancelling_twice_fails_at_once_with_our_CancelledError(
    deferredLog: Log,
) -> None:
    # As in Twisted: the second cancel() reaches the Deferred the first one
    # left it waiting on, which has no canceller.
    async def main() -> None:
        loop = asyncio.get_running_loop()
        errors = loopErrors(loop)
        future: asyncio.Future[int] = loop.create_future()
        d = Deferred.fromFuture(future)
        d.cancel()
        d.cancel()
        assert failureOf(d).check(CancelledError)
        await turns()  # the future's own delivery must not fire d again
        assert errors == []

    asyncio.run(main())
    gc.collect()
    assert unhandled(deferredLog) == []


def test_cancelling_a_fromFuture_deferred_awaited_in_a_coroutine() -> None:
    async def main() -> None:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        caught: list[BaseException] = []

        async def waiter() -> str:
            try:
                await Deferred.fromFuture(future)
            except asyncio.CancelledError as e:
                caught.append(e)
                return "cancelled"
            return "no"

        d = Deferred.fromCoroutine(waiter())
        d.cancel()
        assert caught == []  # the future's cancellation comes with the loop
        await turns()
        assert outcome(d) == "cancelled"
        assert isinstance(caught[0], CancelledError)

    asyncio.run(main())


def test_our_cancellation_is_both_ours_and_asyncios() -> None:
    # Twisted's Deferred fails with the future's asyncio.CancelledError; ours
    # with an error that is that and a deferred.CancelledError too, so that
    # Deferred code (addTimeout, except CancelledError) still recognises it.
    async def main() -> None:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        d = Deferred.fromFuture(future)
        d.cancel()
        await turns()
        failure = failureOf(d)
        assert failure.check(asyncio.CancelledError)
        assert failure.check(CancelledError)
        assert isinstance(failure.value.__cause__, asyncio.CancelledError)
        assert failure.getErrorMessage() == ""
        assert repr(failure.value) == "CancelledError()"
        assert "deferred.CancelledError" in repr(failure)
        copy = pickle.loads(pickle.dumps(failure.value))
        assert type(copy) is CancelledError

    asyncio.run(main())


def test_addTimeout_of_a_fromFuture_deferred_gives_TimeoutError() -> None:
    async def main() -> None:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        d = Deferred.fromFuture(future).addTimeout(0.001, AsyncioClock())
        await asyncio.sleep(0.02)
        assert future.cancelled()
        assert failureOf(d).check(TimeoutError)

    asyncio.run(main())


def test_future_cancelled_by_asyncio_fails_with_asyncio_CancelledError() -> None:
    async def main() -> None:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        d = Deferred.fromFuture(future)
        future.cancel()
        await turns()
        assert failureOf(d).check(asyncio.CancelledError)

    asyncio.run(main())


def test_error_that_wins_the_race_with_cancel_is_the_result(
    deferredLog: Log,
) -> None:
    async def main() -> None:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        d = Deferred.fromFuture(future)
        future.set_exception(ValueError("too late"))  # its callback is queued
        d.cancel()  # the future is done: cannot be cancelled
        await turns()
        assert failureOf(d).check(ValueError)

    asyncio.run(main())
    gc.collect()
    assert unhandled(deferredLog) == []


def test_error_after_a_second_cancel_is_reported_once(deferredLog: Log) -> None:
    async def main() -> None:
        future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        d = Deferred.fromFuture(future)
        future.set_exception(ValueError("too late"))  # its callback is queued
        d.cancel()
        d.cancel()  # gives up waiting
        assert failureOf(d).check(CancelledError)
        await turns()

    asyncio.run(main())
    gc.collect()
    [record] = unhandled(deferredLog)
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)


def test_fromFuture_rejects_other_objects() -> None:
    with pytest.raises(TypeError, match=r"concurrent\.futures\.Future"):
        Deferred.fromFuture(42)  # type: ignore[arg-type]


def test_fromFuture_of_a_coroutine_says_what_to_do_instead() -> None:
    async def coroutine() -> None:
        pass

    coro = coroutine()
    try:
        with pytest.raises(TypeError, match="ensureDeferred"):
            Deferred.fromFuture(coro)  # type: ignore[arg-type]
    finally:
        coro.close()


# --- fromFuture, concurrent.futures ------------------------------------------------


def double(x: int) -> int:
    return x * 2


def test_thread_pool_future_fires_on_the_loop_thread() -> None:
    async def main() -> None:
        loopThread = threading.get_ident()
        seen: list[tuple[int, bool]] = []
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            gate = threading.Event()
            future = pool.submit(lambda: gate.wait() and 21)
            d = Deferred.fromFuture(future)
            d.addCallback(lambda r: seen.append((r, threading.get_ident())) or r)
            gate.set()
            assert await d == 21
        assert seen == [(21, loopThread)]

    asyncio.run(main())


def test_thread_pool_failure_fails_the_deferred() -> None:
    def boom() -> None:
        raise ValueError("in a thread")

    async def main() -> None:
        with (
            concurrent.futures.ThreadPoolExecutor(1) as pool,
            pytest.raises(ValueError, match="in a thread"),
        ):
            await Deferred.fromFuture(pool.submit(boom))

    asyncio.run(main())


def test_process_pool_future() -> None:
    async def main() -> Any:
        with concurrent.futures.ProcessPoolExecutor(1) as pool:
            return await Deferred.fromFuture(pool.submit(double, 21))

    assert asyncio.run(main()) == 42


def test_done_concurrent_future_fires_at_once() -> None:
    async def main() -> None:
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        future.set_result(5)
        assert outcome(Deferred.fromFuture(future)) == 5

    asyncio.run(main())


def test_concurrent_future_without_a_running_loop_raises_RuntimeError() -> None:
    pending: concurrent.futures.Future[int] = concurrent.futures.Future()
    done: concurrent.futures.Future[int] = concurrent.futures.Future()
    done.set_result(1)
    for future in (pending, done):
        with pytest.raises(RuntimeError, match="running asyncio event loop"):
            Deferred.fromFuture(future)


def test_cancelling_the_deferred_cancels_a_queued_concurrent_future() -> None:
    # As for an asyncio future: the Deferred takes the future's own
    # cancellation, once it reaches the loop.
    async def main() -> None:
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        d = Deferred.fromFuture(future)
        d.cancel()
        assert future.cancelled()
        await turns()
        assert failureOf(d).check(CancelledError)

    asyncio.run(main())


def test_running_future_cancelled_late_drops_its_result_quietly(
    deferredLog: Log,
) -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        errors = loopErrors(loop)
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        future.set_running_or_notify_cancel()  # running: cannot be cancelled
        d = Deferred.fromFuture(future)
        d.cancel()
        assert failureOf(d).check(CancelledError)
        thread = threading.Thread(target=future.set_result, args=(1,))
        thread.start()
        thread.join()  # the result is on its way to the loop: no race with time
        await asyncio.sleep(0.01)
        assert errors == []

    asyncio.run(main())
    gc.collect()
    assert unhandled(deferredLog) == []


def test_running_future_cancelled_late_reports_its_error_once(
    deferredLog: Log,
) -> None:
    async def main() -> None:
        future: concurrent.futures.Future[int] = concurrent.futures.Future()
        future.set_running_or_notify_cancel()
        d = Deferred.fromFuture(future)
        d.cancel()
        failureOf(d)
        future.set_exception(ValueError("lost otherwise"))
        await asyncio.sleep(0.01)

    asyncio.run(main())
    gc.collect()
    assert len(unhandled(deferredLog)) == 1


def test_future_finishing_after_the_loop_closed_is_ignored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    future: concurrent.futures.Future[int] = concurrent.futures.Future()
    fired: list[Any] = []

    async def main() -> None:
        Deferred.fromFuture(future).addBoth(fired.append)

    asyncio.run(main())
    with caplog.at_level(logging.DEBUG):
        future.set_result(1)  # its done-callback finds the loop closed
    assert fired == []
    assert caplog.records == []


class DistributedFuture:
    """A stand-in for a distributed engine's future (Dask's, say): the
    concurrent.futures interface, completed from a thread of its own."""

    def __init__(self, value: object) -> None:
        self._value = value
        self._callbacks: list[Callable[[DistributedFuture], object]] = []
        self._done = threading.Event()
        self.threads: list[int] = []

    def done(self) -> bool:
        return self._done.is_set()

    def result(self, timeout: float | None = None) -> object:
        self._done.wait(timeout)
        return self._value

    def cancel(self) -> bool:
        return False

    def add_done_callback(self, fn: Callable[[DistributedFuture], object]) -> None:
        self._callbacks.append(fn)

    def finishInAThread(self) -> None:
        def finish() -> None:
            self.threads.append(threading.get_ident())
            self._done.set()
            for fn in self._callbacks:
                fn(self)

        threading.Thread(target=finish).start()


def test_future_of_a_distributed_engine_fires_on_the_loop_thread() -> None:
    async def main() -> None:
        future = DistributedFuture("computed")
        d = Deferred.fromFuture(future)  # type: ignore[arg-type]
        firedOn: list[int] = []
        d.addCallback(lambda r: firedOn.append(threading.get_ident()) or r)
        future.finishInAThread()
        assert await d == "computed"
        assert firedOn == [threading.get_ident()]
        assert future.threads != firedOn

    asyncio.run(main())


# --- the future-like object of `await pendingDeferred` --------------------------------


def waiterFor(d: Deferred[Any]) -> DeferredFuture:
    waiter = d.__await__().send(None)
    assert type(waiter) is DeferredFuture
    return waiter


def test_await_of_a_pending_deferred_yields_a_future_like_object() -> None:
    d: Deferred[int] = Deferred()
    waiter = waiterFor(d)
    assert waiter._asyncio_future_blocking is True
    assert not waiter.done()
    assert "Deferred" in repr(waiter)
    assert d._callbacks == ()  # nothing registered until a task asks


def test_waiter_result_and_exception_before_it_is_done_raise() -> None:
    waiter = waiterFor(Deferred())
    with pytest.raises(asyncio.InvalidStateError):
        waiter.result()
    with pytest.raises(asyncio.InvalidStateError):
        waiter.exception()


def test_waiter_protocol_once_done() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        d: Deferred[int] = Deferred()
        waiter = waiterFor(d)
        assert waiter.get_loop() is loop
        calls: list[Any] = []
        waiter.add_done_callback(calls.append)
        d.callback(7)
        assert waiter.done() and not waiter.cancelled()
        assert waiter.result() == 7
        assert waiter.exception() is None
        assert calls == []  # on a later loop turn, not inside the callback
        await turns(1)
        assert calls == [waiter]
        waiter.add_done_callback(calls.append)  # already done: scheduled
        await turns(1)
        assert calls == [waiter, waiter]
        assert waiter.cancel() is False

    asyncio.run(main())


def test_waiter_remove_done_callback() -> None:
    async def main() -> None:
        d: Deferred[int] = Deferred()
        waiter = waiterFor(d)
        calls: list[Any] = []
        waiter.add_done_callback(calls.append)
        waiter.add_done_callback(calls.append)
        assert waiter.remove_done_callback(calls.append) == 2
        assert waiter.remove_done_callback(calls.append) == 0
        d.callback(1)
        await turns(1)
        assert calls == []

    asyncio.run(main())


def test_waiter_failure_and_cancellation() -> None:
    async def main() -> None:
        failing: Deferred[int] = Deferred()
        waiter = waiterFor(failing)
        waiter.add_done_callback(lambda w: None)
        failing.errback(KeyError("k"))
        assert isinstance(waiter.exception(), KeyError)
        with pytest.raises(KeyError):
            waiter.result()

        cancelled: Deferred[int] = Deferred()
        waiter = waiterFor(cancelled)
        waiter.add_done_callback(lambda w: None)
        assert waiter.cancel("why") is True
        assert waiter.cancelled()
        with pytest.raises(asyncio.CancelledError, match="why"):
            waiter.exception()
        await turns(1)

    asyncio.run(main())


def test_waiter_needs_a_running_loop_for_its_loop() -> None:
    waiter = waiterFor(Deferred())
    with pytest.raises(RuntimeError):
        waiter.get_loop()


def test_deferred_firing_after_the_loop_closed_keeps_its_result() -> None:
    async def waitOn(d: Deferred[int]) -> int:
        return await d

    d: Deferred[int] = Deferred()
    loop = asyncio.new_event_loop()
    # The task is still pending when the loop goes: it gets reported.
    loop.set_exception_handler(lambda loop, context: None)
    task = loop.create_task(waitOn(d))
    loop.run_until_complete(asyncio.sleep(0))  # the task now waits on d
    loop.close()
    d.errback(ValueError("after close"))
    # Not taken by a task that will never run (nor replaced by a loop error).
    assert failureOf(d).check(ValueError)
    del task
