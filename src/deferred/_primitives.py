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

from collections.abc import Callable, Coroutine
from operator import index
from types import CoroutineType
from typing import (
    TYPE_CHECKING,
    Any,
    ClassVar,
    ParamSpec,
    TypeVar,
    overload,
)

from ._deferred import _DEFERRED_TYPES, _NO_RESULT, Deferred

# The wait queue and its waiters live in a module of their own (shared with
# DeferredQueue); their names are still importable from here.
from ._waitqueue import _Canceller as _Canceller
from ._waitqueue import _Grant as _Grant
from ._waitqueue import _keep as _keep
from ._waitqueue import _RunWaiter as _RunWaiter
from ._waitqueue import _WaitQueue as _WaitQueue
from .failure import _FAILURE_TYPES, _OUTCOME_TYPES, Failure, _shortRepr

if TYPE_CHECKING:
    from types import TracebackType
    from typing import Literal

_P = ParamSpec("_P")
_T = TypeVar("_T")
_R = TypeVar("_R")
_S = TypeVar("_S", bound="_ConcurrencyPrimitive")


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
