"""asyncio semantics in asyncio code (issue 13): awaits in plain asyncio tasks
observe a Deferred like an asyncio future, a task's cancellation ends as a
cancellation, a Deferred fired from another thread wakes its task, a bare
``yield`` in a coroutine run by ensureDeferred gives the loop a turn.  Every
test runs on a real event loop."""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import gc
import pickle
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

import deferred
from deferred import (
    CancelledError,
    Deferred,
    DeferredList,
    FailureGroup,
    FirstError,
    NotACoroutineError,
    ensureDeferred,
    gatherResults,
    inlineCallbacks,
    race,
)
from deferred.clock import AsyncioClock
from support import Log, failureOf, unhandledRecords


async def awaitIt(d: Deferred[Any]) -> Any:
    return await d


# --- awaits in asyncio tasks observe ------------------------------------------


def test_every_task_awaiting_a_pending_deferred_gets_the_result() -> None:
    async def main() -> None:
        d: Deferred[str] = Deferred()
        tasks = [asyncio.ensure_future(awaitIt(d)) for _ in range(3)]
        await asyncio.sleep(0)
        d.callback("cfg")
        assert await asyncio.gather(*tasks) == ["cfg", "cfg", "cfg"]
        assert d.result == "cfg"  # kept, as an asyncio future keeps it
        # And whatever comes next sees it too.
        assert await d == "cfg"
        seen: list[str] = []
        d.addCallback(seen.append)
        assert seen == ["cfg"]

    asyncio.run(main())


def test_awaiting_a_pending_deferred_twice_in_a_task_gives_the_value_twice() -> None:
    async def main() -> None:
        d: Deferred[int] = Deferred()
        asyncio.get_running_loop().call_soon(d.callback, 7)
        assert [await d, await d] == [7, 7]

    asyncio.run(main())


def test_a_failure_taken_by_tasks_is_raised_in_each_and_counts_as_handled(
    deferredLog: Log,
) -> None:
    async def main() -> Deferred[int]:
        d: Deferred[int] = Deferred()
        tasks = [asyncio.ensure_future(awaitIt(d)) for _ in range(3)]
        await asyncio.sleep(0)
        d.errback(ValueError("bad"))
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert [type(r) for r in results] == [ValueError] * 3
        assert results[0] is results[1] is results[2]
        return d

    d = asyncio.run(main())
    assert failureOf(d).check(ValueError)  # kept on the Deferred
    del d
    assert unhandledRecords(deferredLog) == []


def test_a_failure_taken_by_a_task_keeps_the_line_that_raised() -> None:
    def fails(_: object) -> None:
        raise KeyError("here")

    async def main() -> None:
        d: Deferred[None] = Deferred()
        d.addCallback(fails)
        asyncio.get_running_loop().call_soon(d.callback, None)
        try:
            await d
        except KeyError as e:
            tb = e.__traceback__
            names = []
            while tb is not None:
                names.append(tb.tb_frame.f_code.co_name)
                tb = tb.tb_next
            assert names[-1] == "fails"
        else:  # pragma: no cover
            raise AssertionError("not raised")

    asyncio.run(main())


def test_a_failure_delivered_to_a_task_cancelled_before_it_resumes_is_reported(
    deferredLog: Log,
) -> None:
    async def main() -> None:
        d: Deferred[int] = Deferred()
        task = asyncio.ensure_future(awaitIt(d))
        await asyncio.sleep(0)
        d.errback(ValueError("nobody took me"))
        task.cancel()  # before the task resumes to take it
        with pytest.raises(asyncio.CancelledError):
            await task
        assert failureOf(d, ValueError)  # still there (taken here, by the test)

    asyncio.run(main())
    assert unhandledRecords(deferredLog) == []

    async def unseen() -> None:
        d: Deferred[int] = Deferred()
        task = asyncio.ensure_future(awaitIt(d))
        await asyncio.sleep(0)
        d.errback(ValueError("nobody took me"))
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(unseen())
    reports = unhandledRecords(deferredLog)
    assert len(reports) == 1
    assert "nobody took me" in str(reports[0].exc_info[1])  # type: ignore[index]


def test_ensureDeferred_code_keeps_consuming_semantics() -> None:
    async def consumer(d: Deferred[int]) -> int:
        return await d

    async def main() -> None:
        d: Deferred[int] = Deferred()
        result = ensureDeferred(consumer(d))
        d.callback(5)
        assert await result == 5
        assert d.result is None  # consumed, as in Twisted

    asyncio.run(main())


def test_inlineCallbacks_code_keeps_consuming_semantics() -> None:
    @inlineCallbacks
    def consumer(d: Deferred[int]) -> Any:
        value = yield d
        return value

    async def main() -> None:
        d: Deferred[int] = Deferred()
        result = consumer(d)
        d.callback(5)
        assert await result == 5
        assert d.result is None

    asyncio.run(main())


# --- task cancellation and timeouts end as cancellations ----------------------


def _gather(ds: list[Deferred[Any]]) -> Deferred[Any]:
    return gatherResults(ds)


def _race(ds: list[Deferred[Any]]) -> Deferred[Any]:
    return race(ds)


def _firstErrback(ds: list[Deferred[Any]]) -> Deferred[Any]:
    return DeferredList(ds, fireOnOneErrback=True)


def _plainList(ds: list[Deferred[Any]]) -> Deferred[Any]:
    return DeferredList(ds)


def _nestedGather(ds: list[Deferred[Any]]) -> Deferred[Any]:
    return gatherResults([gatherResults(ds[:1]), race(ds[1:])])


def _coroutine(ds: list[Deferred[Any]]) -> Deferred[Any]:
    async def waitAll() -> Any:
        return await gatherResults(ds)

    return ensureDeferred(waitAll())


COMBINATORS = [_gather, _race, _firstErrback, _plainList, _nestedGather, _coroutine]
Combinator = Callable[[list[Deferred[Any]]], Deferred[Any]]


@pytest.mark.parametrize("combine", COMBINATORS)
def test_wait_for_times_out_with_TimeoutError(
    combine: Combinator, deferredLog: Log
) -> None:
    async def main() -> list[Deferred[Any]]:
        ds: list[Deferred[Any]] = [Deferred(), Deferred()]
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(combine(ds), 0.01)
        return ds

    ds = asyncio.run(main())
    # Cancelled (race and DeferredList(consumeErrors=True) consume them).
    assert all(d.result is None or failureOf(d).check(CancelledError) for d in ds), ds
    del ds
    # The inputs' cancellations were the task's: none is reported.
    assert unhandledRecords(deferredLog) == []


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.timeout is 3.11+")
@pytest.mark.parametrize("combine", COMBINATORS)
def test_asyncio_timeout_raises_TimeoutError(
    combine: Combinator, deferredLog: Log
) -> None:
    async def main() -> None:
        ds: list[Deferred[Any]] = [Deferred(), Deferred()]
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):  # type: ignore[attr-defined]
                await combine(ds)
        assert asyncio.current_task().cancelling() == 0  # type: ignore[union-attr]

    asyncio.run(main())
    assert unhandledRecords(deferredLog) == []


@pytest.mark.parametrize("combine", COMBINATORS)
def test_task_cancel_ends_the_task_cancelled(
    combine: Combinator, deferredLog: Log
) -> None:
    async def main() -> None:
        ds: list[Deferred[Any]] = [Deferred(), Deferred()]
        task = asyncio.ensure_future(awaitIt(combine(ds)))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()

    asyncio.run(main())
    assert unhandledRecords(deferredLog) == []


@pytest.mark.skipif(sys.version_info < (3, 11), reason="TaskGroup is 3.11+")
@pytest.mark.parametrize("combine", COMBINATORS)
def test_task_group_reports_only_the_real_error(
    combine: Combinator, deferredLog: Log
) -> None:
    async def broken() -> None:
        await asyncio.sleep(0.001)
        raise ValueError("the real error")

    async def main() -> None:
        ds: list[Deferred[Any]] = [Deferred(), Deferred()]
        with pytest.raises(BaseExceptionGroup) as caught:  # noqa: F821
            async with asyncio.TaskGroup() as group:  # type: ignore[attr-defined]
                group.create_task(awaitIt(combine(ds)))
                group.create_task(broken())
        errors = caught.value.exceptions
        assert [type(e) for e in errors] == [ValueError]

    asyncio.run(main())
    assert unhandledRecords(deferredLog) == []


def test_a_task_cancelled_with_a_message_gets_it() -> None:
    seen: list[str] = []

    async def waiting() -> None:
        try:
            await gatherResults([Deferred()])
        except asyncio.CancelledError as e:
            seen.append(str(e))
            raise

    async def main() -> None:
        task = asyncio.ensure_future(waiting())
        await asyncio.sleep(0)
        task.cancel("enough")
        with pytest.raises(asyncio.CancelledError):
            await task
        assert seen == ["enough"]

    asyncio.run(main())


def test_a_real_error_still_wins_over_the_cancellation() -> None:
    # The canceller of one input fails it with an error of its own: the
    # task gets that error, as a task awaiting a task would.
    def canceller(d: Deferred[int]) -> None:
        d.errback(ValueError("canceller's own"))

    async def main() -> None:
        broken: Deferred[int] = Deferred(canceller)
        task = asyncio.ensure_future(awaitIt(gatherResults([broken, Deferred()])))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(FirstError) as caught:
            await task
        assert caught.value.subFailure.check(ValueError)
        failureOf(broken, ValueError)  # (left on it, as in Twisted)

    asyncio.run(main())


def test_a_FirstError_of_a_cancellation_not_caused_by_the_task_stays_FirstError() -> (
    None
):
    async def main() -> None:
        first: Deferred[int] = Deferred()
        task = asyncio.ensure_future(awaitIt(gatherResults([first, Deferred()])))
        await asyncio.sleep(0)
        first.cancel()  # someone else's cancellation, not the task's
        with pytest.raises(FirstError):
            await task
        failureOf(first, CancelledError)  # (which gatherResults left on it)

    asyncio.run(main())


def test_in_Deferred_code_results_and_reports_stay_Twisteds(deferredLog: Log) -> None:
    async def main() -> None:
        ds: list[Deferred[Any]] = [Deferred(), Deferred()]
        gathered = gatherResults(ds)
        gathered.cancel()
        assert failureOf(gathered).check(FirstError)
        raced = race([Deferred(), Deferred()])
        raced.cancel()
        assert failureOf(raced).check(FailureGroup)

    asyncio.run(main())
    # As in Twisted, gatherResults' inputs (no consumeErrors) are left
    # holding their CancelledErrors, reported as unhandled.
    reports = unhandledRecords(deferredLog)
    assert len(reports) == 2
    assert all(
        isinstance(r.exc_info[1], CancelledError)  # type: ignore[index]
        for r in reports
    )


# --- firing from another thread never hangs ------------------------------------


def _runGuarded(
    main: Callable[[], Any], debug: bool, limit: float = 5.0
) -> tuple[Any, float]:
    """Run ``main()`` on a fresh loop; if it hangs, stop the loop after
    ``limit`` seconds (so a regression fails instead of hanging the suite)."""
    loop = asyncio.new_event_loop()
    loop.set_debug(debug)
    try:
        task = loop.create_task(main())
        watchdog = threading.Timer(limit, lambda: loop.call_soon_threadsafe(loop.stop))
        watchdog.start()
        started = loop.time()
        try:
            result = loop.run_until_complete(task)
        finally:
            watchdog.cancel()
        return result, loop.time() - started
    finally:
        loop.close()


@pytest.mark.parametrize("debug", [False, True])
def test_a_deferred_fired_from_another_thread_wakes_the_awaiting_task(
    debug: bool,
) -> None:
    async def main() -> Any:
        d: Deferred[str] = Deferred()
        threading.Timer(0.05, d.callback, ["from a worker"]).start()
        return await d

    # (A hang would stop the loop at the watchdog, failing the test.)
    result, _ = _runGuarded(main, debug)
    assert result == "from a worker"


@pytest.mark.parametrize("debug", [False, True])
def test_a_failure_from_another_thread_is_raised_in_the_awaiting_task(
    debug: bool, deferredLog: Log
) -> None:
    async def main() -> Any:
        d: Deferred[str] = Deferred()
        threading.Timer(0.05, d.errback, [ValueError("worker failed")]).start()
        try:
            await d
        except ValueError as e:
            return str(e)

    # (A hang would stop the loop at the watchdog, failing the test.)
    result, _ = _runGuarded(main, debug)
    assert result == "worker failed"
    assert unhandledRecords(deferredLog) == []


def test_many_tasks_awaiting_deferreds_fired_from_threads_all_wake() -> None:
    async def main() -> Any:
        ds: list[Deferred[int]] = [Deferred() for _ in range(50)]
        tasks = [asyncio.ensure_future(awaitIt(d)) for d in ds]
        await asyncio.sleep(0)
        for i, d in enumerate(ds):
            threading.Thread(target=d.callback, args=(i,)).start()
        return await asyncio.gather(*tasks)

    result, _ = _runGuarded(main, False)
    assert result == list(range(50))


# --- await asyncio.sleep(0) in ensureDeferred code yields to the loop ----------


def test_a_sleep_0_loop_in_ensureDeferred_code_lets_other_tasks_run() -> None:
    async def main() -> int:
        stop = False

        async def worker() -> int:
            turns = 0
            # (Bounded, so that a regression fails instead of hanging.)
            while not stop and turns < 100_000:
                turns += 1
                await asyncio.sleep(0)
            return turns

        working = ensureDeferred(worker())

        async def stopper() -> None:
            nonlocal stop
            stop = True

        await asyncio.ensure_future(stopper())
        return await working

    turns, _ = _runGuarded(main, False)
    assert 1 <= turns < 10


def test_sleep_0_in_ensureDeferred_code_resumes_on_the_next_loop_turn() -> None:
    async def main() -> list[str]:
        order: list[str] = []

        async def worker() -> None:
            order.append("before")
            await asyncio.sleep(0)
            order.append("after")

        asyncio.get_running_loop().call_soon(order.append, "other")
        done = ensureDeferred(worker())
        assert order == ["before"]  # not resumed synchronously
        await done
        return order

    assert asyncio.run(main()) == ["before", "other", "after"]


def test_sleep_0_in_ensureDeferred_code_without_a_running_loop_goes_on_at_once() -> (
    None
):
    async def worker() -> str:
        await asyncio.sleep(0)
        return "done"

    assert ensureDeferred(worker()).result == "done"


def test_cancelling_ensureDeferred_code_during_sleep_0_throws_CancelledError_in() -> (
    None
):
    async def main() -> list[str]:
        seen: list[str] = []

        async def worker() -> None:
            try:
                await asyncio.sleep(0)
            except CancelledError:
                seen.append("cancelled")
                raise

        d = ensureDeferred(worker())
        d.cancel()
        failureOf(d, CancelledError)
        await asyncio.sleep(0)  # the cancelled turn never resumes it again
        return seen

    assert asyncio.run(main()) == ["cancelled"]


def test_an_inlineCallbacks_yield_None_is_sent_straight_back() -> None:
    # Twisted's rule, even with an asyncio loop running.
    @inlineCallbacks
    def gen() -> Any:
        value = yield None
        return ("got", value)

    async def main() -> None:
        d = gen()
        assert d.result == ("got", None)  # synchronously

    asyncio.run(main())


# --- ensureDeferred of a future points to Deferred.fromFuture -------------------


def test_ensureDeferred_of_an_asyncio_task_or_future_points_to_fromFuture() -> None:
    async def nothing() -> None:
        pass

    async def main() -> None:
        loop = asyncio.get_running_loop()
        task = asyncio.ensure_future(nothing())
        for future in (task, loop.create_future()):
            with pytest.raises(NotACoroutineError, match=r"Deferred\.fromFuture"):
                ensureDeferred(future)  # type: ignore[arg-type]
            with pytest.raises(TypeError, match=r"Deferred\.fromFuture"):
                Deferred.fromCoroutine(future)  # type: ignore[arg-type]
        await task

    asyncio.run(main())


def test_ensureDeferred_of_a_concurrent_future_points_to_fromFuture() -> None:
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        future = pool.submit(int)
        with pytest.raises(NotACoroutineError, match=r"Deferred\.fromFuture"):
            ensureDeferred(future)  # type: ignore[arg-type]


# --- deferred.TimeoutError is a builtin TimeoutError ---------------------------


def test_our_TimeoutError_is_the_builtin_one_and_an_Exception() -> None:
    assert issubclass(deferred.TimeoutError, builtins.TimeoutError)
    assert issubclass(deferred.TimeoutError, Exception)
    if sys.version_info >= (3, 11):
        assert issubclass(deferred.TimeoutError, asyncio.TimeoutError)


def test_our_TimeoutError_reads_as_Twisteds() -> None:
    error = deferred.TimeoutError(5, "Deferred")
    assert error.args == (5, "Deferred")
    assert str(error) == "(5, 'Deferred')"  # not "[Errno 5] Deferred"
    assert error.errno is None
    assert str(deferred.TimeoutError()) == ""
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is deferred.TimeoutError and copy.args == error.args


def test_except_TimeoutError_catches_ours_and_asyncios_alike() -> None:
    async def main() -> list[str]:
        caught: list[str] = []
        clock = AsyncioClock()
        d: Deferred[int] = Deferred()
        d.addTimeout(0.001, clock)
        try:
            await d
        except TimeoutError as e:  # the builtin name
            caught.append("deferred" if isinstance(e, deferred.TimeoutError) else "?")
        try:
            await asyncio.wait_for(asyncio.sleep(1), 0.001)
        except (TimeoutError, asyncio.TimeoutError):
            caught.append("asyncio")
        return caught

    assert asyncio.run(main()) == ["deferred", "asyncio"]


def _unused() -> None:  # keep imports used by later sections
    gc.collect()
