"""``Cooperator``: share the event loop's time among long-running iterators.

Each task is an iterator; one ``next()`` is one unit of work.  On each tick
the cooperator gives its tasks a unit of work each, in turn, until its
termination predicate says the tick has lasted long enough (by default, 10
milliseconds), and then schedules the next tick: the loop gets to run other
things in between.  An iterator that yields a Deferred is left out until the
Deferred has fired.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Callable, Generic, Iterator, TypeVar

from ._deferred import _DEFERRED_TYPES, Deferred
from ._errors import CancelledError
from .clock import _currentLoop
from .failure import Failure

if TYPE_CHECKING:
    import asyncio

    from .clock import DelayedCallLike

__all__ = [
    "CooperativeTask",
    "Cooperator",
    "NotPaused",
    "SchedulerError",
    "SchedulerStopped",
    "TaskDone",
    "TaskFailed",
    "TaskFinished",
    "TaskStopped",
    "coiterate",
    "cooperate",
]

_TaskIteratorT = TypeVar("_TaskIteratorT", bound=Iterator[Any])


class SchedulerError(Exception):
    """A task or its cooperator was not in a state that allows the operation.
    The base class of the other scheduler exceptions."""


class SchedulerStopped(SchedulerError):
    """The cooperator was stopped, before or while the task ran."""


class TaskFinished(SchedulerError):
    """The task is over (done, stopped or failed), so it cannot be changed."""


class TaskDone(TaskFinished):
    """The task is over: its iterator was exhausted."""


class TaskStopped(TaskFinished):
    """The task is over: it was stopped."""


class TaskFailed(TaskFinished):
    """The task is over: its iterator raised, or a Deferred it yielded failed."""


class NotPaused(SchedulerError):
    """``resume()`` was called on a task that was not paused."""


class _Timer:
    """The default termination predicate: true once a tick has lasted
    ``MAX_SLICE`` seconds."""

    MAX_SLICE = 0.01

    def __init__(self) -> None:
        self.end = time.monotonic() + self.MAX_SLICE

    def __call__(self) -> bool:
        return time.monotonic() >= self.end


def _runningLoopScheduler(callable: Callable[[], None]) -> asyncio.Handle:
    """The default scheduler: the next turn of the running asyncio loop."""

    loop = _currentLoop()
    if loop is None:
        raise RuntimeError(
            "a Cooperator without a scheduler runs its tasks on the running "
            "asyncio event loop (or the one set for this thread), and there is "
            "none; add tasks from code running on a loop, or give the "
            "Cooperator a scheduler"
        )
    return loop.call_soon(callable)


class CooperativeTask(Generic[_TaskIteratorT]):
    """A task of a :class:`Cooperator`: an iterator worked on a step at a time.

    Made by :meth:`Cooperator.cooperate`.  It can be paused, resumed and
    stopped, and :meth:`whenDone` says when it is over.
    """

    def __init__(self, iterator: _TaskIteratorT, cooperator: Cooperator) -> None:
        self._iterator = iterator
        self._cooperator = cooperator
        self._deferreds: list[Deferred[_TaskIteratorT]] = []
        self._pauseCount = 0
        #: Once the task is over: the exception that operations on it raise,
        #: and what whenDone() fires with (the iterator, or a Failure).
        self._completionState: SchedulerError | None = None
        self._completionResult: _TaskIteratorT | Failure | None = None
        cooperator._addTask(self)

    def whenDone(self) -> Deferred[_TaskIteratorT]:
        """A new Deferred that fires with the iterator once it is exhausted.

        It fails with the iterator's exception, or the failure of a Deferred
        it yielded; with :class:`TaskStopped` if the task is stopped, and with
        :class:`SchedulerStopped` if its cooperator is.
        """
        d: Deferred[_TaskIteratorT] = Deferred()
        if self._completionState is None:
            self._deferreds.append(d)
        else:
            d.callback(self._completionResult)  # type: ignore[arg-type]
        return d

    def pause(self) -> None:
        """Stop working on this task until :meth:`resume` is called (as many
        times as ``pause`` was).  Raises :class:`TaskFinished` if it is over."""
        self._checkFinish()
        self._pauseCount += 1
        if self._pauseCount == 1:
            self._cooperator._removeTask(self)

    def resume(self) -> None:
        """Undo one :meth:`pause`; raises :class:`NotPaused` if not paused."""
        if self._pauseCount == 0:
            raise NotPaused(f"{self!r} is not paused")
        self._pauseCount -= 1
        if self._pauseCount == 0 and self._completionState is None:
            self._cooperator._addTask(self)

    def stop(self) -> None:
        """End the task now: its :meth:`whenDone` Deferreds fail with
        :class:`TaskStopped`.  Raises :class:`TaskFinished` if it is over."""
        self._checkFinish()
        self._completeWith(TaskStopped(), Failure(TaskStopped()))

    def _checkFinish(self) -> None:
        state = self._completionState
        if state is not None:
            raise state

    def _completeWith(
        self, state: SchedulerError, result: _TaskIteratorT | Failure
    ) -> None:
        self._completionState = state
        self._completionResult = result
        if not self._pauseCount:
            self._cooperator._removeTask(self)
        deferreds, self._deferreds = self._deferreds, []
        for d in deferreds:
            d.callback(result)

    def _waitFor(self, d: Deferred[Any]) -> None:
        # The iterator yielded a Deferred: sit out until it fires.
        self.pause()
        d.addCallbacks(self._resumeAfter, self._failAfter)

    def _resumeAfter(self, result: object) -> None:
        self.resume()

    def _failAfter(self, failure: Failure) -> Failure | None:
        if self._completionState is not None:
            # Stopped meanwhile.  Only a cancellation may go unheard: any
            # other error stays on the Deferred, to be reported.
            return None if failure.check(CancelledError) else failure
        self._completeWith(TaskFailed(), failure)
        return None

    def __repr__(self) -> str:
        if self._completionState is not None:
            state = type(self._completionState).__name__
        elif self._pauseCount:
            state = "paused"
        else:
            state = "running"
        return f"<CooperativeTask {state} over {self._iterator!r}>"


class Cooperator:
    """A scheduler for cooperative tasks (see the module's docstring).

    ``terminationPredicateFactory`` is called at the start of each tick and
    returns a function that says when the tick should end (checked after
    each unit of work).  ``scheduler`` takes a function and arranges for it
    to be called later, returning something with a ``cancel()`` method: by
    default the next turn of the running asyncio loop (for a
    :class:`~deferred.clock.Clock`, ``lambda f: clock.callLater(0, f)``).  With
    ``started=False``, nothing runs until :meth:`start`.
    """

    def __init__(
        self,
        terminationPredicateFactory: Callable[[], Callable[[], bool]] = _Timer,
        scheduler: Callable[
            [Callable[[], None]], DelayedCallLike | asyncio.Handle
        ] = _runningLoopScheduler,
        started: bool = True,
    ) -> None:
        self._tasks: list[CooperativeTask[Any]] = []
        # Where the round-robin goes on from at the next step.
        self._cursor = 0
        self._terminationPredicateFactory = terminationPredicateFactory
        self._scheduler = scheduler
        self._delayedCall: Any = None
        self._stopped = False
        self._started = started
        self._mustScheduleOnStart = False

    def coiterate(
        self,
        iterator: _TaskIteratorT,
        doneDeferred: Deferred[_TaskIteratorT] | None = None,
    ) -> Deferred[_TaskIteratorT]:
        """Run ``iterator`` as a task; return a Deferred that fires with it
        once exhausted (or fails as :meth:`CooperativeTask.whenDone` does).

        ``doneDeferred``, if given, is the Deferred fired and returned.
        """
        if doneDeferred is None:
            doneDeferred = Deferred()
        CooperativeTask(iterator, self).whenDone().chainDeferred(doneDeferred)
        return doneDeferred

    def cooperate(self, iterator: _TaskIteratorT) -> CooperativeTask[_TaskIteratorT]:
        """Run ``iterator`` as a task, and return the task."""
        return CooperativeTask(iterator, self)

    @property
    def running(self) -> bool:
        """Whether this cooperator is started and not stopped."""
        return self._started and not self._stopped

    def start(self) -> None:
        """Begin running tasks (for a cooperator made with ``started=False``,
        or to accept tasks again after :meth:`stop`)."""
        self._stopped = False
        self._started = True
        if self._mustScheduleOnStart:
            self._mustScheduleOnStart = False
            self._reschedule()

    def stop(self) -> None:
        """Stop: every task ends, failing with :class:`SchedulerStopped`, and
        so does any task added until :meth:`start` is called again."""
        self._stopped = True
        tasks, self._tasks = self._tasks, []
        self._cursor = 0
        for task in tasks:
            # (Taken out of the list already: put back for _completeWith.)
            self._tasks.append(task)
            task._completeWith(SchedulerStopped(), Failure(SchedulerStopped()))
        self._tasks = []
        call, self._delayedCall = self._delayedCall, None
        if call is not None:
            call.cancel()

    def _addTask(self, task: CooperativeTask[Any]) -> None:
        self._tasks.append(task)
        if self._stopped:
            task._completeWith(SchedulerStopped(), Failure(SchedulerStopped()))
        else:
            self._reschedule()

    def _removeTask(self, task: CooperativeTask[Any]) -> None:
        tasks = self._tasks
        index = tasks.index(task)
        del tasks[index]
        if index < self._cursor:
            self._cursor -= 1
        if not tasks:
            call, self._delayedCall = self._delayedCall, None
            if call is not None:
                call.cancel()

    def _reschedule(self) -> None:
        if not self._started:
            self._mustScheduleOnStart = True
        elif self._delayedCall is None and self._tasks:
            self._delayedCall = self._scheduler(self._tick)

    def _tick(self) -> None:
        self._delayedCall = None
        tasks = self._tasks
        predicate = self._terminationPredicateFactory()
        # The default predicate, inlined: this loop is the hot path.
        end = predicate.end if type(predicate) is _Timer else None
        monotonic = time.monotonic
        while tasks:
            index = self._cursor
            if index >= len(tasks):
                index = 0
            task = tasks[index]
            self._cursor = index + 1
            try:
                result = next(task._iterator)
            except StopIteration:
                task._completeWith(TaskDone(), task._iterator)
            except BaseException:
                task._completeWith(TaskFailed(), Failure())
            else:
                if type(result) in _DEFERRED_TYPES:
                    task._waitFor(result)
            if end is None:
                if predicate():
                    break
            elif monotonic() >= end:
                break
        self._reschedule()


_cooperators: Any = None


def _theCooperator() -> Cooperator:
    """The cooperator of the running asyncio loop (made on first use)."""
    global _cooperators

    loop = _currentLoop()
    if loop is None:
        raise RuntimeError(
            "coiterate() and cooperate() run their tasks on the running asyncio "
            "event loop (or the one set for this thread), and there is none; "
            "call them from code running on a loop, or use a Cooperator with a "
            "scheduler of your own"
        )
    if _cooperators is None:
        import weakref

        _cooperators = weakref.WeakKeyDictionary()
    cooperator: Cooperator | None = _cooperators.get(loop)
    if cooperator is None:
        cooperator = _cooperators[loop] = Cooperator(scheduler=loop.call_soon)
    return cooperator


def coiterate(iterator: _TaskIteratorT) -> Deferred[_TaskIteratorT]:
    """Run ``iterator`` on the running loop's shared :class:`Cooperator`;
    return a Deferred that fires with it once exhausted."""
    return _theCooperator().coiterate(iterator)


def cooperate(iterator: _TaskIteratorT) -> CooperativeTask[_TaskIteratorT]:
    """Run ``iterator`` on the running loop's shared :class:`Cooperator`;
    return its :class:`CooperativeTask`."""
    return _theCooperator().cooperate(iterator)
