"""The driver behind ``inlineCallbacks`` and ``ensureDeferred``.

One engine runs both ``@inlineCallbacks`` generators and ``async def``
coroutines: it sends each result in (or throws each failure in) and looks at
what comes out.

* A Deferred that has fired (or the object ``await`` yields for one, a
  :class:`~deferred._futures.DeferredFuture`) is consumed on the spot and the
  loop goes on: a million already-fired Deferreds in a row use no stack.
* A Deferred that has not fired gets one callback, and the driver returns;
  that callback resumes the loop when the result arrives.
* An asyncio future or task is adapted with ``Deferred.fromFuture``; a
  coroutine or generator yielded by an ``inlineCallbacks`` generator is run by
  a driver of its own; a Failure is thrown in; anything else is sent
  straight back -- except a coroutine's bare yield (``await
  asyncio.sleep(0)``), which, when an asyncio loop is running in this
  thread, resumes on the loop's next turn, as in an asyncio task.  (An
  ``inlineCallbacks`` generator's ``yield None`` is sent straight back, as
  in Twisted.)

Every step runs inside one :class:`contextvars.Context`, copied when the
driver starts, like an asyncio task: context variables set by the generator
stay visible to it across its yields and never leak to its caller.

Cancelling the Deferred the driver returned cancels the Deferred it is waiting
on, whose failure is thrown into the generator.  If the generator catches it
and goes on, so does the returned Deferred (as in Twisted: the returned
Deferred then waits on a fresh one that the generator's outcome fires).
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Coroutine, Generator
from types import CoroutineType, GeneratorType, TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from . import _nesting
from ._core import IMPLEMENTATION
from ._deferred import _DEFERRED_TYPES, _NO_RESULT, Deferred
from ._errors import CancelledError
from ._futures import DeferredFuture, _awaitedFuture, _waitOn
from ._state import _DefGen_Return as _DefGen_Return
from .failure import (
    _FAILURE_TYPES,
    Failure,
    _failureFromCaught,
    _failureFromException,
    _shortRepr,
)

if TYPE_CHECKING or IMPLEMENTATION != "compiled":
    from ._pydriver import DriverCore
else:
    import importlib

    _compiled = importlib.import_module("deferred._cdeferred")
    _compiled.setDriverTypes(DeferredFuture)
    DriverCore = _compiled.DriverCore

__all__ = ["NotACoroutineError", "ensureDeferred", "fromCoroutine"]

_T = TypeVar("_T")


class NotACoroutineError(TypeError):
    """:func:`ensureDeferred` or ``Deferred.fromCoroutine`` was given
    something that is neither a coroutine nor (for ``ensureDeferred``) a
    Deferred."""


class _Driver(DriverCore):
    """One running generator or coroutine: the core's step (see
    ``_pydriver``), and what it calls off its hot path."""

    __slots__ = ()

    def _other(self, yielded: object) -> Deferred[Any] | None:
        # What the generator yielded is neither a Deferred nor the await of
        # one: a Deferred to wait on for it, or None to send it back.
        d = _adapt(yielded)
        if d is None and yielded is None and type(self._gen) is not GeneratorType:
            # A coroutine's bare yield (``await asyncio.sleep(0)``): with an
            # asyncio loop running, resume on its next turn.
            d = _nextLoopTurn()
        return d

    def _returned(self, value: object, tb: TracebackType | None) -> Any:
        # returnValue(value) ended the generator; ``tb`` runs from the
        # generator's frame down to returnValue's.
        if tb is not None and _isNonLocalReturn(tb):
            failure = _warnNonLocalReturn(tb)
            if failure is not None:
                return failure
        return value

    def _finish(self, result: Any) -> None:
        self._resume = None
        deferred = self._deferred
        if type(result) in _DEFERRED_TYPES:
            result = _failureFromException(
                TypeError(
                    f"{self._gen!r} returned a Deferred ({result!r}); a Deferred "
                    "cannot be the result of another -- yield or await it first"
                )
            )
        # Through _nesting: a pipeline of generators, each finishing inside
        # the one before, fires level by level instead of ever deeper.
        _nesting.fire(deferred, result)

    def _cancel(self, deferred: Deferred[Any]) -> None:
        """The canceller of the Deferred this driver returned."""
        waitingOn = self._waitingOn
        if waitingOn is not None:
            # Its CancelledError (or whatever its canceller produces) is
            # thrown into the generator, synchronously.  Cleared meanwhile:
            # if that cancel() leads back here (the generator waits on its own
            # Deferred, or on one that waits on it), it must not go round
            # again.
            self._waitingOn = None
            # As in Twisted, the generator's outcome now fires a fresh
            # Deferred, which ``deferred`` waits on once that cancel() is
            # over: so the callbacks that follow ours on the cancelled
            # Deferred run first, then ``deferred``'s.  (And if the generator
            # catches the error and goes on, ``deferred`` goes on waiting,
            # and ``cancel()`` on it reaches us again through the fresh one.)
            fresh: Deferred[Any] = Deferred(self._cancel)
            self._deferred = fresh
            try:
                waitingOn.cancel()
            finally:
                if self._waitingOn is None and self._resume is not None:
                    # The generator did not run: it still waits on that one,
                    # which a later cancel() must reach again.
                    self._waitingOn = waitingOn
                _waitOn(deferred, fresh)
        elif deferred.result is _NO_RESULT and self._resume is None:
            # The generator has finished, but _finish() left its result in
            # the backlog, to fire later: fire it now, as if it had been.
            found, result = _nesting.takeBack(deferred)
            if found:
                deferred.callback(result)
        elif deferred.result is _NO_RESULT:
            # The generator is still going, and nothing was awaited (the
            # cancel came from inside a running step).  Keep the returned
            # Deferred going too, as Twisted does: it waits on a fresh one
            # that the generator's outcome will fire.
            fresh = Deferred(self._cancel)
            self._deferred = fresh
            _waitOn(deferred, fresh)


def _isNonLocalReturn(gen: TracebackType) -> bool:
    """Whether the ``returnValue()`` whose traceback (from the generator's
    frame down) is ``gen`` was called from a function the generator called,
    rather than by the generator itself."""
    # The generator's frame; then returnValue's, or a function's and then
    # returnValue's.
    return gen.tb_next is not None and gen.tb_next.tb_next is not None


def _warnNonLocalReturn(tb: TracebackType) -> Any:
    """Warn, as Twisted does, that ``returnValue()`` made a generator exit
    from a function it called; attributed to that ``returnValue()`` call.
    If the warning is raised (an "error" filter), the Failure of it, which
    becomes the generator's outcome."""
    gen = tb
    caller = gen
    while caller.tb_next is not None and caller.tb_next.tb_next is not None:
        caller = caller.tb_next
    code = caller.tb_frame.f_code
    try:
        warnings.warn_explicit(
            f"returnValue() in {code.co_name!r} causing "
            f"{gen.tb_frame.f_code.co_name!r} to exit: returnValue should "
            "only be invoked by functions decorated with inlineCallbacks",
            DeprecationWarning,
            code.co_filename,
            caller.tb_lineno,
        )
    except BaseException as e:
        return _failureFromCaught(e)
    return None


def _nextLoopTurn() -> Deferred[None] | None:
    """A Deferred that fires with None on the next turn of the asyncio loop
    running in this thread (cancelling it cancels that turn), or ``None`` if
    no loop is running here."""
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return None  # not even imported: no loop can be running
    loop = asyncio._get_running_loop()
    if loop is None:
        return None
    turn = _LoopTurn()
    deferred: Deferred[None] = Deferred(turn.cancel)
    turn.handle = loop.call_soon(turn.fire, deferred)
    return deferred


class _LoopTurn:
    __slots__ = ("handle",)

    handle: Any

    def fire(self, deferred: Deferred[None]) -> None:
        self.handle = None
        deferred.callback(None)

    def cancel(self, deferred: Deferred[None]) -> None:
        handle = self.handle
        if handle is not None:
            self.handle = None
            handle.cancel()


def _adapt(yielded: object) -> Deferred[Any] | None:
    """A Deferred to wait on for a yielded value that is not a Deferred, or
    ``None`` to send the value straight back."""
    kind = type(yielded)
    if kind is CoroutineType or kind is GeneratorType:
        # An inlineCallbacks generator yielding a coroutine or a generator.
        return _drive(yielded)  # type: ignore[arg-type]
    if getattr(yielded, "_asyncio_future_blocking", None) is not None:
        # An asyncio future or task (what ``await`` on one yields).
        yielded._asyncio_future_blocking = False  # type: ignore[attr-defined]
        return _awaitedFuture(yielded)
    if kind not in _FAILURE_TYPES and callable(getattr(yielded, "addCallbacks", None)):
        # A Deferred-like of another library (Twisted's own, in a program
        # ported a piece at a time, yields itself from ``await``).
        return _fromDeferredLike(yielded)
    return None


def _fromDeferredLike(other: Any) -> Deferred[Any]:
    """Our Deferred for a foreign Deferred-like: fires with its result (which
    it takes, as a generator waiting on it would), and cancels it."""

    cancelling = False

    def cancel(_: Deferred[Any]) -> None:
        nonlocal cancelling
        canceller = getattr(other, "cancel", None)
        if callable(canceller):
            cancelling = True
            canceller()

    ours: Deferred[Any] = Deferred(cancel)

    def succeeded(result: object) -> None:
        ours.callback(result)

    def failed(failure: Any) -> None:
        # Its own failure type: ours is made from the exception it carries.
        value = getattr(failure, "value", failure)
        if cancelling and type(value).__name__ == "CancelledError":
            # Its own cancellation, which we asked for: ours, so that
            # addTimeout() and the rest recognise it.
            ours.errback(CancelledError())
        elif isinstance(value, BaseException):
            ours.errback(Failure(value, type(value), getattr(failure, "tb", None)))
        else:
            ours.errback(TypeError(f"a Deferred-like failed with {_shortRepr(value)}"))

    other.addCallbacks(succeeded, failed)
    return ours


def _drive(
    gen: Generator[Any, Any, _T] | Coroutine[Any, Any, _T],
) -> Deferred[_T]:
    """Start ``gen`` (its first step runs now) and return its Deferred."""
    driver = _Driver(gen)
    deferred: Deferred[_T] = Deferred(driver._cancel)
    driver._deferred = deferred
    driver._step(None)
    return deferred


def _isCoroutine(coro: object) -> bool:
    kind = type(coro)
    return (
        kind is CoroutineType
        or kind is GeneratorType
        # Coroutines implemented elsewhere (Cython, ...) register here; not
        # our Deferreds that asyncio may run as coroutines (acquire(), get()).
        or (isinstance(coro, Coroutine) and kind not in _DEFERRED_TYPES)
    )


def fromCoroutine(
    coro: Coroutine[Any, Any, _T] | Generator[Any, Any, _T],
) -> Deferred[_T]:
    """Run a coroutine (or generator) that awaits Deferreds; return a
    Deferred of its result.

    The coroutine starts at once and runs until it first waits on something
    that has no result yet.  Its ``await``\\ s of Deferreds, asyncio futures
    and tasks all work.  Anything that is not a coroutine or a generator
    raises :class:`NotACoroutineError`.
    """
    if not _isCoroutine(coro):
        raise NotACoroutineError(
            f"{_shortRepr(coro)} is not a coroutine{_hintFor(coro)}"
        )
    return _drive(coro)


def ensureDeferred(
    coro: Coroutine[Any, Any, _T] | Generator[Any, Any, _T] | Deferred[_T],
) -> Deferred[_T]:
    """A Deferred for a coroutine (run as by ``Deferred.fromCoroutine``), or
    the Deferred itself if given one -- like :func:`asyncio.ensure_future`.

    Raises :class:`NotACoroutineError` for anything else.
    """
    if type(coro) in _DEFERRED_TYPES:
        return coro  # type: ignore[return-value]
    if not _isCoroutine(coro):
        raise NotACoroutineError(
            f"{_shortRepr(coro)} is not a coroutine or a Deferred{_hintFor(coro)}"
        )
    return _drive(coro)


def _hintFor(thing: object) -> str:
    """What to write instead, for a future given where a coroutine goes."""
    try:
        isFuture = getattr(thing, "_asyncio_future_blocking", None) is not None or (
            callable(getattr(thing, "add_done_callback", None))
            and callable(getattr(thing, "result", None))
        )
    except Exception:  # an object whose attributes raise: no hint
        return ""
    if isFuture:
        return (
            "; for an asyncio Task or Future (or a concurrent.futures.Future) "
            "use Deferred.fromFuture(future)"
        )
    return ""
