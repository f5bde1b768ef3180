"""``inlineCallbacks``: sequential-looking code over Deferreds, with ``yield``.

The generator is run by the engine in :mod:`deferred._coroutines`, the same
one that runs ``async def`` coroutines for ``ensureDeferred``.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Callable, Generator
from functools import wraps
from types import CoroutineType, GeneratorType
from typing import Any, NoReturn, ParamSpec, TypeVar

from ._coroutines import _DefGen_Return, _drive, _Driver
from ._deferred import Deferred
from ._state import _stepping

__all__ = ["inlineCallbacks", "returnValue"]

_T = TypeVar("_T")
_P = ParamSpec("_P")


_RETURN_VALUE_DEPRECATED = (
    "deferred.returnValue was deprecated in Twisted 24.7.0; please use "
    "standard return statement instead"
)


def returnValue(val: object) -> NoReturn:
    """End the running ``inlineCallbacks`` generator with ``val`` as its result.

    Deprecated, as in Twisted 24.7 and later: a plain ``return val`` does the
    same.  Each call emits a ``DeprecationWarning`` attributed to the caller's
    line, and a second one if it is called from a function that the
    generator called rather than from the generator itself (it then ends the
    generator all the same).  It works by raising an exception derived from
    ``BaseException``, so a bare ``except:`` between here and the generator
    would swallow it (use ``except Exception:``).

    Called where no ``inlineCallbacks`` generator (or ``ensureDeferred``
    coroutine) is running, it raises ``RuntimeError`` saying so.
    """
    warnings.warn(_RETURN_VALUE_DEPRECATED, DeprecationWarning, stacklevel=2)
    # Is a generator being run by us on the stack to take the value?  It is
    # normally the caller, resumed straight from the driver's step (whose
    # frame is there with the pure-Python core; the compiled one lists the
    # generators it is stepping).
    stepping = {id(_frameOf(gen)) for gen in _stepping}
    frame = sys._getframe(1)
    while frame is not None:
        code = frame.f_code
        if code is _STEP_CODE or code is _UNWIND_CODE or id(frame) in stepping:
            del frame
            raise _DefGen_Return(val)
        frame = frame.f_back  # type: ignore[assignment]
    raise RuntimeError(
        "returnValue() was called outside a generator run by inlineCallbacks "
        "(or a coroutine run by ensureDeferred), so nothing would take its "
        "value; in such a generator, a plain 'return value' does the same"
    )


def _frameOf(gen: Any) -> Any:
    return getattr(gen, "gi_frame", None) or getattr(gen, "cr_frame", None)


_STEP_CODE = getattr(_Driver._step, "__code__", None)


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


def _sample() -> Generator[None, None, None]:
    yield None


# The code of every unwindGenerator closure: returnValue() from a decorated
# function that is not a generator gets to it (and becomes a TypeError).
_UNWIND_CODE = inlineCallbacks(_sample).__code__
