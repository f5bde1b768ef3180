"""The pure-Python core of the Deferred: its state, adding callbacks, firing,
the callback loop, pausing, cancelling and the fast path of awaiting.

This is the reference implementation.  ``_cdeferred.pyx`` mirrors it line by
line for the compiled core; change both together (the differential tests run
the same programs on each and compare everything observable).  The public
:class:`deferred.Deferred` subclasses whichever core is in use and adds the
methods off the hot path.
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Mapping
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    ParamSpec,
    TypeVar,
)

import deferred._pyloop as _pyloop
import deferred._state as _state

from ._debug import DebugInfo, formatStack, noteCaller
from ._errors import AlreadyCalledError, CancelledError
from ._state import (
    _CHAIN,
    _CONTINUE,
    _DEFERRED_TYPES,
    _EMPTY,
    _NO_RESULT,
    _RESUME,
    _bind,
    _checkArgs,
    _checkKeywords,
    _describe,
    _linkChained,
    _notCallable,
    _warnReturnedSelf,
)
from .failure import (
    _FAILURE_TYPES,
    _OUTCOME_TYPES,
    Failure,
    _failureFromCaught,
    _safeRepr,
    _shortRepr,
)

if TYPE_CHECKING:
    from ._deferred import Deferred

__all__ = ["IMPLEMENTATION", "DeferredCore", "makeSucceed"]

#: Which core this is (``deferred.__core__`` names the one in use).
IMPLEMENTATION = "python"

_T = TypeVar("_T")
_U = TypeVar("_U")
_P = ParamSpec("_P")


class DeferredCore(Generic[_T]):
    """The state and the hot methods of :class:`deferred.Deferred` (which
    documents them); see the module's docstring."""

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
        return self  # type: ignore[return-value]

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
            return self  # type: ignore[return-value]
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
                # No cycle through this frame (see _runNow).
                del result
            else:
                # (No failure was tracked: this Deferred held a success.)
                self.result = result
        else:
            self._failurePassedBy(result)
        return self  # type: ignore[return-value]

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
        return self  # type: ignore[return-value]

    def addBoth(
        self, callback: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Deferred[Any]:
        """Add one function as both callback and errback (like ``finally``)."""
        if not callable(callback):
            raise _notCallable("callback", callback)
        self._add(callback, callback, args, kwargs)
        return self  # type: ignore[return-value]

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
            # A failure fn raised has fn's frame in its traceback, whose
            # f_back is this frame: leave this frame holding nothing (the
            # failure may be handled and gone, or rest on us), or the two
            # would form a reference cycle.
            del result, self
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

    def chainDeferred(self, d: Deferred[_T]) -> Deferred[None]:
        """Fire ``d`` with whatever result reaches this point of the chain.

        Unlike returning ``d`` from a callback, this does not wait for ``d``;
        the result that reaches ``d`` is also passed on here as ``None``.
        """
        if type(d) not in _DEFERRED_TYPES:
            raise TypeError(f"chainDeferred() needs a Deferred, not {_shortRepr(d)}")
        _linkChained(d, self)  # type: ignore[arg-type]
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
            if type(target).cancel is not DeferredCore.cancel:
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

    # -- the callback loop (in deferred._pyloop) --------------------------------

    _runCallbacks = _pyloop.runCallbacks
    _chainTo = _pyloop.chainTo

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
        return _describe(self, reprOf)

    def __iter__(self) -> Generator[Any, Any, _T]:
        """``await d`` / ``yield from d``: this Deferred's result, or its
        failure's exception raised.

        A fired Deferred gives its result at once, without suspending (and
        keeps it).  Otherwise it yields a :class:`~deferred._futures.DeferredFuture`,
        which our coroutine driver and asyncio's Task both wait on (see
        docs/asyncio.md for what cancelling the task does).
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
        waiting = _state._awaitSlowly(self)
        # Hold nothing that an exception raised through here would keep
        # alive (the traceback keeps this frame): no cycle through self.
        del self, result
        return (yield from waiting)  # type: ignore[no-any-return]

    if TYPE_CHECKING:

        def __await__(self) -> Generator[Any, Any, _T]: ...

    else:
        # No wrapper call: awaiting is a hot path.
        __await__ = __iter__

    # No wrapper call: awaiting is a hot path.


def makeSucceed(cls: type[Deferred[Any]]) -> Callable[[Any], Deferred[Any]]:
    """``succeed()`` for Deferred class ``cls`` (built here, beside the state
    it fills in, so that each core has its own fast path)."""
    new = object.__new__

    def succeed(result: Any) -> Deferred[Any]:
        if type(result) in _OUTCOME_TYPES or cls.debug:
            # The long way: a Deferred result is an error, a Failure is
            # tracked (and reported if never handled), debugging records the
            # stacks.
            d = cls()
            d.callback(result)
            return d
        # Build it fired, skipping __init__ and callback(): a hot path.
        d = new(cls)
        d._callbacks = _EMPTY
        d.result = result
        d.paused = 0
        d._extra = None
        d._runningCallbacks = False
        return d

    return succeed


_pyloop._plainFire = (DeferredCore.callback, DeferredCore.errback)
