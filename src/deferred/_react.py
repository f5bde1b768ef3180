"""``react``: run a Deferred-returning main function on a fresh asyncio loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from ._functions import maybeDeferred
from ._futures import _isError
from .failure import Failure

if TYPE_CHECKING:
    from typing_extensions import TypeVarTuple, Unpack

    from .clock import AsyncioClock

    _Ts = TypeVarTuple("_Ts")

__all__ = ["react"]

_T = TypeVar("_T")


@overload
def react(
    main: Callable[[AsyncioClock, Unpack[_Ts]], Awaitable[_T]], /, *args: Unpack[_Ts]
) -> _T: ...


@overload
def react(
    main: Callable[[AsyncioClock, Unpack[_Ts]], _T], /, *args: Unpack[_Ts]
) -> _T: ...


def react(
    main: Callable[[AsyncioClock, Unpack[_Ts]], Any], /, *args: Unpack[_Ts]
) -> Any:
    """Run ``main(clock, *args)`` on a new asyncio event loop until it is done.

    ``main`` gets an :class:`~deferred.clock.AsyncioClock` for the loop and
    returns a Deferred or a coroutine (which is run as by
    :func:`~deferred.ensureDeferred`), or a plain value.  ``react`` returns its
    result, or raises its failure's exception.  Either way the loop is then
    cleaned up and closed as by :func:`asyncio.run`: asyncio tasks still
    pending are cancelled and waited for, asynchronous generators and the
    default executor are shut down.  Like ``asyncio.run``, it cannot be called
    while an event loop is running in this thread.

    Unlike Twisted's ``twisted.internet.task.react``, which ends the process
    with ``sys.exit``, this returns or raises, and ``main`` takes extra
    positional arguments rather than one ``argv`` sequence.  If the task
    running ``main`` is cancelled (Ctrl-C does this), the Deferred is
    cancelled too.
    """
    import asyncio

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass  # good: no loop is running in this thread
    else:
        raise RuntimeError(
            "react() cannot run inside a running event loop; await what main "
            "returns instead"
        )

    async def runMain() -> Any:
        from .clock import AsyncioClock

        loop = asyncio.get_running_loop()
        deferred = maybeDeferred(main, AsyncioClock(loop), *args)
        done: asyncio.Future[Any] = loop.create_future()

        def finished(result: object) -> object:
            # Returning None takes the result, so a failure counts as handled:
            # it is raised below.
            if not done.done():
                done.set_result(result)
            elif _isError(result):
                # react() was cancelled first: an error main's Deferred ends
                # with anyway stays on it, to be reported, not dropped.
                return result
            return None

        deferred.addBoth(finished)
        try:
            outcome = await done
        except asyncio.CancelledError:
            deferred.cancel()
            raise
        if isinstance(outcome, Failure):
            outcome.raiseException()
        return outcome

    return asyncio.run(runMain())
