"""Schedulers for time-based code: a manual clock for tests, and asyncio's loop.

:class:`Clock` is a deterministic clock for tests, after the example of
Twisted's ``twisted.internet.task.Clock``: time stands still until
:meth:`Clock.advance` moves it, and then every call that has come due runs, in
order.  Pending calls live in a heap, so scheduling and firing stay cheap with
many thousands of them.

:class:`AsyncioClock` offers the same interface on a real asyncio event loop,
so code written against one runs on the other.  :class:`Scheduler` is the
structural type both satisfy, as does Twisted's reactor.
"""

from __future__ import annotations

__all__ = [
    "AlreadyCalled",
    "AlreadyCancelled",
    "AsyncioClock",
    "Clock",
    "DelayedCall",
    "DelayedCallLike",
    "Scheduler",
]

import itertools
from heapq import heapify, heappop, heappush
from typing import TYPE_CHECKING, Callable, ParamSpec, Protocol

from .failure import _shortRepr

if TYPE_CHECKING:
    # asyncio is imported lazily at run time: it costs more than this whole package.
    import asyncio
    from collections.abc import Iterable

_P = ParamSpec("_P")


class AlreadyCalled(ValueError):
    """The delayed call has already run, so it cannot be cancelled or moved."""


class AlreadyCancelled(ValueError):
    """The delayed call was cancelled, so it cannot be cancelled again or moved."""


class DelayedCallLike(Protocol):
    """What a scheduler's ``callLater`` must return: something cancellable."""

    def cancel(self) -> None:
        """Call it off."""

    def active(self) -> bool:
        """Whether it has neither run nor been cancelled."""


class Scheduler(Protocol):
    """Anything that can run a function later: a clock here, or Twisted's reactor."""

    def seconds(self) -> float:
        """The current time, in this scheduler's terms."""

    # Parameter names and kinds as Twisted's, so its reactor and Clock qualify.
    def callLater(
        self,
        delay: float,
        callable: Callable[..., object],
        *args: object,
        **kw: object,
    ) -> DelayedCallLike:
        """Arrange ``callable(*args, **kw)`` to run ``delay`` seconds from now."""


class _Owner(Protocol):
    # The clock behind a DelayedCall, told whenever the call leaves or moves.
    def _cancel(self, call: DelayedCall) -> None: ...

    def _reschedule(self, call: DelayedCall, when: float) -> None: ...


def _checkSeconds(value: float, name: str, allowNegative: bool = False) -> float:
    kind = type(value)
    if kind is not float and kind is not int:
        if not hasattr(kind, "__float__"):
            raise TypeError(f"{name} must be a number of seconds, not {kind.__name__}")
        value = float(value)
    # Written so that NaN fails both tests.
    if not (value >= 0 or (allowNegative and value == value)):
        adjective = "a" if allowNegative else "a non-negative"
        raise ValueError(
            f"{name} must be {adjective} number of seconds, not {_shortRepr(value)}"
        )
    return value


def _checkCallable(f: object) -> None:
    if not callable(f):
        raise TypeError(f"the function to call must be callable, not {_shortRepr(f)}")


def _cancelledFunc(*args: object, **kw: object) -> None:
    """Stands in for the function of a cancelled call."""


def _safeRepr(value: object) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"


class DelayedCall:
    """A function call scheduled by a clock's ``callLater``.

    ``func``, ``args`` and ``kw`` are what will be called; ``called`` and
    ``cancelled`` say whether it ran or was called off.  Times are in the
    owning clock's terms (see its ``seconds()``).
    """

    __slots__ = (
        "_owner",
        "_seconds",
        "_time",
        "args",
        "called",
        "cancelled",
        "func",
        "kw",
    )

    def __init__(
        self,
        owner: _Owner,
        seconds: Callable[[], float],
        time: float,
        func: Callable[..., object],
        args: tuple[object, ...],
        kw: dict[str, object],
    ) -> None:
        self._owner = owner
        self._seconds = seconds
        self._time = time
        self.func = func
        self.args = args
        self.kw = kw
        self.called = False
        self.cancelled = False

    def getTime(self) -> float:
        """The absolute time at which the call is due."""
        return self._time

    def active(self) -> bool:
        """Whether the call is still waiting to run."""
        return not (self.called or self.cancelled)

    def cancel(self) -> None:
        """Call it off; raises :class:`AlreadyCalled` or :class:`AlreadyCancelled`."""
        self._checkActive("cancel")
        self.cancelled = True
        self._owner._cancel(self)
        # The clock may keep this call in its heap until it is swept: it must
        # not point back, or the two would form a reference cycle.
        self._owner = self._seconds = None  # type: ignore[assignment]
        # As asyncio's handles do: a cancelled call that someone keeps (a stored
        # timeout, say) should not keep the function and its arguments alive.
        self.func, self.args, self.kw = _cancelledFunc, (), {}

    def reset(self, secondsFromNow: float) -> None:
        """Make the call due ``secondsFromNow`` seconds from the current time."""
        self._checkActive("reset")
        when = self._seconds() + _checkSeconds(secondsFromNow, "secondsFromNow")
        self._owner._reschedule(self, when)
        self._time = when

    def delay(self, secondsLater: float) -> None:
        """Move the due time by ``secondsLater`` seconds (earlier if negative)."""
        self._checkActive("delay")
        when = self._time + _checkSeconds(
            secondsLater, "secondsLater", allowNegative=True
        )
        self._owner._reschedule(self, when)
        self._time = when

    def _checkActive(self, action: str) -> None:
        if self.cancelled:
            raise AlreadyCancelled(f"cannot {action} {self!r}: it was cancelled")
        if self.called:
            raise AlreadyCalled(f"cannot {action} {self!r}: it has already run")

    def _run(self) -> None:
        # Marked first, so a call that raises still counts as called.
        self.called = True
        self.func(*self.args, **self.kw)

    # Ordered by due time, as Twisted's are (sorted() works on a list of them).
    def __lt__(self, other: DelayedCall) -> bool:
        return self._time < other._time

    def __le__(self, other: DelayedCall) -> bool:
        return self._time <= other._time

    def __repr__(self) -> str:
        if self.cancelled:
            return f"<DelayedCall at {self._time!r}, cancelled>"
        if self.called:
            state = "called"
        else:
            state = f"due in {round(self._time - self._seconds(), 6)!r}s"
        func = getattr(self.func, "__qualname__", None) or _safeRepr(self.func)
        arguments = [_safeRepr(arg) for arg in self.args]
        arguments += [f"{key}={_safeRepr(arg)}" for key, arg in self.kw.items()]
        return (
            f"<DelayedCall at {self._time!r}, {state}: {func}({', '.join(arguments)})>"
        )


class Clock:
    """A manual clock for tests: time moves only when :meth:`advance` says so.

    Time starts at 0.0.  Calls due at the same time run in the order they were
    scheduled; a call that is reset or delayed counts as scheduled anew.
    """

    def __init__(self) -> None:
        self._now = 0.0
        self._sequence = itertools.count()
        # Heap of (due time, sequence number, call).  Cancelling or moving a call
        # leaves its old entry in place; only the entry whose sequence number is
        # recorded in _live counts, and the others are skipped when popped.
        self._heap: list[tuple[float, int, DelayedCall]] = []
        self._live: dict[DelayedCall, int] = {}
        self._dead = 0

    def seconds(self) -> float:
        """The current time on this clock."""
        return self._now

    def callLater(
        self,
        delay: float,
        callable: Callable[_P, object],
        *args: _P.args,
        **kw: _P.kwargs,
    ) -> DelayedCall:
        """Schedule ``callable(*args, **kw)`` to run ``delay`` seconds from now."""
        delay = _checkSeconds(delay, "delay")
        _checkCallable(callable)
        call = DelayedCall(self, self.seconds, self._now + delay, callable, args, kw)
        self._push(call, call.getTime())
        return call

    def getDelayedCalls(self) -> list[DelayedCall]:
        """The calls still waiting to run, soonest first."""
        live = self._live
        return sorted(live, key=lambda call: (call.getTime(), live[call]))

    @property
    def calls(self) -> list[DelayedCall]:
        """The calls still waiting to run, soonest first: a snapshot (as
        :meth:`getDelayedCalls`), for tests written against Twisted's
        ``Clock.calls``."""
        return self.getDelayedCalls()

    @property
    def rightNow(self) -> float:
        """The current time, as :meth:`seconds` (Twisted's attribute name)."""
        return self.seconds()

    def advance(self, amount: float) -> None:
        """Move time forward by ``amount`` seconds and run every call now due.

        Calls scheduled while advancing run too if they fall due by the new
        time.  An exception from a call propagates, leaving later calls pending.
        """
        self._now += _checkSeconds(amount, "amount")
        heap, live = self._heap, self._live
        while heap and heap[0][0] <= self._now:
            _, sequence, call = heappop(heap)
            if live.get(call) != sequence:
                self._dead -= 1
                continue
            del live[call]
            call._run()

    def pump(self, timings: Iterable[float]) -> None:
        """Advance by each amount in ``timings`` in turn."""
        for amount in timings:
            self.advance(amount)

    def _push(self, call: DelayedCall, when: float) -> None:
        sequence = next(self._sequence)
        self._live[call] = sequence
        heappush(self._heap, (when, sequence, call))

    def _cancel(self, call: DelayedCall) -> None:
        del self._live[call]
        self._buried()

    def _reschedule(self, call: DelayedCall, when: float) -> None:
        self._push(call, when)
        self._buried()

    def _buried(self) -> None:
        # Once dead entries are the majority, sweep them out, so that a call
        # reset over and over (an idle timeout, say) cannot grow the heap forever.
        # In place, since advance() may be iterating over this very list.
        self._dead += 1
        if self._dead > 64 and self._dead * 2 > len(self._heap):
            live = self._live
            self._heap[:] = [
                entry for entry in self._heap if live.get(entry[2]) == entry[1]
            ]
            heapify(self._heap)
            self._dead = 0


class AsyncioClock:
    """A :class:`Clock`-like scheduler that runs calls on an asyncio event loop.

    With ``loop=None`` it uses whichever loop is running at each call, so one
    can be created before any loop exists.  An exception from a call goes to the
    loop's exception handler, as for any asyncio callback.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop
        self._handles: dict[
            DelayedCall, tuple[asyncio.AbstractEventLoop, asyncio.TimerHandle]
        ] = {}
        self._lastLoop: asyncio.AbstractEventLoop | None = None

    def seconds(self) -> float:
        """The loop's current time (``loop.time()``)."""
        return self._getLoop().time()

    def callLater(
        self,
        delay: float,
        callable: Callable[_P, object],
        *args: _P.args,
        **kw: _P.kwargs,
    ) -> DelayedCall:
        """Schedule ``callable(*args, **kw)`` to run ``delay`` seconds from now."""
        delay = _checkSeconds(delay, "delay")
        _checkCallable(callable)
        loop = self._getLoop()
        if loop is not self._lastLoop:
            self._forgetClosedLoops()
            self._lastLoop = loop
        call = DelayedCall(self, loop.time, loop.time() + delay, callable, args, kw)
        # call_at rather than call_later, so the loop's due time is getTime() exactly.
        self._handles[call] = (loop, loop.call_at(call.getTime(), self._fire, call))
        return call

    def getDelayedCalls(self) -> list[DelayedCall]:
        """The calls still waiting to run, soonest first."""
        self._forgetClosedLoops()
        return sorted(self._handles, key=DelayedCall.getTime)

    def _getLoop(self) -> asyncio.AbstractEventLoop:
        if self._loop is not None:
            return self._loop
        loop = _currentLoop()
        if loop is None:
            raise RuntimeError(
                "AsyncioClock() without a loop needs a running asyncio event "
                "loop, or one set for this thread with asyncio.set_event_loop() "
                "(as a reactor is there before it runs); or pass loop="
            )
        return loop

    def _forgetClosedLoops(self) -> None:
        # A loop closed with calls pending will never run them; dropping them
        # keeps a clock shared across asyncio.run() calls from holding them forever.
        closed = [call for call, (loop, _) in self._handles.items() if loop.is_closed()]
        for call in closed:
            del self._handles[call]

    def _fire(self, call: DelayedCall) -> None:
        del self._handles[call]
        call._run()

    def _cancel(self, call: DelayedCall) -> None:
        entry = self._handles.pop(call, None)
        if entry is not None:
            entry[1].cancel()

    def _reschedule(self, call: DelayedCall, when: float) -> None:
        entry = self._handles.get(call)
        if entry is None:
            raise RuntimeError(f"cannot move {call!r}: its event loop is closed")
        loop, handle = entry
        newHandle = loop.call_at(when, self._fire, call)
        handle.cancel()
        self._handles[call] = (loop, newHandle)


def _currentLoop() -> asyncio.AbstractEventLoop | None:
    """The running asyncio loop; with none running, the one set for this
    thread with ``asyncio.set_event_loop()`` (not yet running, the way a
    Twisted program sets things up before ``reactor.run()``), if it is not
    closed; else ``None``.  Never makes a loop."""
    import asyncio

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        pass
    # The policy's record of the loop set for this thread, read without
    # asyncio.get_event_loop(), which would make one (and warn).
    local = getattr(asyncio.get_event_loop_policy(), "_local", None)
    loop = getattr(local, "_loop", None)
    if isinstance(loop, asyncio.AbstractEventLoop) and not loop.is_closed():
        return loop
    return None
