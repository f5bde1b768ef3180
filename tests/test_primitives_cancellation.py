"""DeferredLock, DeferredSemaphore and DeferredQueue under asyncio task
cancellation, on a real event loop: like asyncio's own primitives, what was
handed to a task that is then cancelled goes to the next waiter (a queue's
object back to the head of the queue), at every point of the race."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Awaitable, Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from deferred import (
    CancelledError,
    Deferred,
    DeferredLock,
    DeferredQueue,
    DeferredSemaphore,
    ensureDeferred,
)

_T = TypeVar("_T")


def run(main: Coroutine[Any, Any, _T]) -> _T:
    return asyncio.run(main)


async def settle() -> None:
    """Let every ready callback and task step run."""
    for _ in range(5):
        await asyncio.sleep(0)


async def waiter(awaitable: Awaitable[_T]) -> _T:
    return await awaitable


# -- cancelled after the hand-over, before the task resumes --------------------


def test_a_lock_handed_to_a_task_cancelled_before_it_resumes_goes_to_the_next() -> None:
    async def main() -> None:
        lock = DeferredLock()
        await lock.acquire()
        first = asyncio.ensure_future(waiter(lock.acquire()))
        second = asyncio.ensure_future(waiter(lock.acquire()))
        await settle()
        lock.release()  # handed to first, which is woken on the next turn
        first.cancel()
        await settle()
        assert first.cancelled()
        assert second.done() and second.result() is lock
        assert lock.locked
        lock.release()
        assert not lock.locked

    run(main())


def test_a_token_handed_to_a_cancelled_task_comes_back() -> None:
    async def main() -> None:
        sem = DeferredSemaphore(2)
        await sem.acquire()
        await sem.acquire()
        tasks = [asyncio.ensure_future(waiter(sem.acquire())) for _ in range(2)]
        await settle()
        sem.release()
        sem.release()
        for t in tasks:
            t.cancel()
        await settle()
        assert all(t.cancelled() for t in tasks)
        assert sem.tokens == 2

    run(main())


def test_an_object_handed_to_a_cancelled_getter_goes_back_first_in_line() -> None:
    async def main() -> None:
        q: DeferredQueue[int] = DeferredQueue()
        getter = asyncio.ensure_future(waiter(q.get()))
        await settle()
        q.put(1)
        q.put(2)
        getter.cancel()
        await settle()
        assert getter.cancelled()
        assert q.pending == [1, 2]

    run(main())


def test_an_object_given_back_goes_to_the_oldest_live_getter() -> None:
    async def main() -> None:
        q: DeferredQueue[int] = DeferredQueue()
        first = asyncio.ensure_future(waiter(q.get()))
        second = asyncio.ensure_future(waiter(q.get()))
        await settle()
        q.put(1)
        first.cancel()
        await settle()
        assert second.result() == 1
        assert q.pending == []

    run(main())


def test_async_with_and_async_for_give_back_once() -> None:
    async def main() -> None:
        lock = DeferredLock()
        q: DeferredQueue[int] = DeferredQueue()
        entered: list[object] = []

        async def block() -> None:
            async with lock:
                entered.append(lock)

        async def loop() -> None:
            async for item in q:
                entered.append(item)

        await lock.acquire()
        t = asyncio.ensure_future(block())
        other = asyncio.ensure_future(waiter(lock.acquire()))
        g = asyncio.ensure_future(loop())
        await settle()
        lock.release()
        q.put(7)
        t.cancel()
        g.cancel()
        await settle()
        assert entered == []
        assert other.result() is lock and lock.locked
        lock.release()
        assert not lock.locked
        assert q.pending == [7]

    run(main())


def test_a_result_replaced_by_callbacks_is_not_given_back() -> None:
    # Callbacks added before the await took the object: the loss is theirs.
    async def main() -> None:
        q: DeferredQueue[int] = DeferredQueue()
        seen: list[int] = []

        def take(item: int) -> str:
            seen.append(item)
            return "taken"

        t = asyncio.ensure_future(waiter(q.get().addCallback(take)))
        await settle()
        q.put(1)
        t.cancel()
        await settle()
        assert seen == [1]
        assert q.pending == []

    run(main())


# -- wrapped by asyncio and cancelled before the wrapper starts ----------------


def test_ensure_future_of_a_waiting_get_cancelled_before_it_starts() -> None:
    async def main() -> None:
        q: DeferredQueue[int] = DeferredQueue()
        t = asyncio.ensure_future(q.get())
        t.cancel()
        await settle()
        assert t.cancelled()
        assert q.statistics().waiting == 0
        q.put(1)  # not swallowed by the orphaned get()
        assert q.pending == [1]

    run(main())


def test_ensure_future_of_a_fired_get_cancelled_before_it_starts() -> None:
    async def main() -> None:
        q: DeferredQueue[str] = DeferredQueue()
        q.put("a")
        q.put("b")
        t = asyncio.ensure_future(q.get())
        t.cancel()
        await settle()
        assert t.cancelled()
        assert q.pending == ["a", "b"]

    run(main())


@pytest.mark.parametrize("held", [False, True])
def test_ensure_future_of_an_acquire_cancelled_before_it_starts(held: bool) -> None:
    async def main() -> None:
        lock = DeferredLock()
        if held:
            await lock.acquire()
        t = asyncio.ensure_future(lock.acquire())
        t.cancel()
        await settle()
        assert t.cancelled()
        if held:
            assert lock.statistics().waiting == 0
            lock.release()
        assert not lock.locked

    run(main())


def test_gather_of_gets_cancelled_gives_every_object_back_in_order() -> None:
    async def main() -> None:
        q: DeferredQueue[int] = DeferredQueue()
        g = asyncio.gather(q.get(), q.get(), q.get())
        await settle()
        q.put(1)
        q.put(2)
        g.cancel()
        with pytest.raises(asyncio.CancelledError):
            await g
        await settle()
        assert q.pending == [1, 2]
        assert q.statistics().waiting == 0
        # And before the gathered tasks ever start:
        g = asyncio.gather(q.get(), q.get(), q.get())
        g.cancel()
        with pytest.raises(asyncio.CancelledError):
            await g
        assert q.pending == [1, 2]
        assert q.statistics().waiting == 0

    run(main())


def test_wait_for_with_no_time_leaves_the_lock_free() -> None:
    # wait_for(x, 0) wraps x in a task and cancels it before it starts.
    async def main() -> None:
        lock = DeferredLock()
        sem = DeferredSemaphore(2)
        q: DeferredQueue[int] = DeferredQueue()
        q.put(1)
        for awaitable in (lock.acquire(), sem.acquire(), q.get()):
            try:
                await asyncio.wait_for(awaitable, 0)
            except asyncio.TimeoutError:
                pass
        await settle()
        # Either the await won (3.10's wait_for hands a done result back) or
        # everything is back.
        assert (not lock.locked) or lock.statistics().waiting == 0
        assert q.pending in ([1], [])

    run(main())


def test_the_deferreds_still_behave_as_deferreds() -> None:
    lock = DeferredLock()
    d = lock.acquire()
    assert isinstance(d, Deferred)
    assert repr(d).startswith("<Deferred at 0x")
    got: list[object] = []
    lock.acquire().addCallback(got.append)
    lock.release()
    assert got == [lock]
    assert ensureDeferred(d) is d
    q: DeferredQueue[int] = DeferredQueue()
    waiting = q.get()
    waiting.cancel()
    assert isinstance(waiting.result.value, CancelledError)
    waiting.addErrback(lambda f: None)
    gc.collect()


def test_a_started_await_run_by_a_task_gets_the_value() -> None:
    async def main() -> None:
        q: DeferredQueue[int] = DeferredQueue()
        t = asyncio.ensure_future(q.get())
        await settle()
        q.put(5)
        assert await t == 5
        q.put(6)
        assert await asyncio.ensure_future(q.get()) == 6

    run(main())


# -- stress, on a real loop ----------------------------------------------------


def test_stress_wait_for_gets_lose_and_duplicate_nothing() -> None:
    async def main() -> None:
        q: DeferredQueue[int] = DeferredQueue()
        count = 1500
        got: list[int] = []

        async def producer() -> None:
            for i in range(count):
                q.put(i)
                if i % 3:
                    await asyncio.sleep(0.0001)
                else:
                    await asyncio.sleep(0)

        async def consumer() -> None:
            while not (prod.done() and not q.pending):
                try:
                    got.append(await asyncio.wait_for(q.get(), 0.0003))
                except asyncio.TimeoutError:
                    pass

        prod = asyncio.ensure_future(producer())
        await asyncio.wait_for(asyncio.gather(consumer(), consumer()), 30)
        assert sorted(got) == list(range(count))
        assert q.statistics().waiting == 0

    run(main())


@pytest.mark.parametrize("tokens", [1, 3])
def test_stress_wait_for_acquires_leave_every_token_back(tokens: int) -> None:
    async def main() -> None:
        sem = DeferredSemaphore(tokens)
        held = 0
        most = 0

        async def worker(k: int) -> None:
            nonlocal held, most
            for i in range(150):
                try:
                    await asyncio.wait_for(sem.acquire(), 0.0002 * ((i + k) % 3))
                except asyncio.TimeoutError:
                    continue
                held += 1
                most = max(most, held)
                await asyncio.sleep(0)
                held -= 1
                sem.release()

        await asyncio.wait_for(asyncio.gather(*(worker(k) for k in range(10))), 30)
        await settle()
        assert sem.tokens == tokens
        assert most <= tokens

    run(main())


# -- a state machine of tasks acquiring, getting, and being cancelled ----------


class PrimitivesUnderCancellation(RuleBasedStateMachine):
    """Tasks acquire a semaphore and get from a queue; any of them may be
    cancelled at any point (before it starts, while waiting, after the
    hand-over); the loop runs a step at a time."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.limit = 2
        self.sem = DeferredSemaphore(self.limit)
        self.queue: DeferredQueue[int] = DeferredQueue()
        self.acquirers: list[asyncio.Future[Any]] = []
        self.getters: list[asyncio.Future[Any]] = []
        self.holders = 0  # acquirer tasks done with a token, not released
        self.counted: set[int] = set()  # ids of acquirer tasks counted
        self.nextItem = 0
        self.received: list[int] = []
        self.taken: set[int] = set()

    @initialize()
    def start(self) -> None:
        asyncio.set_event_loop(self.loop)

    def _step(self) -> None:
        self.loop.run_until_complete(asyncio.sleep(0))
        self._collect()

    def _collect(self) -> None:
        for t in self.acquirers:
            if id(t) not in self.counted and t.done():
                self.counted.add(id(t))
                if not t.cancelled() and t.exception() is None:
                    self.holders += 1
        for t in self.getters:
            if id(t) not in self.taken and t.done():
                self.taken.add(id(t))
                if not t.cancelled() and t.exception() is None:
                    self.received.append(t.result())

    async def acquireLater(self) -> object:
        return await self.sem.acquire()

    async def getLater(self) -> int:
        return await self.queue.get()

    async def acquireWaitFor(self) -> object:
        return await asyncio.wait_for(self.sem.acquire(), 0)

    async def getWaitFor(self) -> int:
        return await asyncio.wait_for(self.queue.get(), 0)

    @rule(how=st.sampled_from(["await", "ensure_future", "wait_for"]))
    def acquire(self, how: str) -> None:
        if how == "await":
            # Called inside the task, as asyncio's are: a Deferred made and
            # handed to a coroutine cancelled before it starts is never
            # seen again (see docs/primitives.md).
            coro: Any = self.acquireLater()
        elif how == "wait_for":
            coro = self.acquireWaitFor()
        else:
            coro = self.sem.acquire()
        self.acquirers.append(asyncio.ensure_future(coro, loop=self.loop))

    @rule(how=st.sampled_from(["await", "ensure_future", "wait_for"]))
    def get(self, how: str) -> None:
        if how == "await":
            # Called inside the task, as asyncio's are: a Deferred made and
            # handed to a coroutine cancelled before it starts is never
            # seen again (see docs/primitives.md).
            coro: Any = self.getLater()
        elif how == "wait_for":
            coro = self.getWaitFor()
        else:
            coro = self.queue.get()
        self.getters.append(asyncio.ensure_future(coro, loop=self.loop))

    @rule()
    def put(self) -> None:
        self.queue.put(self.nextItem)
        self.nextItem += 1

    @precondition(lambda self: self.holders > 0)
    @rule()
    def release(self) -> None:
        self.holders -= 1
        self.sem.release()

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        tasks = [t for t in self.acquirers + self.getters if not t.done()]
        if tasks:
            data.draw(st.sampled_from(tasks)).cancel()

    @rule()
    def step(self) -> None:
        self._step()

    @invariant()
    def nothing_is_over_handed(self) -> None:
        self._collect()
        assert self.sem.tokens >= 0
        assert self.sem.tokens + self.holders <= self.limit
        assert len(set(self.received)) == len(self.received)
        assert not set(self.received) & set(self.queue.pending)

    def teardown(self) -> None:
        try:
            for t in self.acquirers + self.getters:
                t.cancel()
            for _ in range(10):
                self._step()
            assert all(t.done() for t in self.acquirers + self.getters)
            # Every token is either free or held by a task that got it.
            assert self.sem.tokens + self.holders == self.limit
            assert self.sem.statistics().waiting == 0
            # Every object was received once, or is back in the queue, in
            # order.
            pending = self.queue.pending
            assert sorted(self.received + pending) == list(range(self.nextItem))
            assert pending == sorted(pending)
            assert self.queue.statistics().waiting == 0
        finally:
            self.loop.close()
            asyncio.set_event_loop(None)


PrimitivesUnderCancellation.TestCase.settings = settings(
    max_examples=150,
    stateful_step_count=40,
    deadline=None,
)
test_primitives_under_cancellation = PrimitivesUnderCancellation.TestCase
