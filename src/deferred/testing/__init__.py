"""Assertions for tests of code that returns Deferreds.

:func:`successResultOf`, :func:`failureResultOf` and :func:`assertNoResult`
look at a Deferred *now*, without running any event loop: the way to test code
whose Deferreds are fired by a :class:`~deferred.clock.Clock` or by the test
itself.  They raise :class:`AssertionError`, so they work under pytest,
``unittest`` or anything else, and their messages say what the Deferred holds
instead: its result, or its failure's traceback.

They behave as the methods of the same names on Twisted trial's
``SynchronousTestCase``: taking a result consumes it (the Deferred is left
holding ``None``, and a failure taken this way counts as handled), and a
coroutine may be passed in place of a Deferred.

The pytest plugin that comes with this package lives in
:mod:`deferred.testing.plugin`; pytest loads it by itself once the package is
installed.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import TYPE_CHECKING, Any, TypeVar, Union

from .._coroutines import NotACoroutineError, ensureDeferred
from .._deferred import _DEFERRED_TYPES, Deferred
from ..failure import Failure, _qual, _safeRepr

__all__ = [
    "SynchronousTestCase",
    "TestCase",
    "assertNoResult",
    "failureResultOf",
    "successResultOf",
]

_T = TypeVar("_T")

_Awaited = Union[Deferred[_T], Coroutine[Any, Any, _T], Generator[Any, Any, _T]]


def _asDeferred(helper: str, deferred: _Awaited[_T]) -> Deferred[_T]:
    try:
        return ensureDeferred(deferred)
    except NotACoroutineError:
        raise NotACoroutineError(
            f"{helper}() needs a Deferred or a coroutine, not {deferred!r}"
        ) from None


def _name(deferred: Deferred[Any]) -> str:
    # Not repr(): once a result is taken, the Deferred's repr shows None.
    return f"<{type(deferred).__name__} at 0x{id(deferred):x}>"


def _noResultYet(deferred: Deferred[Any]) -> str | None:
    """Why ``deferred`` cannot hand out a result right now, or ``None`` if it
    can (adding a callback would then run it at once)."""
    if not deferred.called:
        return "it has not fired"
    if type(deferred.result) in _DEFERRED_TYPES:
        return f"it is waiting on {deferred.result!r}"
    if deferred.paused:
        return "it is paused"
    if deferred._runningCallbacks:
        return "its callbacks are running"
    return None


def _takeResult(deferred: Deferred[Any]) -> Any:
    """Take the result of ``deferred``, which must have one now.

    Going through a callback (rather than reading ``deferred.result``) makes
    the Deferred count a failure taken this way as handled.
    """
    taken: list[object] = []
    deferred.addBoth(taken.append)
    return taken[0]


def successResultOf(deferred: _Awaited[_T]) -> _T:
    """Return the result ``deferred`` has succeeded with, taking it.

    ``deferred`` may also be a coroutine, which is started (and must be done
    by the time it returns).  Raises :class:`AssertionError` if there is no
    result yet or the result is a failure (whose traceback the message
    shows; the failure then counts as handled).  Afterwards the Deferred
    holds ``None``.
    """
    __tracebackhide__ = True  # pytest: report the caller's line, not this one
    d = _asDeferred("successResultOf", deferred)
    why = _noResultYet(d)
    if why is not None:
        raise AssertionError(
            f"Expected a success result from {_name(d)}, but it has no "
            f"result yet ({why})"
        )
    result = _takeResult(d)
    if isinstance(result, Failure):
        raise AssertionError(
            f"Expected a success result from {_name(d)}, but it failed:\n"
            f"{result.getTraceback()}"
        )
    return result  # type: ignore[no-any-return]


def failureResultOf(
    deferred: _Awaited[Any], *expectedTypes: type[BaseException]
) -> Failure:
    """Return the :class:`Failure` ``deferred`` has failed with, taking it.

    The failure then counts as handled: nothing is logged about it later.
    With ``expectedTypes``, the failure must be an instance of one of them.
    ``deferred`` may also be a coroutine.  Raises :class:`AssertionError` if
    there is no result yet, if the result is a success (shown in the message),
    or if the failure is of another type (its traceback shown).  Afterwards
    the Deferred holds ``None``.
    """
    __tracebackhide__ = True
    # Check the arguments first: a mistake here must leave the Deferred as is.
    for expected in expectedTypes:
        if not (isinstance(expected, type) and issubclass(expected, BaseException)):
            raise TypeError(
                "failureResultOf() expects exception classes after the "
                f"Deferred, not {expected!r}"
            )
    d = _asDeferred("failureResultOf", deferred)
    why = _noResultYet(d)
    if why is not None:
        raise AssertionError(
            f"Expected a failure result from {_name(d)}, but it has no "
            f"result yet ({why})"
        )
    result = _takeResult(d)
    if not isinstance(result, Failure):
        raise AssertionError(
            f"Expected a failure result from {_name(d)}, but it succeeded "
            f"with {_safeRepr(result)}"
        )
    if expectedTypes and not result.check(*expectedTypes):
        wanted = " or ".join(_qual(t) for t in expectedTypes)
        raise AssertionError(
            f"Expected a failure of type {wanted} from {_name(d)}, but it "
            f"failed with {_qual(result.type)}:\n{result.getTraceback()}"
        )
    return result


def assertNoResult(deferred: _Awaited[Any]) -> None:
    """Assert that ``deferred`` has no result yet.

    When it has none, the Deferred is left exactly as it was: a failure that
    comes later still has to be handled.  When it has one, the
    :class:`AssertionError` shows it, and a failure shown this way counts as
    handled (the Deferred then holds ``None``); a success stays in place.
    """
    __tracebackhide__ = True
    d = _asDeferred("assertNoResult", deferred)
    if _noResultYet(d) is not None:
        return
    result = d.result
    if isinstance(result, Failure):
        # The message shows it: taking it spares a second report in the log.
        _takeResult(d)
        raise AssertionError(
            f"Expected no result from {_name(d)}, but it has failed:\n"
            f"{result.getTraceback()}"
        )
    raise AssertionError(
        f"Expected no result from {_name(d)}, but it has one: {_safeRepr(result)}"
    )


if TYPE_CHECKING:
    from ._trial import SynchronousTestCase as SynchronousTestCase
    from ._trial import TestCase as TestCase


def __getattr__(name: str) -> Any:
    # The TestCases load unittest and friends: only when asked for, so that
    # importing the assertions stays cheap.
    if name in ("TestCase", "SynchronousTestCase"):
        from . import _trial

        return getattr(_trial, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
