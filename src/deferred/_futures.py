"""Bridges between Deferreds and asyncio (and ``concurrent.futures``) futures.

Three pieces live here:

* :class:`DeferredFuture` -- what ``await aDeferred`` yields while the
  Deferred has no result (defined in :mod:`deferred._deferredfuture`).  It
  looks enough like an asyncio future for an asyncio Task to wait on it,
  which is how a Deferred can be awaited directly inside a plain asyncio
  task; our own coroutine driver (:mod:`deferred._coroutines`) recognises it
  and waits on the Deferred itself.
* :func:`asFuture` -- a Deferred as an asyncio Future on a given loop.
* :func:`fromFuture` -- an asyncio Future or Task, or a
  ``concurrent.futures.Future`` (thread or process pools, and distributed
  engines whose futures share that interface), as a Deferred that always
  fires on the event loop thread.

asyncio is imported on first use only: ``import deferred`` must stay cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

# What counts as a cancellation, and DeferredFuture, live in modules of their
# own; their names are still importable from here.
from ._cancellations import _cancelledErrors as _cancelledErrors
from ._cancellations import _cancelledList as _cancelledList
from ._cancellations import _isCancellation as _isCancellation
from ._cancellations import _isError as _isError
from ._cancellations import _onlyCancellations as _onlyCancellations
from ._deferred import _NO_RESULT, Deferred
from ._deferredfuture import DeferredFuture
from ._errors import CancelledError
from .failure import _FAILURE_TYPES, Failure, _failureFromCaught

if TYPE_CHECKING:
    import asyncio
    import concurrent.futures

__all__ = ["DeferredFuture", "asFuture", "fromFuture"]

_T = TypeVar("_T")


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
