"""Tests for deferred.clock: the manual Clock and the asyncio-backed AsyncioClock."""

from __future__ import annotations

import asyncio
import gc
import time
import weakref
from typing import Any

import pytest

from deferred import Deferred
from deferred.clock import (
    AlreadyCalled,
    AlreadyCancelled,
    AsyncioClock,
    Clock,
    DelayedCall,
    DelayedCallLike,
    Scheduler,
)

# --- Clock: time and running calls ------------------------------------------


def test_seconds_starts_at_zero() -> None:
    assert Clock().seconds() == 0.0


def test_advance_moves_time_forward() -> None:
    clock = Clock()
    clock.advance(1.5)
    clock.advance(2)
    assert clock.seconds() == 3.5


def test_call_runs_when_due_and_not_before() -> None:
    clock = Clock()
    ran: list[str] = []
    clock.callLater(2, ran.append, "x")
    clock.advance(1.999)
    assert ran == []
    clock.advance(0.001)
    assert ran == ["x"]


def test_call_receives_positional_and_keyword_arguments() -> None:
    clock = Clock()
    seen: list[tuple[Any, ...]] = []

    def record(*args: object, **kw: object) -> None:
        seen.append((args, kw))

    clock.callLater(1, record, 1, "a", key=3)
    clock.advance(1)
    assert seen == [((1, "a"), {"key": 3})]


def test_keyword_arguments_named_like_parameters_reach_the_function() -> None:
    clock = Clock()
    seen: list[dict[str, object]] = []
    clock.callLater(0, lambda **kw: seen.append(kw), f=1, when=2)
    clock.advance(0)
    assert seen == [{"f": 1, "when": 2}]


def test_delayed_call_exposes_func_args_kw_and_due_time() -> None:
    clock = Clock()
    clock.advance(10)
    call = clock.callLater(2.5, print, 1, sep="-")
    assert isinstance(call, DelayedCall)
    assert call.func is print
    assert call.args == (1,)
    assert call.kw == {"sep": "-"}
    assert call.getTime() == 12.5
    assert call.active()
    assert (call.called, call.cancelled) == (False, False)


def test_advance_zero_runs_calls_due_now() -> None:
    clock = Clock()
    ran: list[int] = []
    clock.callLater(0, ran.append, 1)
    assert ran == []
    clock.advance(0)
    assert ran == [1]


def test_calls_run_in_order_of_due_time() -> None:
    clock = Clock()
    ran: list[int] = []
    for delay in (3, 1, 2):
        clock.callLater(delay, ran.append, delay)
    clock.advance(5)
    assert ran == [1, 2, 3]


def test_calls_due_at_the_same_time_run_in_scheduling_order() -> None:
    clock = Clock()
    ran: list[int] = []
    for i in range(50):
        clock.callLater(1, ran.append, i)
    clock.advance(1)
    assert ran == list(range(50))


def test_call_scheduled_during_advance_runs_if_due_by_the_new_time() -> None:
    clock = Clock()
    ran: list[str] = []

    def first() -> None:
        ran.append("first")
        clock.callLater(0, ran.append, "nested")

    clock.callLater(1, first)
    clock.callLater(1, ran.append, "second")
    clock.advance(1)
    assert ran == ["first", "second", "nested"]


def test_call_scheduled_during_advance_beyond_the_new_time_waits() -> None:
    clock = Clock()
    ran: list[str] = []
    clock.callLater(1, lambda: clock.callLater(1, ran.append, "later"))
    clock.advance(1)
    assert ran == []
    clock.advance(1)
    assert ran == ["later"]


def test_calls_run_by_advance_see_the_new_time() -> None:
    clock = Clock()
    seen: list[float] = []
    clock.callLater(1, lambda: seen.append(clock.seconds()))
    clock.advance(5)
    assert seen == [5.0]


def test_pump_advances_by_each_amount_in_turn() -> None:
    clock = Clock()
    seen: list[float] = []
    for delay in (1, 2, 3):
        clock.callLater(delay, lambda: seen.append(clock.seconds()))
    clock.pump([1.5, 1, 10])
    assert seen == [1.5, 2.5, 12.5]
    assert clock.seconds() == 12.5


def test_ran_call_is_marked_called_and_inactive() -> None:
    clock = Clock()
    call = clock.callLater(1, lambda: None)
    clock.advance(1)
    assert call.called
    assert not call.cancelled
    assert not call.active()


def test_exception_from_a_call_propagates_out_of_advance() -> None:
    clock = Clock()
    ran: list[int] = []

    def boom() -> None:
        raise ZeroDivisionError

    failing = clock.callLater(1, boom)
    clock.callLater(1, ran.append, 1)
    with pytest.raises(ZeroDivisionError):
        clock.advance(1)
    assert failing.called
    assert not failing.active()
    assert ran == []
    # The calls left behind still run on the next advance.
    clock.advance(0)
    assert ran == [1]


def test_many_calls_schedule_and_advance_quickly() -> None:
    clock = Clock()
    count = 0

    def tick() -> None:
        nonlocal count
        count += 1

    # CPU time of this process, not wall-clock time, so a loaded machine does
    # not fail it; the bound is generous (this takes a fraction of a second)
    # yet far below what a quadratic schedule of 100,000 calls would need.
    # How fast it really is belongs in the benchmark.
    start = time.process_time()
    for i in range(100_000):
        clock.callLater(i % 997, tick)
    clock.advance(1000)
    cpu = time.process_time() - start
    assert count == 100_000
    assert clock.getDelayedCalls() == []
    assert cpu < 15.0


# --- Clock: getDelayedCalls -------------------------------------------------


def test_getDelayedCalls_lists_pending_calls_soonest_first() -> None:
    clock = Clock()
    late = clock.callLater(3, lambda: None)
    early = clock.callLater(1, lambda: None)
    alsoEarly = clock.callLater(1, lambda: None)
    assert clock.getDelayedCalls() == [early, alsoEarly, late]


def test_getDelayedCalls_excludes_cancelled_and_called_calls() -> None:
    clock = Clock()
    cancelled = clock.callLater(1, lambda: None)
    called = clock.callLater(1, lambda: None)
    pending = clock.callLater(5, lambda: None)
    cancelled.cancel()
    clock.advance(1)
    assert called.called
    assert clock.getDelayedCalls() == [pending]


def test_getDelayedCalls_reflects_a_reset() -> None:
    clock = Clock()
    first = clock.callLater(1, lambda: None)
    second = clock.callLater(2, lambda: None)
    first.reset(3)
    assert clock.getDelayedCalls() == [second, first]


# --- Clock: cancel ------------------------------------------------------------


def test_cancelled_call_does_not_run() -> None:
    clock = Clock()
    ran: list[int] = []
    call = clock.callLater(1, ran.append, 1)
    call.cancel()
    clock.advance(10)
    assert ran == []
    assert call.cancelled
    assert not call.called
    assert not call.active()


def test_cancel_twice_raises_AlreadyCancelled() -> None:
    call = Clock().callLater(1, lambda: None)
    call.cancel()
    with pytest.raises(AlreadyCancelled, match=r"cancel.*cancelled"):
        call.cancel()


def test_cancel_after_the_call_ran_raises_AlreadyCalled() -> None:
    clock = Clock()
    call = clock.callLater(1, lambda: None)
    clock.advance(1)
    with pytest.raises(AlreadyCalled, match=r"cancel.*already run"):
        call.cancel()


def test_already_errors_are_ValueErrors() -> None:
    assert issubclass(AlreadyCalled, ValueError)
    assert issubclass(AlreadyCancelled, ValueError)


def test_cancelled_call_releases_its_function_and_arguments() -> None:
    class Payload:
        pass

    payload = Payload()
    ref = weakref.ref(payload)
    call = Clock().callLater(1, sample, payload, key=payload)
    del payload
    call.cancel()
    gc.collect()
    assert ref() is None


def test_call_cancelled_during_advance_does_not_run() -> None:
    clock = Clock()
    ran: list[str] = []
    second = clock.callLater(1, ran.append, "second")
    clock.callLater(0.5, second.cancel)
    clock.advance(1)
    assert ran == []


def test_clock_with_cancelled_call_leaves_no_cycle() -> None:
    # A cancelled call (here addTimeout's timer, as the Deferred fired in
    # time) must not tie the clock into a reference cycle.
    def scenario() -> None:
        clock = Clock()
        d: Deferred[int] = Deferred()
        d.addTimeout(5, clock)
        d.callback(1)

    gc.collect()
    gc.disable()
    try:
        scenario()
        assert gc.collect() == 0
    finally:
        gc.enable()


# --- Clock: reset and delay ---------------------------------------------------


def test_reset_moves_a_call_later() -> None:
    clock = Clock()
    ran: list[int] = []
    call = clock.callLater(1, ran.append, 1)
    call.reset(5)
    clock.advance(4)
    assert ran == []
    clock.advance(1)
    assert ran == [1]


def test_reset_moves_a_call_earlier() -> None:
    clock = Clock()
    ran: list[int] = []
    call = clock.callLater(10, ran.append, 1)
    call.reset(2)
    clock.advance(2)
    assert ran == [1]


def test_reset_counts_from_the_current_time() -> None:
    clock = Clock()
    call = clock.callLater(10, lambda: None)
    clock.advance(3)
    call.reset(4)
    assert call.getTime() == 7


def test_reset_call_runs_after_calls_already_due_at_the_same_time() -> None:
    clock = Clock()
    ran: list[str] = []
    moved = clock.callLater(1, ran.append, "moved")
    clock.callLater(2, ran.append, "other")
    moved.reset(2)
    clock.advance(2)
    assert ran == ["other", "moved"]


def test_reset_runs_the_call_only_once() -> None:
    clock = Clock()
    ran: list[int] = []
    call = clock.callLater(1, ran.append, 1)
    call.reset(2)
    call.reset(0.5)
    clock.advance(5)
    assert ran == [1]


def test_delay_moves_a_call_later() -> None:
    clock = Clock()
    ran: list[int] = []
    call = clock.callLater(1, ran.append, 1)
    call.delay(2)
    assert call.getTime() == 3
    clock.advance(2)
    assert ran == []
    clock.advance(1)
    assert ran == [1]


def test_negative_delay_moves_a_call_earlier() -> None:
    clock = Clock()
    ran: list[int] = []
    call = clock.callLater(5, ran.append, 1)
    call.delay(-3)
    assert call.getTime() == 2
    clock.advance(2)
    assert ran == [1]


def test_delay_adds_to_the_due_time_not_the_current_time() -> None:
    clock = Clock()
    call = clock.callLater(5, lambda: None)
    clock.advance(4)
    call.delay(1)
    assert call.getTime() == 6


@pytest.mark.parametrize("move", ["reset", "delay"])
def test_moving_a_cancelled_call_raises_AlreadyCancelled(move: str) -> None:
    call = Clock().callLater(1, lambda: None)
    call.cancel()
    with pytest.raises(AlreadyCancelled, match=move):
        getattr(call, move)(1)


@pytest.mark.parametrize("move", ["reset", "delay"])
def test_moving_a_call_that_ran_raises_AlreadyCalled(move: str) -> None:
    clock = Clock()
    call = clock.callLater(1, lambda: None)
    clock.advance(1)
    with pytest.raises(AlreadyCalled, match=move):
        getattr(call, move)(1)


def test_rescheduling_one_call_many_times_keeps_the_heap_small() -> None:
    clock = Clock()
    call = clock.callLater(1, lambda: None)
    for _ in range(10_000):
        call.reset(1)
    assert len(clock._heap) < 200


# --- Clock: bad input -----------------------------------------------------------


@pytest.mark.parametrize("delay", [-1, -0.001, float("nan")])
def test_callLater_rejects_negative_or_nan_delay(delay: float) -> None:
    with pytest.raises(ValueError, match="delay"):
        Clock().callLater(delay, lambda: None)


@pytest.mark.parametrize("delay", ["1", None, [1]])
def test_callLater_rejects_a_delay_that_is_not_a_number(delay: Any) -> None:
    with pytest.raises(TypeError, match="delay"):
        Clock().callLater(delay, lambda: None)


def test_callLater_rejects_a_non_callable() -> None:
    with pytest.raises(TypeError, match="callable"):
        Clock().callLater(1, "not a function")  # type: ignore[arg-type]


def test_callLater_accepts_number_types_with_float_conversion() -> None:
    from fractions import Fraction

    call = Clock().callLater(Fraction(1, 2), lambda: None)  # type: ignore[arg-type]
    assert call.getTime() == 0.5


@pytest.mark.parametrize("amount", [-1, float("nan")])
def test_advance_rejects_negative_or_nan_amount(amount: float) -> None:
    clock = Clock()
    with pytest.raises(ValueError, match="amount"):
        clock.advance(amount)
    assert clock.seconds() == 0.0


@pytest.mark.parametrize("seconds", [-1, float("nan")])
def test_reset_rejects_negative_or_nan_seconds(seconds: float) -> None:
    call = Clock().callLater(1, lambda: None)
    with pytest.raises(ValueError, match="secondsFromNow"):
        call.reset(seconds)
    assert call.getTime() == 1


def test_delay_rejects_nan() -> None:
    call = Clock().callLater(1, lambda: None)
    with pytest.raises(ValueError, match="secondsLater"):
        call.delay(float("nan"))
    assert call.getTime() == 1


# --- DelayedCall repr -----------------------------------------------------------


def sample(*args: object, **kw: object) -> None:
    pass


def test_repr_of_pending_call_names_function_arguments_and_due_time() -> None:
    call = Clock().callLater(2, sample, 1, "a", key=None)
    text = repr(call)
    assert "sample(1, 'a', key=None)" in text
    assert "due in 2" in text


def test_repr_shows_called_and_cancelled_states() -> None:
    clock = Clock()
    called = clock.callLater(0, sample)
    cancelled = clock.callLater(0, sample)
    cancelled.cancel()
    clock.advance(0)
    assert "called" in repr(called)
    assert "cancelled" in repr(cancelled)


def test_repr_survives_an_argument_whose_repr_fails() -> None:
    class Broken:
        def __repr__(self) -> str:
            raise RuntimeError

    assert "unrepresentable Broken" in repr(Clock().callLater(0, sample, Broken()))


# --- Scheduler protocol ---------------------------------------------------------


def schedule(scheduler: Scheduler) -> DelayedCallLike:
    return scheduler.callLater(0, sample)


def test_both_clocks_serve_as_schedulers() -> None:
    assert schedule(Clock()).active()

    async def main() -> None:
        schedule(AsyncioClock()).cancel()

    asyncio.run(main())


# --- AsyncioClock ---------------------------------------------------------------


def test_asyncio_clock_runs_calls_on_the_loop() -> None:
    async def main() -> list[object]:
        ran: list[object] = []
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def record(value: object) -> None:
            ran.append(value)
            done.set_result(None)

        call = AsyncioClock().callLater(0.01, record, 7)
        assert ran == []
        await done
        assert call.called
        assert not call.active()
        return ran

    assert asyncio.run(main()) == [7]


def test_asyncio_clock_seconds_is_the_loop_time() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        before = loop.time()
        now = AsyncioClock().seconds()
        assert before <= now <= loop.time()

    asyncio.run(main())


def test_asyncio_clock_due_time_is_in_loop_time() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        before = loop.time()
        call = AsyncioClock().callLater(5, sample)
        assert before + 5 <= call.getTime() <= loop.time() + 5
        call.cancel()

    asyncio.run(main())


def test_asyncio_clock_cancelled_call_does_not_run() -> None:
    async def main() -> None:
        ran: list[int] = []
        call = AsyncioClock().callLater(0.01, ran.append, 1)
        call.cancel()
        await asyncio.sleep(0.03)
        assert ran == []
        assert call.cancelled
        assert not call.active()

    asyncio.run(main())


def test_asyncio_clock_reset_moves_a_call_later() -> None:
    async def main() -> None:
        ran: list[int] = []
        call = AsyncioClock().callLater(0.01, ran.append, 1)
        call.reset(10)
        await asyncio.sleep(0.03)
        assert ran == []
        assert call.active()
        call.cancel()

    asyncio.run(main())


def test_asyncio_clock_reset_moves_a_call_earlier() -> None:
    async def main() -> None:
        ran: list[int] = []
        call = AsyncioClock().callLater(10, ran.append, 1)
        call.reset(0.01)
        await asyncio.sleep(0.03)
        assert ran == [1]

    asyncio.run(main())


def test_asyncio_clock_delay_moves_a_call() -> None:
    async def main() -> None:
        ran: list[int] = []
        call = AsyncioClock().callLater(10, ran.append, 1)
        due = call.getTime()
        call.delay(-9.99)
        assert call.getTime() == pytest.approx(due - 9.99)
        await asyncio.sleep(0.03)
        assert ran == [1]

    asyncio.run(main())


def test_asyncio_clock_calls_raise_the_same_errors() -> None:
    async def main() -> None:
        clock = AsyncioClock()
        cancelled = clock.callLater(0, sample)
        cancelled.cancel()
        with pytest.raises(AlreadyCancelled):
            cancelled.cancel()
        with pytest.raises(AlreadyCancelled):
            cancelled.reset(1)
        called = clock.callLater(0, sample)
        await asyncio.sleep(0.01)
        with pytest.raises(AlreadyCalled):
            called.cancel()
        with pytest.raises(AlreadyCalled):
            called.delay(1)
        with pytest.raises(ValueError):
            clock.callLater(-1, sample)
        with pytest.raises(TypeError):
            clock.callLater(1, None)  # type: ignore[arg-type]

    asyncio.run(main())


def test_asyncio_clock_getDelayedCalls_lists_only_pending_calls() -> None:
    async def main() -> None:
        clock = AsyncioClock()
        cancelled = clock.callLater(5, sample)
        called = clock.callLater(0, sample)
        late = clock.callLater(10, sample)
        early = clock.callLater(5, sample)
        cancelled.cancel()
        await asyncio.sleep(0.01)
        assert called.called
        assert clock.getDelayedCalls() == [early, late]
        late.cancel()
        early.cancel()

    asyncio.run(main())


def test_asyncio_clock_built_outside_a_loop_works_inside_one() -> None:
    clock = AsyncioClock()

    async def main() -> bool:
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        clock.callLater(0.01, done.set_result, True)
        return await done

    assert asyncio.run(main()) is True
    # ...and again on a second, different loop.
    assert asyncio.run(main()) is True


def test_asyncio_clock_without_a_running_loop_raises_RuntimeError() -> None:
    clock = AsyncioClock()
    with pytest.raises(RuntimeError, match="running asyncio event loop"):
        clock.callLater(1, sample)
    with pytest.raises(RuntimeError, match="running asyncio event loop"):
        clock.seconds()


def test_asyncio_clock_with_an_explicit_loop_schedules_on_it() -> None:
    loop = asyncio.new_event_loop()
    try:
        clock = AsyncioClock(loop)
        before = loop.time()
        assert before <= clock.seconds() <= loop.time()
        ran: list[int] = []
        clock.callLater(0.01, ran.append, 1)
        loop.run_until_complete(asyncio.sleep(0.03))
        assert ran == [1]
    finally:
        loop.close()


def test_asyncio_clock_exception_goes_to_the_loop_exception_handler() -> None:
    async def main() -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        reports: list[dict[str, Any]] = []
        loop.set_exception_handler(lambda _, context: reports.append(context))

        def boom() -> None:
            raise ZeroDivisionError

        call = AsyncioClock().callLater(0, boom)
        await asyncio.sleep(0.01)
        assert call.called
        return reports

    reports = asyncio.run(main())
    assert len(reports) == 1
    assert isinstance(reports[0]["exception"], ZeroDivisionError)


def test_asyncio_clock_has_no_advance_or_pump() -> None:
    assert not hasattr(AsyncioClock, "advance")
    assert not hasattr(AsyncioClock, "pump")


def test_asyncio_clock_forgets_calls_left_on_a_closed_loop() -> None:
    clock = AsyncioClock()

    async def leave() -> DelayedCall:
        return clock.callLater(60, sample)

    abandoned = asyncio.run(leave())

    async def check() -> None:
        assert clock.getDelayedCalls() == []
        with pytest.raises(RuntimeError, match="closed"):
            abandoned.reset(1)
        abandoned.cancel()

    asyncio.run(check())


# --- parity with Twisted (known differences, to be fixed) --------------------


def test_delayed_calls_sort_by_due_time() -> None:
    clock = Clock()
    later = clock.callLater(2, lambda: None)
    sooner = clock.callLater(1, lambda: None)
    assert sorted([later, sooner]) == [sooner, later]


def test_calls_and_rightNow_read_as_in_twisted() -> None:
    clock = Clock()
    later = clock.callLater(2, lambda: None)
    sooner = clock.callLater(1, lambda: None)
    assert clock.calls == [sooner, later]
    clock.calls.clear()  # a snapshot
    assert len(clock.calls) == 2
    clock.advance(1.5)
    assert clock.rightNow == 1.5
    assert clock.calls == [later]


def test_asyncio_clock_uses_the_loop_set_for_the_thread_before_it_runs() -> None:
    import asyncio

    from deferred.clock import AsyncioClock

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        fired: list[str] = []
        AsyncioClock().callLater(0, fired.append, "ran")
        loop.run_until_complete(asyncio.sleep(0.01))
        assert fired == ["ran"]
    finally:
        asyncio.set_event_loop(None)
        loop.close()
    with pytest.raises(RuntimeError, match="set_event_loop"):
        AsyncioClock().seconds()
