"""``LoopingCall``: call a function every so many seconds, on any scheduler.

The schedule is a grid of instants ``start + n * interval``: each call is
planned for the next point of the grid after the previous call ended, never
``interval`` seconds after it, so the calls do not drift however long each
takes.  A call that overran one or more points of the grid makes the loop
skip them rather than catch up with a burst of calls; ``withCount`` tells the
function how many points went by.
"""

from __future__ import annotations

from types import CoroutineType
from typing import TYPE_CHECKING, Any, Callable

from ._deferred import _DEFERRED_TYPES, Deferred
from .failure import Failure, _safeRepr, _shortRepr

if TYPE_CHECKING:
    from .clock import DelayedCallLike, Scheduler

__all__ = ["LoopingCall"]


class LoopingCall:
    """Call ``f(*a, **kw)`` every ``interval`` seconds, once :meth:`start` ed.

    When ``f`` returns a Deferred (or a coroutine, which is run as by
    :func:`~deferred.ensureDeferred`), the next call is planned only once it
    has fired; its result is dropped.  When ``f`` raises, or its Deferred
    fails, the loop stops and the Deferred :meth:`start` returned fails with
    that failure.  After :meth:`stop`, that Deferred fires with the
    LoopingCall itself (at once, or, if ``f``'s Deferred is still pending,
    when that fires).

    ``clock`` is the scheduler the calls are planned on: by default an
    :class:`~deferred.clock.AsyncioClock` following the running asyncio loop.
    Set it (to a :class:`~deferred.clock.Clock` in tests) before ``start``.

    ``running`` is true from :meth:`start` until the loop is stopped or
    fails; it is false by the time the Deferred of ``start`` fires.

    As in Twisted, calling ``start`` on a running loop, or ``stop`` or
    ``reset`` on a loop that is not running, raises :class:`AssertionError`
    (with a message saying so, even under ``python -O``).
    """

    call: DelayedCallLike | None = None
    running = False
    interval: float | None = None
    starttime: float | None = None
    _deferred: Deferred[LoopingCall] | None = None
    _runAtStart = False
    # When counting skipped points (withCount), when the function last ran.
    _realLastTime: float | None = None

    def __init__(self, f: Callable[..., object], *a: object, **kw: object) -> None:
        if not callable(f):
            raise TypeError(f"LoopingCall needs a callable, not {_shortRepr(f)}")
        self.f = f
        self.a = a
        self.kw = kw
        from .clock import AsyncioClock

        self.clock: Scheduler = AsyncioClock()

    @property
    def deferred(self) -> Deferred[LoopingCall] | None:
        """Deprecated (as in Twisted): the Deferred :meth:`start` returned."""
        import warnings

        warnings.warn(
            "LoopingCall.deferred is deprecated; use the Deferred returned by start()",
            DeprecationWarning,
            stacklevel=2,
        )
        return self._deferred

    @classmethod
    def withCount(cls, countCallable: Callable[[int], object]) -> LoopingCall:
        """A LoopingCall that calls ``countCallable(count)``, where ``count``
        is how many points of the schedule have passed since the last call.

        ``count`` is normally 1, and more when calls were skipped (a slow
        function, a Deferred that took longer than the interval, a blocked
        loop).  With an interval of 0 it is always 1.
        """

        def counting() -> object:
            now = loop.clock.seconds()
            interval = loop.interval
            if not interval:
                loop._realLastTime = now
                return countCallable(1)
            last = loop._realLastTime
            if last is None:
                # The first call: it counts as one point, whether it comes at
                # start() (now=True) or one interval later.
                assert loop.starttime is not None
                last = loop.starttime
                if loop._runAtStart:
                    last -= interval
            count = loop._pointsAt(now) - loop._pointsAt(last)
            if count > 0:
                loop._realLastTime = now
                return countCallable(count)
            return None

        loop = cls(counting)
        return loop

    def _pointsAt(self, when: float) -> int:
        # How many points of the schedule lie between the start and ``when``.
        assert self.starttime is not None and self.interval is not None
        return int((when - self.starttime) / self.interval)

    def start(self, interval: float, now: bool = True) -> Deferred[LoopingCall]:
        """Start calling every ``interval`` seconds (at once too, if ``now``).

        Returns the Deferred that fires with this LoopingCall once
        :meth:`stop` is called, or fails with the failure of the function.
        """
        if self.running:
            raise AssertionError(
                f"{self!r} is already running: stop() it before starting it again"
            )
        kind = type(interval)
        if (kind is not int and kind is not float) and not hasattr(kind, "__float__"):
            raise TypeError(
                f"interval must be a number of seconds, not {kind.__name__}"
            )
        if not interval >= 0:  # (also refuses NaN)
            raise ValueError(f"interval must be >= 0, not {_shortRepr(interval)}")
        self.running = True
        deferred: Deferred[LoopingCall] = Deferred()
        self._deferred = deferred
        self.starttime = self.clock.seconds()
        self.interval = interval
        self._runAtStart = now
        self._realLastTime = None
        if now:
            self()
        else:
            self._scheduleFrom(self.starttime)
        return deferred

    def stop(self) -> None:
        """Stop calling.

        The Deferred of :meth:`start` fires with this LoopingCall now, or, if
        the function's Deferred is pending, once that has fired.
        """
        if not self.running:
            raise AssertionError(f"cannot stop {self!r}: it is not running")
        self.running = False
        call = self.call
        if call is not None:
            self.call = None
            call.cancel()
            self._finish()

    def reset(self) -> None:
        """Skip the next call and start the schedule again from now."""
        if not self.running:
            raise AssertionError(f"cannot reset {self!r}: it is not running")
        call = self.call
        if call is not None:
            self.call = None
            call.cancel()
            self.starttime = self.clock.seconds()
            self._scheduleFrom(self.starttime)

    def __call__(self) -> None:
        self.call = None
        run = self._deferred
        try:
            result = self.f(*self.a, **self.kw)
        except BaseException:
            self._failed(Failure(), run)
            return
        kind = type(result)
        if kind in _DEFERRED_TYPES:
            d: Deferred[Any] = result  # type: ignore[assignment]
        elif kind is CoroutineType:
            d = Deferred.fromCoroutine(result)  # type: ignore[arg-type]
        elif isinstance(result, Failure):
            self._failed(result, run)
            return
        else:
            # The common case, kept free of Deferreds.
            self._succeeded(None, run)
            return
        d.addCallbacks(self._succeeded, self._failed, (run,), None, (run,))

    def _succeeded(self, result: object, run: Deferred[LoopingCall] | None) -> None:
        if run is not self._deferred:
            # A run stopped (and perhaps started again) while waiting.
            if run is not None and not run.called:
                run.callback(self)
        elif self.running:
            self._scheduleFrom(self.clock.seconds())
        else:
            self._finish()

    def _failed(
        self, failure: Failure, run: Deferred[LoopingCall] | None
    ) -> Failure | None:
        if run is None:
            # Called by hand, never started: nobody waits for this failure.
            return failure
        if run is self._deferred:
            self.running = False
            self._deferred = None
        if run.called:
            return failure
        run.errback(failure)
        return None

    def _finish(self) -> None:
        deferred, self._deferred = self._deferred, None
        if deferred is not None:
            deferred.callback(self)

    def _scheduleFrom(self, when: float) -> None:
        interval = self.interval
        assert interval is not None and self.starttime is not None
        delay: float = 0
        if interval:
            # The time until the next point of the grid.  At large times,
            # floating point may make that too small to move the clock:
            # then wait a whole interval.
            delay = interval - (when - self.starttime) % interval
            if when + delay == when:
                delay = interval
        self.call = self.clock.callLater(delay, self)

    def __repr__(self) -> str:
        f = self.f
        name = getattr(f, "__qualname__", None) or getattr(f, "__name__", None)
        if name is None:
            name = _safeRepr(f)
        return (
            f"LoopingCall<{self.interval!r}>({name}, *{_safeRepr(self.a)}, "
            f"**{_safeRepr(self.kw)})"
        )
