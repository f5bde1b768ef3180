"""The Deferred helpers of Twisted's ``twisted.internet.task``.

``from twisted.internet.task import deferLater, LoopingCall, Clock`` becomes
``from deferred.task import deferLater, LoopingCall, Clock``.  Where Twisted
takes a reactor, these take any :class:`~deferred.clock.Scheduler`: a
:class:`~deferred.clock.Clock` in tests, an
:class:`~deferred.clock.AsyncioClock`, or Twisted's reactor itself; what has
a default uses the running asyncio loop.

* :func:`deferLater` -- a Deferred that fires after a delay, with the result
  of a function called then;
* :class:`LoopingCall` -- call a function every so many seconds;
* :class:`Cooperator`, :func:`coiterate`, :func:`cooperate` and
  :class:`CooperativeTask` -- run long iterators a step at a time, sharing
  the loop;
* :class:`~deferred.clock.Clock` and :func:`~deferred.react`, re-exported.
"""

from __future__ import annotations

from types import CoroutineType
from typing import TYPE_CHECKING, Any, Callable, NoReturn, TypeVar, overload

from ._cooperator import CooperativeTask as CooperativeTask
from ._cooperator import Cooperator as Cooperator
from ._cooperator import NotPaused as NotPaused
from ._cooperator import SchedulerError as SchedulerError
from ._cooperator import SchedulerStopped as SchedulerStopped
from ._cooperator import TaskDone as TaskDone
from ._cooperator import TaskFailed as TaskFailed
from ._cooperator import TaskFinished as TaskFinished
from ._cooperator import TaskStopped as TaskStopped
from ._cooperator import coiterate as coiterate
from ._cooperator import cooperate as cooperate
from ._coroutines import NotACoroutineError
from ._deferred import Deferred
from ._looping import LoopingCall as LoopingCall
from ._react import react as _react
from .clock import Clock as Clock
from .failure import Failure, _shortRepr

if TYPE_CHECKING:
    from collections.abc import Coroutine, Sequence

    from .clock import Scheduler

__all__ = [
    "Clock",
    "CooperativeTask",
    "Cooperator",
    "LoopingCall",
    "NotPaused",
    "SchedulerError",
    "SchedulerStopped",
    "TaskDone",
    "TaskFailed",
    "TaskFinished",
    "TaskStopped",
    "coiterate",
    "cooperate",
    "deferLater",
    "react",
]

_T = TypeVar("_T")


@overload
def deferLater(
    clock: Scheduler | None, delay: float, callable: None = None
) -> Deferred[None]: ...


@overload
def deferLater(
    clock: Scheduler | None,
    delay: float,
    callable: Callable[..., Deferred[_T]],
    *args: object,
    **kw: object,
) -> Deferred[_T]: ...


@overload
def deferLater(
    clock: Scheduler | None,
    delay: float,
    callable: Callable[..., Coroutine[Any, Any, _T]],
    *args: object,
    **kw: object,
) -> Deferred[_T]: ...


@overload
def deferLater(
    clock: Scheduler | None,
    delay: float,
    callable: Callable[..., _T],
    *args: object,
    **kw: object,
) -> Deferred[_T]: ...


def deferLater(
    clock: Scheduler | None,
    delay: float,
    callable: Callable[..., Any] | None = None,
    *args: object,
    **kw: object,
) -> Deferred[Any]:
    """A Deferred that fires ``delay`` seconds from now on ``clock``.

    It fires with ``callable(*args, **kw)`` called at that time (or with
    ``None`` without a callable); a Deferred the callable returns is waited
    for, and so is a coroutine (which Twisted would hand over unstarted); an
    exception it raises fails the Deferred.  ``clock=None`` means the running
    asyncio loop.

    Cancelling the Deferred works at every stage: before the delay is over,
    the delayed call is called off and the Deferred fails with
    :class:`~deferred.CancelledError`; after it, the cancellation reaches the
    Deferred the callable returned.
    """
    if callable is not None and not _callable(callable):
        raise TypeError(f"deferLater() needs a callable, not {_shortRepr(callable)}")
    if clock is None:
        from .clock import AsyncioClock

        clock = AsyncioClock()

    def callOff(d: Deferred[Any]) -> None:
        # Only ever called before the delay is over: afterwards the Deferred
        # has fired, or waits on the callable's Deferred, which is then the
        # one that cancel() reaches.
        call.cancel()

    d: Deferred[Any] = Deferred(callOff)
    if callable is not None:
        d.addCallback(_callNow, callable, args, kw)
    call = clock.callLater(delay, d.callback, None)
    return d


_callable = callable


def _callNow(
    ignored: object,
    f: Callable[..., Any],
    args: tuple[object, ...],
    kw: dict[str, object],
) -> Any:
    result = f(*args, **kw)
    if type(result) is CoroutineType:
        return Deferred.fromCoroutine(result)
    return result


def react(
    main: Callable[..., Any],
    argv: Sequence[object] = (),
    _reactor: object = None,
) -> NoReturn:
    """Twisted's ``task.react``: run ``main(clock, *argv)`` on a fresh asyncio
    loop until the Deferred or coroutine it returns is done, then end the
    process with ``sys.exit``: status 0 on success, the code of a
    ``SystemExit`` it fails with, or 1 for any other failure (logged first,
    as "main function encountered error").

    ``clock`` is an :class:`~deferred.clock.AsyncioClock` where Twisted passes
    the reactor.  :func:`deferred.react` is the same without the exit: it
    returns ``main``'s result or raises its exception.
    """
    import sys

    if _reactor is not None:
        raise TypeError(
            "react() runs main on a fresh asyncio loop: it takes no reactor "
            "(main gets an AsyncioClock for that loop)"
        )

    import inspect

    def checkedMain(clock: Any, *args: object) -> Any:
        result = main(clock, *args)
        if not isinstance(result, Deferred) and not inspect.isawaitable(result):
            # As Twisted's (its ensureDeferred() refuses it): logged, status 1.
            raise NotACoroutineError(
                f"{_shortRepr(result)} is not a coroutine or a Deferred"
            )
        return result

    code: Any = 0
    try:
        _react(checkedMain, *argv)
    except SystemExit as e:
        code = e.code
    except BaseException:
        from ._debug import logFailure

        logFailure("main function encountered error", Failure())
        code = 1
    sys.exit(code)
