"""Tests for DeferredQueue."""

from __future__ import annotations

import asyncio
import gc
import logging
import weakref
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deferred import (
    CancelledError,
    Deferred,
    DeferredQueue,
    Failure,
    QueueOverflow,
    QueueUnderflow,
    ensureDeferred,
)
from deferred._queue import QueueStatistics
from deferred.testing import assertNoResult, failureResultOf, successResultOf


def trapCancelled(d: Deferred[Any]) -> None:
    d.addErrback(lambda f: f.trap(CancelledError))


# --- put and get --------------------------------------------------------------


def test_get_of_a_stored_object_fires_at_once() -> None:
    q: DeferredQueue[str] = DeferredQueue()
    q.put("a")
    assert q.pending == ["a"]
    assert successResultOf(q.get()) == "a"
    assert q.pending == []


def test_get_of_an_empty_queue_waits_for_a_put() -> None:
    q: DeferredQueue[str] = DeferredQueue()
    d = q.get()
    assertNoResult(d)
    assert q.waiting == [d]
    q.put("a")
    assert successResultOf(d) == "a"
    assert q.waiting == []
    assert q.pending == []


def test_objects_and_getters_are_both_first_in_first_out() -> None:
    q: DeferredQueue[int] = DeferredQueue()
    getters = [q.get() for _ in range(3)]
    for i in range(5):
        q.put(i)
    assert [successResultOf(d) for d in getters] == [0, 1, 2]
    assert q.pending == [3, 4]
    assert successResultOf(q.get()) == 3
    assert successResultOf(q.get()) == 4


def test_put_beyond_size_raises_queue_overflow_and_stores_nothing() -> None:
    q: DeferredQueue[int] = DeferredQueue(size=2)
    q.put(1)
    q.put(2)
    with pytest.raises(QueueOverflow):
        q.put(3)
    assert q.pending == [1, 2]
    assert successResultOf(q.get()) == 1
    q.put(3)
    assert q.pending == [2, 3]


def test_put_to_a_full_queue_with_a_waiting_getter_is_delivered() -> None:
    q: DeferredQueue[int] = DeferredQueue(size=0)
    with pytest.raises(QueueOverflow):
        q.put(1)
    d = q.get()
    q.put(2)
    assert successResultOf(d) == 2


def test_get_beyond_backlog_raises_queue_underflow() -> None:
    q: DeferredQueue[int] = DeferredQueue(backlog=2)
    a, b = q.get(), q.get()
    with pytest.raises(QueueUnderflow):
        q.get()
    assert q.waiting == [a, b]
    q.put(1)
    c = q.get()
    q.put(2)
    q.put(3)
    assert [successResultOf(d) for d in (a, b, c)] == [1, 2, 3]


def test_backlog_zero_still_gets_stored_objects() -> None:
    q: DeferredQueue[int] = DeferredQueue(backlog=0)
    with pytest.raises(QueueUnderflow):
        q.get()
    q.put(1)
    assert successResultOf(q.get()) == 1


@pytest.mark.parametrize("name", ["size", "backlog"])
@pytest.mark.parametrize(
    ("value", "error"), [(-1, ValueError), (1.5, TypeError), ("3", TypeError)]
)
def test_bad_size_or_backlog_raises_at_construction(
    name: str, value: Any, error: type[Exception]
) -> None:
    with pytest.raises(error):
        DeferredQueue(**{name: value})


def test_size_and_backlog_attributes() -> None:
    q: DeferredQueue[int] = DeferredQueue(3, 4)
    assert (q.size, q.backlog) == (3, 4)
    assert (DeferredQueue().size, DeferredQueue().backlog) == (None, None)


def test_pending_and_waiting_are_snapshots() -> None:
    q: DeferredQueue[int] = DeferredQueue()
    q.put(1)
    q.pending.append(2)
    assert q.pending == [1]
    q.get()
    d = q.get()
    q.waiting.clear()
    assert q.waiting == [d]


def test_queue_is_generic_at_run_time() -> None:
    q = DeferredQueue[int]()
    q.put(1)
    assert successResultOf(q.get()) == 1


# --- cancellation -------------------------------------------------------------


def test_cancelling_a_waiting_get_fails_it_and_removes_it() -> None:
    q: DeferredQueue[int] = DeferredQueue()
    d = q.get()
    d.cancel()
    failureResultOf(d, CancelledError)
    assert q.waiting == []
    q.put(1)
    assert q.pending == [1]


def test_cancelling_a_fired_get_does_nothing() -> None:
    q: DeferredQueue[int] = DeferredQueue()
    d = q.get()
    q.put(1)
    d.cancel()
    assert successResultOf(d) == 1


@pytest.mark.parametrize("position", [0, 1, 2])
def test_put_skips_cancelled_getters(position: int) -> None:
    q: DeferredQueue[int] = DeferredQueue()
    getters = [q.get() for _ in range(3)]
    cancelled = getters.pop(position)
    cancelled.cancel()
    failureResultOf(cancelled, CancelledError)
    q.put(1)
    q.put(2)
    q.put(3)
    assert [successResultOf(d) for d in getters] == [1, 2]
    assert q.pending == [3]


def test_cancelled_getters_do_not_count_against_backlog() -> None:
    q: DeferredQueue[int] = DeferredQueue(backlog=2)
    a, b = q.get(), q.get()
    a.cancel()
    trapCancelled(a)
    c = q.get()
    q.put(1)
    q.put(2)
    assert [successResultOf(b), successResultOf(c)] == [1, 2]


def test_mass_cancellation_keeps_the_queue_small() -> None:
    q: DeferredQueue[int] = DeferredQueue()
    getters = [q.get() for _ in range(10_000)]
    keep = getters[::1000]
    for i, d in enumerate(getters):
        if i % 1000:
            d.cancel()
            trapCancelled(d)
    assert q.waiting == keep
    assert len(q._waiters) < 2 * len(keep) + 64
    for i in range(len(keep) + 1):
        q.put(i)
    assert [successResultOf(d) for d in keep] == list(range(len(keep)))
    assert q.pending == [len(keep)]


def test_cancelling_a_getter_from_a_callback_during_delivery() -> None:
    q: DeferredQueue[int] = DeferredQueue()
    later: list[Deferred[int]] = []

    def first(item: int) -> None:
        later[0].cancel()
        q.put(item + 1)  # must not go to the cancelled getter

    q.get().addCallback(first)
    later.append(q.get())
    last = q.get()
    q.put(10)
    failureResultOf(later[0], CancelledError)
    assert successResultOf(last) == 11


def test_object_promised_to_a_getter_cancelled_meanwhile_stays_queued() -> None:
    q: DeferredQueue[int] = DeferredQueue()
    second: list[Deferred[int]] = []

    def first(item: int) -> None:
        q.put(2)  # promised to the second getter...
        second[0].cancel()  # ...which leaves before it is delivered

    q.get().addCallback(first)
    second.append(q.get())
    q.put(1)
    failureResultOf(second[0], CancelledError)
    assert q.pending == [2]


def test_unhandled_cancellation_of_a_getter_is_reported_once(
    deferredLog: list[logging.LogRecord],
) -> None:
    q: DeferredQueue[int] = DeferredQueue()
    d = q.get()
    d.cancel()
    del d
    gc.collect()
    [record] = deferredLog
    assert record.failure.check(CancelledError)  # type: ignore[attr-defined]


# --- re-entrancy and scale ----------------------------------------------------


def test_hundred_thousand_waiting_getters_then_puts() -> None:
    n = 100_000
    q: DeferredQueue[int] = DeferredQueue()
    getters = [q.get() for _ in range(n)]
    for i in range(n):
        q.put(i)
    assert all(d.result == i for i, d in enumerate(getters))
    assert q.waiting == []
    assert q.pending == []


def test_a_cascade_of_puts_from_callbacks_does_not_recurse() -> None:
    n = 100_000
    q: DeferredQueue[int] = DeferredQueue()
    received: list[int] = []

    def passOn(item: int) -> None:
        received.append(item)
        q.put(item + 1)

    for _ in range(n):
        q.get().addCallback(passOn)
    q.put(0)
    assert received == list(range(n))
    assert q.pending == [n]


def test_ping_pong_between_two_queues() -> None:
    pings: DeferredQueue[int] = DeferredQueue()
    pongs: DeferredQueue[int] = DeferredQueue()
    results = []
    for i in range(1000):
        pings.get().addCallback(pongs.put)
        pings.put(i)
        results.append(successResultOf(pongs.get()))
    assert results == list(range(1000))


def test_get_during_delivery_queues_behind_earlier_getters() -> None:
    q: DeferredQueue[str] = DeferredQueue()
    got: dict[str, str] = {}

    def first(item: str) -> None:
        got["first"] = item
        q.put("y")  # promised to the second getter
        q.put("z")
        q.get().addCallback(lambda item: got.setdefault("late", item))

    q.get().addCallback(first)
    q.get().addCallback(lambda item: got.setdefault("second", item))
    q.put("x")
    assert got == {"first": "x", "second": "y", "late": "z"}
    assert q.pending == []


def test_size_counts_only_objects_not_promised_to_getters() -> None:
    q: DeferredQueue[int] = DeferredQueue(size=1)
    overflowed: list[int] = []

    def first(item: int) -> None:
        q.put(2)  # goes to the second getter
        q.put(3)  # stored: the one free place
        try:
            q.put(4)
        except QueueOverflow:
            overflowed.append(4)

    q.get().addCallback(first)
    second = q.get()
    q.put(1)
    assert successResultOf(second) == 2
    assert q.pending == [3]
    assert overflowed == [4]


def test_backlog_counts_only_getters_not_promised_an_object() -> None:
    q: DeferredQueue[int] = DeferredQueue(backlog=2)
    late: list[Deferred[int]] = []
    underflows: list[int] = []

    def first(item: int) -> None:
        q.put(2)  # promised to the second getter, which no longer counts
        late.append(q.get())
        late.append(q.get())
        try:
            q.get()
        except QueueUnderflow:
            underflows.append(1)

    q.get().addCallback(first)
    second = q.get()
    q.put(1)
    assert successResultOf(second) == 2
    assert underflows == [1]
    q.put(3)
    q.put(4)
    assert [successResultOf(d) for d in late] == [3, 4]


# --- the queue never loses an object (hypothesis) -----------------------------


@settings(max_examples=300, deadline=None)
@given(
    size=st.one_of(st.none(), st.integers(0, 3)),
    backlog=st.one_of(st.none(), st.integers(0, 3)),
    ops=st.lists(
        st.tuples(
            st.sampled_from(["put", "get", "cancel"]),
            st.integers(0, 30),
            st.sampled_from(["none", "put", "get", "put+get", "cancel"]),
        ),
        max_size=60,
    ),
)
def test_no_object_is_ever_lost_or_given_twice(
    size: int | None, backlog: int | None, ops: list[tuple[str, int, str]]
) -> None:
    q: DeferredQueue[int] = DeferredQueue(size, backlog)
    accepted: list[int] = []  # objects put successfully, in order
    received: dict[int, int] = {}  # getter number -> object
    getters: list[Deferred[int]] = []
    cancelled: set[int] = set()
    items = iter(range(10**6))

    def put() -> None:
        item = next(items)
        # Noted first: put() may run callbacks that put more.
        accepted.append(item)
        try:
            q.put(item)
        except QueueOverflow:
            accepted.remove(item)

    def get(reaction: str) -> None:
        try:
            d = q.get()
        except QueueUnderflow:
            return
        number = len(getters)
        getters.append(d)

        def got(item: int) -> None:
            assert number not in received
            received[number] = item
            if "put" in reaction:
                put()
            if "get" in reaction:
                get("none")
            if reaction == "cancel":
                live = [i for i, g in enumerate(getters) if not g.called]
                if live:
                    getters[live[-1]].cancel()

        def lost(f: Failure) -> None:
            f.trap(CancelledError)
            cancelled.add(number)

        d.addCallbacks(got, lost)

    for op, n, reaction in ops:
        if op == "put":
            put()
        elif op == "get":
            get(reaction)
        else:
            live = [i for i, g in enumerate(getters) if not g.called]
            if live:
                getters[live[n % len(live)]].cancel()
        # Every object accepted was received once or is still stored, first
        # in first out: getters in the order they asked, then what is stored.
        inOrder = [received[i] for i in sorted(received)]
        assert inOrder + q.pending == accepted
        assert not (q.pending and q.waiting)
        assert len(q.waiting) == len(getters) - len(received) - len(cancelled)
        assert received.keys().isdisjoint(cancelled)


# --- async for ----------------------------------------------------------------


def test_async_for_gets_objects_in_a_coroutine() -> None:
    q: DeferredQueue[int] = DeferredQueue()
    seen: list[int] = []

    async def consume() -> int:
        async for item in q:
            if item < 0:
                break
            seen.append(item)
        return len(seen)

    d = ensureDeferred(consume())
    q.put(1)
    q.put(2)
    assertNoResult(d)
    q.put(-1)
    assert successResultOf(d) == 2
    assert seen == [1, 2]
    assert q.waiting == []


def test_cancelling_a_coroutine_in_async_for_withdraws_its_getter() -> None:
    q: DeferredQueue[int] = DeferredQueue()

    async def consume() -> None:
        async for _ in q:
            pass

    d = ensureDeferred(consume())
    assert len(q.waiting) == 1
    d.cancel()
    failureResultOf(d, CancelledError)
    assert q.waiting == []
    q.put(1)
    assert q.pending == [1]


def test_async_for_in_an_asyncio_task() -> None:
    q: DeferredQueue[int] = DeferredQueue()

    async def consume() -> list[int]:
        seen = []
        async for item in q:
            if item < 0:
                break
            seen.append(item)
        return seen

    async def main() -> list[int]:
        task = asyncio.ensure_future(consume())
        loop = asyncio.get_running_loop()
        for item in (1, 2, -1):
            loop.call_soon(q.put, item)
            await asyncio.sleep(0)
        return await task

    assert asyncio.run(main()) == [1, 2]


def test_async_for_queue_cancelled_after_delivery_keeps_the_item() -> None:
    # The task is cancelled after put() delivered the item but before it
    # resumed: the item goes back to the queue rather than being lost.
    async def main() -> list[str]:
        queue: DeferredQueue[str] = DeferredQueue()
        got: list[str] = []

        async def consumer() -> None:
            async for item in queue:
                got.append(item)

        task = asyncio.get_running_loop().create_task(consumer())
        await asyncio.sleep(0)
        queue.put("precious")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return got + queue.pending

    assert asyncio.run(main()) == ["precious"]


# --- statistics, representation, memory ---------------------------------------


def test_statistics() -> None:
    q: DeferredQueue[int] = DeferredQueue(5, 6)
    assert q.statistics() == QueueStatistics(pending=0, waiting=0, size=5, backlog=6)
    q.get()
    q.get()
    assert q.statistics().waiting == 2
    q.put(1)
    q.put(2)
    q.put(3)
    stats = q.statistics()
    assert (stats.pending, stats.waiting) == (1, 0)
    assert repr(stats) == "QueueStatistics(pending=1, waiting=0, size=5, backlog=6)"


def test_repr() -> None:
    q: DeferredQueue[int] = DeferredQueue()
    q.put(1)
    assert "1 pending, 0 waiting" in repr(q)


def test_common_use_leaves_no_reference_cycles(noCycles: None) -> None:
    q: DeferredQueue[int] = DeferredQueue()
    waiting = q.get()
    cancelled = q.get()
    cancelled.cancel()
    trapCancelled(cancelled)
    q.put(1)
    q.put(2)
    successResultOf(waiting)
    successResultOf(q.get())
    del waiting, cancelled


def test_queue_is_freed_with_getters_still_waiting() -> None:
    q: DeferredQueue[int] = DeferredQueue()
    d = q.get()
    ref = weakref.ref(q)
    del q
    assert ref() is None
    d.cancel()  # harmless once the queue is gone
    failureResultOf(d, CancelledError)


def test_put_of_a_deferred_raises_and_leaves_the_queue_as_it_was() -> None:
    q: DeferredQueue[Any] = DeferredQueue()
    getter = q.get()
    with pytest.raises(TypeError, match="put its result instead"):
        q.put(Deferred())
    assert not getter.called
    assert q.statistics().waiting == 1
    q.put("ok")
    assert getter.result == "ok"
