"""Small helpers that make or fire Deferreds."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Coroutine
from types import CoroutineType
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar, overload

from ._core import makeSucceed
from ._debug import logFailure
from ._deferred import _DEFERRED_TYPES, Deferred
from ._errors import TimeoutError
from .failure import Failure

__all__ = ["execute", "fail", "logError", "maybeDeferred", "succeed", "timeout"]

_T = TypeVar("_T")

_P = ParamSpec("_P")


if TYPE_CHECKING:

    def succeed(result: _T) -> Deferred[_T]:
        """A Deferred that has already fired with ``result``."""

else:
    succeed = makeSucceed(Deferred)
    succeed.__doc__ = """A Deferred that has already fired with ``result``.

    For code that must return a Deferred but already knows the answer.
    """
    succeed.__module__ = __name__


def fail(result: Failure | BaseException | None = None) -> Deferred[Any]:
    """A Deferred that has already failed with ``result`` (a Failure or an
    exception; by default the exception being handled)."""
    d: Deferred[Any] = Deferred()
    d.errback(result)
    return d


def execute(
    callable: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
) -> Deferred[_T]:
    """Call ``callable(*args, **kwargs)`` now and wrap the outcome -- its
    return value or its exception -- in a fired Deferred."""
    try:
        result = callable(*args, **kwargs)
    except BaseException:
        return fail()
    if type(result) in _DEFERRED_TYPES:
        raise TypeError(
            f"execute(): {callable!r} returned a Deferred ({result!r}), which "
            "cannot be the result of another; use maybeDeferred() for a "
            "function that may return one"
        )
    return succeed(result)


@overload
def maybeDeferred(
    f: Callable[_P, Deferred[_T]], *args: _P.args, **kwargs: _P.kwargs
) -> Deferred[_T]: ...


@overload
def maybeDeferred(
    f: Callable[_P, Coroutine[Any, Any, _T]], *args: _P.args, **kwargs: _P.kwargs
) -> Deferred[_T]: ...


@overload
def maybeDeferred(
    f: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs
) -> Deferred[_T]: ...


def maybeDeferred(f: Callable[..., Any], *args: Any, **kwargs: Any) -> Deferred[Any]:
    """Call ``f`` and return its outcome as a Deferred, whatever it was.

    A Deferred is returned as it is; a coroutine is run with
    :func:`~deferred.ensureDeferred`; a :class:`Failure` or a raised exception
    gives a failed Deferred; any other value a fired one.
    """
    try:
        result = f(*args, **kwargs)
    except BaseException:
        return fail(Failure(captureVars=Deferred.debug))
    if type(result) in _DEFERRED_TYPES:
        return result  # type: ignore[no-any-return]
    if isinstance(result, Failure):
        return fail(result)
    if type(result) is CoroutineType:
        return Deferred.fromCoroutine(result)
    return succeed(result)


def logError(err: Failure) -> Failure:
    """Log ``err`` on the ``"deferred"`` logger and return it unchanged.

    Use it as an errback to record a failure while still passing it on.
    """
    logFailure("Failure logged by logError:", err)
    return err


def timeout(deferred: Deferred[Any]) -> None:
    """Fail ``deferred`` with :class:`TimeoutError` (the old, manual way).

    Deprecated, as in Twisted (a ``DeprecationWarning`` on each call): use
    :meth:`Deferred.addTimeout`.
    """
    warnings.warn(
        "deferred.timeout was deprecated in Twisted 17.1.0; please use "
        "deferred.Deferred.addTimeout instead",
        DeprecationWarning,
        stacklevel=2,
    )
    deferred.errback(Failure(TimeoutError("Callback timed out")))
