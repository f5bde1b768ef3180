"""Waiting in line for a lock, a semaphore or a queue.

:class:`_WaitQueue` is what :class:`~deferred.DeferredLock`,
:class:`~deferred.DeferredSemaphore` and :class:`~deferred.DeferredQueue`
share: a first-in first-out line of waiters, any of which can be cancelled in
O(1) (see :mod:`deferred._primitives` for how).  Two kinds of waiter stand in
it: :class:`_Grant`, the Deferred that ``acquire()`` and ``get()`` return,
which gives back what it was handed if the asyncio task awaiting it drops
it; and :class:`_RunWaiter`, a queued ``run()`` call of a lock or semaphore.
"""

from __future__ import annotations

from _weakref import ref
from collections import deque
from collections.abc import Callable
from types import CoroutineType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from ._deferred import _DEFERRED_TYPES, _NO_RESULT, Deferred
from .failure import _FAILURE_TYPES, Failure

if TYPE_CHECKING:
    from ._primitives import _ConcurrencyPrimitive

_T = TypeVar("_T")


# -- what acquire() and get() return ------------------------------------------


class _Grant(Deferred[_T]):
    """The Deferred that ``acquire()`` and ``get()`` return: one that gives
    back what it was handed if the asyncio task awaiting it never takes it.

    Two ways an asyncio task can drop what a primitive handed it, and how
    each is caught:

    * the task awaited it, the outcome was delivered, and the task was
      cancelled before it resumed (``wait_for`` timing out at that moment,
      ``task.cancel()``): ``Deferred.__await__`` sees the cancellation thrown
      in where it waited, and calls :meth:`_abandoned`;
    * asyncio wrapped it in a task of its own (``ensure_future``,
      ``gather``, ``wait_for`` before Python 3.12) and cancelled that task
      before it first ran.  A wrapper coroutine would never touch this
      Deferred, so none is made: this Deferred *is* a coroutine (``send``,
      ``throw``, ``close``), which asyncio runs as the task's own.  A
      ``throw()`` before the first ``send()`` is that cancellation: a
      waiting Deferred is cancelled (leaving the wait queue), one already
      handed the primitive or an object gives it back.

    Giving back: a lock or semaphore is released (to the next waiter), a
    queue's object goes back first in line.  Only what the primitive handed
    over is given back, and only once: if callbacks added before the await
    replaced the result, the task's loss is theirs to handle.
    """

    __slots__ = ("_given", "_giver", "_serial")

    #: The primitive that handed something to this Deferred (set then).
    _giver: _WaitQueue[Any] | None
    #: What it handed over (the primitive itself, or a queue's object).
    _given: object
    #: For a queue's object: its number, in the order handed out.
    _serial: int

    def _abandoned(self, outcome: object) -> None:
        # The awaiting task will never take ``outcome``: give it back.
        giver = getattr(self, "_giver", None)
        if giver is not None and outcome is self._given:
            self._giver = None
            self._given = None
            giver._giveBack(outcome, getattr(self, "_serial", -1))


# Shown as what it is to users: a Deferred.
_Grant.__name__ = _Grant.__qualname__ = "Deferred"


def _keep(result: _T, box: list[object]) -> _T:
    """A callback that notes the result it passes on."""
    box.append(result)
    return result


# -- wait queues ---------------------------------------------------------------


class _Canceller:
    """The canceller shared by every Deferred waiting in one wait queue.

    It holds the queue weakly, so the queue is not in a reference cycle with
    itself, and one object serves every waiter (no allocation per wait).
    """

    __slots__ = ("_queue",)

    def __init__(self, queue: _WaitQueue[Any]) -> None:
        self._queue = ref(queue)

    def __call__(self, d: Deferred[Any]) -> None:
        queue = self._queue()
        if queue is not None:
            queue._withdraw(d)


class _WaitQueue(Generic[_T]):
    """A first-in first-out queue of waiting ``Deferred[_T]``, any of which
    can be cancelled in O(1).

    A waiter is anything with a ``result`` attribute that is ``_NO_RESULT``
    while it waits, and a ``callback(value)`` method: a Deferred, or a
    queued :meth:`_ConcurrencyPrimitive.run` call.
    """

    # __dict__: attributes of your own, as on Twisted's primitives.
    __slots__ = ("__dict__", "__weakref__", "_canceller", "_dead", "_waiters")

    _waiters: deque[Any]
    #: How many waiters in ``_waiters`` were cancelled but left in place.
    _dead: int
    _canceller: _Canceller

    def __init__(self) -> None:
        self._waiters = deque()
        self._dead = 0
        self._canceller = _Canceller(self)

    def _withdraw(self, waiter: object) -> None:
        """Forget a cancelled waiter."""
        waiters = self._waiters
        if not waiters:
            return
        if waiters[-1] is waiter:
            waiters.pop()
        elif waiters[0] is waiter:
            waiters.popleft()
        else:
            dead = self._dead = self._dead + 1
            if dead > 32 and dead * 2 > len(waiters):
                # Sweep: O(n), paid for by the n/2 cancellations before it.
                # In place, as a hand-over loop may be reading this deque.
                for _ in range(len(waiters)):
                    w = waiters.popleft()
                    if w is not waiter and w.result is _NO_RESULT:
                        waiters.append(w)
                self._dead = 0

    def _liveCount(self) -> int:
        return len(self._waiters) - self._dead

    def _giveBack(self, given: Any, serial: int) -> None:
        """An asyncio task was handed ``given`` (the ``serial``-th object
        handed out, for a queue) and dropped it (see :class:`_Grant`): hand
        it on."""
        raise NotImplementedError

    @property
    def waiting(self) -> list[Deferred[_T]]:
        """The Deferreds still waiting, oldest first (a snapshot)."""
        return cast(
            "list[Deferred[_T]]",
            [
                w.deferred if type(w) is _RunWaiter else w
                for w in self._waiters
                if w.result is _NO_RESULT
            ],
        )


class _RunWaiter:
    """One :meth:`~_ConcurrencyPrimitive.run` call, from its place in the
    wait queue until ``f``'s outcome is known.

    In the queue it passes for a waiting Deferred: ``result`` is
    ``_NO_RESULT`` while it waits, and ``callback(primitive)`` -- the
    primitive is ours -- calls ``f``.  It is also the canceller of
    ``deferred``, the Deferred that ``run()`` returned.
    """

    __slots__ = ("call", "deferred", "primitive", "result", "running")

    def __init__(
        self,
        primitive: _ConcurrencyPrimitive,
        call: tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]] | None,
    ) -> None:
        self.primitive: _ConcurrencyPrimitive | None = primitive
        self.call = call
        self.result: Any = _NO_RESULT
        #: The Deferred ``f`` returned, while waiting for it.
        self.running: Deferred[Any] | None = None
        self.deferred: Deferred[Any] | None = Deferred(self)

    def __call__(self, d: Deferred[Any]) -> None:
        # The caller cancelled run()'s Deferred.
        running = self.running
        if running is not None:
            # Its outcome comes back through finish(), which fires d.
            running.cancel()
        elif self.result is _NO_RESULT:
            # Still queued: withdraw, and let go of everything.
            primitive = self.primitive
            self.result = None
            self.call = self.deferred = self.primitive = None
            if primitive is not None:
                primitive._withdraw(self)
        # Otherwise f is running right now: d fails with CancelledError and
        # f's outcome is dropped by finish().

    def callback(self, primitive: _ConcurrencyPrimitive) -> None:
        # Our turn: call f.
        self.result = None
        f, args, kwargs = self.call  # type: ignore[misc]
        self.call = None
        try:
            result = f(*args, **kwargs)
        except BaseException:
            self._finishNow(Failure(captureVars=Deferred.debug))
            return
        kind = type(result)
        if kind is CoroutineType:
            result = Deferred.fromCoroutine(result)
            kind = type(result)
        if kind in _DEFERRED_TYPES:
            # Finish when it fires.
            self.running = result
            result.addBoth(self.finish)
        else:
            self._finishNow(result)

    def _finishNow(self, result: object) -> None:
        leftover = self.finish(result)
        if type(leftover) in _FAILURE_TYPES:
            # f cancelled run()'s Deferred and then failed: with no Deferred
            # to rest on, the error is reported as an unhandled one.
            Deferred().errback(leftover)  # type: ignore[arg-type]

    def finish(self, result: object) -> object:
        """``f``'s outcome is known: release, then fire run()'s Deferred."""
        primitive, d = self.primitive, self.deferred
        self.primitive = self.deferred = self.running = None
        if primitive is not None:
            try:
                primitive.release()
            except RuntimeError:
                result = Failure()
        if d is not None and d.result is _NO_RESULT:
            d.callback(result)
            # Like a Deferred chained to another: it has passed its result on.
            return None
        # d was cancelled while f ran: leave the outcome where it is (an
        # unhandled failure there is reported, not lost).
        return result
