"""Locks and semaphores for code that runs on Deferreds.

:class:`DeferredLock` and :class:`DeferredSemaphore` hand themselves out
through Deferreds: ``acquire()`` returns one that fires, with the primitive,
once it is yours; waiters are served first come, first served.  A lock is a
semaphore with one token, and shares all its code.

Two things differ from Twisted's versions, both about scale:

* A release that happens while the primitive is already handing itself to a
  waiter (the waiter's callbacks released it again at once) does not fire the
  next waiter from inside that call.  It leaves the hand-over to the loop
  already running lower down the stack, so thousands of waiters that finish
  synchronously are served one after another without deep recursion.
* Waiters live in a deque.  A cancelled waiter at either end of it is removed
  at once; one in the middle is left in place, skipped when it reaches the
  front, and swept out once such waiters are the majority.  So cancelling is
  O(1) (amortized) however many wait.  (A cancelled ``acquire()`` Deferred
  left in place is still referenced until then: if nobody handles its
  ``CancelledError``, that is reported when it leaves the deque, not at once.)

``run()`` does not call ``acquire()`` when the primitive is free: it calls
``f`` at once and builds a single Deferred for the outcome, which is what
makes an uncontended ``run()`` cheap.  Subclasses that redefine ``acquire()``
or ``release()`` get a ``run()`` that goes through them, as Twisted's does.
"""

from __future__ import annotations

__all__ = [
    "DeferredLock",
    "DeferredSemaphore",
    "LockStatistics",
    "SemaphoreStatistics",
]

from _weakref import ref
from collections import deque
from collections.abc import Callable, Coroutine
from operator import index
from types import CoroutineType
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    Generic,
    ParamSpec,
    TypeVar,
    cast,
    overload,
)

from ._deferred import _DEFERRED_TYPES, _NO_RESULT, Deferred
from .failure import _FAILURE_TYPES, _OUTCOME_TYPES, Failure, _shortRepr

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Literal

_P = ParamSpec("_P")
_T = TypeVar("_T")
_R = TypeVar("_R")
_S = TypeVar("_S", bound="_ConcurrencyPrimitive")


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


# -- statistics ----------------------------------------------------------------


class _Statistics:
    """A read-only record of named values (``_fields``, in order), compared
    and hashed by value.  Cheaper to define than a NamedTuple, which matters
    for import time."""

    __slots__ = ()
    _fields: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *values: object) -> None:
        for name, value in zip(self._fields, values, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is read-only")

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={value!r}" for name, value in zip(self._fields, self._values())
        )
        return f"{type(self).__name__}({fields})"


class LockStatistics(_Statistics):
    """What :meth:`DeferredLock.statistics` reports."""

    __slots__ = _fields = ("locked", "waiting")

    #: Whether the lock is held.
    locked: bool
    #: How many ``acquire()`` and ``run()`` calls are waiting for it.
    waiting: int

    def __init__(self, locked: bool, waiting: int) -> None:
        super().__init__(locked, waiting)


class SemaphoreStatistics(_Statistics):
    """What :meth:`DeferredSemaphore.statistics` reports."""

    __slots__ = ("limit", "tokens", "waiting")
    _fields = ("tokens", "limit", "waiting")

    #: Tokens free right now.
    tokens: int
    #: Tokens in all (the ``tokens`` the semaphore was made with).
    limit: int
    #: How many ``acquire()`` and ``run()`` calls are waiting for a token.
    waiting: int

    def __init__(self, tokens: int, limit: int, waiting: int) -> None:
        super().__init__(tokens, limit, waiting)


# -- locks and semaphores ------------------------------------------------------


class _ConcurrencyPrimitive(_WaitQueue[Any]):
    """A semaphore: everything :class:`DeferredLock` and
    :class:`DeferredSemaphore` share."""

    __slots__ = ("_free", "_handing", "_limit", "_owed")

    #: Tokens free now.
    _free: int
    #: Tokens in all.
    _limit: int
    #: Tokens released during a hand-over, each promised to a live waiter.
    _owed: int
    #: True while a release is handing tokens to waiters, lower down the
    #: stack; releases made meanwhile leave the hand-over to that loop.
    _handing: bool

    _overReleased: ClassVar[str] = "released more often than acquired"

    def __init__(self, tokens: int) -> None:
        super().__init__()
        self._free = self._limit = tokens
        self._owed = 0
        self._handing = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        base = _ConcurrencyPrimitive
        if cls.run is base.run and (
            cls.acquire is not base.acquire or cls.release is not base.release
        ):
            # The fast run() works on the state directly; a subclass that
            # redefines acquire() or release() gets one that calls them, as
            # Twisted's does.
            cls.run = base._runThroughAcquire  # type: ignore[method-assign]

    def acquire(self: _S) -> Deferred[_S]:
        """A Deferred that fires with this object once you hold it.

        It fires at once if that needs no waiting; otherwise it waits behind
        the earlier callers.  Cancel it while it waits to leave the queue.
        """
        # Tokens owed to waiters are not free for newcomers: first come,
        # first served.
        if self._free and not self._owed:
            self._free -= 1
            d: _Grant[_S] = _Grant()
            d._giver = d._given = d.result = self
            return d
        d = _Grant(self._canceller)
        self._waiters.append(d)
        return d

    def _giveBack(self, given: Any, serial: int) -> None:
        # Released for the task that dropped it: to the next waiter.
        try:
            self.release()
        except RuntimeError:
            # Released already (by a callback of the acquire()).
            pass

    def release(self) -> None:
        """Give back what :meth:`acquire` gave, handing it to the oldest
        waiter if there is one.  Raises ``RuntimeError`` if it was not held.
        """
        owed = self._owed
        if self._free + owed >= self._limit:
            raise RuntimeError(f"release() of {self!r}: {self._overReleased}")
        if len(self._waiters) - self._dead <= owed:
            # Nobody waits who is not already promised a token.
            self._free += 1
        elif self._handing:
            self._owed = owed + 1
        else:
            self._handOver()

    def _handOver(self) -> None:
        # Give the token in hand to the oldest live waiter; carry on while
        # waiters' callbacks release again (those releases only counted
        # themselves in _owed) or tokens came free while others queued.
        self._handing = True
        try:
            waiters = self._waiters
            while True:
                while waiters:
                    waiter = waiters.popleft()
                    if waiter.result is _NO_RESULT:
                        break
                    if self._dead:
                        self._dead -= 1
                else:
                    # Every waiter left meanwhile: the tokens go free.
                    self._free += 1 + self._owed
                    self._owed = 0
                    return
                if type(waiter) is _Grant:
                    waiter._giver = waiter._given = self
                waiter.callback(self)
                if self._owed:
                    self._owed -= 1
                elif self._free and len(waiters) > self._dead:
                    self._free -= 1
                else:
                    return
        finally:
            self._handing = False

    @overload
    def run(
        self,
        /,
        f: Callable[_P, Deferred[_R]],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> Deferred[_R]: ...

    @overload
    def run(
        self,
        /,
        f: Callable[_P, Coroutine[Any, Any, _R]],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> Deferred[_R]: ...

    @overload
    def run(
        self, /, f: Callable[_P, _R], *args: _P.args, **kwargs: _P.kwargs
    ) -> Deferred[_R]: ...

    def run(self, /, f: Callable[..., Any], *args: Any, **kwargs: Any) -> Deferred[Any]:
        """Acquire, call ``f(*args, **kwargs)``, release; return a Deferred of
        ``f``'s outcome.

        ``f`` may return a plain value, a Deferred or a coroutine (run as by
        :func:`ensureDeferred`), or raise; this is released once that outcome
        is known, whatever it is, and before the returned Deferred fires.
        Cancelling the returned Deferred while it waits withdraws the call
        (``f`` never runs); once ``f`` has returned a Deferred, it cancels
        that one.
        """
        if self._owed or not self._free:
            if not callable(f):
                raise TypeError(f"run() needs a callable, not {_shortRepr(f)}")
            waiter = _RunWaiter(self, (f, args, kwargs))
            self._waiters.append(waiter)
            return waiter.deferred  # type: ignore[return-value]
        # Free: call f at once, with no Deferred until its outcome is known.
        # The common case -- f returns a plain value, nobody waits -- is
        # inlined; anything else goes to _ranHolding().
        self._free -= 1
        try:
            result = f(*args, **kwargs)
        except BaseException:
            if not callable(f):
                self._free += 1
                raise TypeError(
                    f"run() needs a callable, not {_shortRepr(f)}"
                ) from None
            return self._ranHolding(Failure(captureVars=Deferred.debug))
        kind = type(result)
        if kind in _OUTCOME_TYPES or kind is CoroutineType:
            return self._ranHolding(result)
        if self._waiters or self._free + self._owed >= self._limit:
            return self._ranHolding(result)
        self._free += 1
        d: Deferred[Any] = Deferred()
        d.result = result
        return d

    def _ranHolding(self, result: Any) -> Deferred[Any]:
        """The Deferred for what ``f`` gave back -- a plain value, a Failure,
        a Deferred or a coroutine -- releasing once it is known."""
        kind = type(result)
        if kind is CoroutineType:
            result = Deferred.fromCoroutine(result)
            kind = type(result)
        if kind in _DEFERRED_TYPES:
            waiter = _RunWaiter(self, None)
            d = waiter.deferred
            waiter.running = result
            result.addBoth(waiter.finish)  # (which may fire d at once)
            return d  # type: ignore[return-value]
        try:
            self.release()
        except RuntimeError:
            # f released it itself; as in Twisted, that error is the outcome.
            result = Failure()
        d = Deferred()
        if type(result) in _FAILURE_TYPES:
            d.errback(result)
        else:
            d.result = result
        return d

    def _runThroughAcquire(
        self, /, f: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> Deferred[Any]:
        # run() for subclasses that redefine acquire() or release().
        if not callable(f):
            raise TypeError(f"run() needs a callable, not {_shortRepr(f)}")
        return self.acquire().addCallback(_callHolding, f, args, kwargs)

    def _releaseAndReturn(self, result: _T) -> _T:
        self.release()
        return result

    async def __aenter__(self: _S) -> _S:
        """``async with primitive:`` acquires it for the block."""
        acquiring = self.acquire()
        givesBack = type(acquiring) is _Grant
        if givesBack:
            # It gives the primitive back itself if the task drops it.
            return await acquiring
        # A subclass's acquire(): watch for that here.
        granted: list[object] = []
        acquiring.addCallback(_keep, granted)
        try:
            return await acquiring
        except BaseException:
            # An asyncio task can be cancelled after the primitive was handed
            # to it but before it resumed: the block never runs, so give the
            # primitive back, or it would stay held for good.
            if granted:
                self.release()
            raise

    def __aexit__(
        self,
        excType: type[BaseException] | None,
        excValue: BaseException | None,
        traceback: TracebackType | None,
    ) -> Deferred[Literal[False]]:
        """Release at the end of the ``async with`` block; an exception from
        the block propagates."""
        self.release()
        d: Deferred[Literal[False]] = Deferred()
        d.result = False
        return d


def _keep(result: _T, box: list[object]) -> _T:
    """A callback that notes the result it passes on."""
    box.append(result)
    return result


def _callHolding(
    primitive: _ConcurrencyPrimitive,
    f: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Call ``f`` holding ``primitive``; release it once the outcome is known
    (which this returns: a plain value, or a Deferred to wait for)."""
    try:
        result = f(*args, **kwargs)
    except BaseException:
        primitive.release()
        raise
    kind = type(result)
    if kind is CoroutineType:
        result = Deferred.fromCoroutine(result)
        kind = type(result)
    if kind in _DEFERRED_TYPES:
        return result.addBoth(primitive._releaseAndReturn)
    primitive.release()
    return result


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


class DeferredLock(_ConcurrencyPrimitive):
    """A mutual-exclusion lock for code built on Deferreds.

    ``locked`` tells whether it is held.  Differences from Twisted's: releasing
    a lock that is not held raises ``RuntimeError`` (Twisted uses
    ``assert``); ``locked`` is read-only; ``waiting`` is a read-only snapshot
    of the waiting Deferreds; instances have ``__slots__``.
    """

    __slots__ = ()

    _overReleased = "the lock is not locked"

    def __init__(self) -> None:
        super().__init__(1)

    @property
    def locked(self) -> bool:
        """Whether the lock is held (or already promised to a waiter)."""
        return not self._free

    def statistics(self) -> LockStatistics:
        """How the lock stands: whether it is held, and how many wait."""
        return LockStatistics(not self._free, self._liveCount())

    def __repr__(self) -> str:
        state = "unlocked" if self._free else "locked"
        return f"<DeferredLock at 0x{id(self):x} {state}, {self._liveCount()} waiting>"


class DeferredSemaphore(_ConcurrencyPrimitive):
    """A semaphore of ``tokens`` tokens for code built on Deferreds.

    Up to ``limit`` holders at a time; ``tokens`` is how many more may
    acquire without waiting.  Differences from Twisted's: a non-integer token
    count raises ``TypeError``; releasing more often than acquired raises
    ``RuntimeError`` (Twisted uses ``assert``); ``tokens`` and ``limit`` are
    read-only; instances have ``__slots__``.
    """

    __slots__ = ()

    _overReleased = "every token is already free"

    def __init__(self, tokens: int) -> None:
        tokens = index(tokens)
        if tokens < 1:
            raise ValueError(f"a DeferredSemaphore needs tokens >= 1, not {tokens}")
        super().__init__(tokens)

    @property
    def tokens(self) -> int:
        """How many tokens are free."""
        return self._free

    @property
    def limit(self) -> int:
        """How many tokens there are in all."""
        return self._limit

    def statistics(self) -> SemaphoreStatistics:
        """How the semaphore stands: free tokens, all tokens, waiters."""
        return SemaphoreStatistics(self._free, self._limit, self._liveCount())

    def __repr__(self) -> str:
        return (
            f"<DeferredSemaphore at 0x{id(self):x} {self._free}/{self._limit} "
            f"tokens free, {self._liveCount()} waiting>"
        )
