"""A first-in first-out queue whose ``get()`` returns a Deferred."""

from __future__ import annotations

__all__ = ["DeferredQueue", "QueueOverflow", "QueueStatistics", "QueueUnderflow"]

from bisect import bisect_left
from collections import deque
from operator import index
from typing import TYPE_CHECKING, TypeVar

from ._deferred import _DEFERRED_TYPES, _NO_RESULT, Deferred
from ._primitives import _Grant, _keep, _Statistics, _WaitQueue
from .failure import _shortRepr

if TYPE_CHECKING:
    from typing import Any

_T = TypeVar("_T")
_Q = TypeVar("_Q", bound="DeferredQueue[Any]")


class QueueOverflow(Exception):
    """``put()`` on a :class:`DeferredQueue` that already holds ``size``
    objects and has nobody waiting for one."""


class QueueUnderflow(Exception):
    """``get()`` on an empty :class:`DeferredQueue` that already has
    ``backlog`` getters waiting."""


class QueueStatistics(_Statistics):
    """What :meth:`DeferredQueue.statistics` reports."""

    __slots__ = ("backlog", "pending", "size", "waiting")
    _fields = ("pending", "waiting", "size", "backlog")

    #: Objects stored, waiting for a ``get()``.
    pending: int
    #: ``get()`` calls waiting for an object.
    waiting: int
    #: The most objects that may be stored (``None``: no limit).
    size: int | None
    #: The most ``get()`` calls that may wait (``None``: no limit).
    backlog: int | None

    def __init__(
        self, pending: int, waiting: int, size: int | None, backlog: int | None
    ) -> None:
        super().__init__(pending, waiting, size, backlog)


def _limit(value: int | None, name: str) -> int | None:
    if value is None:
        return None
    value = index(value)
    if value < 0:
        raise ValueError(f"{name} must be None or >= 0, not {value}")
    return value


class DeferredQueue(_WaitQueue[_T]):
    """A queue of objects for code built on Deferreds.

    ``put(obj)`` gives ``obj`` to the oldest waiting ``get()``, or stores it;
    ``get()`` returns a Deferred that fires with the oldest stored object, at
    once if there is one.  ``size`` bounds how many objects may be stored
    (:class:`QueueOverflow` beyond it) and ``backlog`` how many getters may
    wait (:class:`QueueUnderflow` beyond it); ``None`` means no bound.

    Cancelling a waiting ``get()`` withdraws it; an object is never given to a
    cancelled getter, so nothing put is ever lost.  ``async for item in
    queue`` gets objects one after another, forever: the queue has no end,
    so leave the loop with ``break`` (or ``return``).

    Differences from Twisted's: ``pending`` and ``waiting`` are read-only
    snapshots (lists), bad ``size``/``backlog`` values raise at once, instances
    have ``__slots__``, and ``get()``/``put()`` cost O(1) however long the
    queue.  A ``put()`` made by a getter's callback while another ``put()``
    is delivering is stored for a moment and delivered by that outer call,
    in order, so long cascades of puts never recurse; while that happens,
    objects promised to waiting getters count neither against ``size`` nor
    (their getters) against ``backlog``.
    """

    __slots__ = ("_delivering", "_pending", "_returned", "_served", "backlog", "size")

    #: The most objects that may be stored (``None``: no limit).
    size: int | None
    #: The most ``get()`` calls that may wait (``None``: no limit).
    backlog: int | None
    _pending: deque[_T]
    #: How many objects were handed to getters: the number of the next one.
    _served: int
    #: The numbers of the objects at the front of ``_pending`` that getters'
    #: tasks gave back (see :meth:`_putBack`), in order.
    _returned: list[int]
    #: True while put() is firing getters, lower down the stack.
    _delivering: bool

    def __init__(self, size: int | None = None, backlog: int | None = None) -> None:
        super().__init__()
        self.size = _limit(size, "size")
        self.backlog = _limit(backlog, "backlog")
        self._pending = deque()
        self._delivering = False
        self._served = 0
        self._returned = []

    @property
    def pending(self) -> list[_T]:
        """The objects stored, oldest first (a snapshot)."""
        return list(self._pending)

    def put(self, obj: _T) -> None:
        """Give ``obj`` to the oldest waiting getter, or store it.

        Raises :class:`QueueOverflow` (and stores nothing) if nobody waits and
        ``size`` objects are stored already, and ``TypeError`` for a Deferred:
        a getter cannot be given one (put its result instead).
        """
        if type(obj) in _DEFERRED_TYPES:
            raise TypeError(
                f"put() of a Deferred ({_shortRepr(obj)}): put its result instead"
            )
        if self._delivering:
            # A getter's callback put this while put() lower down the stack
            # is delivering: store it, and that loop hands it on in order.
            # Stored objects already promised to live getters do not count.
            live = len(self._waiters) - self._dead
        else:
            waiters = self._waiters
            while waiters:
                d = waiters.popleft()
                if d.result is _NO_RESULT:
                    if type(d) is _Grant:
                        d._giver = self
                        d._given = obj
                        d._serial = self._served
                        self._served += 1
                    self._delivering = True
                    try:
                        d.callback(obj)
                        if self._pending:
                            self._handOn()
                    finally:
                        self._delivering = False
                    return
                if self._dead:
                    self._dead -= 1
            live = 0
        size = self.size
        if size is not None and len(self._pending) - live >= size:
            raise QueueOverflow(
                f"{self!r} is full: it holds {size} objects and nobody waits"
            )
        self._pending.append(obj)

    def _handOn(self) -> None:
        # Give objects stored during a delivery to the getters waiting.
        pending, waiters = self._pending, self._waiters
        while pending and waiters:
            d = waiters.popleft()
            if d.result is _NO_RESULT:
                obj = pending.popleft()
                serial = self._returned.pop(0) if self._returned else self._served
                if type(d) is _Grant:
                    d._giver = self
                    d._given = obj
                    d._serial = serial
                self._served += 1
                d.callback(obj)
            elif self._dead:
                self._dead -= 1

    def get(self) -> Deferred[_T]:
        """A Deferred that fires with the next object.

        It fires at once if an object is stored; otherwise it waits behind the
        earlier getters (cancel it to withdraw).  Raises
        :class:`QueueUnderflow` if ``backlog`` getters wait already.
        """
        pending = self._pending
        # While delivering, stored objects may be promised to earlier getters.
        if pending and (not self._delivering or len(self._waiters) == self._dead):
            got: _Grant[_T] = _Grant()
            got._giver = self
            got._given = got.result = pending.popleft()
            returned = self._returned
            if returned:
                # Given back by a task: it keeps its place.
                got._serial = returned.pop(0)
            else:
                got._serial = self._served
                self._served += 1
            return got
        backlog = self.backlog
        if (
            backlog is not None
            # Getters already promised a stored object do not count.
            and len(self._waiters) - self._dead - len(pending) >= backlog
        ):
            raise QueueUnderflow(
                f"{self!r} already has {backlog} getters waiting for objects"
            )
        d: _Grant[_T] = _Grant(self._canceller)
        self._waiters.append(d)
        return d

    def statistics(self) -> QueueStatistics:
        """How the queue stands: objects stored, getters waiting, bounds."""
        return QueueStatistics(
            len(self._pending), self._liveCount(), self.size, self.backlog
        )

    def __aiter__(self: _Q) -> _Q:
        return self

    async def __anext__(self) -> _T:
        """The next object (``get()``); the iteration never ends by itself."""
        getting = self.get()
        givesBack = type(getting) is _Grant
        if givesBack:
            # It puts the object back itself if the task drops it.
            return await getting
        # A subclass's get(): watch for that here.
        received: list[object] = []
        getting.addCallback(_keep, received)
        try:
            return await getting
        except BaseException:
            # An asyncio task can be cancelled after put() handed it the
            # object but before it resumed: put the object back, first in
            # line, so nothing is lost.
            if received:
                self._putBack(received[0], -1)  # type: ignore[arg-type]
            raise

    def _giveBack(self, given: Any, serial: int) -> None:
        self._putBack(given, serial)

    def _putBack(self, obj: _T, serial: int) -> None:
        """Put back ``obj``, the ``serial``-th handed out, in its place:
        before every object stored, and among those given back in the order
        they were first handed out."""
        returned = self._returned
        at = bisect_left(returned, serial)
        returned.insert(at, serial)
        self._pending.insert(at, obj)
        if len(self._waiters) > self._dead and not self._delivering:
            # To the oldest live getter (it takes the number along).
            self._delivering = True
            try:
                self._handOn()
            finally:
                self._delivering = False

    def __repr__(self) -> str:
        return (
            f"<DeferredQueue at 0x{id(self):x} {len(self._pending)} pending, "
            f"{self._liveCount()} waiting>"
        )
