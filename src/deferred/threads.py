"""The Deferred helpers of Twisted's ``twisted.internet.threads``, on asyncio.

* :func:`deferToThread` and :func:`deferToThreadPool` run a blocking
  function in a worker thread and give a Deferred for its result, which
  fires on the event loop's thread;
* :func:`blockingCallFromThread` goes the other way: from a worker thread, it
  runs a function on the loop's thread and waits for its result;
* :func:`callMultipleInThread` runs several functions, one after the other,
  in one worker thread.

Where Twisted takes a reactor and its thread pool, these take an asyncio
event loop (or an :class:`~deferred.clock.AsyncioClock`) and a
``concurrent.futures.Executor``; by default, the running loop and its default
executor, the one ``asyncio.to_thread`` uses.
"""

from __future__ import annotations

import contextvars
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Callable, ParamSpec, TypeVar, Union

from ._coroutines import ensureDeferred
from ._deferred import _DEFERRED_TYPES, Deferred
from ._futures import _Delivery, _FutureCanceller, _ThreadsafeDelivery, fromFuture
from ._raising import raiseFailure
from .failure import Failure, _shortRepr

if TYPE_CHECKING:
    import asyncio
    import concurrent.futures
    from collections.abc import Iterable

    from .clock import AsyncioClock

    _LoopLike = Union[asyncio.AbstractEventLoop, AsyncioClock]

__all__ = [
    "blockingCallFromThread",
    "callMultipleInThread",
    "deferToThread",
    "deferToThreadPool",
]

_P = ParamSpec("_P")
_R = TypeVar("_R")


def deferToThread(
    f: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs
) -> Deferred[_R]:
    """Run ``f(*args, **kwargs)`` in the running loop's default executor.

    Returns a Deferred that fires with its result (or fails with its
    exception) on the loop's thread.  The function sees a copy of the
    caller's context variables, as with ``asyncio.to_thread``.  Cancelling the
    Deferred cancels the call if it has not started yet; a call already
    running goes on, and its result is dropped.

    Needs a running asyncio loop (Twisted's needs its reactor).
    """
    _checkCallable("deferToThread", f)
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "deferToThread() needs a running asyncio event loop, to fire its "
            "Deferred on; for another loop or executor, use deferToThreadPool()"
        ) from None
    executor = _defaultExecutor(loop)
    if executor is None:
        # A loop that does not show its default executor: go the long way.
        context = contextvars.copy_context()
        return fromFuture(
            loop.run_in_executor(None, lambda: context.run(f, *args, **kwargs))
        )
    return _submit(loop, executor, f, args, kwargs)


def deferToThreadPool(
    loop: _LoopLike | None,
    executor: concurrent.futures.Executor,
    f: Callable[_P, _R],
    *args: _P.args,
    **kwargs: _P.kwargs,
) -> Deferred[_R]:
    """Run ``f(*args, **kwargs)`` in ``executor``; fire on ``loop``'s thread.

    ``loop`` is an asyncio event loop, an
    :class:`~deferred.clock.AsyncioClock`, or ``None`` for the running loop;
    it need not be running yet, and the Deferred fires once it is (never if
    it is closed first).  ``executor`` is any ``concurrent.futures.Executor``
    (a thread pool, usually).  Otherwise as :func:`deferToThread`.
    """
    _checkCallable("deferToThreadPool", f)
    if not callable(getattr(executor, "submit", None)):
        raise TypeError(
            f"deferToThreadPool() needs a concurrent.futures.Executor, not {executor!r}"
        )
    return _submit(_loopOf("deferToThreadPool", loop), executor, f, args, kwargs)


def blockingCallFromThread(
    loop: _LoopLike, f: Callable[..., Any], *a: object, **kw: object
) -> Any:
    """From a worker thread, run ``f(*a, **kw)`` on ``loop``'s thread and wait.

    ``f`` may return a value, a Deferred or a coroutine: this returns the
    result once there is one, or raises the exception ``f`` raised or its
    Deferred or coroutine failed with, with its traceback.  ``loop`` is an
    asyncio event loop or an :class:`~deferred.clock.AsyncioClock`.

    Called on the loop's own thread, where waiting would block the loop
    forever, it raises :class:`RuntimeError` instead.
    """
    if not callable(f):
        raise TypeError(
            f"blockingCallFromThread() needs a callable, not {_shortRepr(f)}"
        )
    theLoop = _loopOf("blockingCallFromThread", loop)
    import asyncio
    import concurrent.futures

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is theLoop:
        raise RuntimeError(
            "blockingCallFromThread() was called on the event loop's own "
            "thread, where it would wait forever; call it from a worker thread "
            "(in the loop's thread, use the Deferred or coroutine directly)"
        )
    waiter: concurrent.futures.Future[Any] = concurrent.futures.Future()

    def handOver(result: object) -> None:
        # Taking the result: a failure is raised in the waiting thread.
        waiter.set_result(result)

    def runOnLoop() -> None:
        try:
            result = f(*a, **kw)
        except BaseException as e:
            # Handed over as it is, live traceback and all.
            waiter.set_exception(e)
            return
        if type(result) in _DEFERRED_TYPES or type(result) is CoroutineType:
            ensureDeferred(result).addBoth(handOver)
        else:
            waiter.set_result(result)

    theLoop.call_soon_threadsafe(runOnLoop)  # RuntimeError if it is closed
    result = waiter.result()
    if isinstance(result, Failure):
        raiseFailure(result)
    return result


def callMultipleInThread(
    tupleList: Iterable[
        tuple[Callable[..., object], tuple[object, ...], dict[str, object]]
    ],
) -> None:
    """Run each ``f(*args, **kwargs)`` of ``tupleList``, in order, in one
    thread of the running loop's default executor.

    Nothing waits for them: an exception ends the run and is reported as an
    unhandled error (as a Deferred's).
    """
    calls = list(tupleList)
    deferToThread(_runAll, calls)


def _runAll(
    calls: list[tuple[Callable[..., object], tuple[object, ...], dict[str, object]]],
) -> None:
    for f, args, kwargs in calls:
        f(*args, **kwargs)


def _submit(
    loop: asyncio.AbstractEventLoop,
    executor: concurrent.futures.Executor,
    f: Callable[..., _R],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Deferred[_R]:
    future = executor.submit(contextvars.copy_context().run, f, *args, **kwargs)
    deferred: Deferred[_R] = Deferred(_FutureCanceller(future))
    # The future's done-callback runs in the worker thread (or here, if it is
    # done already, or cancelled later from the loop): either way the
    # Deferred fires through the loop, so always on its thread.
    future.add_done_callback(_ThreadsafeDelivery(loop, _Delivery(deferred)))
    return deferred


def _defaultExecutor(loop: asyncio.AbstractEventLoop) -> Any:
    # asyncio's loops keep their default executor here; making it is left to
    # the loop (run_in_executor), so it is the same one asyncio.to_thread uses.
    executor = getattr(loop, "_default_executor", None)
    if executor is None:
        loop.run_in_executor(None, _nothing)
        executor = getattr(loop, "_default_executor", None)
    if not callable(getattr(executor, "submit", None)):
        return None
    return executor


def _nothing() -> None:
    pass


def _loopOf(caller: str, loop: object) -> asyncio.AbstractEventLoop:
    import asyncio

    if isinstance(loop, asyncio.AbstractEventLoop):
        return loop
    from .clock import AsyncioClock

    if loop is None or isinstance(loop, AsyncioClock):
        try:
            return asyncio.get_running_loop() if loop is None else loop._getLoop()
        except RuntimeError:
            raise RuntimeError(
                f"{caller}() was given no event loop, and none is running"
            ) from None
    raise TypeError(
        f"{caller}() needs an asyncio event loop or an AsyncioClock, not {loop!r}"
    )


def _checkCallable(caller: str, f: object) -> None:
    if not callable(f):
        raise TypeError(f"{caller}() needs a callable, not {_shortRepr(f)}")
