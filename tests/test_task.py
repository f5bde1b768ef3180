"""Tests for deferred.task: deferLater, LoopingCall and the Cooperator, on a
manual Clock and on real asyncio loops."""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from deferred import CancelledError, Deferred, fail, succeed
from deferred.clock import AsyncioClock, Clock
from deferred.task import (
    CooperativeTask,
    Cooperator,
    LoopingCall,
    NotPaused,
    SchedulerError,
    SchedulerStopped,
    TaskDone,
    TaskFailed,
    TaskFinished,
    TaskStopped,
    coiterate,
    cooperate,
    deferLater,
)
from deferred.testing import assertNoResult, failureResultOf, successResultOf


def test_clock_and_react_are_importable_from_task() -> None:
    from deferred import task

    assert task.Clock is Clock
    assert callable(task.react)


def test_task_react_passes_argv_and_exits_as_twisted_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from deferred import task

    seen: list[tuple[Any, ...]] = []

    async def main(clock: Any, *argv: str) -> None:
        seen.append((type(clock).__name__, *argv))

    with pytest.raises(SystemExit) as exited:
        task.react(main, ["alice", "secret"])
    assert exited.value.code == 0
    assert seen == [("AsyncioClock", "alice", "secret")]

    async def quits(clock: Any) -> None:
        raise SystemExit(3)

    with pytest.raises(SystemExit) as exited:
        task.react(quits)
    assert exited.value.code == 3

    async def breaks(clock: Any) -> None:
        raise ValueError("broken")

    with pytest.raises(SystemExit) as exited:
        task.react(breaks)
    assert exited.value.code == 1
    [record] = [r for r in caplog.records if r.name == "deferred"]
    assert record.getMessage() == "main function encountered error"


# -- deferLater -------------------------------------------------------------------


def test_deferLater_fires_with_the_result_of_the_callable_after_the_delay(
    clock: Clock,
) -> None:
    d = deferLater(clock, 2, lambda a, b: a + b, 1, b=2)
    clock.advance(1.9)
    assertNoResult(d)
    clock.advance(0.1)
    assert successResultOf(d) == 3


def test_deferLater_without_a_callable_fires_with_None(clock: Clock) -> None:
    d = deferLater(clock, 1)
    clock.advance(1)
    assert successResultOf(d) is None


def test_deferLater_fails_with_the_exception_of_the_callable(clock: Clock) -> None:
    def boom() -> None:
        raise KeyError("x")

    d = deferLater(clock, 1, boom)
    clock.advance(1)
    failureResultOf(d, KeyError)


def test_deferLater_waits_for_a_Deferred_the_callable_returns(clock: Clock) -> None:
    inner: Deferred[str] = Deferred()
    d = deferLater(clock, 1, lambda: inner)
    clock.advance(1)
    assertNoResult(d)
    inner.callback("late")
    assert successResultOf(d) == "late"


def test_deferLater_runs_a_coroutine_the_callable_returns(clock: Clock) -> None:
    inner: Deferred[int] = Deferred()

    async def job() -> int:
        return await inner * 2

    d = deferLater(clock, 1, job)
    clock.advance(1)
    assertNoResult(d)
    inner.callback(21)
    assert successResultOf(d) == 42


def test_deferLater_cancelled_before_the_delay_calls_off_the_call(
    clock: Clock,
) -> None:
    called = []
    d = deferLater(clock, 1, called.append, "x")
    d.cancel()
    failureResultOf(d, CancelledError)
    assert clock.getDelayedCalls() == []
    clock.advance(5)
    assert called == []


def test_deferLater_cancelled_after_the_delay_cancels_the_callables_Deferred(
    clock: Clock,
) -> None:
    cancelled = []
    inner: Deferred[str] = Deferred(cancelled.append)
    d = deferLater(clock, 1, lambda: inner)
    clock.advance(1)
    d.cancel()
    assert cancelled == [inner]
    failureResultOf(d, CancelledError)


def test_deferLater_cancelled_after_it_fired_does_nothing(clock: Clock) -> None:
    d = deferLater(clock, 1, lambda: "v")
    clock.advance(1)
    d.cancel()
    assert successResultOf(d) == "v"


def test_deferLater_rejects_a_non_callable_at_the_call(clock: Clock) -> None:
    with pytest.raises(TypeError, match="callable"):
        deferLater(clock, 1, "not callable")  # type: ignore[call-overload]
    assert clock.getDelayedCalls() == []


def test_deferLater_rejects_a_negative_delay(clock: Clock) -> None:
    with pytest.raises(ValueError):
        deferLater(clock, -1)


async def test_deferLater_uses_the_running_loop_without_a_clock() -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await deferLater(None, 0.01, lambda: "on the loop") == "on the loop"
    assert loop.time() >= start


async def test_deferLater_on_an_AsyncioClock_cancelled_before_the_delay() -> None:
    clock = AsyncioClock()
    d = deferLater(clock, 10, lambda: "never")
    d.cancel()
    failureResultOf(d, CancelledError)
    assert clock.getDelayedCalls() == []


# -- LoopingCall ------------------------------------------------------------------


def looping(clock: Clock, f: Callable[..., object], *a: object) -> LoopingCall:
    call = LoopingCall(f, *a)
    call.clock = clock
    return call


def test_loopingcall_calls_at_once_and_then_every_interval(clock: Clock) -> None:
    times: list[float] = []
    call = looping(clock, lambda: times.append(clock.seconds()))
    call.start(1.0)
    assert times == [0.0]
    clock.pump([1, 1, 1])
    assert times == [0.0, 1.0, 2.0, 3.0]


def test_loopingcall_start_later_waits_one_interval(clock: Clock) -> None:
    times: list[float] = []
    call = looping(clock, lambda: times.append(clock.seconds()))
    call.start(2.0, now=False)
    assert times == []
    clock.advance(2)
    assert times == [2.0]


def test_loopingcall_passes_its_arguments(clock: Clock) -> None:
    seen: list[tuple[object, ...]] = []
    call = LoopingCall(lambda *a, **kw: seen.append((a, kw)), 1, x=2)
    call.clock = clock
    call.start(1)
    assert seen == [((1,), {"x": 2})]


def test_loopingcall_stop_fires_the_start_Deferred_with_itself(clock: Clock) -> None:
    call = looping(clock, lambda: None)
    d = call.start(1)
    assert call.running
    call.stop()
    assert not call.running
    assert successResultOf(d) is call
    assert clock.getDelayedCalls() == []


def test_loopingcall_is_not_running_when_its_Deferred_fires(clock: Clock) -> None:
    call = looping(clock, lambda: None)
    seen: list[bool] = []
    call.start(1).addCallback(lambda c: seen.append(c.running))
    call.stop()
    assert seen == [False]


def test_loopingcall_does_not_drift(clock: Clock) -> None:
    times: list[float] = []
    call = looping(clock, lambda: times.append(clock.seconds()))
    call.start(1.0)
    # Each call comes a little late: the next is still planned on the grid.
    clock.pump([1.25, 0.75, 1.25, 0.75])
    assert times == [0.0, 1.25, 2.0, 3.25, 4.0]


def test_loopingcall_skips_missed_intervals_without_catching_up(
    clock: Clock,
) -> None:
    times: list[float] = []
    call = looping(clock, lambda: times.append(clock.seconds()))
    call.start(1.0)
    clock.advance(3.5)  # the loop was blocked for three and a half intervals
    assert times == [0.0, 3.5]
    clock.advance(0.5)
    assert times == [0.0, 3.5, 4.0]


def test_loopingcall_waits_for_a_Deferred_returned_by_the_function(
    clock: Clock,
) -> None:
    pending: list[Deferred[None]] = []

    def f() -> Deferred[None]:
        pending.append(Deferred())
        return pending[-1]

    call = looping(clock, f)
    call.start(1)
    clock.advance(5)
    assert len(pending) == 1  # nothing scheduled while it waits
    clock.advance(0.5)
    pending[0].callback(None)
    # Rescheduled at the next point of the grid.
    clock.advance(0.4)
    assert len(pending) == 1
    clock.advance(0.1)
    assert len(pending) == 2


def test_loopingcall_waits_for_a_coroutine_returned_by_the_function(
    clock: Clock,
) -> None:
    gate: list[Deferred[None]] = []
    runs: list[float] = []

    async def f() -> None:
        gate.append(Deferred())
        await gate[-1]
        runs.append(clock.seconds())

    call = looping(clock, f)
    call.start(1)
    clock.advance(3)
    assert len(gate) == 1
    gate[0].callback(None)
    assert runs == [3.0]
    clock.advance(1)
    assert len(gate) == 2


def test_loopingcall_stops_and_fails_when_the_function_raises(clock: Clock) -> None:
    count = []

    def f() -> None:
        count.append(1)
        if len(count) == 2:
            raise ValueError("second call")

    call = looping(clock, f)
    d = call.start(1)
    clock.advance(1)
    failure = failureResultOf(d, ValueError)
    assert str(failure.value) == "second call"
    assert not call.running
    clock.advance(5)
    assert len(count) == 2
    assert clock.getDelayedCalls() == []


def test_loopingcall_fails_when_the_first_call_raises(clock: Clock) -> None:
    call = looping(clock, lambda: 1 / 0)
    failureResultOf(call.start(1), ZeroDivisionError)
    assert not call.running


def test_loopingcall_fails_when_the_functions_Deferred_fails(clock: Clock) -> None:
    inner: Deferred[None] = Deferred()
    call = looping(clock, lambda: inner)
    d = call.start(1)
    inner.errback(KeyError("async"))
    failureResultOf(d, KeyError)
    assert not call.running
    assert clock.getDelayedCalls() == []


def test_loopingcall_fails_when_the_function_returns_a_Failure(clock: Clock) -> None:
    from deferred import Failure

    call = looping(clock, lambda: Failure(OSError("returned")))
    failureResultOf(call.start(1), OSError)


def test_loopingcall_can_be_restarted_after_a_failure(clock: Clock) -> None:
    results = [ValueError("first")]

    def f() -> None:
        if results:
            raise results.pop()

    call = looping(clock, f)
    failureResultOf(call.start(1), ValueError)
    d = call.start(1)
    assert call.running
    call.stop()
    assert successResultOf(d) is call


def test_loopingcall_stopped_while_waiting_fires_once_the_function_is_done(
    clock: Clock,
) -> None:
    inner: Deferred[None] = Deferred()
    call = looping(clock, lambda: inner)
    d = call.start(1)
    call.stop()
    assertNoResult(d)
    inner.callback(None)
    assert successResultOf(d) is call
    assert clock.getDelayedCalls() == []


def test_loopingcall_stopped_by_its_own_function(clock: Clock) -> None:
    def f() -> None:
        call.stop()

    call = looping(clock, f)
    d = call.start(1)
    assert successResultOf(d) is call
    assert clock.getDelayedCalls() == []


def test_loopingcall_restarted_while_an_old_call_waits(clock: Clock) -> None:
    pending: list[Deferred[None]] = []

    def f() -> Deferred[None]:
        pending.append(Deferred())
        return pending[-1]

    call = looping(clock, f)
    first = call.start(1)
    call.stop()
    second = call.start(1)
    pending[0].callback(None)
    # The old run ends; the new one is left alone, still waiting on its call.
    assert successResultOf(first) is call
    assertNoResult(second)
    assert clock.getDelayedCalls() == []
    pending[1].callback(None)
    assert len(clock.getDelayedCalls()) == 1
    call.stop()
    assert successResultOf(second) is call


def test_loopingcall_reset_skips_the_next_call_and_restarts_the_grid(
    clock: Clock,
) -> None:
    times: list[float] = []
    call = looping(clock, lambda: times.append(clock.seconds()))
    call.start(1.0)
    clock.advance(0.5)
    call.reset()
    clock.advance(0.9)
    assert times == [0.0]
    clock.advance(0.1)
    assert times == [0.0, 1.5]


def test_loopingcall_interval_zero_calls_again_at_once(clock: Clock) -> None:
    count: list[int] = []

    def f() -> None:
        count.append(1)
        if len(count) == 4:
            call.stop()

    call = looping(clock, f)
    d = call.start(0)
    # Each call is due at once: one advance runs them all (as in Twisted).
    clock.advance(0)
    assert len(count) == 4
    assert successResultOf(d) is call


def test_loopingcall_withCount_counts_skipped_intervals(clock: Clock) -> None:
    counts: list[int] = []
    call = LoopingCall.withCount(counts.append)
    call.clock = clock
    call.start(1.0)
    clock.pump([1, 1, 3.5, 0.5, 1])
    assert counts == [1, 1, 1, 3, 1, 1]


def test_loopingcall_withCount_starting_later_counts_one_first(clock: Clock) -> None:
    counts: list[int] = []
    call = LoopingCall.withCount(counts.append)
    call.clock = clock
    call.start(1.0, now=False)
    clock.advance(1)
    assert counts == [1]


def test_loopingcall_withCount_with_interval_zero_counts_one(clock: Clock) -> None:
    counts: list[int] = []

    def count(n: int) -> None:
        counts.append(n)
        if len(counts) == 3:
            call.stop()

    call = LoopingCall.withCount(count)
    call.clock = clock
    call.start(0)
    clock.advance(0)
    assert counts == [1, 1, 1]


def test_loopingcall_withCount_waiting_on_a_slow_Deferred(clock: Clock) -> None:
    counts: list[int] = []
    pending: list[Deferred[None]] = []

    def count(n: int) -> Deferred[None]:
        counts.append(n)
        pending.append(Deferred())
        return pending[-1]

    call = LoopingCall.withCount(count)
    call.clock = clock
    call.start(1.0)
    clock.advance(2.5)
    pending[-1].callback(None)
    clock.advance(0.5)
    assert counts == [1, 3]


def test_loopingcall_rejects_a_negative_interval(clock: Clock) -> None:
    call = looping(clock, lambda: None)
    with pytest.raises(ValueError, match="interval"):
        call.start(-1)
    assert not call.running


def test_loopingcall_rejects_an_interval_that_is_not_a_number(clock: Clock) -> None:
    call = looping(clock, lambda: None)
    with pytest.raises(TypeError, match="interval"):
        call.start("1")  # type: ignore[arg-type]


def test_loopingcall_refuses_to_start_twice(clock: Clock) -> None:
    call = looping(clock, lambda: None)
    call.start(1)
    with pytest.raises(AssertionError, match="already running"):
        call.start(1)
    call.stop()


def test_loopingcall_refuses_stop_and_reset_when_not_running(clock: Clock) -> None:
    call = looping(clock, lambda: None)
    with pytest.raises(AssertionError, match="not running"):
        call.stop()
    with pytest.raises(AssertionError, match="not running"):
        call.reset()


def test_loopingcall_rejects_a_non_callable_at_construction() -> None:
    with pytest.raises(TypeError, match="callable"):
        LoopingCall(42)  # type: ignore[arg-type]


def test_loopingcall_deferred_attribute_is_deprecated(clock: Clock) -> None:
    call = looping(clock, lambda: None)
    d = call.start(1)
    with pytest.warns(DeprecationWarning):
        assert call.deferred is d
    call.stop()


def test_loopingcall_repr_names_the_function_and_interval(clock: Clock) -> None:
    def tick(a: int) -> None:
        pass

    call = looping(clock, tick, 7)
    call.start(2.5, now=False)
    assert repr(call).startswith("LoopingCall<2.5>(")
    assert "tick" in repr(call) and "(7,)" in repr(call)
    call.stop()


def test_loopingcall_clock_can_be_changed_between_runs() -> None:
    first, second = Clock(), Clock()
    call = looping(first, lambda: None)
    call.start(1, now=False)
    call.stop()
    call.clock = second
    call.start(1, now=False)
    assert len(second.getDelayedCalls()) == 1
    assert first.getDelayedCalls() == []
    call.stop()


def test_loopingcall_keeps_to_the_grid_at_large_times() -> None:
    clock = Clock()
    clock.advance(2.0**53)
    call = looping(clock, lambda: None)
    call.start(0.5, now=True)
    # 0.5 cannot move a clock this far along: wait a whole interval.
    assert clock.getDelayedCalls()[0].getTime() == 2.0**53 + 0.5
    call.stop()


async def test_loopingcall_on_the_running_asyncio_loop() -> None:
    ticks: list[float] = []
    done: Deferred[None] = Deferred()

    def tick() -> None:
        ticks.append(1)
        if len(ticks) == 3:
            call.stop()

    call = LoopingCall(tick)
    assert isinstance(call.clock, AsyncioClock)
    result = await call.start(0.001)
    assert result is call
    assert len(ticks) == 3
    done.callback(None)


# -- Cooperator -------------------------------------------------------------------


def stepping(clock: Clock, steps: int = 1) -> Cooperator:
    """A cooperator on ``clock`` doing ``steps`` units of work per tick, one
    tick a second."""

    def predicate() -> Callable[[], bool]:
        left = [steps]

        def enough() -> bool:
            left[0] -= 1
            return left[0] <= 0

        return enough

    return Cooperator(
        terminationPredicateFactory=predicate,
        scheduler=lambda f: clock.callLater(1, f),
    )


def test_coiterate_fires_with_the_iterator_once_exhausted(clock: Clock) -> None:
    coop = stepping(clock)
    it = iter(range(3))
    d = coop.coiterate(it)
    clock.pump([1, 1, 1])
    assertNoResult(d)
    clock.advance(1)
    assert successResultOf(d) is it
    assert clock.getDelayedCalls() == []


def test_coiterate_fills_a_given_Deferred(clock: Clock) -> None:
    coop = stepping(clock, steps=10)
    done: Deferred[Iterator[int]] = Deferred()
    it = iter(range(3))
    assert coop.coiterate(it, done) is done
    clock.advance(1)
    assert successResultOf(done) is it


def test_cooperator_takes_turns_between_tasks(clock: Clock) -> None:
    order: list[str] = []

    def work(name: str, n: int) -> Iterator[None]:
        for _ in range(n):
            order.append(name)
            yield None

    coop = stepping(clock, steps=4)
    coop.cooperate(work("a", 3))
    coop.cooperate(work("b", 3))
    clock.advance(1)
    assert order == ["a", "b", "a", "b"]
    clock.advance(1)
    assert order == ["a", "b", "a", "b", "a", "b"]


def test_cooperator_waits_for_a_yielded_Deferred(clock: Clock) -> None:
    gate: Deferred[None] = Deferred()
    progress: list[int] = []

    def work() -> Iterator[object]:
        progress.append(1)
        yield gate
        progress.append(2)

    coop = stepping(clock, steps=10)
    d = coop.coiterate(work())
    clock.advance(1)
    assert progress == [1]
    assert clock.getDelayedCalls() == []  # nothing to do while it waits
    gate.callback(None)
    clock.advance(1)
    assert progress == [1, 2]
    successResultOf(d)


def test_cooperator_task_fails_with_the_iterators_exception(clock: Clock) -> None:
    def work() -> Iterator[None]:
        yield None
        raise KeyError("inside")

    coop = stepping(clock, steps=10)
    task = coop.cooperate(work())
    d = task.whenDone()
    clock.advance(1)
    failureResultOf(d, KeyError)
    with pytest.raises(TaskFailed):
        task.pause()


def test_cooperator_task_fails_with_a_yielded_Deferreds_failure(clock: Clock) -> None:
    coop = stepping(clock)
    task = coop.cooperate(iter([fail(OSError("yielded")), None]))
    d = task.whenDone()
    clock.advance(1)
    failureResultOf(d, OSError)
    with pytest.raises(TaskFailed):
        task.stop()


def test_whenDone_after_the_end_fires_at_once(clock: Clock) -> None:
    coop = stepping(clock, steps=10)
    it = iter([1])
    task = coop.cooperate(it)
    clock.advance(1)
    assert successResultOf(task.whenDone()) is it
    with pytest.raises(TaskDone):
        task.pause()


def test_cooperative_task_pause_and_resume(clock: Clock) -> None:
    seen: list[int] = []
    coop = stepping(clock)
    task = coop.cooperate(iter(seen.append(i) for i in range(5)))
    clock.advance(1)
    task.pause()
    task.pause()
    clock.pump([1, 1])
    assert len(seen) == 1
    task.resume()
    clock.advance(1)
    assert len(seen) == 1  # paused twice: resumed once is still paused
    task.resume()
    clock.pump([1] * 5)
    assert len(seen) == 5
    with pytest.raises(NotPaused):
        task.resume()


def test_cooperative_task_stop_fails_its_whenDone(clock: Clock) -> None:
    coop = stepping(clock)
    task = coop.cooperate(iter(range(100)))
    d = task.whenDone()
    clock.advance(1)
    task.stop()
    failureResultOf(d, TaskStopped)
    with pytest.raises(TaskStopped):
        task.stop()
    with pytest.raises(TaskStopped):
        task.pause()
    assert clock.getDelayedCalls() == []


def test_a_paused_task_can_be_stopped_and_not_resumed_into_work(clock: Clock) -> None:
    seen: list[int] = []
    coop = stepping(clock)
    task = coop.cooperate(iter(seen.append(i) for i in range(5)))
    task.pause()
    task.stop()
    task.resume()  # allowed (it was paused), but the task is over
    clock.pump([1, 1])
    assert seen == []


def test_a_task_stopped_while_waiting_ignores_its_Deferred(clock: Clock) -> None:
    gate: Deferred[None] = Deferred()
    coop = stepping(clock)
    task = coop.cooperate(iter([gate, 1, 2]))
    d = task.whenDone()
    clock.advance(1)
    task.stop()
    failureResultOf(d, TaskStopped)
    gate.cancel()  # its CancelledError is not reported
    clock.pump([1, 1])


def test_cooperator_stop_ends_every_task(clock: Clock) -> None:
    coop = stepping(clock)
    first = coop.coiterate(iter(range(10)))
    paused = coop.cooperate(iter(range(10)))
    paused.pause()
    whenPausedDone = paused.whenDone()
    coop.stop()
    assert not coop.running
    failureResultOf(first, SchedulerStopped)
    assert clock.getDelayedCalls() == []
    # A task paused at the time is not known to the cooperator then; once
    # resumed, it finds the cooperator stopped.
    paused.resume()
    failureResultOf(whenPausedDone, SchedulerStopped)
    # So does a new task, until start() is called.
    failureResultOf(coop.coiterate(iter(())), SchedulerStopped)
    coop.start()
    d = coop.coiterate(iter(()))
    clock.advance(1)
    successResultOf(d)


def test_cooperator_made_stopped_waits_for_start(clock: Clock) -> None:
    coop = Cooperator(scheduler=lambda f: clock.callLater(1, f), started=False)
    assert not coop.running
    d = coop.coiterate(iter(range(3)))
    clock.advance(1)
    assertNoResult(d)
    coop.start()
    assert coop.running
    clock.advance(1)
    successResultOf(d)


def test_the_termination_predicate_is_asked_after_each_step(clock: Clock) -> None:
    made: list[int] = []

    def factory() -> Callable[[], bool]:
        made.append(1)
        return lambda: True

    coop = Cooperator(
        terminationPredicateFactory=factory, scheduler=lambda f: clock.callLater(1, f)
    )
    d = coop.coiterate(iter(range(2)))
    clock.pump([1, 1, 1])
    successResultOf(d)
    assert len(made) == 3


def test_scheduler_exceptions_form_a_hierarchy() -> None:
    for kind in (TaskDone, TaskStopped, TaskFailed):
        assert issubclass(kind, TaskFinished)
    for kind in (TaskFinished, SchedulerStopped, NotPaused):
        assert issubclass(kind, SchedulerError)
    assert issubclass(SchedulerError, Exception)


def test_cooperative_task_repr_says_its_state(clock: Clock) -> None:
    coop = stepping(clock)
    task = coop.cooperate(iter(range(3)))
    assert "running" in repr(task)
    task.pause()
    assert "paused" in repr(task)
    task.stop()
    assert "TaskStopped" in repr(task)


async def test_coiterate_runs_on_the_running_loop() -> None:
    it = iter(range(1000))
    assert await coiterate(it) is it


async def test_cooperate_shares_one_cooperator_per_loop() -> None:
    order: list[str] = []

    def work(name: str) -> Iterator[None]:
        for _ in range(3):
            order.append(name)
            yield None

    first = cooperate(work("a"))
    second = cooperate(work("b"))
    assert isinstance(first, CooperativeTask)
    assert first._cooperator is second._cooperator
    await first.whenDone()
    await second.whenDone()
    assert sorted(order) == ["a"] * 3 + ["b"] * 3


async def test_coiterate_waits_for_yielded_Deferreds_on_the_loop() -> None:
    clock = AsyncioClock()
    got: list[object] = []

    def work() -> Iterator[Deferred[Any]]:
        for i in range(3):
            d = deferLater(clock, 0.001, lambda i=i: i)
            d.addCallback(got.append)
            yield d

    await coiterate(work())
    assert got == [0, 1, 2]


async def test_a_default_cooperator_yields_to_the_loop_between_ticks() -> None:
    other: list[int] = []
    loop = asyncio.get_running_loop()

    def work() -> Iterator[None]:
        while not other:
            yield None

    # Each step is at most one tick: the loop must get to run the other
    # callback, or this would never end.
    coop = Cooperator(terminationPredicateFactory=lambda: lambda: True)
    d = coop.coiterate(work())
    loop.call_soon(other.append, 1)
    await d


def test_coiterate_without_a_running_loop_says_so() -> None:
    with pytest.raises(RuntimeError, match="running asyncio event loop"):
        coiterate(iter(()))
    with pytest.raises(RuntimeError, match="running asyncio event loop"):
        Cooperator().coiterate(iter(()))


def test_coiterate_accepts_succeed_and_plain_values(clock: Clock) -> None:
    coop = stepping(clock, steps=10)
    d = coop.coiterate(iter([succeed(1), 2, succeed(3)]))
    clock.pump([1, 1, 1, 1])
    successResultOf(d)


def test_module_surface() -> None:
    from deferred import task

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name in task.__all__:
            assert getattr(task, name) is not None


def test_a_looping_call_starts_before_the_loop_set_for_the_thread_runs() -> None:
    import asyncio as _asyncio

    from deferred.task import LoopingCall as _LoopingCall

    loop = _asyncio.new_event_loop()
    _asyncio.set_event_loop(loop)
    try:
        ticks: list[int] = []
        call = _LoopingCall(lambda: ticks.append(len(ticks)))
        done = call.start(0.001)  # as Twisted code does before reactor.run()
        assert ticks == [0]

        async def untilThree() -> None:
            while len(ticks) < 3:
                await _asyncio.sleep(0.001)
            call.stop()

        loop.run_until_complete(untilThree())
        assert done.called
    finally:
        _asyncio.set_event_loop(None)
        loop.close()


def test_task_react_exits_1_when_main_returns_neither_deferred_nor_coroutine(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from deferred import task

    with pytest.raises(SystemExit) as exited:
        task.react(lambda clock: None)
    assert exited.value.code == 1
    assert "main function encountered error" in caplog.text
