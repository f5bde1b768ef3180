"""Tests for DeferredLock and DeferredSemaphore."""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import weakref
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deferred import (
    CancelledError,
    Deferred,
    DeferredLock,
    DeferredSemaphore,
    Failure,
    ensureDeferred,
    fail,
    succeed,
)
from deferred._primitives import LockStatistics, SemaphoreStatistics
from deferred.testing import assertNoResult, failureResultOf, successResultOf

Primitive = DeferredLock | DeferredSemaphore


@pytest.fixture(params=["lock", "semaphore"])
def primitive(request: pytest.FixtureRequest) -> Primitive:
    """A lock, or a semaphore of one token: they must behave the same."""
    return DeferredLock() if request.param == "lock" else DeferredSemaphore(1)


def isHeld(p: Primitive) -> bool:
    return p.locked if isinstance(p, DeferredLock) else p.tokens == 0


# --- acquire and release ------------------------------------------------------


def test_acquire_of_free_lock_fires_at_once_with_the_lock() -> None:
    lock = DeferredLock()
    assert lock.locked is False
    d = lock.acquire()
    assert successResultOf(d) is lock
    assert lock.locked is True


def test_acquire_of_held_lock_waits_for_release() -> None:
    lock = DeferredLock()
    lock.acquire()
    d = lock.acquire()
    assertNoResult(d)
    lock.release()
    assert successResultOf(d) is lock
    assert lock.locked is True
    lock.release()
    assert lock.locked is False


def test_waiters_are_served_first_in_first_out(primitive: Primitive) -> None:
    order: list[int] = []
    primitive.acquire()
    for i in range(5):
        primitive.acquire().addCallback(lambda p, i=i: order.append(i))
    for _ in range(5):
        primitive.release()
    assert order == [0, 1, 2, 3, 4]
    assert isHeld(primitive)
    primitive.release()
    assert not isHeld(primitive)


def test_release_of_unlocked_lock_raises_runtime_error_and_lock_stays_usable() -> None:
    lock = DeferredLock()
    with pytest.raises(RuntimeError, match="not locked"):
        lock.release()
    assert lock.locked is False
    successResultOf(lock.acquire())
    lock.release()
    with pytest.raises(RuntimeError):
        lock.release()


def test_release_while_handing_over_with_nobody_else_waiting_frees_at_once() -> None:
    # As in Twisted: inside the waiter's callback, right after its release,
    # the lock is free and can be taken again synchronously.
    lock = DeferredLock()
    lock.acquire()
    seen: list[object] = []

    def holder(lk: DeferredLock) -> None:
        lk.release()
        seen.append(lk.locked)
        again = lk.acquire()
        seen.append(again.called)
        lk.release()

    lock.acquire().addCallback(holder)
    lock.release()
    assert seen == [False, True]
    assert lock.locked is False


def test_acquire_while_handing_over_queues_behind_earlier_waiters() -> None:
    lock = DeferredLock()
    lock.acquire()
    order: list[str] = []

    def first(lk: DeferredLock) -> None:
        order.append("first")
        lk.release()  # the second waiter is owed the lock now
        assert lk.locked is True
        lk.acquire().addCallback(lambda lk: (order.append("late"), lk.release()))

    lock.acquire().addCallback(first)
    lock.acquire().addCallback(lambda lk: (order.append("second"), lk.release()))
    lock.release()
    assert order == ["first", "second", "late"]
    assert lock.locked is False


def test_second_release_by_one_holder_during_hand_over_raises() -> None:
    lock = DeferredLock()
    lock.acquire()
    errors: list[Failure] = []

    def releaseTwice(lk: DeferredLock) -> None:
        lk.release()
        lk.release()

    lock.acquire().addCallback(releaseTwice).addErrback(errors.append)
    waiter = lock.acquire()
    lock.release()
    [error] = errors
    assert error.check(RuntimeError)
    # The waiter still got the lock, once.
    assert successResultOf(waiter) is lock
    assert lock.locked is True


def test_ten_thousand_synchronous_waiters_are_served_without_recursion(
    primitive: Primitive,
) -> None:
    n = 10_000
    served: list[int] = []

    def use(p: Primitive, i: int) -> None:
        served.append(i)
        p.release()

    primitive.acquire()
    for i in range(n):
        primitive.acquire().addCallback(use, i)
    primitive.release()
    assert served == list(range(n))
    assert not isHeld(primitive)
    assert primitive.waiting == []


# --- cancellation -------------------------------------------------------------


def test_cancelling_a_waiting_acquire_fails_it_and_removes_it(
    primitive: Primitive,
) -> None:
    primitive.acquire()
    d = primitive.acquire()
    assert primitive.waiting == [d]
    d.cancel()
    failureResultOf(d, CancelledError)
    assert primitive.waiting == []
    primitive.release()
    assert not isHeld(primitive)


def test_cancelling_an_acquired_deferred_does_nothing(primitive: Primitive) -> None:
    d = primitive.acquire()
    d.cancel()
    assert successResultOf(d) is primitive
    assert isHeld(primitive)


@pytest.mark.parametrize("position", ["first", "middle", "last"])
def test_cancelled_waiter_never_gets_the_lock(
    primitive: Primitive, position: str
) -> None:
    primitive.acquire()
    waiters = [primitive.acquire() for _ in range(3)]
    index = {"first": 0, "middle": 1, "last": 2}[position]
    cancelled = waiters.pop(index)
    cancelled.cancel()
    failureResultOf(cancelled, CancelledError)
    got: list[Deferred[Any]] = []
    for d in waiters:
        primitive.release()
        assert d.called
        got.append(d)
    primitive.release()
    assert not isHeld(primitive)
    assert [successResultOf(d) for d in got] == [primitive, primitive]


def test_cancelling_a_waiter_from_inside_a_hand_over(primitive: Primitive) -> None:
    primitive.acquire()
    later: list[Deferred[Any]] = []

    def holder(p: Primitive) -> None:
        later[0].cancel()
        p.release()

    primitive.acquire().addCallback(holder)
    later.append(primitive.acquire())
    last = primitive.acquire()
    primitive.release()
    failureResultOf(later[0], CancelledError)
    assert successResultOf(last) is primitive
    primitive.release()
    assert not isHeld(primitive)


def test_cancelling_the_only_owed_waiter_during_hand_over_frees_the_lock() -> None:
    lock = DeferredLock()
    lock.acquire()
    later: list[Deferred[Any]] = []

    def holder(lk: DeferredLock) -> None:
        lk.release()  # owed to the next waiter...
        later[0].cancel()  # ...which leaves

    lock.acquire().addCallback(holder)
    later.append(lock.acquire())
    lock.release()
    failureResultOf(later[0], CancelledError)
    assert lock.locked is False
    assert successResultOf(lock.acquire()) is lock


def test_mass_cancellation_keeps_the_queue_small_and_serves_the_rest_in_order() -> None:
    lock = DeferredLock()
    lock.acquire()
    waiters = [lock.acquire() for _ in range(10_000)]
    keep = waiters[::1000]
    doomed = [d for i, d in enumerate(waiters) if i % 1000]
    random.Random(4).shuffle(doomed)
    for d in doomed:
        d.cancel()
        d.addErrback(lambda f: f.trap(CancelledError))
    assert lock.waiting == keep
    assert lock.statistics().waiting == len(keep)
    # Cancelled waiters are swept out rather than kept around.
    assert len(lock._waiters) < 2 * len(keep) + 64
    order: list[int] = []
    for i, d in enumerate(keep):
        d.addCallback(lambda lk, i=i: order.append(i))
    for _ in keep:
        lock.release()
    assert order == list(range(len(keep)))


def test_handled_cancellation_of_a_waiter_logs_nothing(
    primitive: Primitive, deferredLog: list[logging.LogRecord]
) -> None:
    primitive.acquire()
    d = primitive.acquire()
    d.cancel()
    d.addErrback(lambda f: f.trap(CancelledError))
    del d
    gc.collect()
    assert deferredLog == []


def test_unhandled_cancellation_of_a_waiter_is_reported_once(
    primitive: Primitive, deferredLog: list[logging.LogRecord]
) -> None:
    primitive.acquire()
    d = primitive.acquire()
    d.cancel()
    del d
    gc.collect()
    [record] = deferredLog
    assert record.getMessage().startswith("Unhandled error in Deferred:")
    assert record.failure.check(CancelledError)  # type: ignore[attr-defined]


def test_unhandled_cancellation_of_a_middle_waiter_is_reported_once_it_leaves(
    primitive: Primitive, deferredLog: list[logging.LogRecord]
) -> None:
    # A waiter cancelled from the middle of the queue stays there (to keep
    # cancelling O(1)) until the queue moves past it.
    primitive.acquire()
    first, middle, last = (primitive.acquire() for _ in range(3))
    middle.cancel()
    del middle
    gc.collect()
    assert deferredLog == []
    primitive.release()
    primitive.release()
    assert successResultOf(last) is primitive
    gc.collect()
    [record] = deferredLog
    assert record.failure.check(CancelledError)  # type: ignore[attr-defined]
    del first


# --- run ----------------------------------------------------------------------


def test_run_calls_f_with_its_arguments_and_gives_its_value(
    primitive: Primitive,
) -> None:
    calls: list[tuple[Any, ...]] = []

    def add(a: int, b: int, *, c: str) -> int:
        calls.append((a, b, c, isHeld(primitive)))
        return a + b

    d = primitive.run(add, 1, 2, c="keyword")
    assert successResultOf(d) == 3
    assert calls == [(1, 2, "keyword", True)]
    assert not isHeld(primitive)


def test_run_takes_the_function_by_keyword_too(primitive: Primitive) -> None:
    # As Twisted's: only ``self`` is positional-only.
    assert successResultOf(primitive.run(f=lambda: "called")) == "called"
    assert not isHeld(primitive)


def test_run_with_a_deferred_holds_until_it_fires(primitive: Primitive) -> None:
    gate: Deferred[str] = Deferred()
    d = primitive.run(lambda: gate)
    assert d is not gate
    assertNoResult(d)
    assert isHeld(primitive)
    gate.callback("done")
    assert successResultOf(d) == "done"
    assert not isHeld(primitive)


def test_run_with_an_already_fired_deferred(primitive: Primitive) -> None:
    d = primitive.run(succeed, "now")
    assert successResultOf(d) == "now"
    assert not isHeld(primitive)


def test_run_with_a_failing_deferred_releases_and_fails(primitive: Primitive) -> None:
    gate: Deferred[None] = Deferred()
    d = primitive.run(lambda: gate)
    gate.errback(ValueError("bad"))
    failureResultOf(d, ValueError)
    assert not isHeld(primitive)


def test_run_with_f_raising_releases_and_fails(primitive: Primitive) -> None:
    def f() -> None:
        raise ValueError("bad")

    failure = failureResultOf(primitive.run(f), ValueError)
    assert failure.getErrorMessage() == "bad"
    assert not isHeld(primitive)


def test_run_with_f_returning_a_failure_fails(primitive: Primitive) -> None:
    failureResultOf(primitive.run(lambda: Failure(KeyError("k"))), KeyError)
    assert not isHeld(primitive)


def test_run_with_a_coroutine_function(primitive: Primitive) -> None:
    gates = [Deferred[int](), Deferred[int]()]

    async def f(x: int, gate: Deferred[int]) -> int:
        return x + await gate

    d = primitive.run(f, 1, gates[0])
    queued = primitive.run(f, 10, gates[1])
    assert isHeld(primitive)
    gates[0].callback(2)
    assert successResultOf(d) == 3
    assert isHeld(primitive)
    gates[1].callback(2)
    assert successResultOf(queued) == 12
    assert not isHeld(primitive)


def test_run_with_a_non_callable_raises_at_the_call(primitive: Primitive) -> None:
    with pytest.raises(TypeError, match="callable"):
        primitive.run(42)  # type: ignore[call-overload]
    assert not isHeld(primitive)
    primitive.acquire()
    with pytest.raises(TypeError, match="callable"):
        primitive.run(42)  # type: ignore[call-overload]
    assert primitive.waiting == []


def test_run_with_f_raising_type_error_is_a_failure_not_a_raise(
    primitive: Primitive,
) -> None:
    def f() -> None:
        raise TypeError("from inside f")

    failureResultOf(primitive.run(f), TypeError)
    assert not isHeld(primitive)


def test_run_without_a_function_raises_type_error(primitive: Primitive) -> None:
    with pytest.raises(TypeError):
        primitive.run()  # type: ignore[call-overload]


def test_contended_runs_go_in_order_one_at_a_time() -> None:
    lock = DeferredLock()
    gates = [Deferred[int]() for _ in range(5)]
    active: list[int] = []
    log: list[tuple[str, int]] = []

    def work(i: int) -> Deferred[int]:
        active.append(i)
        assert len(active) == 1
        log.append(("start", i))
        return gates[i].addBoth(lambda r: (active.remove(i), r)[1])

    results = [lock.run(work, i) for i in range(5)]
    assert log == [("start", 0)]
    for i, gate in enumerate(gates):
        gate.callback(i * 10)
    assert log == [("start", i) for i in range(5)]
    assert [successResultOf(d) for d in results] == [0, 10, 20, 30, 40]
    assert lock.locked is False


def test_ten_thousand_synchronous_runs_are_served_without_recursion(
    primitive: Primitive,
) -> None:
    n = 10_000
    gate: Deferred[None] = Deferred()
    first = primitive.run(lambda: gate)
    results = [primitive.run(lambda i=i: i) for i in range(n)]
    gate.callback(None)
    successResultOf(first)
    assert [successResultOf(d) for d in results] == list(range(n))
    assert not isHeld(primitive)


def test_cancelling_a_waiting_run_never_calls_f(primitive: Primitive) -> None:
    gate: Deferred[None] = Deferred()
    primitive.run(lambda: gate)
    called: list[int] = []
    d = primitive.run(called.append, 1)
    after = primitive.run(called.append, 2)
    d.cancel()
    failureResultOf(d, CancelledError)
    assert len(primitive.waiting) == 1
    gate.callback(None)
    assert called == [2]
    successResultOf(after)
    assert not isHeld(primitive)


def test_cancelling_a_running_run_cancels_fs_deferred_and_releases(
    primitive: Primitive,
) -> None:
    cancelled: list[Deferred[None]] = []
    gate: Deferred[None] = Deferred(cancelled.append)
    d = primitive.run(lambda: gate)
    d.cancel()
    assert cancelled == [gate]
    failureResultOf(d, CancelledError)
    assert not isHeld(primitive)


def test_cancelling_a_queued_run_that_has_started(primitive: Primitive) -> None:
    primitive.acquire()
    cancelled: list[Deferred[None]] = []
    gate: Deferred[None] = Deferred(cancelled.append)
    d = primitive.run(lambda: gate)
    primitive.release()
    assert isHeld(primitive)
    d.cancel()
    assert cancelled == [gate]
    failureResultOf(d, CancelledError)
    assert not isHeld(primitive)


def test_run_cancelled_while_fs_deferred_ignores_the_cancel(
    primitive: Primitive, deferredLog: list[logging.LogRecord]
) -> None:
    # f's Deferred already has its result but is paused: cancelling it does
    # nothing, so run()'s Deferred fails with CancelledError; the primitive is
    # released once f's Deferred goes on, and its result stays with it.
    gate: Deferred[str] = Deferred()
    gate.callback("late")
    gate.pause()
    d = primitive.run(lambda: gate)
    d.cancel()
    failureResultOf(d, CancelledError)
    assert isHeld(primitive)
    gate.unpause()
    assert not isHeld(primitive)
    assert successResultOf(gate) == "late"
    assert deferredLog == []


def test_queued_run_whose_f_cancels_it_and_fails_reports_the_error(
    primitive: Primitive, deferredLog: list[logging.LogRecord]
) -> None:
    # run()'s Deferred is cancelled from inside f, which then raises: that
    # error has no Deferred left to rest on, so it is reported, not lost.
    holder: list[Deferred[Any]] = []

    def f() -> None:
        holder[0].cancel()
        raise ValueError("after the cancel")

    primitive.acquire()
    holder.append(primitive.run(f))
    primitive.release()
    failureResultOf(holder[0], CancelledError)
    assert not isHeld(primitive)
    gc.collect()
    [record] = [r for r in deferredLog if r.getMessage().startswith("Unhandled")]
    assert record.failure.check(ValueError)  # type: ignore[attr-defined]


def test_run_where_f_releases_the_primitive_itself_fails(primitive: Primitive) -> None:
    d = primitive.run(primitive.release)
    failureResultOf(d, RuntimeError)
    assert not isHeld(primitive)
    primitive.acquire()
    gate: Deferred[None] = Deferred()

    def f() -> Deferred[None]:
        primitive.release()
        return gate

    d = primitive.run(f)
    primitive.release()
    assert not isHeld(primitive)
    gate.callback(None)
    failureResultOf(d, RuntimeError)
    assert not isHeld(primitive)


def test_run_releases_before_its_deferred_fires() -> None:
    lock = DeferredLock()
    seen: list[bool] = []
    lock.run(lambda: None).addCallback(lambda _: seen.append(lock.locked))
    gate: Deferred[None] = Deferred()
    lock.run(lambda: gate).addCallback(lambda _: seen.append(lock.locked))
    gate.callback(None)
    assert seen == [False, False]


def test_run_in_callback_of_run_result(primitive: Primitive) -> None:
    order: list[str] = []
    gate: Deferred[None] = Deferred()
    primitive.run(lambda: gate)
    primitive.run(order.append, "a").addCallback(
        lambda _: primitive.run(order.append, "c")
    )
    primitive.run(order.append, "b")
    gate.callback(None)
    assert order == ["a", "b", "c"]
    assert not isHeld(primitive)


class CountingLock(DeferredLock):
    """A subclass that redefines acquire() and release(), as instrumentation
    might."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[str] = []

    def acquire(self) -> Deferred[CountingLock]:  # type: ignore[override]
        self.calls.append("acquire")
        return super().acquire()

    def release(self) -> None:
        self.calls.append("release")
        super().release()


def test_run_of_a_subclass_goes_through_its_acquire_and_release() -> None:
    lock = CountingLock()
    gate: Deferred[int] = Deferred()
    first = lock.run(lambda: gate)
    second = lock.run(lambda: 2)
    assert lock.calls == ["acquire", "acquire"]
    gate.callback(1)
    assert [successResultOf(first), successResultOf(second)] == [1, 2]
    assert lock.calls == ["acquire", "acquire", "release", "release"]
    assert lock.locked is False
    failureResultOf(lock.run(lambda: 1 / 0), ZeroDivisionError)
    assert lock.calls[-2:] == ["acquire", "release"]
    assert lock.locked is False


def test_subclass_run_serves_ten_thousand_synchronous_waiters() -> None:
    lock = CountingLock()
    gate: Deferred[None] = Deferred()
    lock.run(lambda: gate)
    results = [lock.run(lambda i=i: i) for i in range(10_000)]
    gate.callback(None)
    assert [successResultOf(d) for d in results] == list(range(10_000))
    assert lock.locked is False


# --- async with ---------------------------------------------------------------


def test_async_with_in_ensure_deferred_coroutines_serialises_them(
    primitive: Primitive,
) -> None:
    gates = [Deferred[None]() for _ in range(3)]
    log: list[str] = []

    async def task(i: int) -> int:
        async with primitive as p:
            assert p is primitive
            log.append(f"in {i}")
            await gates[i]
            log.append(f"out {i}")
        return i

    results = [ensureDeferred(task(i)) for i in range(3)]
    assert log == ["in 0"]
    for gate in gates:
        gate.callback(None)
    assert log == ["in 0", "out 0", "in 1", "out 1", "in 2", "out 2"]
    assert [successResultOf(d) for d in results] == [0, 1, 2]
    assert not isHeld(primitive)


def test_async_with_releases_when_the_block_raises(primitive: Primitive) -> None:
    async def task() -> None:
        async with primitive:
            raise ValueError("inside")

    failureResultOf(ensureDeferred(task()), ValueError)
    assert not isHeld(primitive)


def test_cancelling_a_coroutine_waiting_in_async_with(primitive: Primitive) -> None:
    primitive.acquire()
    entered: list[int] = []

    async def task(i: int) -> None:
        async with primitive:
            entered.append(i)

    waiting = ensureDeferred(task(1))
    after = ensureDeferred(task(2))
    waiting.cancel()
    failureResultOf(waiting, CancelledError)
    primitive.release()
    assert entered == [2]
    successResultOf(after)
    assert not isHeld(primitive)


def test_async_with_in_asyncio_tasks(primitive: Primitive) -> None:
    log: list[str] = []

    async def task(i: int) -> None:
        async with primitive:
            log.append(f"in {i}")
            await asyncio.sleep(0.001)
            log.append(f"out {i}")

    async def main() -> None:
        await asyncio.gather(*(task(i) for i in range(3)))

    asyncio.run(main())
    assert log == ["in 0", "out 0", "in 1", "out 1", "in 2", "out 2"]
    assert not isHeld(primitive)


def test_cancelling_an_asyncio_task_waiting_in_async_with(primitive: Primitive) -> None:
    entered: list[int] = []

    async def task(i: int) -> None:
        async with primitive:
            entered.append(i)

    async def main() -> None:
        await primitive.acquire()
        waiting = asyncio.ensure_future(task(1))
        after = asyncio.ensure_future(task(2))
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        primitive.release()
        await after

    asyncio.run(main())
    assert entered == [2]
    assert not isHeld(primitive)


def test_async_with_lock_cancelled_after_handover_releases_the_lock() -> None:
    # The task is cancelled after release() handed it the lock but before it
    # resumed: the lock must not stay held by a task that never entered.
    async def main() -> bool:
        lock = DeferredLock()
        await lock.acquire()
        entered = []

        async def worker() -> None:
            async with lock:
                entered.append(True)

        task = asyncio.get_running_loop().create_task(worker())
        await asyncio.sleep(0)  # the worker now waits in acquire()
        lock.release()  # handed to the worker's Deferred; its wake-up is scheduled
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert entered == []
        return lock.locked

    assert asyncio.run(main()) is False


def test_async_with_semaphore_cancelled_after_handover_returns_the_token() -> None:
    # As above: the token handed to a task cancelled before it resumed comes back.
    async def main() -> int:
        sem = DeferredSemaphore(1)
        await sem.acquire()

        async def worker() -> None:
            async with sem:
                pass

        task = asyncio.get_running_loop().create_task(worker())
        await asyncio.sleep(0)
        sem.release()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return sem.tokens

    assert asyncio.run(main()) == 1


# --- semaphores ---------------------------------------------------------------


@pytest.mark.parametrize("tokens", [0, -1])
def test_semaphore_needs_at_least_one_token(tokens: int) -> None:
    with pytest.raises(ValueError, match="tokens >= 1"):
        DeferredSemaphore(tokens)


@pytest.mark.parametrize("tokens", [1.5, "2", None])
def test_semaphore_token_count_must_be_an_integer(tokens: Any) -> None:
    with pytest.raises(TypeError):
        DeferredSemaphore(tokens)


def test_semaphore_tokens_and_limit() -> None:
    sem = DeferredSemaphore(3)
    assert (sem.tokens, sem.limit) == (3, 3)
    sem.acquire()
    sem.acquire()
    assert (sem.tokens, sem.limit) == (1, 3)
    sem.release()
    assert (sem.tokens, sem.limit) == (2, 3)


def test_semaphore_lets_limit_holders_in_and_queues_the_rest() -> None:
    sem = DeferredSemaphore(2)
    a, b, c = sem.acquire(), sem.acquire(), sem.acquire()
    assert a.called and b.called
    assertNoResult(c)
    assert sem.tokens == 0
    sem.release()
    assert successResultOf(c) is sem
    assert sem.tokens == 0


def test_semaphore_release_of_too_many_tokens_raises_and_stays_usable() -> None:
    sem = DeferredSemaphore(2)
    with pytest.raises(RuntimeError, match="already free"):
        sem.release()
    assert sem.tokens == 2
    sem.acquire()
    sem.release()
    with pytest.raises(RuntimeError):
        sem.release()
    assert sem.tokens == 2


def test_semaphore_run_keeps_at_most_limit_running() -> None:
    sem = DeferredSemaphore(10)
    gates = [Deferred[int]() for _ in range(25)]
    running: set[int] = set()
    peak = 0
    started: list[int] = []

    def work(i: int) -> Deferred[int]:
        nonlocal peak
        running.add(i)
        started.append(i)
        peak = max(peak, len(running))
        return gates[i].addCallback(lambda r: (running.discard(i), r)[1])

    results = [sem.run(work, i) for i in range(25)]
    assert started == list(range(10))
    for i in random.Random(1).sample(range(25), 25):
        if i in running:
            gates[i].callback(i)
    while running:
        gates[min(running)].callback(min(running))
    assert peak == 10
    assert started == sorted(started)
    assert [successResultOf(d) for d in results] == list(range(25))
    assert sem.tokens == 10


def test_semaphore_releases_during_hand_over_are_all_passed_on() -> None:
    sem = DeferredSemaphore(3)
    held = [sem.acquire() for _ in range(3)]
    order: list[int] = []

    def releaseTwoMore(s: DeferredSemaphore) -> None:
        # This waiter gives back its own token and two others at once.
        order.append(0)
        s.release()
        s.release()
        s.release()

    sem.acquire().addCallback(releaseTwoMore)
    for i in range(1, 4):
        sem.acquire().addCallback(lambda s, i=i: order.append(i))
    sem.release()
    assert order == [0, 1, 2, 3]
    assert sem.tokens == 0
    assert sem.waiting == []
    del held


def test_semaphore_tokens_freed_during_hand_over_go_to_later_waiters_in_order() -> None:
    sem = DeferredSemaphore(2)
    sem.acquire()
    sem.acquire()
    order: list[str] = []

    def first(s: DeferredSemaphore) -> None:
        order.append("first")
        s.release()  # owed to "second"
        s.release()  # the other holder's token: nobody else waits, so it is free
        s.acquire().addCallback(lambda s: order.append("late"))

    sem.acquire().addCallback(first)
    sem.acquire().addCallback(lambda s: order.append("second"))
    sem.release()
    assert order == ["first", "second", "late"]
    assert sem.tokens == 0


def test_semaphore_ten_thousand_synchronous_runs_with_several_tokens() -> None:
    sem = DeferredSemaphore(3)
    gates = [Deferred[None]() for _ in range(3)]
    for gate in gates:
        sem.run(lambda gate=gate: gate)
    results = [sem.run(lambda i=i: i) for i in range(10_000)]
    for gate in gates:
        gate.callback(None)
    assert [successResultOf(d) for d in results] == list(range(10_000))
    assert sem.tokens == 3


# --- invariants under random use (hypothesis) ---------------------------------


@settings(max_examples=200, deadline=None)
@given(
    limit=st.integers(1, 3),
    ops=st.lists(
        st.tuples(
            st.sampled_from(["acquire", "release", "cancel", "run"]),
            st.integers(0, 50),
            st.sampled_from(["none", "release", "release+acquire", "cancel"]),
        ),
        max_size=60,
    ),
)
def test_semaphore_is_first_come_first_served_and_never_loses_a_token(
    limit: int, ops: list[tuple[str, int, str]]
) -> None:
    sem = DeferredSemaphore(limit)
    waiting: list[int] = []  # requests still waiting, oldest first
    holders: list[int] = []
    handles: dict[int, Deferred[Any]] = {}
    problems: list[str] = []
    counter = iter(range(10**6))

    def request(reaction: str) -> None:
        rid = next(counter)
        waiting.append(rid)

        def granted(s: DeferredSemaphore) -> DeferredSemaphore:
            if waiting[0] != rid:
                problems.append(f"{rid} granted before {waiting[0]}")
            waiting.remove(rid)
            holders.append(rid)
            if len(holders) > limit:
                problems.append("too many holders")
            if reaction.startswith("release"):
                holders.remove(rid)
                s.release()
            if reaction == "release+acquire":
                request("none")
            if reaction == "cancel" and waiting:
                handles[waiting[-1]].cancel()
            return s

        def cancelled(f: Failure) -> None:
            f.trap(CancelledError)
            waiting.remove(rid)

        handles[rid] = sem.acquire().addCallbacks(granted, cancelled)

    for op, n, reaction in ops:
        if op == "acquire":
            request(reaction)
        elif op == "run":
            rid = next(counter)
            waiting.append(rid)

            def f(rid: int = rid) -> None:
                if waiting[0] != rid:
                    problems.append(f"run {rid} before {waiting[0]}")
                waiting.remove(rid)

            def runCancelled(failure: Failure, rid: int = rid) -> None:
                failure.trap(CancelledError)
                waiting.remove(rid)

            handles[rid] = sem.run(f).addErrback(runCancelled)
        elif op == "release" and holders:
            holders.pop(n % len(holders))
            sem.release()
        elif op == "cancel" and waiting:
            handles[waiting[n % len(waiting)]].cancel()
        assert problems == []
        # At rest: every token is free or held, and free tokens mean nobody
        # waits.
        assert sem.tokens == limit - len(holders)
        assert len(sem.waiting) == len(waiting)
        if sem.tokens:
            assert waiting == []


# --- statistics, representation, memory ---------------------------------------


def test_lock_statistics() -> None:
    lock = DeferredLock()
    assert lock.statistics() == LockStatistics(locked=False, waiting=0)
    lock.acquire()
    lock.acquire()
    d = lock.acquire()
    stats = lock.statistics()
    assert (stats.locked, stats.waiting) == (True, 2)
    d.cancel()
    d.addErrback(lambda f: None)
    assert lock.statistics().waiting == 1
    assert repr(stats) == "LockStatistics(locked=True, waiting=2)"
    with pytest.raises(AttributeError):
        stats.locked = False  # type: ignore[misc]


def test_semaphore_statistics() -> None:
    sem = DeferredSemaphore(2)
    sem.acquire()
    assert sem.statistics() == SemaphoreStatistics(tokens=1, limit=2, waiting=0)
    sem.acquire()
    sem.acquire()
    assert sem.statistics() == SemaphoreStatistics(tokens=0, limit=2, waiting=1)
    assert hash(sem.statistics()) == hash(SemaphoreStatistics(0, 2, 1))


def test_waiting_is_a_snapshot_of_the_waiting_deferreds(primitive: Primitive) -> None:
    primitive.acquire()
    a = primitive.acquire()
    b = primitive.run(lambda: None)
    snapshot = primitive.waiting
    assert snapshot == [a, b]
    snapshot.clear()
    assert primitive.waiting == [a, b]


def test_locked_tokens_and_limit_are_read_only() -> None:
    with pytest.raises(AttributeError):
        DeferredLock().locked = True  # type: ignore[misc]
    with pytest.raises(AttributeError):
        DeferredSemaphore(2).tokens = 5  # type: ignore[misc]


def test_repr_tells_the_state() -> None:
    lock = DeferredLock()
    assert "unlocked, 0 waiting" in repr(lock)
    lock.acquire()
    lock.acquire()
    assert "locked, 1 waiting" in repr(lock)
    sem = DeferredSemaphore(3)
    sem.acquire()
    assert "2/3 tokens free, 0 waiting" in repr(sem)


def test_common_use_leaves_no_reference_cycles(
    primitive: Primitive, noCycles: None
) -> None:
    gate: Deferred[None] = Deferred()
    primitive.run(lambda: gate)
    queued = primitive.run(lambda: 1)
    acquired = primitive.acquire()
    cancelled = primitive.acquire()
    cancelled.cancel()
    cancelled.addErrback(lambda f: None)
    gate.callback(None)
    primitive.release()
    successResultOf(queued)
    successResultOf(acquired)
    failing = primitive.run(fail, ValueError("x"))
    failureResultOf(failing, ValueError)
    del queued, acquired, cancelled, failing


@pytest.mark.parametrize("make", [DeferredLock, lambda: DeferredSemaphore(2)])
def test_primitive_is_freed_once_unused(make: Callable[[], Primitive]) -> None:
    primitive = make()
    gate: Deferred[None] = Deferred()
    primitive.run(lambda: gate)
    primitive.acquire().addCallback(lambda p: p.release())
    gate.callback(None)
    ref = weakref.ref(primitive)
    del primitive
    assert ref() is None


def test_a_pending_waiter_does_not_keep_a_dropped_primitive_alive() -> None:
    lock = DeferredLock()
    lock.acquire()
    d = lock.acquire()
    ref = weakref.ref(lock)
    del lock
    gc.collect()
    assert ref() is None
    d.cancel()  # harmless once the lock is gone
    failureResultOf(d, CancelledError)


def test_run_preserves_the_signature_for_type_checkers() -> None:
    # Exercised by mypy on this file: run() keeps f's argument and result types.
    def f(x: int, *, y: str) -> str:
        return y * x

    d: Deferred[str] = DeferredLock().run(f, 2, y="a")
    assert successResultOf(d) == "aa"
    g: Callable[[], Deferred[int]] = lambda: succeed(1)  # noqa: E731
    d2: Deferred[int] = DeferredSemaphore(1).run(g)
    assert successResultOf(d2) == 1


def test_primitives_take_attributes_of_their_own() -> None:
    from deferred import DeferredQueue

    for primitive in (DeferredLock(), DeferredSemaphore(2), DeferredQueue()):
        primitive.name = "pool"  # type: ignore[union-attr]
        assert vars(primitive) == {"name": "pool"}
