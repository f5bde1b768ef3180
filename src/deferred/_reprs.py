"""Text of arbitrary objects for error messages and reports, never raising.

An error message must not fail in turn: these give a class's qualified name,
and an object's ``str()`` or ``repr()`` with a stand-in when that raises (and,
for :func:`_shortRepr`, cut short).
"""

from __future__ import annotations


def _qual(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _safeStr(obj: object) -> str:
    try:
        return str(obj)
    except BaseException:
        try:
            return f"<unprintable {type(obj).__name__} object>"
        except BaseException:
            return "<unprintable object>"


def _safeRepr(obj: object) -> str:
    try:
        return repr(obj)
    except BaseException:
        return f"<unrepresentable {type(obj).__name__} object>"


def _shortRepr(obj: object, limit: int = 200) -> str:
    """``repr(obj)`` for an error message: never raising, and cut short (a
    huge result must not make a huge message)."""
    if type(obj) in (list, tuple, dict, set, frozenset) and len(obj) > limit:  # type: ignore[arg-type]
        # Not repr() at all: it would build the whole text first.
        return f"<{type(obj).__name__} of {len(obj):,} items>"  # type: ignore[arg-type]
    text = _safeRepr(obj)
    if len(text) > limit:
        text = f"{text[: limit - 20]}...{text[-15:]}"
    return text
