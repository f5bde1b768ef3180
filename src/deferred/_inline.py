"""``inlineCallbacks``: sequential-looking code over Deferreds, with ``yield``.

The generator is run by the engine in :mod:`deferred._coroutines`, the same
one that runs ``async def`` coroutines for ``ensureDeferred``.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from functools import wraps
from types import CoroutineType, GeneratorType
from typing import Any, NoReturn, ParamSpec, TypeVar

from ._coroutines import _DefGen_Return, _drive
from ._deferred import Deferred

__all__ = ["inlineCallbacks", "returnValue"]

_T = TypeVar("_T")
_P = ParamSpec("_P")


def returnValue(val: object) -> NoReturn:
    """End the running ``inlineCallbacks`` generator with ``val`` as its result.

    Kept for old code: a plain ``return val`` does the same.  It works by
    raising an exception derived from ``BaseException``, so a bare ``except:``
    between here and the generator would swallow it (use ``except
    Exception:``).
    """
    raise _DefGen_Return(val)


def inlineCallbacks(
    f: Callable[_P, Generator[Any, Any, _T]],
) -> Callable[_P, Deferred[_T]]:
    """Turn a generator function that yields Deferreds into one that returns
    a Deferred.

    Each ``yield aDeferred`` gives back that Deferred's result, or raises its
    failure's exception (with the original traceback) at the ``yield``.  An
    asyncio future or task, a coroutine or another generator can be yielded
    too; a yielded :class:`~deferred.Failure` has its exception raised at the
    ``yield``; any other value comes straight back.  The generator's
    ``return`` value (or :func:`returnValue`) is the result of the returned
    Deferred; an exception it lets out is its failure::

        @inlineCallbacks
        def fetchTitle(url):
            page = yield fetch(url)
            return parseTitle(page)

    The generator starts running as soon as the function is called, and
    Deferreds that have already fired are consumed without giving up control
    (or using stack).  Cancelling the returned Deferred cancels the one the
    generator waits on, so its ``CancelledError`` is raised at the ``yield``;
    the generator may catch it and carry on.  ``contextvars`` set in the
    generator stay set across its yields and do not leak to the caller.

    Calling the decorated function raises ``TypeError`` if ``f`` did not
    return a generator.
    """

    @wraps(f)
    def unwindGenerator(*args: _P.args, **kwargs: _P.kwargs) -> Deferred[_T]:
        try:
            gen: object = f(*args, **kwargs)
        except _DefGen_Return:
            raise TypeError(
                f"inlineCallbacks needs {f!r} to return a generator, but it "
                "called returnValue() without being a generator function"
            ) from None
        if type(gen) is not GeneratorType:  # (it cannot be subclassed)
            hint = ""
            if type(gen) is CoroutineType:
                gen.close()  # never run: don't warn that it was never awaited
                hint = " (for an 'async def' function, use ensureDeferred)"
            raise TypeError(
                f"inlineCallbacks needs {f!r} to return a generator, not {gen!r}{hint}"
            )
        return _drive(gen)

    return unwindGenerator
