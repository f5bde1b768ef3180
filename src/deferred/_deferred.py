"""The Deferred: a result that is not there yet, and the chain of callbacks
waiting for it.

Its state and hot methods live in the core (``deferred._core``: compiled, or
the pure-Python reference); this module adds the rest of the class and the
slow path of awaiting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    TypeVar,
    overload,
)

import deferred._state as _state

from ._core import DeferredCore
from ._debug import registerClass
from ._deferredfuture import DeferredFuture as _DeferredFuture
from ._errors import CancelledError
from ._state import _CHAIN as _CHAIN  # (re-exported for the modules on top)
from ._state import _CONTINUE as _CONTINUE
from ._state import _DEFERRED_TYPES as _DEFERRED_TYPES
from ._state import _EMPTY as _EMPTY
from ._state import _NO_RESULT as _NO_RESULT
from ._state import _cancelledToTimedOutError, _notCallable
from ._state import passthru as passthru
from .failure import _FAILURE_TYPES, _OUTCOME_TYPES, Failure, _shortRepr

if TYPE_CHECKING:
    import asyncio
    import concurrent.futures
    from collections.abc import Coroutine

    from .clock import Scheduler

__all__ = ["Deferred", "getDebugging", "passthru", "setDebugging"]

_T = TypeVar("_T")
_U = TypeVar("_U")
_P = ParamSpec("_P")

class Deferred(DeferredCore[_T], Awaitable[_T], Generic[_T]):
    """A result that is not there yet, with callbacks waiting for it.

    Add callbacks with :meth:`addCallback`, :meth:`addErrback` and friends;
    fire the Deferred once with :meth:`callback` or :meth:`errback`.  Each
    callback gets the result of the one before; an exception raised in a
    callback becomes a :class:`~deferred.failure.Failure` that goes to the
    next errback, and an errback that returns normally recovers.  A callback
    that returns a Deferred suspends the chain until that Deferred fires.

    ``canceller``, if given, is called with this Deferred by :meth:`cancel`
    to stop the work that would have produced the result.

    The callbacks run synchronously, in the call to ``callback()`` (or to
    ``addCallback()`` when the result is already there); an asyncio Future
    would wait for the next turn of the event loop.

    Instances take attributes of your own (``d.request = ...``), as
    Twisted's do, and ``d.debug = True`` turns debugging on for one Deferred.

    Differences from Twisted's Deferred: ``callbacks`` is a read-only
    snapshot, and firing with a Deferred or adding a non-callable callback
    raises ``TypeError`` at once instead of failing later.
    """

    # Slots for our own state; the __dict__ slot is there for attributes that
    # users add (created only when one is).

    # No slots of its own: the core has them all (and the __dict__ slot for
    # attributes that users add).
    __slots__ = ()

    #: Whether new Deferreds record debugging stacks; see :func:`setDebugging`.
    #: Set on one instance, it turns debugging on for that Deferred alone.
    debug: bool = False

    if TYPE_CHECKING:
        # The precise types of the core's methods that take callbacks.

        @overload
        def addCallback(
            self,
            callback: Callable[Concatenate[_T, _P], Deferred[_U]],
            *args: _P.args,
            **kwargs: _P.kwargs,
        ) -> Deferred[_U]: ...

        @overload
        def addCallback(
            self,
            callback: Callable[Concatenate[_T, _P], Failure],
            *args: _P.args,
            **kwargs: _P.kwargs,
        ) -> Deferred[Any]: ...

        @overload
        def addCallback(
            self,
            callback: Callable[Concatenate[_T, _P], _U],
            *args: _P.args,
            **kwargs: _P.kwargs,
        ) -> Deferred[_U]: ...

        def addCallback(
            self, callback: Callable[..., Any], *args: Any, **kwargs: Any
        ) -> Deferred[Any]: ...

        @overload
        def addErrback(
            self,
            errback: Callable[Concatenate[Failure, _P], Deferred[_U]],
            *args: _P.args,
            **kwargs: _P.kwargs,
        ) -> Deferred[_T | _U]: ...

        @overload
        def addErrback(
            self,
            errback: Callable[Concatenate[Failure, _P], _U],
            *args: _P.args,
            **kwargs: _P.kwargs,
        ) -> Deferred[_T | _U]: ...

        def addErrback(
            self, errback: Callable[..., Any], *args: Any, **kwargs: Any
        ) -> Deferred[Any]: ...

        @overload
        def addBoth(
            self,
            callback: Callable[Concatenate[_T | Failure, _P], Deferred[_U]],
            *args: _P.args,
            **kwargs: _P.kwargs,
        ) -> Deferred[_U]: ...

        @overload
        def addBoth(
            self,
            callback: Callable[Concatenate[_T | Failure, _P], _U],
            *args: _P.args,
            **kwargs: _P.kwargs,
        ) -> Deferred[_U]: ...

        def addBoth(
            self, callback: Callable[..., Any], *args: Any, **kwargs: Any
        ) -> Deferred[Any]: ...

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Weakly: a subclass made at run time is freed once unused.
        registerClass(cls, _DEFERRED_TYPES, _OUTCOME_TYPES)


    @property
    def callbacks(self) -> list[tuple[tuple[Any, ...], tuple[Any, ...]]]:
        """A snapshot of the pending callbacks, in Twisted's shape:
        ``((callback, args, kwargs), (errback, args, kwargs))`` pairs.

        Deprecated, as in Twisted since 25.5 (it warns): it is there for
        debugging only.
        """
        import warnings

        warnings.warn(
            "Deferred.callbacks is deprecated (as in Twisted 25.5): it is for "
            "debugging only, a snapshot that changes nothing",
            DeprecationWarning,
            stacklevel=2,
        )
        pairs = []
        for entry in self._callbacks:
            if type(entry) is tuple:
                callback, errback, args, kwargs = entry
            else:
                callback, errback, args, kwargs = entry, None, None, None
            if kwargs is _CHAIN:
                callback, errback = args.callback, args.errback
                args = kwargs = None
            elif callback is _CONTINUE:
                args, kwargs = (args,), None
            args = args or ()
            kwargs = kwargs or {}
            pairs.append(
                (
                    (passthru if callback is None else callback, args, kwargs),
                    (passthru if errback is None else errback, args, kwargs),
                )
            )
        return pairs

    def addTimeout(
        self,
        timeout: float,
        clock: Scheduler,
        onTimeoutCancel: Callable[[Any, float], Any] | None = None,
    ) -> Deferred[_T]:
        """Cancel this Deferred if it has not fired within ``timeout`` seconds.

        ``clock`` schedules the cancellation: a :class:`deferred.clock.Clock`,
        an :class:`~deferred.clock.AsyncioClock`, or anything with a
        ``callLater``.  On timeout the resulting :class:`CancelledError` becomes
        a :class:`TimeoutError`, or whatever ``onTimeoutCancel(result,
        timeout)`` returns or raises.  Firing in time cancels the timer.
        """
        if onTimeoutCancel is not None and not callable(onTimeoutCancel):
            raise _notCallable("onTimeoutCancel", onTimeoutCancel)
        if not callable(getattr(clock, "callLater", None)):
            raise TypeError(
                "addTimeout() needs a clock with callLater(), such as "
                "deferred.clock.AsyncioClock() (on the running asyncio loop) or "
                f"deferred.clock.Clock(), not {_shortRepr(clock)}"
            )
        timedOut = False

        def timeItOut() -> None:
            nonlocal timedOut
            timedOut = True
            self.cancel()

        delayedCall = clock.callLater(timeout, timeItOut)

        def convertCancelled(result: Any) -> Any:
            if timedOut:
                return (onTimeoutCancel or _cancelledToTimedOutError)(result, timeout)
            return result

        def cancelTimeout(result: Any) -> Any:
            if delayedCall.active():
                delayedCall.cancel()
            return result

        self.addBoth(convertCancelled)
        return self.addBoth(cancelTimeout)


    # -- run by asyncio as a task's own coroutine --------------------------------
    #
    # asyncio wraps an awaitable that is not a coroutine in a coroutine of its
    # own (ensure_future, gather, wait_for); cancelled before it first runs,
    # that wrapper never touches the Deferred, which would then go on waiting
    # for nobody (a lock's acquire() taking the lock, a queue's get() the next
    # object).  With the coroutine protocol below, asyncio runs the Deferred
    # itself as the task's coroutine, and a throw() before the first send()
    # tells it that its task was cancelled before it started.

    #: The await asyncio steps, once it runs this as a task's coroutine.
    _steps: Generator[Any, Any, _T] | None = None

    def send(self, value: object) -> Any:
        """Step the await of this Deferred (what an asyncio Task does)."""
        steps = self._steps
        if steps is None:
            steps = self._steps = self.__await__()
        return steps.send(value)

    def throw(self, exc: Any, *rest: Any) -> Any:
        """Throw ``exc`` into the await of this Deferred.

        Before the first :meth:`send`, the task running this was cancelled
        before it started: nobody will take the outcome, so a Deferred still
        waiting is cancelled (its canceller runs), and one that has fired
        gives back what it was handed, if it knows how; then ``exc`` is
        raised.
        """
        steps = self._steps
        if steps is not None:
            return steps.throw(exc, *rest)
        self._orphaned()
        if isinstance(exc, type):
            exc = exc(*rest[:1])
        raise exc

    def close(self) -> None:
        """Stop the await of this Deferred (as a coroutine's ``close()``)."""
        steps = self._steps
        if steps is not None:
            steps.close()
        else:
            self._orphaned()

    def _orphaned(self) -> None:
        # Never awaited, and never will be.
        self._steps = _finishedSteps()
        if self.result is _NO_RESULT:
            # Nobody is there to see the CancelledError: it is handled.
            self.cancel()
            result = self.result
            if (
                type(result) in _FAILURE_TYPES
                and not self.paused
                and isinstance(result.value, CancelledError)
            ):
                info = self._extra
                if info is not None:
                    info.failResult = None
        elif not self.paused:
            abandoned = getattr(self, "_abandoned", None)
            if abandoned is not None:
                abandoned(self.result)

    # -- bridges (implemented in their own modules, imported on first use) ------

    @staticmethod
    def fromCoroutine(
        coro: Coroutine[Any, Any, _U] | Generator[Any, Any, _U],
    ) -> Deferred[_U]:
        """Run a coroutine (or a generator-based one) that awaits Deferreds;
        return a Deferred of its result.  Anything else raises
        :class:`NotACoroutineError`."""
        # Absolute imports: much cheaper per call than relative ones.
        import deferred._coroutines as coroutines

        return coroutines.fromCoroutine(coro)

    def asFuture(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[_T]:
        """An asyncio Future on ``loop`` that completes when this fires.

        Cancelling the Future cancels this Deferred; the Deferred's failure,
        if any, is handed to the Future (and so counts as handled).
        """
        import deferred._futures as futures

        return futures.asFuture(self, loop)

    @classmethod
    def fromFuture(
        cls,
        future: asyncio.Future[_U] | concurrent.futures.Future[_U],
    ) -> Deferred[_U]:
        """A Deferred that fires with the result of an asyncio Future or Task,
        or of a ``concurrent.futures.Future``, on the event loop thread.

        Cancelling the Deferred cancels the Future.  A
        ``concurrent.futures.Future`` needs a running event loop (the
        Deferred fires on it): ``RuntimeError`` otherwise.
        """
        import deferred._futures as futures

        return futures.fromFuture(future, cls)


_DEFERRED_TYPES.add(Deferred)
_OUTCOME_TYPES.add(Deferred)


_DEFERRED_TYPES.add(Deferred)
_OUTCOME_TYPES.add(Deferred)


def _awaitSlowly(deferred: Deferred[_T]) -> Generator[Any, Any, _T]:
    # Deferred.__iter__ for all but a fired success: wait, or raise.
    result: Any = deferred.result
    if (
        result is not _NO_RESULT
        and not deferred.paused
        # A failure (__iter__ took a success itself).  One of cancellation
        # goes through the waiter all the same, so that an asyncio task ends
        # cancelled, as when cancelled while waiting.
        and not isinstance(result.value, CancelledError)
    ):
        # Raising it here hands it to the awaiting code: it is handled.
        info = deferred._extra
        if info is not None:
            info.failResult = None
        exc = result._reraisable()
        # Raised from this frame, exc will reference it: drop the frame's
        # references to it (and to the Deferred, which holds it) to leave
        # no cycle.
        del deferred, result
        try:
            raise exc
        finally:
            del exc
    waiter = _DeferredFuture()
    waiter._deferred = deferred
    try:
        sent = yield waiter
    except BaseException:
        if waiter._outcome is not _NO_RESULT and type(deferred) is not Deferred:
            # An asyncio task was handed the outcome but had something
            # thrown in (cancelled) before it resumed: it never takes it.
            # A lock's or a queue's Deferred then gives it back.
            abandoned = getattr(deferred, "_abandoned", None)
            if abandoned is not None:
                abandoned(waiter._outcome)
        # The failure thrown in will reference this frame, and the
        # waiter holds it (when a Task waited): drop the waiter, and the
        # Deferred, which keeps the failure (awaiting in a task observes).
        del waiter, deferred
        raise
    outcome = waiter._outcome
    if outcome is not _NO_RESULT:
        # An asyncio Task waited: it resumes us with None once the
        # outcome is in (a failure it throws in instead).
        return outcome  # type: ignore[no-any-return]
    if sent is waiter:
        raise TypeError(
            "a pending Deferred was awaited in a coroutine driven by "
            "something that handed back what it yielded; run it with "
            "deferred.ensureDeferred() or in an asyncio task"
        )
    # Our driver resumes us with the result itself.
    return sent  # type: ignore[no-any-return]


def _finishedSteps() -> Generator[Any, Any, Any]:
    # An await that is over: what an orphaned Deferred steps, if stepped.
    steps = _noSteps()
    steps.close()
    return steps


def _noSteps() -> Generator[Any, Any, Any]:
    return
    yield



_state._awaitSlowly = _awaitSlowly


def setDebugging(on: bool) -> None:
    """Turn Deferred debugging on or off.

    While on, every new Deferred records the stack that created it and the
    one that first fired it; :class:`AlreadyCalledError` and unhandled-error
    reports then show both.  It costs time: leave it off in production.
    """
    Deferred.debug = bool(on)


def getDebugging() -> bool:
    """Whether Deferred debugging is on (see :func:`setDebugging`)."""
    return Deferred.debug
