# cython: language_level=3, boundscheck=False, wraparound=False
# cython: initializedcheck=False, cdivision=True, binding=False
# cython: auto_pickle=False, freethreading_compatible=False
# cython: embedsignature=True, embedsignature.format=clinic
"""The compiled core of the Deferred: a line-by-line mirror of
``_pycore.py`` (this file) and ``_pyloop.py`` (``_cloop.pxi``).

The pure-Python modules are the reference: change them and this together.
What differs is only how, never what: C-level fields and type checks, the
loop's helpers as C functions, and the debug stacks skip no frame of ours
(compiled functions have none).  The differential tests run the same
programs on both cores and compare everything observable.
"""

cimport cython
from cpython.object cimport PyObject_TypeCheck, PyTypeObject
from cpython.list cimport PyList_GET_SIZE, PyList_GET_ITEM
from cpython.tuple cimport PyTuple_CheckExact
from cpython.ref cimport PyObject, Py_INCREF

cdef extern from *:
    const char *DEFERRED_SOURCE_HASH

include "_ccall.pxi"

import types as _types

import deferred._state as _state

from deferred._debug import DebugInfo, formatStack, noteCaller
from deferred._errors import AlreadyCalledError, CancelledError
from deferred._state import (
    _CHAIN,
    _CONTINUE,
    _EMPTY,
    _NO_RESULT,
    _RESUME,
    _bind,
    _describe,
    _checkArgs,
    _checkKeywords,
    _linkChained,
    _notCallable,
    _resume,
    _restedInQuiet,
    _warnReturnedSelf,
)
from deferred.failure import (
    Failure,
    _failureFromCaught,
    _failureFromException,
    _safeRepr,
    _shortRepr,
)

#: The SHA-256 of the source this module was compiled from (see _core).
SOURCE_HASH = DEFERRED_SOURCE_HASH.decode("ascii")

#: Which core this is (``deferred.__core__`` names the one in use).
IMPLEMENTATION = "compiled"

__all__ = ["IMPLEMENTATION", "DeferredCore", "DriverCore", "makeSucceed", "setDriverTypes"]

# The shared markers and types, as C globals (the same objects as _state's).
cdef object NO_RESULT = _NO_RESULT
cdef object CONTINUE = _CONTINUE
cdef object CHAIN = _CHAIN
cdef tuple EMPTY = _EMPTY
cdef tuple RESUME = _RESUME
cdef object resume = _resume
cdef type FailureType = Failure
cdef type DebugInfoType = DebugInfo
cdef object failureFromCaught = _failureFromCaught
cdef str DEBUG = "debug"
cdef object failureFromException = _failureFromException


cdef inline bint isFailure(object x):
    # ``type(x) in _FAILURE_TYPES`` (every Failure class is registered there)
    return PyObject_TypeCheck(x, <PyTypeObject*>FailureType)


cdef inline bint isDeferred(object x):
    # ``type(x) in _DEFERRED_TYPES``, for this core's Deferreds
    return PyObject_TypeCheck(x, <PyTypeObject*>DeferredCore)


cdef inline bint isOutcome(object x):
    # ``type(x) in _OUTCOME_TYPES``
    return PyObject_TypeCheck(x, <PyTypeObject*>FailureType) or PyObject_TypeCheck(x, <PyTypeObject*>DeferredCore)


cdef class DeferredCore:
    """The state and the hot methods of :class:`deferred.Deferred` (which
    documents them); see the module's docstring."""

    # The callback list and _extra: see _pycore.DeferredCore.
    cdef public object _callbacks
    cdef public object _extra
    cdef public object result
    cdef public int paused
    cdef public bint _runningCallbacks
    # Attributes that users add (the dict is made only when one is).
    cdef dict __dict__
    cdef object __weakref__

    #: Whether new Deferreds record debugging stacks; see :func:`setDebugging`.
    #: Set on one instance, it turns debugging on for that Deferred alone.
    debug = False

    # ``Deferred[int]`` at run time, as for a class that is Generic.
    __class_getitem__ = classmethod(_types.GenericAlias)

    def __init__(self, canceller=None):
        if canceller is not None and not callable(canceller):
            raise _notCallable("canceller", canceller)
        self._callbacks = EMPTY
        self.result = NO_RESULT
        self.paused = 0
        self._extra = canceller
        self._runningCallbacks = False
        if deferred_debug(self, DEBUG):
            self._info().creator = formatStack(0)

    # -- state --------------------------------------------------------------

    @property
    def called(self):
        """Whether :meth:`callback` or :meth:`errback` has been called."""
        return self.result is not NO_RESULT

    # -- adding callbacks -------------------------------------------------------

    def addCallbacks(
        self,
        callback,
        errback=None,
        callbackArgs=(),
        callbackKeywords=None,
        errbackArgs=(),
        errbackKeywords=None,
    ):
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
        _add(self, callback, errback, callbackArgs, callbackKeywords)
        return self

    def addCallback(self, callback, *args, **kwargs):
        """Add a callback for success; failures pass it by.

        ``callback(result, *args, **kwargs)`` is called with the result; its
        return value (or raised exception) becomes the next result.
        """
        if not callable(callback):
            raise _notCallable("callback", callback)
        cdef int failed
        cdef object cbs = self._callbacks
        if cbs:
            # Stages are queued (it is pending, paused or running): queue
            # this one.  _add() inlined: this is the most called method of
            # the library, and this its commonest case.
            cbs.append(
                (callback, None, args, kwargs or None) if args or kwargs else callback
            )
            if self.result is not NO_RESULT:
                runCallbacks(self, False)
            return self
        cdef object result = self.result
        if result is NO_RESULT or self.paused or self._runningCallbacks:
            self._callbacks = [
                (callback, None, args, kwargs or None) if args or kwargs else callback
            ]
            if result is not NO_RESULT:
                runCallbacks(self, False)
        elif not isFailure(result):
            # _runNow() inlined for the commonest case: a plain outcome.
            self._runningCallbacks = True
            result = deferred_call(callback, result, args, kwargs, &failed)
            if failed:
                result = _caught(self, result)
            self._runningCallbacks = False
            if self._callbacks or isOutcome(result):
                _settle(self, result, callback)
            else:
                # (No failure was tracked: this Deferred held a success.)
                self.result = result
        else:
            _failurePassedBy(self, result)
        return self

    def addErrback(self, errback, *args, **kwargs):
        """Add an errback for failure; successful results pass it by.

        ``errback(failure, *args, **kwargs)`` may return a value to recover,
        or raise (``failure.trap(...)`` does that) to keep failing.
        """
        if not callable(errback):
            raise _notCallable("errback", errback)
        _add(self, None, errback, args, kwargs)
        return self

    def addBoth(self, callback, *args, **kwargs):
        """Add one function as both callback and errback (like ``finally``)."""
        if not callable(callback):
            raise _notCallable("callback", callback)
        _add(self, callback, callback, args, kwargs)
        return self

    def chainDeferred(self, d):
        """Fire ``d`` with whatever result reaches this point of the chain.

        Unlike returning ``d`` from a callback, this does not wait for ``d``;
        the result that reaches ``d`` is also passed on here as ``None``.
        """
        if not isDeferred(d):
            raise TypeError(f"chainDeferred() needs a Deferred, not {_shortRepr(d)}")
        _linkChained(d, self)
        # Not addCallbacks(d.callback, d.errback): the loop fires d itself,
        # and runs its callbacks without going one call deeper per link.
        appendContinuation(self, d, CHAIN)
        if self.result is not NO_RESULT:
            runCallbacks(self, False)
        return self

    # -- firing ------------------------------------------------------------------

    def callback(self, result):
        """Fire with a result: run the callbacks with ``result``.

        A :class:`Failure` runs the errbacks instead.  Raises
        :class:`AlreadyCalledError` if this Deferred has fired already, and
        ``TypeError`` (leaving it unfired) for a Deferred result: return that
        Deferred from a callback, or use :meth:`chainDeferred`, instead.
        """
        if self.result is not NO_RESULT:
            self._refire()
            return
        if isDeferred(result):
            raise TypeError(
                "a Deferred cannot be fired with another Deferred as its "
                "result; return it from a callback, or use chainDeferred()"
            )
        extra = self._extra
        if extra is not None:
            # _dropCanceller() inlined: Deferreds of queues, locks and
            # coroutines all have a canceller.
            if type(extra) is DebugInfoType:
                extra._canceller = None
            else:
                self._extra = None
        if deferred_debug(self, DEBUG):
            self._info().invoker = formatStack(0)
        self.result = result
        cdef object cbs = self._callbacks
        if len(cbs) == 1 and not self.paused:
            # A single callback (a queue getter, a lock waiter, a generator
            # waiting on us...): call it without the loop's machinery.
            entry = cbs[0]
            if not PyTuple_CheckExact(entry):
                fn = None if isFailure(result) else entry
                args = kwargs = None
            else:
                fn, errback, args, kwargs = entry
                if isFailure(result):
                    fn = errback
                if fn is CONTINUE:
                    fn = None
            if fn is not None:
                self._callbacks = EMPTY
                _runNow(self, fn, args, kwargs)
                return
        if cbs or isFailure(result):
            runCallbacks(self, False)

    def errback(self, fail=None):
        """Fire with a failure: run the errbacks.

        ``fail`` is a :class:`Failure` or an exception; with no argument, the
        exception being handled is captured (:class:`NoCurrentExceptionError`
        outside an ``except`` block).
        """
        if self.result is not NO_RESULT:
            self._refire()
            return
        if not isinstance(fail, Failure):
            fail = Failure(fail, captureVars=self.debug)
        if fail.tb is None:
            # Never raised: remember where it was fired, for the report.
            noteCaller(fail, 1)
        if self._extra is not None:
            self._dropCanceller()
        if deferred_debug(self, DEBUG):
            self._info().invoker = formatStack(0)
        self.result = fail
        # Not held here while the callbacks run: a frame they leave in a
        # traceback links back to this one (Python 3.12+), a cycle otherwise.
        del fail
        runCallbacks(self, False)

    def _refire(self):
        """A second fire: ignored once after cancel(), an error otherwise."""
        info = self._extra
        if type(info) is DebugInfoType:
            if info._suppress:
                info._suppress = False
                return
            if deferred_debug(self, DEBUG):
                raise AlreadyCalledError(
                    f"{self._describe(_shortRepr)} has already been fired\n"
                    + info._getDebugTracebacks()
                )
        raise AlreadyCalledError(
            f"{self._describe(_shortRepr)} has already been fired"
            + ("" if self.debug else "; setDebugging(True) shows where")
        )

    def _info(self):
        """This Deferred's DebugInfo, made (holding the canceller) if needed."""
        extra = self._extra
        if type(extra) is DebugInfoType:
            return extra
        info = self._extra = DebugInfo()
        info._canceller = extra
        return info

    def _dropCanceller(self):
        # A fired Deferred no longer needs its canceller: let it go, and
        # whatever it references with it.
        extra = self._extra
        if type(extra) is DebugInfoType:
            extra._canceller = None
        else:
            self._extra = None

    # -- pausing and cancelling ----------------------------------------------

    def pause(self):
        """Stop running callbacks until a matching :meth:`unpause`.

        As in Twisted, a pause made from inside a running callback takes
        effect once the current pass over the callbacks is over.
        """
        self.paused += 1

    def unpause(self):
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
        if self.result is not NO_RESULT:
            runCallbacks(self, False)

    def cancel(self):
        """Ask for the result not to be produced.

        An unfired Deferred calls its canceller, and then, if that did not
        fire it, fails with :class:`CancelledError`.  Without a canceller, the
        producer's later fire is silently ignored (once).  A Deferred that is
        waiting on another one cancels that one.  Otherwise nothing happens.
        """
        cdef DeferredCore target = self
        # Waiting on another Deferred: cancel the one at the end of the chain,
        # walking down it rather than recursing (chains can be very long).
        cdef set walked = None
        while isDeferred(target.result):
            if walked is None:
                walked = {id(target)}
            target = <DeferredCore>target.result
            if type(target).cancel is not _coreCancel:
                target.cancel()  # a subclass's own way of cancelling
                return
            if id(target) in walked:
                raise RuntimeError(
                    f"cancel() of {self._describe(_shortRepr)}: the Deferreds it "
                    "waits on wait on "
                    "each other in a cycle, so none of them can ever fire"
                )
            walked.add(id(target))
        if target.result is NO_RESULT:
            extra = target._extra
            canceller = extra._canceller if type(extra) is DebugInfoType else extra
            if canceller is None:
                # Its producer does not know: ignore the fire it will make.
                target._info()._suppress = True
            else:
                canceller(target)
            if target.result is NO_RESULT:
                target.errback(Failure(CancelledError()))

    # -- the callback loop (in _cloop.pxi) ----------------------------------------

    def _runCallbacks(self, _inPass=False):
        runCallbacks(self, _inPass)

    def _append_continuation(self, waiting, how=None):
        # Leave the marker that hands our result to ``waiting`` (paused on
        # us; or, with ``how=_CHAIN``, chained to us).  Unlike _add(), never
        # runs callbacks.
        appendContinuation(self, waiting, how)

    # -- representation and awaiting --------------------------------------------

    def __str__(self):
        return self._describe(_safeRepr)

    def __repr__(self):
        return self._describe(_safeRepr)

    def _describe(self, reprOf):
        return _describe(self, reprOf)

    def __iter__(self):
        """``await d`` / ``yield from d``: see ``__await__``."""
        return self.__await__()

    def __await__(self):
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
            result is not NO_RESULT
            and not isFailure(result)
            and not self.paused
        ):
            # The hot path: no frame, nothing suspended.
            # (Awaited from inside its own running callbacks, it gives the
            # result as it stands, as Twisted's does.)
            return ready(result)
        return _state._awaitSlowly(self)


cdef object _coreCancel = DeferredCore.cancel

# -- the methods of DeferredCore that only it calls, as C functions -----------


cdef int _add(DeferredCore self, callback, errback, args, kwargs) except -1:
    # Add one stage to the chain (None: pass that side through).
    # addCallback() has its own copy of this, for speed.
    cdef object result = self.result
    cdef object cbs = self._callbacks
    if result is NO_RESULT or cbs or self.paused or self._runningCallbacks:
        extra = args if args or kwargs else None
        entry = (callback, errback, extra, kwargs or None)
        if cbs:
            cbs.append(entry)
        else:
            # An exactly-sized literal: the common one-callback Deferred
            # carries no spare list capacity.
            self._callbacks = [entry]
        if result is not NO_RESULT:
            runCallbacks(self, False)
        return 0
    # Fired and idle: run the side that applies now, if any.
    cdef bint failing = isFailure(result)
    fn = errback if failing else callback
    if fn is not None:
        _runNow(self, fn, args, kwargs)
    elif failing:
        _failurePassedBy(self, result)
    return 0

cdef int _runNow(DeferredCore self, fn, args, kwargs) except -1:
    # The fast path for the only function to run on a fired, idle Deferred
    # (as in ``succeed(x).addCallback(f)``): call it at once.  Outcomes
    # that need the loop's care -- a Deferred to chain, a failure to track,
    # callbacks the function added meanwhile -- are handed to the loop.
    cdef int failed
    self._runningCallbacks = True
    result = deferred_call(fn, self.result, args, kwargs, &failed)
    if failed:
        result = _caught(self, result)
    self._runningCallbacks = False
    if self._callbacks or isOutcome(result):
        _settle(self, result, fn)
    else:
        self.result = result
        info = self._extra
        if info is not None:
            info.failResult = None
    return 0

cdef int _failurePassedBy(DeferredCore self, failure) except -1:
    # A stage added to a failed Deferred let the failure by: it is still
    # unhandled, even if an await had taken it, as after any pass of the
    # loop (and as in Twisted).
    self._info().failResult = failure
    return 0

cdef object _caught(DeferredCore self, BaseException e):
    """The Failure for an exception a callback raised (and we caught)."""
    # (Caught in C: no frame of ours to drop from its traceback.)
    failure = failureFromException(e)
    if deferred_debug(self, DEBUG):
        failure.captureVars = True
    return failure

cdef int _settle(DeferredCore self, result, fn) except -1:
    # An outcome of _runNow() that needs more than storing -- a Deferred
    # to chain, a failure to track, callbacks that fn added meanwhile.
    cdef DeferredCore waited
    if not self._callbacks and isDeferred(result) and result is not self:
        # Chain on it as the loop would, without going through the loop.
        waited = <DeferredCore>result
        inner = waited.result
        if inner is NO_RESULT or isDeferred(inner) or waited.paused:
            # Wait for it: it resumes us when it reaches our marker.
            self.paused += 1
            appendContinuation(waited, self, None)
            self.result = waited
            info = self._extra
            if info is not None:
                info.failResult = None
            return 0
        if not isFailure(inner):
            # Fired with a success: take it over.
            waited.result = None
            info = waited._extra
            if info is not None:
                info.failResult = None
            self.result = inner
            info = self._extra
            if info is not None:
                info.failResult = None
            return 0
    if result is self:
        try:
            _warnReturnedSelf(fn)
        except BaseException as e:
            result = _caught(self, e)  # (warnings turned into errors)
    self.result = result
    self._callbacks = [RESUME, *self._callbacks]
    # A pause made by fn takes effect once this pass is over, as when
    # the loop runs fn: callbacks fn added still run now.
    runCallbacks(self, True)
    return 0



cdef inline int appendContinuation(DeferredCore self, waiting, how) except -1:
    # DeferredCore._append_continuation
    entry = (CONTINUE, CONTINUE, waiting, how)
    cbs = self._callbacks
    if cbs:
        cbs.append(entry)
    else:
        self._callbacks = [entry]
    return 0


include "_cready.pxi"
include "_cloop.pxi"
include "_cdriver.pxi"


def makeSucceed(cls):
    """``succeed()`` for Deferred class ``cls`` (built here, beside the state
    it fills in, so that each core has its own fast path)."""
    cdef object klass = cls

    # A function object of its own (not a builtin): _functions names it.
    @cython.binding(True)
    def succeed(result):
        cdef DeferredCore d
        if isOutcome(result) or deferred_debug(klass, DEBUG):
            # The long way: a Deferred result is an error, a Failure is
            # tracked (and reported if never handled), debugging records the
            # stacks.
            d = klass()
            d.callback(result)
            return d
        # Build it fired, skipping __init__ and callback(): a hot path.
        d = DeferredCore.__new__(klass)
        d._callbacks = EMPTY
        d.result = result
        d.paused = 0
        d._extra = None
        d._runningCallbacks = False
        return d

    return succeed
