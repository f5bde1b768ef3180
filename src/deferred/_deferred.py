"""The Deferred: a result that is not there yet, and the chain of callbacks
waiting for it."""

from __future__ import annotations

import weakref
from _thread import get_ident as _get_ident
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    TypeVar,
    overload,
)

from ._debug import DebugInfo, formatStack, noteCaller, registerClass
from ._errors import AlreadyCalledError, CancelledError, TimeoutError
from .failure import (
    _FAILURE_TYPES,
    _OUTCOME_TYPES,
    Failure,
    _failureFromCaught,
    _safeRepr,
    _shortRepr,
)

if TYPE_CHECKING:
    import asyncio
    import concurrent.futures
    from collections.abc import Coroutine

    from .clock import Scheduler

__all__ = ["Deferred", "getDebugging", "setDebugging"]

_T = TypeVar("_T")
_U = TypeVar("_U")
_P = ParamSpec("_P")


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


#: The ``result`` of a Deferred that has not fired.
_NO_RESULT: Any = _Sentinel("<no result>")
#: In a callback list: hand the result to the Deferred stored as the "args".
_CONTINUE: Any = _Sentinel("<continue>")
#: In the "kwargs" place of a _CONTINUE entry: the Deferred is not waiting on
#: us but chained to us (``chainDeferred``): fire it, and go on with None.
_CHAIN: Any = _Sentinel("<chain>")

#: Deferred and its subclasses.  ``type(x) in _DEFERRED_TYPES`` is much cheaper
#: than ``isinstance(x, Deferred)`` (Deferred is generic) on the hot path.
_DEFERRED_TYPES: set[type] = set()

_EMPTY: tuple[Any, ...] = ()

#: While an asyncio task's cancellation cancels the Deferred it awaits
#: (``DeferredFuture.cancel``): ``[thread id, Deferred, ...]``, every Deferred
#: that comes to rest on a failure meanwhile on that thread; one left with a
#: failure made only of cancellations is not reported as unhandled.
#: Otherwise None.
_quietCancels: list[Any] | None = None


def _restedInQuiet(deferred: Any) -> None:
    # See _quietCancels (off the hot path: only while it is set).
    quiet = _quietCancels
    if quiet is not None and quiet[0] == _get_ident():
        quiet.append(deferred)


#: Targets of ``chainDeferred`` (by id) and the Deferred feeding them, for
#: ``__str__`` only; weak both ways so the link keeps neither alive.  Keyed by
#: id, not by the Deferred: a subclass may define ``__eq__`` without a hash.
_chainedTo: dict[
    int, tuple[weakref.ref[Deferred[Any]], weakref.ref[Deferred[Any]]]
] = {}


def _chainedFrom(target: Deferred[Any]) -> Deferred[Any] | None:
    link = _chainedTo.get(id(target))
    if link is None or link[0]() is not target:
        return None
    return link[1]()


def _linkChained(target: Deferred[Any], source: Deferred[Any]) -> None:
    key = id(target)
    _chainedTo[key] = (
        weakref.ref(target, lambda _: _chainedTo.pop(key, None)),
        weakref.ref(source),
    )


def _notCallable(what: str, value: object) -> TypeError:
    return TypeError(f"{what} must be callable, not {_shortRepr(value)}")


def _checkKeywords(keywords: Any, name: str) -> None:
    if keywords is not None and not isinstance(keywords, Mapping):
        raise TypeError(f"{name} must be a mapping, not {_shortRepr(keywords)}")


def _checkArgs(args: Any, name: str) -> tuple[Any, ...]:
    if args is None:
        return ()
    if type(args) is not tuple:
        if not isinstance(args, (tuple, list)):
            raise TypeError(f"{name} must be a tuple, not {_shortRepr(args)}")
        args = tuple(args)
    return args  # type: ignore[no-any-return]


class Deferred(Awaitable[_T], Generic[_T]):
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
    __slots__ = (
        "__dict__",
        "__weakref__",
        "_callbacks",
        "_extra",
        "_runningCallbacks",
        "paused",
        "result",
    )

    #: Whether new Deferreds record debugging stacks; see :func:`setDebugging`.
    #: Set on one instance, it turns debugging on for that Deferred alone.
    debug: bool = False

    # The callback list holds one entry per stage.  The commonest stage -- a
    # callback with no extra arguments -- is stored as the bare callable, so
    # adding it builds nothing; any other stage is a 4-tuple
    # ``(callback, errback, args, kwargs)``.  ``None`` in a callback or
    # errback position passes the result through untouched without calling
    # anything; ``args`` is ``None`` when there are no extra arguments at all
    # (so the call builds no tuple), and ``kwargs`` is ``None`` when empty.
    # A Deferred with no stages holds the shared empty tuple, not a list.
    _callbacks: list[Any] | tuple[()]
    # ``_extra`` is the canceller (or None) until something needs more: then
    # a DebugInfo holds the canceller, the failure the Deferred rests on (to
    # report it if never handled), the one fire to ignore after cancel(),
    # and the debugging stacks.  One slot for all keeps Deferreds small.
    # (Typed Any: once fired it is always a DebugInfo or None.)
    _extra: Any
    _runningCallbacks: bool
    paused: int
    result: Any

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Weakly: a subclass made at run time is freed once unused.
        registerClass(cls, _DEFERRED_TYPES, _OUTCOME_TYPES)

    def __init__(
        self, canceller: Callable[[Deferred[Any]], None] | None = None
    ) -> None:
        if canceller is not None and not callable(canceller):
            raise _notCallable("canceller", canceller)
        self._callbacks = _EMPTY
        self.result = _NO_RESULT
        self.paused = 0
        self._extra = canceller
        self._runningCallbacks = False
        if self.debug:
            self._info().creator = formatStack(1)

    # -- state --------------------------------------------------------------

    @property
    def called(self) -> bool:
        """Whether :meth:`callback` or :meth:`errback` has been called."""
        return self.result is not _NO_RESULT

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

    # -- adding callbacks -------------------------------------------------------

    def _add(
        self,
        callback: Callable[..., Any] | None,
        errback: Callable[..., Any] | None,
        args: tuple[Any, ...],
        kwargs: Mapping[str, Any] | None,
    ) -> None:
        # Add one stage to the chain (None: pass that side through).
        # addCallback() has its own copy of this, for speed.
        result = self.result
        cbs = self._callbacks
        if result is _NO_RESULT or cbs or self.paused or self._runningCallbacks:
            extra = args if args or kwargs else None
            entry = (callback, errback, extra, kwargs or None)
            if cbs:
                cbs.append(entry)
            else:
                # An exactly-sized literal: the common one-callback Deferred
                # carries no spare list capacity.
                self._callbacks = [entry]
            if result is not _NO_RESULT:
                self._runCallbacks()
            return
        # Fired and idle: run the side that applies now, if any.
        failing = type(result) in _FAILURE_TYPES
        fn = errback if failing else callback
        if fn is not None:
            self._runNow(fn, args, kwargs)
        elif failing:
            self._failurePassedBy(result)

    def addCallbacks(
        self,
        callback: Callable[..., Any],
        errback: Callable[..., Any] | None = None,
        callbackArgs: tuple[Any, ...] = (),
        callbackKeywords: Mapping[str, Any] | None = None,
        errbackArgs: tuple[Any, ...] = (),
        errbackKeywords: Mapping[str, Any] | None = None,
    ) -> Deferred[Any]:
        """Add a callback and an errback at the same point in the chain.

        Exactly one of the two runs, depending on whether the result reaching
        this point is a success or a :class:`Failure`.  ``errback=None``
        passes failures through.  Returns this Deferred.
        """
        if not callable(callback):
            raise _notCallable("callback", callback)
        if errback is not None and not callable(errback):
            raise _notCallable("errback", errback)
        callbackArgs = _checkArgs(callbackArgs, "callbackArgs")
        errbackArgs = _checkArgs(errbackArgs, "errbackArgs")
        _checkKeywords(callbackKeywords, "callbackKeywords")
        _checkKeywords(errbackKeywords, "errbackKeywords")
        if errback is not None and (
            # Identity, not ==: user objects' __eq__ has no say here.
            (errbackArgs or None) is not (callbackArgs or None)
            or (errbackKeywords or None) is not (callbackKeywords or None)
        ):
            # One entry shares one set of extra arguments: bind the errback's.
            errback = _bind(errback, errbackArgs, errbackKeywords)
        self._add(callback, errback, callbackArgs, callbackKeywords)
        return self

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
    ) -> Deferred[Any]:
        """Add a callback for success; failures pass it by.

        ``callback(result, *args, **kwargs)`` is called with the result; its
        return value (or raised exception) becomes the next result.
        """
        if not callable(callback):
            raise _notCallable("callback", callback)
        cbs = self._callbacks
        if cbs:
            # Stages are queued (it is pending, paused or running): queue
            # this one.  _add() inlined: this is the most called method of
            # the library, and this its commonest case.
            cbs.append(
                (callback, None, args, kwargs or None) if args or kwargs else callback
            )
            if self.result is not _NO_RESULT:
                self._runCallbacks()
            return self
        result = self.result
        if result is _NO_RESULT or self.paused or self._runningCallbacks:
            self._callbacks = [
                (callback, None, args, kwargs or None) if args or kwargs else callback
            ]
            if result is not _NO_RESULT:
                self._runCallbacks()
        elif type(result) not in _FAILURE_TYPES:
            # _runNow() inlined for the commonest case: a plain outcome.
            self._runningCallbacks = True
            try:
                if args or kwargs:
                    result = callback(result, *args, **kwargs)
                else:
                    result = callback(result)
            except BaseException as e:
                result = self._caught(e)
            self._runningCallbacks = False
            if self._callbacks or type(result) in _OUTCOME_TYPES:
                self._settle(result, callback)
            else:
                # (No failure was tracked: this Deferred held a success.)
                self.result = result
        else:
            self._failurePassedBy(result)
        return self

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
    ) -> Deferred[Any]:
        """Add an errback for failure; successful results pass it by.

        ``errback(failure, *args, **kwargs)`` may return a value to recover,
        or raise (``failure.trap(...)`` does that) to keep failing.
        """
        if not callable(errback):
            raise _notCallable("errback", errback)
        self._add(None, errback, args, kwargs)
        return self

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
    ) -> Deferred[Any]:
        """Add one function as both callback and errback (like ``finally``)."""
        if not callable(callback):
            raise _notCallable("callback", callback)
        self._add(callback, callback, args, kwargs)
        return self

    def _runNow(
        self,
        fn: Callable[..., Any],
        args: tuple[Any, ...] | None,
        kwargs: Mapping[str, Any] | None,
    ) -> None:
        # The fast path for the only function to run on a fired, idle Deferred
        # (as in ``succeed(x).addCallback(f)``): call it at once.  Outcomes
        # that need the loop's care -- a Deferred to chain, a failure to track,
        # callbacks the function added meanwhile -- are handed to the loop.
        self._runningCallbacks = True
        try:
            if kwargs:
                result = fn(self.result, *(args or ()), **kwargs)
            elif args:
                result = fn(self.result, *args)
            else:
                result = fn(self.result)
        except BaseException as e:
            result = self._caught(e)
        self._runningCallbacks = False
        if self._callbacks or type(result) in _OUTCOME_TYPES:
            self._settle(result, fn)
        else:
            self.result = result
            info = self._extra
            if info is not None:
                info.failResult = None

    def _failurePassedBy(self, failure: Failure) -> None:
        # A stage added to a failed Deferred let the failure by: it is still
        # unhandled, even if an await had taken it, as after any pass of the
        # loop (and as in Twisted).
        self._info().failResult = failure

    def _caught(self, e: BaseException) -> Failure:
        """The Failure for an exception a callback raised (and we caught)."""
        failure = _failureFromCaught(e)
        if self.debug:
            failure.captureVars = True
        return failure

    def _settle(self, result: Any, fn: Callable[..., Any]) -> None:
        # An outcome of _runNow() that needs more than storing -- a Deferred
        # to chain, a failure to track, callbacks that fn added meanwhile.
        if (
            not self._callbacks
            and type(result) in _DEFERRED_TYPES
            and result is not self
        ):
            # Chain on it as the loop would, without going through the loop.
            inner = result.result
            if inner is _NO_RESULT or type(inner) in _DEFERRED_TYPES or result.paused:
                # Wait for it: it resumes us when it reaches our marker.
                self.paused += 1
                result._append_continuation(self)
                self.result = result
                info = self._extra
                if info is not None:
                    info.failResult = None
                return
            if type(inner) not in _FAILURE_TYPES:
                # Fired with a success: take it over.
                result.result = None
                info = result._extra
                if info is not None:
                    info.failResult = None
                self.result = inner
                info = self._extra
                if info is not None:
                    info.failResult = None
                return
        if result is self:
            try:
                _warnReturnedSelf(fn)
            except BaseException as e:
                result = self._caught(e)  # (warnings turned into errors)
        self.result = result
        self._callbacks = [_RESUME, *self._callbacks]
        # A pause made by fn takes effect once this pass is over, as when
        # the loop runs fn: callbacks fn added still run now.
        self._runCallbacks(True)

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

    def chainDeferred(self, d: Deferred[_T]) -> Deferred[None]:
        """Fire ``d`` with whatever result reaches this point of the chain.

        Unlike returning ``d`` from a callback, this does not wait for ``d``;
        the result that reaches ``d`` is also passed on here as ``None``.
        """
        if type(d) not in _DEFERRED_TYPES:
            raise TypeError(f"chainDeferred() needs a Deferred, not {_shortRepr(d)}")
        _linkChained(d, self)
        # Not addCallbacks(d.callback, d.errback): the loop fires d itself,
        # and runs its callbacks without going one call deeper per link.
        self._append_continuation(d, _CHAIN)
        if self.result is not _NO_RESULT:
            self._runCallbacks()
        return self  # type: ignore[return-value]

    # -- firing ------------------------------------------------------------------

    def callback(self, result: _T | Failure) -> None:
        """Fire with a result: run the callbacks with ``result``.

        A :class:`Failure` runs the errbacks instead.  Raises
        :class:`AlreadyCalledError` if this Deferred has fired already, and
        ``TypeError`` (leaving it unfired) for a Deferred result: return that
        Deferred from a callback, or use :meth:`chainDeferred`, instead.
        """
        if self.result is not _NO_RESULT:
            self._refire()
            return
        if type(result) in _DEFERRED_TYPES:
            raise TypeError(
                "a Deferred cannot be fired with another Deferred as its "
                "result; return it from a callback, or use chainDeferred()"
            )
        extra = self._extra
        if extra is not None:
            # _dropCanceller() inlined: Deferreds of queues, locks and
            # coroutines all have a canceller.
            if type(extra) is DebugInfo:
                extra._canceller = None
            else:
                self._extra = None
        if self.debug:
            self._info().invoker = formatStack(1)
        self.result = result
        cbs = self._callbacks
        if len(cbs) == 1 and not self.paused:
            # A single callback (a queue getter, a lock waiter, a generator
            # waiting on us...): call it without the loop's machinery.
            entry = cbs[0]
            if type(entry) is not tuple:
                fn = None if type(result) in _FAILURE_TYPES else entry
                args = kwargs = None
            else:
                fn, errback, args, kwargs = entry
                if type(result) in _FAILURE_TYPES:
                    fn = errback
                if fn is _CONTINUE:
                    fn = None
            if fn is not None:
                self._callbacks = _EMPTY
                self._runNow(fn, args, kwargs)
                return
        if cbs or type(result) in _FAILURE_TYPES:
            self._runCallbacks()

    def errback(self, fail: Failure | BaseException | None = None) -> None:
        """Fire with a failure: run the errbacks.

        ``fail`` is a :class:`Failure` or an exception; with no argument, the
        exception being handled is captured (:class:`NoCurrentExceptionError`
        outside an ``except`` block).
        """
        if self.result is not _NO_RESULT:
            self._refire()
            return
        if not isinstance(fail, Failure):
            fail = Failure(fail, captureVars=self.debug)
        if fail.tb is None:
            # Never raised: remember where it was fired, for the report.
            noteCaller(fail)
        if self._extra is not None:
            self._dropCanceller()
        if self.debug:
            self._info().invoker = formatStack(1)
        self.result = fail
        # Not held here while the callbacks run: a frame they leave in a
        # traceback links back to this one (Python 3.12+), a cycle otherwise.
        del fail
        self._runCallbacks()

    def _refire(self) -> None:
        """A second fire: ignored once after cancel(), an error otherwise."""
        info = self._extra
        if type(info) is DebugInfo:
            if info._suppress:
                info._suppress = False
                return
            if self.debug:
                raise AlreadyCalledError(
                    f"{self._describe(_shortRepr)} has already been fired\n"
                    + info._getDebugTracebacks()
                )
        raise AlreadyCalledError(
            f"{self._describe(_shortRepr)} has already been fired"
            + ("" if self.debug else "; setDebugging(True) shows where")
        )

    def _info(self) -> DebugInfo:
        """This Deferred's DebugInfo, made (holding the canceller) if needed."""
        extra = self._extra
        if type(extra) is DebugInfo:
            return extra
        info = self._extra = DebugInfo()
        info._canceller = extra
        return info

    def _dropCanceller(self) -> None:
        # A fired Deferred no longer needs its canceller: let it go, and
        # whatever it references with it.
        extra = self._extra
        if type(extra) is DebugInfo:
            extra._canceller = None
        else:
            self._extra = None

    # -- pausing and cancelling ----------------------------------------------

    def pause(self) -> None:
        """Stop running callbacks until a matching :meth:`unpause`.

        As in Twisted, a pause made from inside a running callback takes
        effect once the current pass over the callbacks is over.
        """
        self.paused += 1

    def unpause(self) -> None:
        """Undo one :meth:`pause`; the last one resumes the callbacks.

        Raises ``RuntimeError`` if the Deferred is not paused (Twisted's
        counter would go negative, silently stopping later callbacks).
        """
        if self.paused <= 0:
            raise RuntimeError(
                f"unpause() of {self._describe(_shortRepr)}, which is not paused"
            )
        self.paused -= 1
        if self.paused:
            return
        if self.result is not _NO_RESULT:
            self._runCallbacks()

    def cancel(self) -> None:
        """Ask for the result not to be produced.

        An unfired Deferred calls its canceller, and then, if that did not
        fire it, fails with :class:`CancelledError`.  Without a canceller, the
        producer's later fire is silently ignored (once).  A Deferred that is
        waiting on another one cancels that one.  Otherwise nothing happens.
        """
        target = self
        # Waiting on another Deferred: cancel the one at the end of the chain,
        # walking down it rather than recursing (chains can be very long).
        walked: set[int] | None = None
        while type(target.result) in _DEFERRED_TYPES:
            if walked is None:
                walked = {id(target)}
            target = target.result
            if type(target).cancel is not Deferred.cancel:
                target.cancel()  # a subclass's own way of cancelling
                return
            if id(target) in walked:
                raise RuntimeError(
                    f"cancel() of {self._describe(_shortRepr)}: the Deferreds it "
                    "waits on wait on "
                    "each other in a cycle, so none of them can ever fire"
                )
            walked.add(id(target))
        if target.result is _NO_RESULT:
            extra = target._extra
            canceller = extra._canceller if type(extra) is DebugInfo else extra
            if canceller is None:
                # Its producer does not know: ignore the fire it will make.
                target._info()._suppress = True
            else:
                canceller(target)
            if target.result is _NO_RESULT:
                target.errback(Failure(CancelledError()))

    # -- the callback loop -----------------------------------------------------

    def _runCallbacks(
        self,
        # True when a callback of this Deferred has just run outside the loop
        # (see _settle): the pass it began goes on even if it paused us.
        _inPass: bool = False,
        # Bound as defaults: locals are much cheaper than globals in the loop.
        _FTYPES: set[type] = _FAILURE_TYPES,
        _OTYPES: set[type] = _OUTCOME_TYPES,
        _CONT: Any = _CONTINUE,
        _TYPES: set[type] = _DEFERRED_TYPES,
        _NONE: Any = _NO_RESULT,
        _type: type[type] = type,
        _tuple: type[tuple[Any, ...]] = tuple,
        _fromCaught: Callable[[BaseException], Failure] = _failureFromCaught,
        _callback: Any = callback,
        _errback: Any = errback,
    ) -> None:
        # The heart of the library.  It runs iteratively: when a callback
        # returns an unfired Deferred, this Deferred pauses and leaves a
        # _CONTINUE marker on that one; when the marker is reached, the result
        # is handed over and the loop carries on with the waiting Deferred,
        # remembering where it came from in ``chain``.  So chains of any
        # length use no stack.
        if self._runningCallbacks:
            # A callback added a callback to its own Deferred: the loop
            # already running below us will pick it up.
            return
        chain: list[Deferred[Any]] | None = None
        # ids of the Deferreds on ``chain`` that fired a chainDeferred target
        # and come back to finish their pass.
        midPass: set[int] | None = None
        current: Deferred[Any] = self
        while True:
            if midPass is not None and id(current) in midPass:
                # Back from a chainDeferred target: go on with None, what its
                # callback() returned, even if paused meanwhile (as in
                # Twisted, a pause waits for the end of the pass).
                midPass.discard(id(current))
                current.result = None
            elif current.paused and not _inPass:
                # It waits for unpause(); carry on with whoever handed it
                # its result (Twisted would leave that one stranded).
                if not chain:
                    return
                current = chain.pop()
                continue
            _inPass = False
            cbs = current._callbacks
            result = current.result
            failing = _type(result) in _FTYPES
            current._runningCallbacks = True
            # A list iterator sees entries appended meanwhile, and tells how
            # many are left (to drop the ones done if we stop half-way).
            it: Any = iter(cbs)
            for entry in it:
                if _type(entry) is not _tuple:
                    # A bare callback (no extra arguments, no errback).
                    if failing:
                        continue
                    # Visible to the callback, as in Twisted (d.result, str(d)).
                    current.result = result
                    try:
                        result = entry(result)
                    except BaseException as e:
                        result = _fromCaught(e)
                        if self.debug:
                            result.captureVars = True
                        failing = True
                        continue
                    if _type(result) not in _OTYPES:
                        # (Still a success: ``failing`` stays False.)
                        continue
                    fn = entry
                else:
                    fn, eb, args, kwargs = entry
                    if failing:
                        fn = eb
                    if fn is None:
                        continue
                    if fn is _CONT:
                        if kwargs is None:
                            # Hand our result to the Deferred waiting on us
                            # and carry on with it; come back for our
                            # remaining callbacks.
                            current._runningCallbacks = False
                            current.result = None
                            info = current._extra
                            if info is not None:
                                info.failResult = None
                            if cbs[-1] is not entry:  # type: ignore[misc]
                                # (A marker is made for one wait: it is in
                                # the list once.)
                                del cbs[: len(cbs) - it.__length_hint__()]  # type: ignore[union-attr]
                                if chain is None:
                                    chain = [current]
                                else:
                                    chain.append(current)
                            else:
                                # Nothing after the marker (the usual case):
                                # this one is done, with no need to come back
                                # to it.
                                current._callbacks = _EMPTY
                            args.result = result
                            args.paused -= 1
                            current = args
                            break
                        # A chainDeferred target: fire it, and carry on with
                        # it before our remaining callbacks.
                        target = args
                        if (
                            target.result is _NONE
                            and _type(target).callback is _callback
                            and _type(target).errback is _errback
                        ):
                            current._chainTo(target, result, cbs, it)
                            if chain is None:
                                chain = [current]
                            else:
                                chain.append(current)
                            if midPass is None:
                                midPass = {id(current)}
                            else:
                                midPass.add(id(current))
                            current = target
                            break
                        # Fired already, or firing its own way: call its
                        # callback() or errback() as Twisted does (which
                        # raises AlreadyCalledError, say).
                        fn = target.errback if failing else target.callback
                        args = kwargs = None
                    current.result = result
                    try:
                        if args is None:
                            result = fn(result)
                        elif kwargs is None:
                            result = fn(result, *args)
                        else:
                            result = fn(result, *args, **kwargs)
                    except BaseException as e:
                        result = _fromCaught(e)
                        if self.debug:
                            result.captureVars = True
                        failing = True
                        continue
                kind = _type(result)
                if kind not in _OTYPES:
                    failing = False
                    continue
                if kind not in _TYPES:
                    failing = True  # a Failure returned: on to the errbacks
                    continue
                if result is current and fn is not _resume:
                    try:
                        _warnReturnedSelf(fn)
                    except BaseException as e:
                        # Warnings turned into errors: a failure, as if
                        # the callback had raised it (so does Twisted).
                        result = _fromCaught(e)
                        failing = True
                        continue
                inner = result.result
                if (
                    inner is _NONE
                    or _type(inner) in _TYPES
                    or result.paused
                    or result is current  # as Twisted: stuck for good
                ):
                    # Wait for it: it resumes us when it reaches the marker
                    # we leave on it.
                    current.paused += 1
                    marker = (_CONT, _CONT, current, None)
                    waitList = result._callbacks
                    if waitList:
                        waitList.append(marker)
                    else:
                        result._callbacks = [marker]
                    current._runningCallbacks = False
                    del cbs[: len(cbs) - it.__length_hint__()]  # type: ignore[union-attr]
                    current.result = result
                    info = current._extra
                    if info is not None:
                        info.failResult = None
                    if not chain:
                        return
                    current = chain.pop()
                    break
                # Already fired: take its result and go on.
                result.result = None
                info = result._extra
                if info is not None:
                    info.failResult = None
                result = inner
                failing = _type(result) in _FTYPES
            else:
                # Every callback ran: this Deferred rests on ``result``.
                current._runningCallbacks = False
                current._callbacks = _EMPTY
                current.result = result
                info = current._extra
                if failing:
                    # Keep the traceback as text only: live frames would tie
                    # this Deferred into a cycle (a frame that fired it
                    # references it), so an unhandled error would wait for the
                    # garbage collector to be reported.
                    result.cleanFailure()
                    current._info().failResult = result
                    if _quietCancels is not None:
                        _restedInQuiet(current)
                elif info is not None:
                    info.failResult = None
                if not chain:
                    return
                current = chain.pop()

    def _chainTo(self, target: Deferred[Any], result: Any, cbs: Any, it: Any) -> None:
        # The loop reached a chainDeferred entry for ``target`` (unfired, a
        # plain Deferred): fire it the way callback() would, except that its
        # callbacks are run by the loop next (so long chainDeferred pipelines
        # use no stack), and we come back after them with None, what
        # target.callback() returns.  Until then we stay "running", as in
        # Twisted, where target.callback() runs inside our callback.
        del cbs[: len(cbs) - it.__length_hint__()]
        # Visible meanwhile, as in Twisted, where target.callback(result) is
        # running inside our callback.
        self.result = result
        info = self._extra
        if info is not None:
            info.failResult = None  # handed on: target tracks it now
        extra = target._extra
        if extra is not None:
            if type(extra) is DebugInfo:
                extra._canceller = None
            else:
                target._extra = None
        if self.debug:
            target._info().invoker = formatStack(1)
        target.result = result

    def _append_continuation(self, waiting: Deferred[Any], how: Any = None) -> None:
        # Leave the marker that hands our result to ``waiting`` (paused on
        # us; or, with ``how=_CHAIN``, chained to us).  Unlike _add(), never
        # runs callbacks.
        entry = (_CONTINUE, _CONTINUE, waiting, how)
        cbs = self._callbacks
        if cbs:
            cbs.append(entry)
        else:
            self._callbacks = [entry]

    # -- representation and awaiting --------------------------------------------

    def __str__(self) -> str:
        return self._describe(_safeRepr)

    __repr__ = __str__

    def _describe(self, reprOf: Callable[[object], str]) -> str:
        name = type(self).__name__
        result = self.result
        if type(result) in _DEFERRED_TYPES:
            state = f" waiting on Deferred at 0x{id(result):x}"
        elif result is _NO_RESULT:
            source = _chainedFrom(self)
            if source is None:
                state = ""
            else:
                state = f" waiting on Deferred at 0x{id(source):x}"
        else:
            state = f" current result: {reprOf(result)}"
        return f"<{name} at 0x{id(self):x}{state}>"

    def __iter__(self) -> Generator[Any, Any, _T]:
        """``await d`` / ``yield from d``: this Deferred's result, or its
        failure's exception raised.

        A fired Deferred gives its result at once, without suspending (and
        keeps it).  Otherwise what is yielded is a
        :class:`deferred._futures.DeferredFuture`: our coroutine driver waits
        on this Deferred through it, and an asyncio Task takes it for an
        asyncio future -- so a Deferred can be awaited in a plain asyncio task.
        There, cancelling the task cancels the Deferred, and a Deferred that
        fails with :class:`CancelledError` raises ``asyncio.CancelledError``
        (chained from it) in the task, which so ends up cancelled.
        """
        result = self.result
        if (
            result is not _NO_RESULT
            and type(result) not in _FAILURE_TYPES
            and not self.paused
        ):
            # The hot path, in a frame kept small: it is made for every await.
            # (Awaited from inside its own running callbacks, it gives the
            # result as it stands, as Twisted's does.)
            return result  # type: ignore[no-any-return]
        waiting = _awaitSlowly(self)
        # Hold nothing that an exception raised through here would keep
        # alive (the traceback keeps this frame): no cycle through self.
        del self, result
        return (yield from waiting)

    # No wrapper call: awaiting is a hot path.
    __await__ = __iter__

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


def _bind(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any] | None
) -> Callable[..., Any]:
    """``fn`` with its own extra arguments bound, ignoring the ones shared
    with the callback it is paired with (see ``addCallbacks``)."""
    kw = kwargs or {}

    def bound(result: Any, *_ignored: Any, **_ignoredKw: Any) -> Any:
        return fn(result, *args, **kw)

    return bound


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


def _resume(result: _T) -> _T:
    """Hands an outcome computed outside the loop (see ``_runNow``) to it."""
    return result


_RESUME = (_resume, _resume, None, None)


def _warnReturnedSelf(fn: Any) -> None:
    """Warn that callback ``fn`` returned the Deferred it is attached to, as a
    warning of ``fn``'s own code (its file and last line), as Twisted does:
    the place to fix is the callback, not whoever fired the Deferred."""
    import sys
    import warnings

    message = (
        "Callback returned the Deferred it was attached to; this breaks the "
        "callback chain and will raise an exception in the future."
    )
    code = getattr(fn, "__code__", None)
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    if code is None or module is None:
        # A builtin or a callable object: no code of its own to point at.
        warnings.warn(message, DeprecationWarning, stacklevel=4)
        return
    import dis
    import inspect

    lines = [line for _, line in dis.findlinestarts(code) if line is not None]
    try:
        filename = inspect.getabsfile(module)
    except TypeError:  # a module with no file (made at run time, say)
        filename = code.co_filename
    warnings.warn_explicit(
        message,
        DeprecationWarning,
        filename,
        max(lines, default=code.co_firstlineno),
        module=module.__name__,
        registry=vars(module).setdefault("__warningregistry__", {}),
    )


def _cancelledToTimedOutError(value: Any, timeout: float) -> Any:
    """Turn the CancelledError of a timed-out Deferred into a TimeoutError."""
    if isinstance(value, Failure):
        value.trap(CancelledError)
        raise TimeoutError(timeout, "Deferred")
    return value


def passthru(arg: _T) -> _T:
    """Return ``arg`` unchanged: the do-nothing callback."""
    return arg


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


# At the bottom: _futures builds on Deferred (the import is circular).
from ._futures import DeferredFuture as _DeferredFuture  # noqa: E402
