"""The callback loop of the pure-Python core (``deferred._pycore``): the
methods ``_runCallbacks`` and ``_chainTo`` of its ``DeferredCore``.

``_cdeferred.pyx`` mirrors it (in ``_cloop.pxi``) for the compiled core.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import deferred._state as _state

from ._debug import DebugInfo, formatStack
from ._state import (
    _CONTINUE,
    _DEFERRED_TYPES,
    _EMPTY,
    _NO_RESULT,
    _restedInQuiet,
    _resume,
    _warnReturnedSelf,
)
from .failure import _FAILURE_TYPES, _OUTCOME_TYPES, Failure, _failureFromCaught

if TYPE_CHECKING:
    from ._deferred import Deferred

#: The core's own ``callback`` and ``errback`` (set by ``deferred._pycore``
#: once its class exists): a chainDeferred target that has not replaced them
#: is fired by the loop itself.
_plainFire: tuple[Any, Any] = (None, None)


def runCallbacks(
    self: Any,
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
                        and _type(target).callback is _plainFire[0]
                        and _type(target).errback is _plainFire[1]
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
            # Not kept here: a failure taken over may be handled and gone
            # in this pass, and its traceback's frames link back to this
            # frame (a reference cycle otherwise).
            inner = None
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
                if _state._quietCancels is not None:
                    _restedInQuiet(current)
            elif info is not None:
                info.failResult = None
            if not chain:
                return
            current = chain.pop()

def chainTo(
    self: Any, target: Deferred[Any], result: Any, cbs: Any, it: Any
) -> None:
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
