"""A filesystem lock that can be waited for with a Deferred."""

from __future__ import annotations

__all__ = ["AlreadyTryingToLockError", "DeferredFilesystemLock"]

import os
from typing import TYPE_CHECKING

from ._deferred import Deferred
from ._errors import CancelledError, TimeoutError
from .failure import Failure
from .lockfile import FilesystemLock

if TYPE_CHECKING:
    from .clock import DelayedCallLike, Scheduler


class AlreadyTryingToLockError(Exception):
    """:meth:`DeferredFilesystemLock.deferUntilLocked` was called while an
    earlier call on the same lock was still waiting for it."""


class DeferredFilesystemLock(FilesystemLock):
    """A :class:`~deferred.lockfile.FilesystemLock` you can wait for.

    :meth:`deferUntilLocked` tries to take the lock, and while another process
    (or another lock object) holds it, tries again every ``_interval`` seconds
    (1 by default) on ``scheduler``: a :class:`deferred.clock.Clock` in
    tests, or anything with ``callLater`` and ``seconds``.  Without one, an
    :class:`~deferred.clock.AsyncioClock` schedules the retries on the
    running asyncio loop.

    Differences from Twisted's: ``timeout`` is checked at the call
    (``TypeError``/``ValueError``), and an ``OSError`` from a retry fails the
    waiting Deferred instead of escaping into the event loop and leaving the
    Deferred unfired forever.
    """

    #: Seconds between two attempts to take the lock.
    _interval: float = 1
    #: The next attempt, while waiting.
    _tryLockCall: DelayedCallLike | None = None
    #: The end of the wait, while waiting with a timeout.
    _timeoutCall: DelayedCallLike | None = None

    def __init__(
        self, name: str | os.PathLike[str], scheduler: Scheduler | None = None
    ) -> None:
        super().__init__(name)
        if scheduler is None:
            # Imported here: the clock module is not needed by most programs.
            from .clock import AsyncioClock

            scheduler = AsyncioClock()
        self._scheduler: Scheduler = scheduler
        self._waiting: Deferred[None] | None = None

    def deferUntilLocked(self, timeout: float | None = None) -> Deferred[None]:
        """A Deferred that fires with ``None`` once this object holds the lock.

        If the lock is free it is taken at once.  Otherwise the Deferred fails
        with :class:`~deferred.TimeoutError` if the lock could not be taken
        within ``timeout`` seconds (``None``: wait forever).  Cancelling it
        stops the retries and fails it with :class:`~deferred.CancelledError`.
        As in Twisted, time running out and cancelling both make one last
        attempt first: if that takes the lock, the Deferred succeeds instead
        (and this object holds the lock, to be unlocked as usual).

        Only one wait at a time: while one is in progress, another call
        returns a Deferred failed with :class:`AlreadyTryingToLockError`.  An
        ``OSError`` from the first attempt (say, no permission to create the
        lock) is raised here.
        """
        if timeout is not None:
            from .clock import _checkSeconds

            timeout = _checkSeconds(timeout, "timeout")
        if self._waiting is not None:
            d: Deferred[None] = Deferred()
            d.errback(
                AlreadyTryingToLockError(
                    f"already waiting for the lock {self.name!r}: "
                    "deferUntilLocked() is not for concurrent use"
                )
            )
            return d
        d = Deferred(self._cancel)
        if self.lock():
            d.callback(None)
            return d
        scheduler = self._scheduler
        self._waiting = d
        try:
            if timeout is not None:
                self._timeoutCall = scheduler.callLater(
                    timeout, self._timedOut, timeout
                )
            self._tryLockCall = scheduler.callLater(self._interval, self._retry)
        except BaseException:
            # No scheduler to retry with (say, no running asyncio loop):
            # leave this object as it was.
            self._stopTrying()
            raise
        return d

    def _retry(self) -> None:
        self._tryLockCall = None
        d = self._waiting
        if d is None:
            return
        try:
            locked = self.lock()
        except BaseException:
            self._stopTrying()
            d.errback()
            return
        if locked:
            self._stopTrying()
            d.callback(None)
        else:
            self._tryLockCall = self._scheduler.callLater(self._interval, self._retry)

    def _timedOut(self, timeout: float) -> None:
        self._timeoutCall = None
        self._giveUp(
            TimeoutError(f"could not lock {self.name!r} within {timeout} seconds")
        )

    def _cancel(self, d: Deferred[None]) -> None:
        self._giveUp(CancelledError())

    def _giveUp(self, reason: BaseException) -> None:
        # Stop the retries; a last attempt may still win the lock.
        d = self._stopTrying()
        if d is None:
            return
        try:
            locked = self.lock()
        except BaseException:
            d.errback()
            return
        if locked:
            d.callback(None)
        else:
            d.errback(Failure(reason))

    def _stopTrying(self) -> Deferred[None] | None:
        """Cancel the scheduled calls and forget the wait; return its
        Deferred."""
        d, self._waiting = self._waiting, None
        call = self._tryLockCall
        if call is not None:
            self._tryLockCall = None
            if call.active():
                call.cancel()
        call = self._timeoutCall
        if call is not None:
            self._timeoutCall = None
            if call.active():
                call.cancel()
        return d
