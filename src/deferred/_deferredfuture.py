"""What ``await aDeferred`` yields while the Deferred has no result.

:class:`DeferredFuture` looks enough like an asyncio future for an asyncio
Task to wait on it, which is how a Deferred can be awaited directly inside a
plain asyncio task; our own coroutine driver (:mod:`deferred._coroutines`)
recognises it and waits on the Deferred itself.  It is importable from
:mod:`deferred._futures`, with the other bridges to futures.

asyncio is imported on first use only: ``import deferred`` must stay cheap.
"""

from __future__ import annotations

from _thread import get_ident as _get_ident
from typing import TYPE_CHECKING, Any

from ._cancellations import _cancelledList, _isCancellation, _onlyCancellations
from ._debug import DebugInfo
from ._errors import CancelledError
from ._state import _NO_RESULT
from .failure import _FAILURE_TYPES, Failure

if TYPE_CHECKING:
    import asyncio
    from collections.abc import Callable
    from contextvars import Context

    from ._deferred import Deferred

__all__ = ["DeferredFuture"]


class DeferredFuture:
    """A pending Deferred seen as an asyncio future, for ``await`` inside tasks.

    ``Deferred.__await__`` yields one of these when the Deferred has no result
    yet.  An asyncio Task recognises it by its ``_asyncio_future_blocking``
    attribute and then uses the future protocol: ``get_loop()``,
    ``add_done_callback()``, ``result()`` once woken, and ``cancel(msg)`` when
    the task is cancelled.  Nothing is registered on the Deferred until a task
    asks for a done-callback, so our own coroutine driver, which waits on the
    Deferred directly, pays only for creating this object.

    **Awaiting observes, as for an asyncio future.**  The Deferred keeps its
    result: every task awaiting it gets the result, and so does whatever
    comes next on the Deferred.  A failure counts as handled once a task
    takes it (its ``result()`` raises it, as asyncio marks a retrieved
    exception); a failure delivered to a task that is cancelled before it
    resumes is not taken, so it stays on the Deferred, reported if nothing
    else handles it.  (Our coroutine driver, behind ``ensureDeferred`` and
    ``inlineCallbacks``, keeps Twisted's rule instead: it consumes.)

    Cancellation, in both directions:

    * cancelling the task cancels the Deferred.  Like a task awaiting another
      task, the awaiting task then gets whatever the Deferred ends with --
      normally its :class:`~deferred.CancelledError`, turned into
      :class:`asyncio.CancelledError` (see below), but a canceller that fires
      the Deferred with a value gets that value through.  A failure that the
      task's cancellation caused and that is made only of cancellations (a
      ``FirstError`` of ``gatherResults``/``DeferredList``, a
      ``FailureGroup`` of ``race``) also ends the task cancelled, and the
      CancelledErrors that the cancellation gave the Deferreds it
      reached are not reported as unhandled;
    * a Deferred that fails with :class:`deferred.CancelledError` (it was
      cancelled) raises ``asyncio.CancelledError`` in the awaiting task --
      exactly that class, chained from the Deferred's exception -- so a task
      that lets it propagate ends up cancelled, and ``asyncio.wait_for`` and
      ``asyncio.timeout`` recognise their own cancellations.

    Done-callbacks run on a later turn of the task's loop, never inside the
    Deferred's callback chain: a Deferred is often fired from inside another
    task, and asyncio forbids stepping a task from there.  A Deferred fired
    on another thread hands the wake-up over to the loop's thread
    (``call_soon_threadsafe``), so the task never hangs.  If the loop has
    been closed when the Deferred fires, the result is left on the Deferred.
    """

    # Made for every await of an unfired Deferred, so it is kept cheap: no
    # __init__ (``Deferred.__await__`` sets ``_deferred``), and class-level
    # defaults for the state only a waiting asyncio task needs.
    _deferred: Deferred[Any]
    #: The Deferred's outcome (a value or a Failure) once in; only recorded
    #: when a task is waiting (see add_done_callback).
    _outcome: Any = _NO_RESULT
    #: The traceback of a failed outcome, taken when it came in: the Deferred
    #: keeps the Failure, and cleans it (drops its frames) when it rests.
    _tb: Any = None
    #: Read, and then set to False, by the Task that accepts this future.
    _asyncio_future_blocking = True
    _loop: asyncio.AbstractEventLoop | None = None
    _callbacks: list[tuple[Callable[[Any], object], Context | None]] | None = None
    _cancelMessage: Any = None
    #: Whether cancel() cancelled the Deferred (the task was cancelled).
    _cancelling = False
    #: The task waiting (whose done-callback was added first), if known.
    _task: Any = None

    def __repr__(self) -> str:
        return f"<DeferredFuture for {self._deferred!r}>"

    # -- the asyncio future protocol -----------------------------------------

    def get_loop(self) -> asyncio.AbstractEventLoop:
        """The loop of the task awaiting this (the running loop)."""
        loop = self._loop
        if loop is None:
            import asyncio

            loop = self._loop = asyncio.get_running_loop()
        return loop

    def add_done_callback(
        self, fn: Callable[[Any], object], *, context: Context | None = None
    ) -> None:
        """Call ``fn(self)`` on the loop once the Deferred has fired."""
        loop = self.get_loop()
        if self._outcome is not _NO_RESULT:
            loop.call_soon(fn, self, context=context)
            return
        callbacks = self._callbacks
        if callbacks is None:
            # A Task adds its wake-up method: remember the task, to know at
            # result() whether it is about to be cancelled instead.
            self._task = getattr(fn, "__self__", None)
            deferred = self._deferred
            outcome = deferred.result
            if (
                outcome is not _NO_RESULT
                and not deferred.paused
                and not deferred._runningCallbacks
            ):
                # Fired already (cancelled before the await): as for any
                # fired Deferred, the outcome stays on it.
                self._take(outcome)
                loop.call_soon(fn, self, context=context)
                return
            self._callbacks = [(fn, context)]
            # May run _fired at once (if the Deferred has fired meanwhile),
            # which schedules fn: so fn is listed first.
            deferred.addBoth(self._fired)
        else:
            callbacks.append((fn, context))

    def remove_done_callback(self, fn: Callable[[Any], object]) -> int:
        """Forget every registration of ``fn``; return how many there were."""
        callbacks = self._callbacks
        if not callbacks:
            return 0
        kept = [entry for entry in callbacks if entry[0] != fn]
        self._callbacks = kept
        return len(callbacks) - len(kept)

    def _fired(self, result: object) -> object:
        # The Deferred's callback.  It returns the result: awaiting in a task
        # observes, as for an asyncio future (see the class docstring).
        loop = self._loop
        assert loop is not None  # add_done_callback() set it
        if loop.is_closed():
            # No task will ever wake up to take it: it stays on the Deferred
            # (a failure is then reported if nothing else handles it).
            return result
        if self._outcome is not _NO_RESULT:
            # cancel() already ended the wait (the canceller raised): the
            # cancellation is done with, but any other outcome stays on the
            # Deferred, as above.
            return None if _isCancellation(result) else result
        self._take(result)
        callbacks = self._callbacks or []
        self._callbacks = []
        if callbacks:
            self._wake(loop, callbacks)
        return result

    def _take(self, outcome: object) -> None:
        self._outcome = outcome
        if type(outcome) in _FAILURE_TYPES:
            # The Deferred cleans the Failure (drops its frames) once it
            # rests on it: keep the traceback for the task to raise with.
            self._tb = outcome.tb  # type: ignore[attr-defined]

    def _wake(
        self,
        loop: asyncio.AbstractEventLoop,
        callbacks: list[tuple[Callable[[Any], object], Context | None]],
    ) -> None:
        # Schedule the done-callbacks on the loop: from its own thread with
        # call_soon, from any other thread through call_soon_threadsafe (the
        # Deferred was fired from a worker thread: the loop must wake up).
        import asyncio

        if asyncio._get_running_loop() is loop:
            for fn, context in callbacks:
                loop.call_soon(fn, self, context=context)
            return
        try:
            for fn, context in callbacks:
                loop.call_soon_threadsafe(fn, self, context=context)
        except RuntimeError:
            # The loop closed meanwhile: nobody is left to wake.
            pass

    def _deliver(self, outcome: object) -> None:
        # Record an outcome of our own (not the Deferred's) and wake whoever
        # waits, on the loop.
        self._outcome = outcome
        callbacks = self._callbacks or []
        self._callbacks = []
        if callbacks:
            self._wake(self.get_loop(), callbacks)

    def done(self) -> bool:
        """Whether the Deferred's outcome is in."""
        return self._outcome is not _NO_RESULT

    def cancelled(self) -> bool:
        """Whether :meth:`result` would raise ``asyncio.CancelledError``."""
        outcome = self._outcome
        if type(outcome) not in _FAILURE_TYPES:
            return self._cancelling and _cancelledList(self._deferred, outcome)
        return self._endsCancelled(outcome.value)

    def _endsCancelled(self, value: BaseException) -> bool:
        # A cancellation; or, when the task's cancellation caused it, a
        # failure made only of cancellations (FirstError, FailureGroup).
        import asyncio

        if isinstance(value, (CancelledError, asyncio.CancelledError)):
            return True
        return self._cancelling and _onlyCancellations(value)

    def result(self) -> Any:
        """The Deferred's result; its failure's exception is raised instead.

        A :class:`deferred.CancelledError` becomes ``asyncio.CancelledError``
        (with the task's cancel message, if it asked for the cancellation),
        chained from the original; so does a failure made only of
        cancellations that the task's cancellation caused.  Raising a
        failure hands it to the task: it counts as handled (unless the task
        is about to be cancelled instead, and the failure is not that
        cancellation).
        """
        import asyncio

        outcome = self._outcome
        if outcome is _NO_RESULT:
            raise asyncio.InvalidStateError("the Deferred has not fired yet")
        if type(outcome) not in _FAILURE_TYPES:
            if self._cancelling and _cancelledList(self._deferred, outcome):
                raise self._cancelledError(None)
            return outcome
        exc = self._exceptionOf(outcome)
        task = self._task
        if (
            task is None
            or not getattr(task, "_must_cancel", False)
            or isinstance(exc, asyncio.CancelledError)
        ):
            self._handled(outcome)
        # Raised from this frame, exc will reference it: drop the frame's
        # references to it (and to self, which holds it) to leave no cycle.
        del self, outcome, task
        try:
            raise exc
        finally:
            del exc

    def exception(self) -> BaseException | None:
        """The exception :meth:`result` would raise, or ``None``.

        Like asyncio's, raises ``asyncio.CancelledError`` when cancelled.
        Either way the failure counts as handled.
        """
        import asyncio

        outcome = self._outcome
        if outcome is _NO_RESULT:
            raise asyncio.InvalidStateError("the Deferred has not fired yet")
        if type(outcome) not in _FAILURE_TYPES:
            if self._cancelling and _cancelledList(self._deferred, outcome):
                raise self._cancelledError(None)
            return None
        exc = self._exceptionOf(outcome)
        self._handled(outcome)
        if isinstance(exc, asyncio.CancelledError):
            del self, outcome
            try:
                raise exc
            finally:
                del exc  # (no frame-exception cycle, as in result())
        return exc

    def _handled(self, failure: Failure) -> None:
        # The task took the failure: if the Deferred still rests on it, it is
        # no longer unhandled.
        info = self._deferred._extra
        if type(info) is DebugInfo and info.failResult is failure:
            info.failResult = None

    def _exceptionOf(self, failure: Failure) -> BaseException:
        value = failure.value
        if isinstance(value, CancelledError) or (
            self._cancelling and _onlyCancellations(value)
        ):
            return self._cancelledError(value)
        tb = self._tb if failure is self._outcome else failure.tb
        return value.with_traceback(tb) if tb is not None else value

    def _cancelledError(self, cause: BaseException | None) -> BaseException:
        import asyncio

        message = self._cancelMessage
        cancelled = (
            asyncio.CancelledError()
            if message is None
            else asyncio.CancelledError(message)
        )
        cancelled.__cause__ = cause
        return cancelled

    def cancel(self, msg: Any = None) -> bool:
        """Cancel the Deferred (the awaiting task is being cancelled).

        Returns ``False`` if the outcome is already in.  Otherwise the task
        goes on waiting for whatever the Deferred now ends with, as it would
        for an awaited task.  The ``CancelledError`` failures this
        cancellation gives the Deferreds it reaches (the inputs of a
        ``gatherResults``, say) are not reported as unhandled: they are the
        task's cancellation, which the task reports itself.
        """
        if self._outcome is not _NO_RESULT:
            return False
        self._cancelMessage = msg
        self._cancelling = True
        import deferred._state as core

        previous = core._quietCancels
        quiet: list[Any] = [_get_ident()]
        core._quietCancels = quiet
        try:
            self._deferred.cancel()
        except BaseException:
            # Task.cancel() must not raise, nor leave the task waiting on a
            # Deferred whose cancellation failed: report the canceller's
            # error and end the wait cancelled.  (Whatever the Deferred
            # ends with later stays on it.)
            from ._debug import logFailure

            logFailure("Exception raised from a Deferred's canceller:", Failure())
            if self._outcome is _NO_RESULT:
                self._deliver(Failure(CancelledError()))
        finally:
            core._quietCancels = previous
            for cancelled in quiet[1:]:
                info = cancelled._extra
                if type(info) is DebugInfo:
                    failure = info.failResult
                    if failure is not None and (
                        _isCancellation(failure) or _onlyCancellations(failure.value)
                    ):
                        info.failResult = None
        return True
