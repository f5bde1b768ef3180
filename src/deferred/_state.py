"""State shared by both cores (the pure-Python one and the compiled one) and
by the modules built on them: the markers a Deferred's fields hold, the
registry of Deferred classes, and the helpers of the callback chain that are
off its hot path.

Both cores compare against these very objects, so there is one of each per
process, whichever core is in use.
"""

from __future__ import annotations

import weakref
from _thread import get_ident as _get_ident
from collections.abc import Callable, Generator, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from ._errors import CancelledError, TimeoutError
from .failure import Failure, _shortRepr

if TYPE_CHECKING:
    from ._deferred import Deferred

_T = TypeVar("_T")

#: ``Deferred.__iter__`` past its fast path: set by ``deferred._deferred``,
#: which builds it on the futures bridge (so the cores do not import it).
_awaitSlowly: Callable[[Any], Generator[Any, Any, Any]]


class _Sentinel:
    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name


#: The ``result`` of a Deferred that has not fired.
_NO_RESULT: Any = _Sentinel("<no result>")
#: In a callback list: hand the result to the Deferred stored as the "args".
_CONTINUE: Any = _Sentinel("<continue>")
#: In the "kwargs" place of a _CONTINUE entry: the Deferred is not waiting on
#: us but chained to us (``chainDeferred``): fire it, and go on with None.
_CHAIN: Any = _Sentinel("<chain>")

#: Deferred and its subclasses.  ``type(x) in _DEFERRED_TYPES`` is much cheaper
#: than ``isinstance(x, Deferred)`` (Deferred is generic) on the hot path.
_DEFERRED_TYPES: set[type] = set()

_EMPTY: tuple[Any, ...] = ()

#: While an asyncio task's cancellation cancels the Deferred it awaits
#: (``DeferredFuture.cancel``): ``[thread id, Deferred, ...]``, every Deferred
#: that comes to rest on a failure meanwhile on that thread; one left with a
#: failure made only of cancellations is not reported as unhandled.
#: Otherwise None.
_quietCancels: list[Any] | None = None


def _restedInQuiet(deferred: Any) -> None:
    # See _quietCancels (off the hot path: only while it is set).
    quiet = _quietCancels
    if quiet is not None and quiet[0] == _get_ident():
        quiet.append(deferred)


#: Targets of ``chainDeferred`` (by id) and the Deferred feeding them, for
#: ``__str__`` only; weak both ways so the link keeps neither alive.  Keyed by
#: id, not by the Deferred: a subclass may define ``__eq__`` without a hash.
_chainedTo: dict[
    int, tuple[weakref.ref[Deferred[Any]], weakref.ref[Deferred[Any]]]
] = {}


def _chainedFrom(target: Deferred[Any]) -> Deferred[Any] | None:
    link = _chainedTo.get(id(target))
    if link is None or link[0]() is not target:
        return None
    return link[1]()


def _linkChained(target: Deferred[Any], source: Deferred[Any]) -> None:
    key = id(target)
    _chainedTo[key] = (
        weakref.ref(target, lambda _: _chainedTo.pop(key, None)),
        weakref.ref(source),
    )


def _notCallable(what: str, value: object) -> TypeError:
    return TypeError(f"{what} must be callable, not {_shortRepr(value)}")


def _checkKeywords(keywords: Any, name: str) -> None:
    if keywords is not None and not isinstance(keywords, Mapping):
        raise TypeError(f"{name} must be a mapping, not {_shortRepr(keywords)}")


def _checkArgs(args: Any, name: str) -> tuple[Any, ...]:
    if args is None:
        return ()
    if type(args) is not tuple:
        if not isinstance(args, (tuple, list)):
            raise TypeError(f"{name} must be a tuple, not {_shortRepr(args)}")
        args = tuple(args)
    return args  # type: ignore[no-any-return]



def _bind(
    fn: Callable[..., Any], args: tuple[Any, ...], kwargs: Mapping[str, Any] | None
) -> Callable[..., Any]:
    """``fn`` with its own extra arguments bound, ignoring the ones shared
    with the callback it is paired with (see ``addCallbacks``)."""
    kw = kwargs or {}

    def bound(result: Any, *_ignored: Any, **_ignoredKw: Any) -> Any:
        return fn(result, *args, **kw)

    return bound


def _resume(result: _T) -> _T:
    """Hands an outcome computed outside the loop (see ``_runNow``) to it."""
    return result


_RESUME = (_resume, _resume, None, None)


def _warnReturnedSelf(fn: Any) -> None:
    """Warn that callback ``fn`` returned the Deferred it is attached to, as a
    warning of ``fn``'s own code (its file and last line), as Twisted does:
    the place to fix is the callback, not whoever fired the Deferred."""
    import sys
    import warnings

    message = (
        "Callback returned the Deferred it was attached to; this breaks the "
        "callback chain and will raise an exception in the future."
    )
    code = getattr(fn, "__code__", None)
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    if code is None or module is None:
        # A builtin or a callable object: no code of its own to point at.
        warnings.warn(message, DeprecationWarning, stacklevel=4)
        return
    import dis
    import inspect

    lines = [line for _, line in dis.findlinestarts(code) if line is not None]
    try:
        filename = inspect.getabsfile(module)
    except TypeError:  # a module with no file (made at run time, say)
        filename = code.co_filename
    warnings.warn_explicit(
        message,
        DeprecationWarning,
        filename,
        max(lines, default=code.co_firstlineno),
        module=module.__name__,
        registry=vars(module).setdefault("__warningregistry__", {}),
    )


def _cancelledToTimedOutError(value: Any, timeout: float) -> Any:
    """Turn the CancelledError of a timed-out Deferred into a TimeoutError."""
    if isinstance(value, Failure):
        value.trap(CancelledError)
        raise TimeoutError(timeout, "Deferred")
    return value


def passthru(arg: _T) -> _T:
    """Return ``arg`` unchanged: the do-nothing callback."""
    return arg


class _DefGen_Return(BaseException):  # Twisted's name for it
    """Raised by :func:`~deferred.returnValue` to end a generator with a value.

    A ``BaseException``, so ``except Exception:`` clauses let it through.
    """

    def __init__(self, value: object) -> None:
        super().__init__(value)
        self.value = value


#: The generators and coroutines that the compiled driver is stepping right
#: now (in any thread): ``returnValue()`` looks for its caller among them.
#: (The pure-Python driver's step has a frame of its own to look for.)
_stepping: list[Any] = []


def _describe(deferred: Any, reprOf: Callable[[object], str]) -> str:
    """The text of ``str(deferred)``, and of the errors that name it."""
    name = type(deferred).__name__
    result = deferred.result
    if type(result) in _DEFERRED_TYPES:
        state = f" waiting on Deferred at 0x{id(result):x}"
    elif result is _NO_RESULT:
        source = _chainedFrom(deferred)
        state = "" if source is None else f" waiting on Deferred at 0x{id(source):x}"
    else:
        state = f" current result: {reprOf(result)}"
    return f"<{name} at 0x{id(deferred):x}{state}>"

