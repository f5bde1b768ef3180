"""Idiomatic asyncio equivalents of the Deferred workloads.

Each function takes a (not running) event loop and a size ``n``, performs the same
``n`` operations as its Deferred counterpart in :mod:`benchmarks.workloads` inside
one ``loop.run_until_complete`` call (its fixed cost is spread over the ``n``
operations), and returns a value checked once against
:attr:`AsyncioWorkload.expected`.

An asyncio Future never runs callbacks synchronously: ``set_result`` schedules
them with ``call_soon``, and a task waiting on a future resumes on a later loop
turn. That cost is part of what is measured; it is what asyncio code pays.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

Loop = asyncio.AbstractEventLoop


def _inc_done(future: asyncio.Future[int]) -> int:
    return future.result() + 1


def _inc(value: int) -> int:
    return value + 1


def _run(loop: Loop, coro: Coroutine[Any, Any, Any]) -> Any:
    return loop.run_until_complete(coro)


async def _last_result(future: asyncio.Future[Any]) -> Any:
    """Schedule one more done callback and let the loop drain everything before
    it; returns what that callback saw."""
    seen: list[Any] = []
    future.add_done_callback(lambda f: seen.append(f.result()))
    await asyncio.sleep(0)
    return seen[0] if seen else None


# -- callbacks ---------------------------------------------------------------


async def _callbacks10(loop: Loop, n: int) -> Any:
    cb = _inc_done
    fut: asyncio.Future[int] = loop.create_future()
    for i in range(n):
        fut = loop.create_future()
        fut.add_done_callback(cb)
        fut.add_done_callback(cb)
        fut.add_done_callback(cb)
        fut.add_done_callback(cb)
        fut.add_done_callback(cb)
        fut.add_done_callback(cb)
        fut.add_done_callback(cb)
        fut.add_done_callback(cb)
        fut.add_done_callback(cb)
        fut.add_done_callback(cb)
        fut.set_result(i)
    return await _last_result(fut)


def callbacks10(loop: Loop, n: int) -> Any:
    return _run(loop, _callbacks10(loop, n))


async def _succeed(loop: Loop, n: int) -> Any:
    cb = _inc_done
    fut: asyncio.Future[int] = loop.create_future()
    for i in range(n):
        fut = loop.create_future()
        fut.set_result(i)
        fut.add_done_callback(cb)
    return await _last_result(fut)


def succeed(loop: Loop, n: int) -> Any:
    return _run(loop, _succeed(loop, n))


async def _failing_step(future: asyncio.Future[int]) -> int:
    raise ValueError(await future)


async def _errback_trap(loop: Loop, n: int) -> int:
    result = -1
    for i in range(n):
        fut = loop.create_future()
        fut.set_result(i)
        try:
            result = await _failing_step(fut)
        except ValueError:
            result = 0
    return result


def errback_trap(loop: Loop, n: int) -> Any:
    return _run(loop, _errback_trap(loop, n))


# -- deep chains -------------------------------------------------------------


async def _link(trigger: asyncio.Future[int], next_link: asyncio.Task[int]) -> int:
    await trigger
    return await next_link


async def _last_link(trigger: asyncio.Future[int]) -> int:
    return _inc(await trigger)


async def _chain(loop: Loop, n: int, forward: bool) -> int:
    triggers: list[asyncio.Future[int]] = [loop.create_future() for _ in range(n)]
    links: list[asyncio.Task[int]] = [loop.create_task(_last_link(triggers[-1]))]
    for i in range(n - 2, -1, -1):
        links.append(loop.create_task(_link(triggers[i], links[-1])))
    await asyncio.sleep(0)  # every link now waits on its trigger
    for i in range(n) if forward else range(n - 1, -1, -1):
        triggers[i].set_result(i)
    return await links[-1]


def chain_forward(loop: Loop, n: int) -> Any:
    return _run(loop, _chain(loop, n, forward=True))


def chain_backward(loop: Loop, n: int) -> Any:
    return _run(loop, _chain(loop, n, forward=False))


# -- awaiting futures from a task --------------------------------------------


async def _await_fired(loop: Loop, n: int) -> int:
    total = 0
    for i in range(n):
        fut = loop.create_future()
        fut.set_result(i)
        total += await fut
    return total


def await_fired(loop: Loop, n: int) -> Any:
    return _run(loop, _await_fired(loop, n))


async def _consume(futures: list[asyncio.Future[int]]) -> int:
    total = 0
    for fut in futures:
        total += await fut
    return total


async def _await_pending(loop: Loop, n: int) -> int:
    futures: list[asyncio.Future[int]] = [loop.create_future() for _ in range(n)]
    consumer = loop.create_task(_consume(futures))
    await asyncio.sleep(0)  # the consumer now waits on the first future
    for i, fut in enumerate(futures):
        fut.set_result(i)
        await asyncio.sleep(0)  # the consumer resumes, then waits on the next
    return await consumer


def await_pending(loop: Loop, n: int) -> Any:
    return _run(loop, _await_pending(loop, n))


# -- combinators -------------------------------------------------------------


async def _gather(loop: Loop, n: int, return_exceptions: bool) -> list[Any]:
    futures: list[asyncio.Future[int]] = [loop.create_future() for _ in range(n)]
    gathered = asyncio.gather(*futures, return_exceptions=return_exceptions)
    for i, fut in enumerate(futures):
        fut.set_result(i)
    return await gathered


def gather(loop: Loop, n: int) -> Any:
    return _run(loop, _gather(loop, n, return_exceptions=False))


def gather_return_exceptions(loop: Loop, n: int) -> Any:
    return _run(loop, _gather(loop, n, return_exceptions=True))


# -- queue -------------------------------------------------------------------


async def _queue_waiting(loop: Loop, n: int) -> int:
    queue: asyncio.Queue[int] = asyncio.Queue()
    getters = [loop.create_task(queue.get()) for _ in range(n)]
    await asyncio.sleep(0)  # every getter now waits on the empty queue
    put = queue.put_nowait
    for i in range(n):
        put(i)
    return await getters[-1]


def queue_waiting(loop: Loop, n: int) -> Any:
    return _run(loop, _queue_waiting(loop, n))


async def _echo(pings: asyncio.Queue[int], pongs: asyncio.Queue[int], n: int) -> None:
    for _ in range(n):
        pongs.put_nowait(await pings.get())


async def _queue_pingpong(loop: Loop, n: int) -> int:
    pings: asyncio.Queue[int] = asyncio.Queue()
    pongs: asyncio.Queue[int] = asyncio.Queue()
    echo = loop.create_task(_echo(pings, pongs, n))
    pong = -1
    for i in range(n):
        pings.put_nowait(i)
        pong = await pongs.get()
    await echo
    return pong


def queue_pingpong(loop: Loop, n: int) -> Any:
    return _run(loop, _queue_pingpong(loop, n))


# -- lock and semaphore ------------------------------------------------------

LockLike = asyncio.Lock | asyncio.Semaphore


async def _hold(lock: LockLike, gate: asyncio.Future[int]) -> int:
    async with lock:
        return await gate


async def _contended(loop: Loop, n: int, make: Callable[[], LockLike]) -> int:
    lock = make()
    gates: list[asyncio.Future[int]] = [loop.create_future() for _ in range(n)]
    holders = [loop.create_task(_hold(lock, gate)) for gate in gates]
    await asyncio.sleep(0)  # the first holders own the lock; the rest wait
    for i, gate in enumerate(gates):
        gate.set_result(i)
    return await holders[-1]


async def _uncontended(n: int, make: Callable[[], LockLike]) -> int:
    lock = make()
    inc = _inc
    result = -1
    for i in range(n):
        async with lock:
            result = inc(i)
    return result


def _semaphore10() -> asyncio.Semaphore:
    return asyncio.Semaphore(10)


def lock_contended(loop: Loop, n: int) -> Any:
    return _run(loop, _contended(loop, n, asyncio.Lock))


def lock_uncontended(loop: Loop, n: int) -> Any:
    return _run(loop, _uncontended(n, asyncio.Lock))


def semaphore_contended(loop: Loop, n: int) -> Any:
    return _run(loop, _contended(loop, n, _semaphore10))


def semaphore_uncontended(loop: Loop, n: int) -> Any:
    return _run(loop, _uncontended(n, _semaphore10))


# -- memory ------------------------------------------------------------------


def _memory_callback(future: asyncio.Future[Any]) -> None:
    pass


MEMORY_EQUIVALENT = (
    "a pending `loop.create_future()` with one `add_done_callback` (loop not running)"
)


def pending_with_callback(loop: Loop) -> Any:
    """One pending Future with one done callback (a plain function)."""
    fut = loop.create_future()
    fut.add_done_callback(_memory_callback)
    return fut


# -- threads -------------------------------------------------------------------


def _double(i: int) -> int:
    return 2 * i


async def _thread_roundtrip(n: int) -> int:
    total = 0
    for i in range(n):
        total += await asyncio.to_thread(_double, i)
    return total


def thread_roundtrip(loop: Loop, n: int) -> Any:
    return _run(loop, _thread_roundtrip(n))


# -- registry ----------------------------------------------------------------


def _triangle(n: int) -> int:
    return n * (n - 1) // 2


@dataclass(frozen=True)
class AsyncioWorkload:
    """The asyncio equivalent of one Deferred workload."""

    run: Callable[[Loop, int], Any]
    expected: Callable[[int], object]
    equivalent: str
    """What the asyncio code does, for the README."""


ASYNCIO_WORKLOADS: dict[str, AsyncioWorkload] = {
    "callbacks10": AsyncioWorkload(
        callbacks10,
        lambda n: n - 1,
        "`loop.create_future()`, 10 x `add_done_callback`, `set_result`; the loop "
        "runs the callbacks (one loop turn per batch)",
    ),
    "succeed": AsyncioWorkload(
        succeed,
        lambda n: n - 1,
        "a future with `set_result` already called, then `add_done_callback(f)`",
    ),
    "errback_trap": AsyncioWorkload(
        errback_trap,
        lambda n: 0,
        "a coroutine awaits a done future and raises `ValueError`; its caller "
        "`try/except ValueError` recovers",
    ),
    "chain_forward": AsyncioWorkload(
        chain_forward,
        lambda n: n,
        "10,000 tasks, each awaiting its own trigger future and then the next "
        "task; triggers set first to last",
    ),
    "chain_backward": AsyncioWorkload(
        chain_backward,
        lambda n: n,
        "the same tasks, triggers set last to first",
    ),
    "inline_fired": AsyncioWorkload(
        await_fired,
        _triangle,
        "one task awaiting 1,000 already-done futures",
    ),
    "inline_pending": AsyncioWorkload(
        await_pending,
        _triangle,
        "one task awaiting 1,000 futures, each set from another task that then "
        "yields one loop turn (`asyncio.sleep(0)`)",
    ),
    "coro_fired": AsyncioWorkload(
        await_fired,
        _triangle,
        "same as the inlineCallbacks row: one task awaiting done futures",
    ),
    "coro_pending": AsyncioWorkload(
        await_pending,
        _triangle,
        "same as the inlineCallbacks row: one task awaiting pending futures",
    ),
    "gather": AsyncioWorkload(
        gather,
        lambda n: list(range(n)),
        "`asyncio.gather` over 1,000 pending futures, then each one set",
    ),
    "deferred_list": AsyncioWorkload(
        gather_return_exceptions,
        lambda n: list(range(n)),
        "`asyncio.gather(..., return_exceptions=True)` over 1,000 pending futures",
    ),
    "queue_waiting": AsyncioWorkload(
        queue_waiting,
        lambda n: n - 1,
        "`asyncio.Queue`: 100,000 tasks blocked in `get()`, then `put_nowait` x "
        "100,000",
    ),
    "queue_pingpong": AsyncioWorkload(
        queue_pingpong,
        lambda n: n - 1,
        "two `asyncio.Queue`s: `put_nowait` a ping, an echo task `get`s it and "
        "puts it on the pong queue, `await get()` the pong",
    ),
    "lock_contended": AsyncioWorkload(
        lock_contended,
        lambda n: n - 1,
        "`asyncio.Lock`: 1,000 tasks doing `async with lock: await gate`",
    ),
    "lock_uncontended": AsyncioWorkload(
        lock_uncontended,
        lambda n: n,
        "`async with lock: f(i)` on a free `asyncio.Lock`",
    ),
    "semaphore_contended": AsyncioWorkload(
        semaphore_contended,
        lambda n: n - 1,
        "`asyncio.Semaphore(10)`: 1,000 tasks doing `async with sem: await gate`",
    ),
    "semaphore_uncontended": AsyncioWorkload(
        semaphore_uncontended,
        lambda n: n,
        "`async with sem: f(i)` on a free `asyncio.Semaphore(10)`",
    ),
    "thread_roundtrip": AsyncioWorkload(
        thread_roundtrip,
        lambda n: n * (n - 1),
        "`await asyncio.to_thread(f, i)`, one after the other",
    ),
}
