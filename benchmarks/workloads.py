"""Workloads for Deferred implementations.

Each workload is one function taking the ``defer`` module under test and a size
``n``; ``deferred`` and ``twisted.internet.defer`` run literally the same code (the
import swap is the product's promise). A call performs ``n`` operations and
returns a value (usually the last Deferred) that the worker checks once, outside
the timed loop, against :attr:`DeferWorkload.expected`.

Only the standard library is imported here.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

# Helpers shared by the workloads. Plain module-level functions, so no workload
# pays for building closures inside its timed loop.


def _inc(result: int) -> int:
    return result + 1


def _raise_value_error(result: object) -> object:
    raise ValueError(result)


def _trap_value_error(failure: Any) -> int:
    failure.trap(ValueError)
    return 0


def _return_next(_result: object, next_deferred: object) -> object:
    return next_deferred


def _passthrough(value: object) -> object:
    return value


# -- callbacks ---------------------------------------------------------------


def callbacks10(defer: ModuleType, n: int) -> Any:
    """``n`` times: a new Deferred, 10 callbacks added, then fired once."""
    Deferred = defer.Deferred
    inc = _inc
    d = None
    for i in range(n):
        d = Deferred()
        d.addCallback(inc)
        d.addCallback(inc)
        d.addCallback(inc)
        d.addCallback(inc)
        d.addCallback(inc)
        d.addCallback(inc)
        d.addCallback(inc)
        d.addCallback(inc)
        d.addCallback(inc)
        d.addCallback(inc)
        d.callback(i)
    return d


def succeed_callback(defer: ModuleType, n: int) -> Any:
    """``n`` times: ``succeed(x).addCallback(f)``."""
    succeed = defer.succeed
    inc = _inc
    d = None
    for i in range(n):
        d = succeed(i).addCallback(inc)
    return d


def errback_trap(defer: ModuleType, n: int) -> Any:
    """``n`` times: a callback raises ValueError, an errback traps it and recovers."""
    Deferred = defer.Deferred
    raiser = _raise_value_error
    trapper = _trap_value_error
    d = None
    for i in range(n):
        d = Deferred()
        d.addCallback(raiser)
        d.addErrback(trapper)
        d.callback(i)
    return d


# -- deep chains -------------------------------------------------------------


def _chain(defer: ModuleType, n: int, forward: bool) -> Any:
    Deferred = defer.Deferred
    ds = [Deferred() for _ in range(n)]
    for i in range(n - 1):
        ds[i].addCallback(_return_next, ds[i + 1])
    ds[-1].addCallback(_inc)
    for i in range(n) if forward else range(n - 1, -1, -1):
        ds[i].callback(i)
    return ds[0]


def chain_forward(defer: ModuleType, n: int) -> Any:
    """``n`` Deferreds, each callback returning the next one; fired first to last.

    Every link waits on a pending Deferred, so the last ``callback`` unwinds the
    whole chain at once (the deep case).
    """
    return _chain(defer, n, forward=True)


def chain_backward(defer: ModuleType, n: int) -> Any:
    """The same chain fired last to first: every callback returns a fired one."""
    return _chain(defer, n, forward=False)


# -- inlineCallbacks and coroutines -----------------------------------------

_Decorator = Callable[[Callable[[], Generator[Any, Any, int]]], Callable[[], Any]]


def inline_fired(defer: ModuleType, n: int) -> Any:
    """One ``inlineCallbacks`` generator yielding ``n`` already-fired Deferreds."""
    succeed = defer.succeed
    inlineCallbacks: _Decorator = defer.inlineCallbacks

    @inlineCallbacks
    def consume() -> Generator[Any, Any, int]:
        total = 0
        for i in range(n):
            total += yield succeed(i)
        return total

    return consume()


def inline_pending(defer: ModuleType, n: int) -> Any:
    """One ``inlineCallbacks`` generator yielding ``n`` pending Deferreds, each
    fired from outside while the generator waits on it."""
    ds = [defer.Deferred() for _ in range(n)]
    inlineCallbacks: _Decorator = defer.inlineCallbacks

    @inlineCallbacks
    def consume() -> Generator[Any, Any, int]:
        total = 0
        for d in ds:
            total += yield d
        return total

    result = consume()
    for i, d in enumerate(ds):
        d.callback(i)
    return result


def coro_fired(defer: ModuleType, n: int) -> Any:
    """One ``async def`` under ``ensureDeferred`` awaiting ``n`` fired Deferreds."""
    succeed = defer.succeed

    async def consume() -> int:
        total = 0
        for i in range(n):
            total += await succeed(i)
        return total

    return defer.ensureDeferred(consume())


def coro_pending(defer: ModuleType, n: int) -> Any:
    """One ``async def`` under ``ensureDeferred`` awaiting ``n`` pending Deferreds,
    each fired from outside while the coroutine waits on it."""
    ds = [defer.Deferred() for _ in range(n)]

    async def consume() -> int:
        total = 0
        for d in ds:
            total += await d
        return total

    result = defer.ensureDeferred(consume())
    for i, d in enumerate(ds):
        d.callback(i)
    return result


# -- combinators -------------------------------------------------------------


def gather_results(defer: ModuleType, n: int) -> Any:
    """``gatherResults`` over ``n`` pending Deferreds, then each one fired."""
    ds = [defer.Deferred() for _ in range(n)]
    gathered = defer.gatherResults(ds)
    for i, d in enumerate(ds):
        d.callback(i)
    return gathered


def deferred_list(defer: ModuleType, n: int) -> Any:
    """``DeferredList(consumeErrors=True)`` over ``n`` pending Deferreds, then each
    one fired."""
    ds = [defer.Deferred() for _ in range(n)]
    gathered = defer.DeferredList(ds, consumeErrors=True)
    for i, d in enumerate(ds):
        d.callback(i)
    return gathered


# -- queue -------------------------------------------------------------------


def queue_waiting(defer: ModuleType, n: int) -> Any:
    """``n`` getters waiting on an empty DeferredQueue, then ``n`` puts."""
    queue = defer.DeferredQueue()
    get = queue.get
    put = queue.put
    getters = [get() for _ in range(n)]
    for i in range(n):
        put(i)
    return getters[-1]


def queue_pingpong(defer: ModuleType, n: int) -> Any:
    """``n`` round trips, one at a time: ping into one queue, where a waiting
    getter echoes it into a second queue, then get the pong back."""
    pings = defer.DeferredQueue()
    pongs = defer.DeferredQueue()
    echo = pongs.put
    d = None
    for i in range(n):
        pings.get().addCallback(echo)
        pings.put(i)
        d = pongs.get()
    return d


# -- lock and semaphore ------------------------------------------------------


def _contended(lock: Any, defer: ModuleType, n: int) -> Any:
    gates = [defer.Deferred() for _ in range(n)]
    run = lock.run
    results = [run(_passthrough, gate) for gate in gates]
    for i, gate in enumerate(gates):
        gate.callback(i)
    return results[-1]


def _uncontended(lock: Any, n: int) -> Any:
    run = lock.run
    inc = _inc
    d = None
    for i in range(n):
        d = run(inc, i)
    return d


def lock_contended(defer: ModuleType, n: int) -> Any:
    """``n`` calls of ``DeferredLock.run(f)`` queued while the lock is held; each
    ``f`` returns a pending Deferred, fired in order."""
    return _contended(defer.DeferredLock(), defer, n)


def lock_uncontended(defer: ModuleType, n: int) -> Any:
    """``n`` calls of ``DeferredLock.run(f)`` on a free lock, ``f`` synchronous."""
    return _uncontended(defer.DeferredLock(), n)


def semaphore_contended(defer: ModuleType, n: int) -> Any:
    """As :func:`lock_contended` with ``DeferredSemaphore(10)``."""
    return _contended(defer.DeferredSemaphore(10), defer, n)


def semaphore_uncontended(defer: ModuleType, n: int) -> Any:
    """As :func:`lock_uncontended` with ``DeferredSemaphore(10)``."""
    return _uncontended(defer.DeferredSemaphore(10), n)


# -- memory ------------------------------------------------------------------


def _memory_callback(result: object) -> object:
    return result


def pending_with_callback(defer: ModuleType) -> Any:
    """One pending Deferred with one callback (a plain function)."""
    d = defer.Deferred()
    d.addCallback(_memory_callback)
    return d


# -- registry ----------------------------------------------------------------


def _triangle(n: int) -> int:
    return n * (n - 1) // 2


# -- the porting kit: deferred.task / twisted.internet.task, and threads ---------


def _sibling(defer: ModuleType, name: str) -> ModuleType:
    """The ``task`` or ``threads`` module that goes with ``defer``."""
    import importlib

    if defer.__name__ == "deferred":
        return importlib.import_module(f"deferred.{name}")
    return importlib.import_module(f"twisted.internet.{name}")


def looping_clock(defer: ModuleType, n: int) -> Any:
    task = _sibling(defer, "task")
    clock = task.Clock()
    ticks = [0]

    def tick() -> None:
        ticks[0] += 1

    call = task.LoopingCall(tick)
    call.clock = clock
    call.start(1.0)
    advance = clock.advance
    for _ in range(n - 1):
        advance(1.0)
    call.stop()
    return ticks[0]


def coiterate_clock(defer: ModuleType, n: int) -> Any:
    task = _sibling(defer, "task")
    clock = task.Clock()
    # The default termination predicate (10 ms slices); ticks on the clock.
    cooperator = task.Cooperator(scheduler=lambda f: clock.callLater(0, f))
    d = cooperator.coiterate(iter(range(n)))
    clock.advance(0)
    return d.addCallback(lambda it: next(it, "exhausted"))


def _double(i: int) -> int:
    return 2 * i


#: The event loop the deferred thread round trips run on (kept: its default
#: executor's threads are then started once, as in a real program).
_THREAD_LOOP: list[Any] = []


def thread_roundtrip(defer: ModuleType, n: int) -> Any:
    threads = _sibling(defer, "threads")
    if defer.__name__ == "deferred":
        import asyncio

        if not _THREAD_LOOP:
            _THREAD_LOOP.append(asyncio.new_event_loop())
        loop = _THREAD_LOOP[0]

        async def run() -> int:
            total = 0
            for i in range(n):
                total += await threads.deferToThread(_double, i)
            return total

        return loop.run_until_complete(run())
    # Twisted: its asyncio reactor on an asyncio loop of its own, so both
    # wake up the same way when a thread's result comes back (the default
    # reactor, iterated by hand, would wait out its poll timeout instead).
    import asyncio

    if not _THREAD_LOOP:
        from twisted.internet import asyncioreactor

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        asyncioreactor.install(loop)
        _THREAD_LOOP.append(loop)
    loop = _THREAD_LOOP[0]
    from twisted.internet import reactor

    pool = reactor.getThreadPool()
    if not pool.started:
        import threading

        pool.start()
        # Stopped before the interpreter waits for its threads at exit (the
        # reactor, which would stop it, never runs).
        threading._register_atexit(pool.stop)  # type: ignore[attr-defined]

    async def run() -> int:
        total = 0
        for i in range(n):
            total += await threads.deferToThread(_double, i).asFuture(loop)
        return total

    return loop.run_until_complete(run())


@dataclass(frozen=True)
class DeferWorkload:
    """A timed workload run against a ``defer``-like module."""

    run: Callable[[ModuleType, int], Any]
    needs: tuple[str, ...]
    """Names the module must export; missing ones make the workload n/a."""
    expected: Callable[[int], object]
    """The result of the returned Deferred (or value) for size ``n``."""


DEFER_WORKLOADS: dict[str, DeferWorkload] = {
    "callbacks10": DeferWorkload(callbacks10, ("Deferred",), lambda n: n - 1 + 10),
    "succeed": DeferWorkload(succeed_callback, ("succeed",), lambda n: n),
    "errback_trap": DeferWorkload(errback_trap, ("Deferred",), lambda n: 0),
    "chain_forward": DeferWorkload(chain_forward, ("Deferred",), lambda n: n),
    "chain_backward": DeferWorkload(chain_backward, ("Deferred",), lambda n: n),
    "inline_fired": DeferWorkload(
        inline_fired, ("inlineCallbacks", "succeed"), _triangle
    ),
    "inline_pending": DeferWorkload(
        inline_pending, ("inlineCallbacks", "Deferred"), _triangle
    ),
    "coro_fired": DeferWorkload(coro_fired, ("ensureDeferred", "succeed"), _triangle),
    "coro_pending": DeferWorkload(
        coro_pending, ("ensureDeferred", "Deferred"), _triangle
    ),
    "gather": DeferWorkload(
        gather_results, ("gatherResults", "Deferred"), lambda n: list(range(n))
    ),
    "deferred_list": DeferWorkload(
        deferred_list,
        ("DeferredList", "Deferred"),
        lambda n: [(True, i) for i in range(n)],
    ),
    "queue_waiting": DeferWorkload(queue_waiting, ("DeferredQueue",), lambda n: n - 1),
    "queue_pingpong": DeferWorkload(
        queue_pingpong, ("DeferredQueue",), lambda n: n - 1
    ),
    "lock_contended": DeferWorkload(
        lock_contended, ("DeferredLock", "Deferred"), lambda n: n - 1
    ),
    "lock_uncontended": DeferWorkload(lock_uncontended, ("DeferredLock",), lambda n: n),
    "semaphore_contended": DeferWorkload(
        semaphore_contended, ("DeferredSemaphore", "Deferred"), lambda n: n - 1
    ),
    "semaphore_uncontended": DeferWorkload(
        semaphore_uncontended, ("DeferredSemaphore",), lambda n: n
    ),
    "looping_clock": DeferWorkload(looping_clock, (), lambda n: n),
    "coiterate": DeferWorkload(coiterate_clock, (), lambda n: "exhausted"),
    "thread_roundtrip": DeferWorkload(thread_roundtrip, (), lambda n: n * (n - 1)),
}


def result_of(value: Any) -> object:
    """The current result of a Deferred, read through the public API only.

    Anything that is not Deferred-like is returned unchanged. A Deferred that has
    not fired gives the :data:`PENDING` marker.
    """
    if not hasattr(value, "addBoth"):
        return value
    box: list[object] = []
    value.addBoth(box.append)
    return box[0] if box else PENDING


class _Pending:
    def __repr__(self) -> str:
        return "<pending Deferred>"


PENDING = _Pending()
