"""The older generator style: :func:`deferredGenerator` and
:class:`waitForDeferred`.

Kept so code written for it keeps running; new code should use
:func:`~deferred.inlineCallbacks` or ``async def`` instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from functools import wraps
from typing import Any, Generic, ParamSpec, TypeVar

from ._deferred import _DEFERRED_TYPES, _NO_RESULT, Deferred
from .failure import Failure, _failureFromCaught, _shortRepr

__all__ = ["deferredGenerator", "waitForDeferred"]

_T = TypeVar("_T")
_P = ParamSpec("_P")

# Twisted's wording (so code that checks for them still finds them).
_WAIT_DEPRECATED = (
    "deferred.waitForDeferred was deprecated in Twisted 15.0.0; please use "
    "deferred.inlineCallbacks instead"
)
_DEFGEN_DEPRECATED = (
    "deferred.deferredGenerator was deprecated in Twisted 15.0.0; please use "
    "deferred.inlineCallbacks instead"
)


class waitForDeferred(Generic[_T]):
    """Wraps a Deferred for a :func:`deferredGenerator` generator to wait on.

    Yield it, then call :meth:`getResult` straight after the ``yield``::

        result = waitForDeferred(getPage(url))
        yield result
        page = result.getResult()   # raises if the Deferred failed

    ``d`` is the wrapped Deferred; ``result`` is its result, once there.

    Deprecated, as in Twisted: making one emits a ``DeprecationWarning``
    (attributed to the line that made it).  Difference from Twisted:
    :meth:`getResult` raises ``RuntimeError`` when called before the result
    arrived instead of returning an internal marker.
    """

    __slots__ = ("d", "result")

    d: Deferred[_T]
    result: Any

    def __init__(self, d: Deferred[_T]) -> None:
        warnings.warn(_WAIT_DEPRECATED, DeprecationWarning, stacklevel=2)
        if type(d) not in _DEFERRED_TYPES:
            raise TypeError(f"waitForDeferred() takes a Deferred, not {_shortRepr(d)}")
        self.d = d
        self.result = _NO_RESULT

    def getResult(self) -> _T:
        """The Deferred's result; its failure is raised as an exception."""
        result = self.result
        if isinstance(result, Failure):
            result.raiseException()
        if result is _NO_RESULT:
            raise RuntimeError(
                "getResult() was called before the result arrived: yield the "
                "waitForDeferred object first, then call getResult()"
            )
        return result  # type: ignore[no-any-return]

    def __repr__(self) -> str:
        return f"<waitForDeferred for {self.d!r}>"


class _GeneratorRunner:
    """Drives one deferredGenerator generator, firing ``deferred`` at the end.

    Already-fired Deferreds are handled in the loop of :meth:`run`; only a
    Deferred that fires later calls :meth:`run` again (from its callback), so
    the stack never grows with the number of waits.
    """

    __slots__ = ("_gen", "_inLoop", "deferred")

    def __init__(self, gen: Iterator[Any]) -> None:
        self._gen = gen
        self.deferred: Deferred[Any] = Deferred()
        # True while run() is on the stack waiting to see whether the
        # Deferred it just waited on fired synchronously.
        self._inLoop = False

    def run(self) -> None:
        gen = self._gen
        # run() only ever resumes after a waitForDeferred, which resets it.
        last: Any = None
        while True:
            try:
                value = next(gen)
            except StopIteration:
                # As in Twisted, a ``return value`` is ignored: the result is
                # the last value yielded.
                self.deferred.callback(last)
                return
            except BaseException as e:
                self.deferred.errback(_failureFromCaught(e))
                return

            if isinstance(value, waitForDeferred):
                last = None
                self._inLoop = True
                value.d.addBoth(self._gotResult, value)
                if self._inLoop:
                    # Not fired yet: _gotResult will call run() again.
                    self._inLoop = False
                    return
            elif type(value) in _DEFERRED_TYPES:
                self.deferred.errback(
                    Failure(
                        TypeError(
                            "a deferredGenerator must yield waitForDeferred(d) "
                            f"and then call its getResult(), not the Deferred "
                            f"itself ({value!r})"
                        )
                    )
                )
                return
            else:
                last = value

    def _gotResult(self, result: Any, waiting: waitForDeferred[Any]) -> None:
        # Returning None consumes the result: a failure is now the
        # generator's to raise (getResult()) and is not reported again.
        waiting.result = result
        if self._inLoop:
            # Fired synchronously: the loop in run() carries on.
            self._inLoop = False
        else:
            self.run()


def deferredGenerator(
    f: Callable[_P, Iterator[Any]],
) -> Callable[_P, Deferred[Any]]:
    """Turn a generator function that yields :class:`waitForDeferred` objects
    into a function that returns a Deferred.

    Inside the generator, ``yield waitForDeferred(d)`` waits for ``d``, and
    ``getResult()`` then gives its result or raises its failure.  The
    returned Deferred fires with the last value yielded that was not a
    waitForDeferred (``None`` if the last one was, or nothing was yielded),
    or fails with the exception the generator raised.  Yielding a bare
    Deferred fails it with ``TypeError``.  Prefer
    :func:`~deferred.inlineCallbacks`.

    Calling the decorated function raises ``TypeError`` at once if ``f`` did
    not return a generator (or other iterator).

    Deprecated, as in Twisted: decorating a function with it emits a
    ``DeprecationWarning`` (attributed to the decorated function's line).

    Differences from Twisted: a non-generator raises ``TypeError`` at the
    call (Twisted fails the Deferred); a bare Deferred yielded after the
    first wait fails the returned Deferred (Twisted leaves it unfired and
    logs the ``TypeError`` elsewhere).
    """
    warnings.warn(_DEFGEN_DEPRECATED, DeprecationWarning, stacklevel=2)

    @wraps(f)
    def unwindGenerator(*args: _P.args, **kwargs: _P.kwargs) -> Deferred[Any]:
        gen = f(*args, **kwargs)
        if not hasattr(type(gen), "__next__"):
            raise TypeError(
                f"deferredGenerator needs a generator function, but "
                f"{getattr(f, '__qualname__', f)!r} returned {gen!r}"
            )
        runner = _GeneratorRunner(gen)
        runner.run()
        return runner.deferred

    return unwindGenerator
