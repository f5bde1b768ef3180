"""The step of the pure-Python coroutine driver: what runs a generator or a
coroutine for ``inlineCallbacks`` and ``ensureDeferred`` (see
``deferred._coroutines``, which builds the driver on it).

The reference implementation: ``_cdriver.pxi`` mirrors it line by line in the
compiled core.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from contextvars import copy_context
from typing import TYPE_CHECKING, Any

from ._deferred import Deferred
from ._futures import DeferredFuture
from ._state import _DEFERRED_TYPES, _NO_RESULT, _DefGen_Return
from .failure import _FAILURE_TYPES, _failureFromCaught

if TYPE_CHECKING:
    from types import TracebackType

__all__ = ["DriverCore"]


class DriverCore:
    """The state of one running generator or coroutine, and its step.

    ``deferred._coroutines._Driver`` adds what the step calls off its hot
    path: ``_finish``, ``_other`` and ``_returned``.
    """

    __slots__ = ("_deferred", "_gen", "_resume", "_run", "_send", "_waitingOn")

    _deferred: Deferred[Any]
    _waitingOn: Deferred[Any] | None

    def __init__(
        self, gen: Generator[Any, Any, Any] | Coroutine[Any, Any, Any]
    ) -> None:
        self._gen = gen
        # Looked up once, not at every step.
        self._send = gen.send
        self._run = copy_context().run
        self._waitingOn = None
        # The callback added to each awaited Deferred.  Made once; it refers
        # back to this driver, so _finish() drops it to leave no cycle.
        self._resume: Any = self._step

    if TYPE_CHECKING:

        def _finish(self, result: Any) -> None: ...

        def _other(self, yielded: Any) -> Deferred[Any] | None: ...

        def _returned(self, value: Any, tb: TracebackType | None) -> Any: ...

    def _step(
        self,
        result: Any,
        # Bound as defaults: locals are cheaper than globals in the loop.
        _FTYPES: set[type] = _FAILURE_TYPES,
        _DTYPES: set[type] = _DEFERRED_TYPES,
        _Deferred: type = Deferred,
        _NONE: Any = _NO_RESULT,
        _Waiter: type = DeferredFuture,
    ) -> None:
        """Run the generator until it waits on an unfired Deferred or ends.

        Also the callback added to the Deferred being waited on: it returns
        None, so that Deferred's result is consumed (a failure counts as
        handled: the generator has received it).
        """
        self._waitingOn = None
        run = self._run
        send = self._send
        failed = type(result) in _FTYPES
        while True:
            try:
                if failed:
                    # The exception goes in with the traceback it was
                    # captured with.
                    thrown = result._reraisable()
                    # Once caught, its traceback runs through the generator's
                    # frame, which (Python 3.12+) links back to this one: so
                    # this frame must not keep it, nor the failure, or the
                    # two would form a reference cycle.
                    result = None
                    try:
                        yielded = run(self._gen.throw, thrown)
                    finally:
                        del thrown
                else:
                    yielded = run(send, result)
            except StopIteration as e:
                result = e.value
                break
            except _DefGen_Return as e:
                # (Its traceback from the generator's frame down.)
                tb = e.__traceback__
                result = self._returned(e.value, tb and tb.tb_next)
                del tb
                break
            except BaseException as e:
                result = _failureFromCaught(e)
                break

            kind = type(yielded)
            if kind is _Deferred or kind in _DTYPES:
                d = yielded
            elif kind is _Waiter:
                d = yielded._deferred
                result = d.result
                if result is not _NONE and type(result) in _FTYPES and not d.paused:
                    # Cancelled before the await (see Deferred.__iter__): as
                    # for any fired Deferred (even one running its callbacks),
                    # the failure goes in and stays.
                    info = d._extra
                    if info is not None:
                        info.failResult = None
                    failed = True
                    continue
            else:
                d = self._other(yielded)
                if d is None:
                    # Not something to wait on: send it straight back -- but
                    # a Failure is thrown in, as Twisted does (and so is the
                    # None an inlineCallbacks generator yields).
                    result = yielded
                    failed = kind in _FTYPES
                    continue

            result = d.result
            if result is _NONE or d.paused or d._runningCallbacks:
                # Not there yet: resume from its callback.  The callback list
                # is appended to directly (no callbacks can run now).
                self._waitingOn = d
                entry = (self._resume, self._resume, None, None)
                cbs = d._callbacks
                if cbs:
                    cbs.append(entry)
                else:
                    d._callbacks = [entry]
                return
            # Fired: take the result, as a callback returning None would.
            d.result = None
            failed = type(result) in _FTYPES
            if failed:
                info = d._extra
                if info is not None:
                    info.failResult = None
        self._finish(result)
        # On Python 3.12+ the frames in a failure's traceback link back to
        # this one (f_back): leave it holding nothing that leads to the
        # failure, or the two would form a reference cycle.
        del result


#: The code of the step: ``returnValue()`` looks for it on the stack.
STEP_CODE: Any = DriverCore._step.__code__
