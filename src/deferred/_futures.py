"""Bridges between Deferreds and asyncio (and ``concurrent.futures``) futures.

Three pieces live here:

* :class:`DeferredFuture` -- what ``await aDeferred`` yields while the
  Deferred has no result.  It looks enough like an asyncio future for an
  asyncio Task to wait on it, which is how a Deferred can be awaited directly
  inside a plain asyncio task; our own coroutine driver
  (:mod:`deferred._coroutines`) recognises it and waits on the Deferred
  itself.
* :func:`asFuture` -- a Deferred as an asyncio Future on a given loop.
* :func:`fromFuture` -- an asyncio Future or Task, or a
  ``concurrent.futures.Future`` (thread or process pools, and distributed
  engines whose futures share that interface), as a Deferred that always
  fires on the event loop thread.

asyncio is imported on first use only: ``import deferred`` must stay cheap.
"""

from __future__ import annotations

from _thread import get_ident as _get_ident
from typing import TYPE_CHECKING, Any, TypeVar

from ._debug import DebugInfo
from ._deferred import _NO_RESULT, Deferred
from ._errors import CancelledError
from .failure import _FAILURE_TYPES, Failure, _failureFromCaught

if TYPE_CHECKING:
    import asyncio
    import concurrent.futures
    from collections.abc import Callable
    from contextvars import Context

__all__ = ["DeferredFuture", "asFuture", "fromFuture"]

_T = TypeVar("_T")


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


def _cancelledList(deferred: Deferred[Any], result: object) -> bool:
    """Whether ``result`` is what a cancelled ``DeferredList`` gives: a
    ``(False, cancellation)`` pair for every input."""
    from ._combinators import DeferredList

    return (
        isinstance(deferred, DeferredList)
        and type(result) is list
        and bool(result)
        and all(
            type(entry) is tuple
            and len(entry) == 2
            and entry[0] is False
            and _isCancellation(entry[1])
            for entry in result
        )
    )


def _onlyCancellations(value: BaseException) -> bool:
    """Whether ``value`` is a ``FirstError`` or ``FailureGroup`` made, at any
    depth, only of cancellations (ours, asyncio's or concurrent.futures')."""
    from ._combinators import FailureGroup, FirstError

    if not isinstance(value, (FirstError, FailureGroup)):
        return False
    cancelled = _cancelledErrors()
    pending: list[BaseException] = [value]
    while pending:
        value = pending.pop()
        if isinstance(value, FirstError):
            pending.append(value.subFailure.value)
        elif isinstance(value, FailureGroup):
            if not value.failures:
                return False
            pending.extend(f.value for f in value.failures)
        elif not isinstance(value, cancelled):
            return False
    return True


def asFuture(
    deferred: Deferred[_T], loop: asyncio.AbstractEventLoop
) -> asyncio.Future[_T]:
    """An asyncio Future on ``loop`` that completes when ``deferred`` fires.

    The Deferred's result or failure is handed to the Future (so the failure
    counts as handled, and the Deferred goes on with ``None``).  As in
    Twisted, a failure's exception is set on the Future as it is -- a
    :class:`deferred.CancelledError` too; a ``StopIteration``, which a Future
    refuses, is wrapped in ``RuntimeError``.  Cancelling the Future cancels
    the Deferred.
    """
    future = loop.create_future()

    def settle(result: Any) -> Any:
        if future.done():
            # The Future was cancelled: nobody wants the outcome.  But an
            # error other than the cancellation stays on the Deferred, to be
            # reported if nothing else handles it.
            return result if _isError(result) else None
        if type(result) in _FAILURE_TYPES:
            exc = result._reraisable()
            if isinstance(exc, StopIteration):
                wrapped = RuntimeError(f"the Deferred failed with {exc!r}")
                wrapped.__cause__ = exc
                exc = wrapped
            future.set_exception(exc)
        else:
            future.set_result(result)
        return None

    def cancelDeferred(future: asyncio.Future[_T]) -> None:
        if future.cancelled():
            deferred.cancel()

    deferred.addBoth(settle)
    future.add_done_callback(cancelDeferred)
    return future


def fromFuture(
    future: asyncio.Future[_T] | concurrent.futures.Future[_T],
    deferredType: type[Deferred[Any]] = Deferred,
) -> Deferred[_T]:
    """A Deferred for an asyncio Future/Task or a ``concurrent.futures.Future``.

    The Deferred fires with the future's result, or fails with the exception
    its ``result()`` raises (for a future cancelled by someone else, that
    future's own ``CancelledError``).

    Cancelling the Deferred cancels the future, and, as in Twisted (even
    before the loop runs), the Deferred then takes what the future ends
    with, once the loop turns: for a future that its ``cancel()`` did cancel,
    an error that is both a :class:`deferred.CancelledError` and an
    ``asyncio.CancelledError`` (so ``addTimeout`` makes it a
    ``TimeoutError``, and code written for Twisted finds asyncio's); a task
    that catches its cancellation gives its own outcome.  A second
    ``cancel()`` stops waiting: :class:`deferred.CancelledError` at once.  A
    ``concurrent.futures`` job already running cannot be cancelled: its
    Deferred fails at once with :class:`deferred.CancelledError`, and its
    later result is dropped (an error is reported as unhandled).

    An asyncio future's Deferred fires at once if the future is done, and
    otherwise from the future's done-callback, on its loop.

    A ``concurrent.futures.Future`` -- or any object with its interface
    (``add_done_callback``, ``result``, ``cancel``, ``done``), such as a Dask
    future -- completes on some worker thread.  Its Deferred fires on the event
    loop that is *running when fromFuture is called*, through
    ``loop.call_soon_threadsafe``, never on the worker thread (and at once if
    the future is already done).  Without a running loop there is no thread to
    deliver to, so fromFuture raises ``RuntimeError`` for such a future, done
    or not.  If the loop is closed before the future completes, the Deferred
    never fires.

    ``deferredType`` is the class of the Deferred made (``Deferred.fromFuture``
    passes the class it is called on).
    """
    if getattr(future, "_asyncio_future_blocking", None) is not None:
        if future.done():
            # Known already: fire now, as a Deferred does.
            deferred: Deferred[_T] = deferredType()
            _Delivery(deferred)(future)
            return deferred
        delivery = _FromFutureDelivery()
        deferred = deferredType(_FromFutureCanceller(future, delivery, True))
        delivery._deferred = deferred
        future.add_done_callback(delivery)
        return deferred
    if not (
        callable(getattr(future, "add_done_callback", None))
        and callable(getattr(future, "result", None))
        and callable(getattr(future, "cancel", None))
    ):
        hint = ""
        if hasattr(future, "__await__") or hasattr(future, "send"):
            hint = (
                "; for a coroutine use ensureDeferred(), or wrap it in an asyncio"
                " task first"
            )
        raise TypeError(
            "fromFuture() needs an asyncio Future or Task, or a "
            f"concurrent.futures.Future, not {future!r}{hint}"
        )
    import asyncio

    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise RuntimeError(
            "Deferred.fromFuture() of a concurrent.futures.Future needs a running "
            "asyncio event loop to fire the Deferred on; call it from code running "
            "on the loop"
        ) from None
    if future.done():
        deferred = deferredType()
        _Delivery(deferred)(future)  # we are on the loop's thread already
        return deferred
    delivery = _FromFutureDelivery()
    deferred = deferredType(_FromFutureCanceller(future, delivery, False))
    delivery._deferred = deferred
    future.add_done_callback(_ThreadsafeDelivery(loop, delivery))
    return deferred


def _awaitedFuture(future: Any) -> Deferred[Any]:
    """A Deferred for an asyncio future or task awaited (or yielded) by code
    our driver runs.

    Unlike :func:`fromFuture` (whose cancellation behaves as Twisted's), its
    ``cancel()`` is synchronous, as Deferred code expects: it cancels the
    future and fails at once with :class:`deferred.CancelledError`, which is
    raised at the ``await``; whatever the future ends with later is dropped
    (an error is reported).  Twisted cannot await asyncio futures there.
    """
    deferred: Deferred[Any] = Deferred(_FutureCanceller(future))
    if future.done():
        _Delivery(deferred)(future)
    else:
        future.add_done_callback(_Delivery(deferred))
    return deferred


class _FromFutureCanceller:
    """The canceller of a fromFuture() Deferred.

    As in Twisted, it cancels the future and leaves the Deferred to take
    whatever the future then ends with, once the loop turns: normally its
    own ``CancelledError``, but a task that does not stop gives its outcome.
    Meanwhile the Deferred waits on a fresh one, without a canceller, that
    the future's delivery fires; so a second ``cancel()`` fails it with
    :class:`deferred.CancelledError` at once, as Twisted's does.

    A ``concurrent.futures`` future already running cannot be cancelled, and
    its job may run for long: then the Deferred fails at once with
    :class:`deferred.CancelledError` (its later result is dropped, a later
    error reported), as a Deferred of a thread call does.
    """

    __slots__ = ("_delivery", "_future", "_isAsyncio")

    def __init__(
        self, future: Any, delivery: _FromFutureDelivery, isAsyncio: bool
    ) -> None:
        self._future = future
        self._delivery = delivery
        self._isAsyncio = isAsyncio

    def __call__(self, deferred: Deferred[Any]) -> None:
        future = self._future
        refused = not future.cancel()
        if deferred.result is not _NO_RESULT or (
            refused and not self._isAsyncio and not future.done()
        ):
            return
        fresh: Deferred[Any] = Deferred()
        delivery = self._delivery
        delivery._deferred = fresh
        delivery._cancelled = not refused
        _waitOn(deferred, fresh)


def _waitOn(deferred: Deferred[Any], fresh: Deferred[Any]) -> None:
    """From inside ``deferred``'s canceller: make it wait on ``fresh`` (as if
    a callback had returned it), instead of failing with CancelledError."""
    deferred._dropCanceller()
    deferred.result = fresh
    deferred.paused += 1
    fresh._append_continuation(deferred)
    if fresh.result is not _NO_RESULT:
        # Fired already: hand its result over now.
        fresh._runCallbacks()


class _FutureCanceller:
    # The canceller of a Deferred of a thread call (deferred.threads) or of a
    # future awaited by our driver: a small object rather than a closure,
    # holding only the future.
    __slots__ = ("_future",)

    def __init__(self, future: Any) -> None:
        self._future = future

    def __call__(self, deferred: Deferred[Any]) -> None:
        # The Deferred then fails with CancelledError; the future's own
        # outcome, when it comes, is dropped by _Delivery.
        self._future.cancel()


class _Delivery:
    """Fire a Deferred with a finished future's outcome (on the loop thread)."""

    __slots__ = ("_deferred",)

    def __init__(self, deferred: Deferred[Any] | None) -> None:
        self._deferred = deferred

    def __call__(self, future: Any) -> None:
        deferred = self._deferred
        assert deferred is not None
        try:
            value = future.result()
        except BaseException as e:
            outcome: Any = _failureFromCaught(e)
        else:
            outcome = value
        if deferred.result is not _NO_RESULT:
            # Cancelled meanwhile: the Deferred has failed already.  An error
            # the future still produced must not vanish; report it as Twisted
            # does, as an unhandled error in a Deferred.
            if _isError(outcome):
                Deferred().errback(outcome)
            return
        deferred.callback(outcome)


class _FromFutureDelivery(_Delivery):
    """A fromFuture() Deferred's delivery, which knows whether the Deferred's
    cancel() cancelled the future: the future's cancellation is then the
    Deferred's (see :func:`_futureCancelledError`)."""

    __slots__ = ("_cancelled",)

    def __init__(self) -> None:
        super().__init__(None)
        self._cancelled = False

    def __call__(self, future: Any) -> None:
        if self._cancelled and future.cancelled():
            deferred = self._deferred
            assert deferred is not None
            if deferred.result is _NO_RESULT:
                try:
                    future.result()
                except BaseException as e:
                    error = _futureCancelledError()()
                    error.__cause__ = e
                    deferred.errback(Failure(error))
                    return
        super().__call__(future)


_FutureCancelledError: type[BaseException] | None = None


def _futureCancelledError() -> type[BaseException]:
    """The class of the error a fromFuture() Deferred fails with when its
    ``cancel()`` cancelled the future.

    Both a :class:`deferred.CancelledError` and an ``asyncio.CancelledError``:
    Twisted's Deferred fails with the future's ``asyncio.CancelledError``
    (code written for it checks for that), while Deferred code here expects
    its own -- ``addTimeout`` turns it into ``TimeoutError``, ``except
    CancelledError`` catches it at an ``await``.  Made on first use, so that
    ``import deferred`` does not import asyncio.
    """
    global _FutureCancelledError
    if _FutureCancelledError is None:
        import asyncio

        class FutureCancelledError(CancelledError, asyncio.CancelledError):
            """The future was cancelled by cancelling its Deferred: both our
            CancelledError and asyncio's."""

            def __reduce__(self) -> tuple[Any, ...]:
                return (CancelledError, self.args)

        # Shown as what it is to users, a deferred.CancelledError.
        FutureCancelledError.__module__ = "deferred"
        FutureCancelledError.__name__ = "CancelledError"
        FutureCancelledError.__qualname__ = "CancelledError"
        _FutureCancelledError = FutureCancelledError
    return _FutureCancelledError


class _ThreadsafeDelivery:
    """A ``concurrent.futures`` done-callback (run on whichever thread
    finished the future) that hands the delivery over to the loop's thread."""

    __slots__ = ("_deliver", "_loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, deliver: _Delivery) -> None:
        self._loop = loop
        self._deliver = deliver

    def __call__(self, future: Any) -> None:
        try:
            self._loop.call_soon_threadsafe(self._deliver, future)
        except RuntimeError:
            # The loop is closed: there is no thread left to fire on.
            pass


def _cancelledErrors() -> tuple[type[BaseException], ...]:
    import asyncio
    import concurrent.futures

    return (CancelledError, asyncio.CancelledError, concurrent.futures.CancelledError)


def _isCancellation(outcome: object) -> bool:
    """Whether ``outcome`` is a failure of cancellation (ours, asyncio's or
    concurrent.futures')."""
    return type(outcome) in _FAILURE_TYPES and isinstance(
        outcome.value,  # type: ignore[attr-defined]
        _cancelledErrors(),
    )


def _isError(outcome: object) -> bool:
    """Whether ``outcome`` is a failure other than a cancellation: what must
    still be reported when it arrives after the waiting was called off."""
    return type(outcome) in _FAILURE_TYPES and not _isCancellation(outcome)
