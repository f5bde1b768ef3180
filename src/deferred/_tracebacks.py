"""Traceback objects made from a Failure's text frames.

A Failure that a Deferred came to rest on keeps its traceback as text only
(:meth:`~deferred.failure.Failure.cleanFailure`).  Two kinds of traceback are
made back from that text: :class:`_TextTraceback`, a stand-in that the
:mod:`traceback` module can format (``getTracebackObject()``), and, from
:func:`_rebuiltTraceback`, a real traceback raised through stand-in
functions, for the exception raised again.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from types import CodeType, FunctionType, TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._frames import Frame


class _TextCode:
    __slots__ = ("co_filename", "co_name")

    def __init__(self, name: str, filename: str) -> None:
        self.co_name = name
        self.co_filename = filename

    def co_positions(self) -> Any:
        # No column information: the traceback module then shows no carets.
        while True:
            yield (None, None, None, None)


class _TextFrame:
    __slots__ = ("f_back", "f_code", "f_globals", "f_lasti", "f_lineno", "f_locals")

    def __init__(self, frame: Frame, back: _TextFrame | None) -> None:
        name, filename, lineno, localVars, globalVars = frame
        self.f_code = _TextCode(name, filename)
        self.f_lineno = lineno
        self.f_lasti = 0
        # The captured variables (their repr, once cleaned or pickled), if any.
        self.f_locals = dict(localVars)
        self.f_globals = dict(globalVars)
        self.f_back = back  # the caller's frame, as on a real frame


class _TextTraceback:
    """A stand-in for a traceback object, made from a Failure's text frames,
    for code that hands ``getTracebackObject()`` to the traceback module."""

    __slots__ = ("tb_frame", "tb_lasti", "tb_lineno", "tb_next")

    def __init__(self, frame: _TextFrame) -> None:
        self.tb_frame = frame
        self.tb_lineno = frame.f_lineno
        self.tb_lasti = -1
        self.tb_next: _TextTraceback | None = None

    @classmethod
    def chain(cls, frames: list[Frame]) -> _TextTraceback | None:
        head: _TextTraceback | None = None
        last: _TextTraceback | None = None
        back: _TextFrame | None = None
        for frame in frames:
            back = _TextFrame(frame, back)
            link = cls(back)
            if last is None:
                head = link
            else:
                last.tb_next = link
            last = link
        return head


class _Rebuilding(BaseException):
    """Raised through the stand-in frames of :func:`_rebuiltTraceback`."""


#: How many frames a rebuilt traceback has at most (the innermost ones).
_MAX_REBUILT = 200

#: Code objects for stand-in frames, by (function, file, line, innermost).
_standInCode: dict[tuple[str, str, int, bool], CodeType] = {}


def _rebuiltTraceback(frames: Sequence[Frame]) -> TracebackType | None:
    """A real traceback whose entries have the files, lines and function
    names of ``frames``, made by raising through stand-in functions compiled
    for each of them (no variables of the original frames come back)."""
    if not frames:
        return None
    # One nested call a frame: the innermost ones, as many as the stack
    # allows with room to spare (a RecursionError's own failure has ~1,000).
    frames = frames[-_MAX_REBUILT:]
    marker = _Rebuilding()
    call: Any = None
    try:
        for name, filename, lineno, _, _ in reversed(frames):
            code = _standIn(name, filename, lineno, call is None)
            call = FunctionType(code, {"_n": call, "_e": marker})
    except BaseException:  # a line number or a name Python will not compile
        return None
    try:
        call()
    except _Rebuilding as raised:
        tb = raised.__traceback__
        raised.__traceback__ = None
        return tb.tb_next if tb is not None else None  # (not this frame)
    except BaseException:  # no stack left for it (RecursionError), say
        return None
    return None  # pragma: no cover - the stand-ins always raise


def _standIn(name: str, filename: str, lineno: int, innermost: bool) -> CodeType:
    key = (name, filename, lineno, innermost)
    code = _standInCode.get(key)
    if code is not None:
        return code
    import linecache

    line = linecache.getline(filename, lineno)
    source = line.strip()
    indent = len(line) - len(line.lstrip())
    # A statement as wide as the source line, so that the traceback module
    # underlines nothing (it marks only part of a line).
    if innermost:
        statement = "raise (_e" + " " * max(0, len(source) - 10) + ")"
    else:
        statement = "_n(" + " " * max(0, len(source) - 4) + ")"
    if indent and lineno > 1:
        # Indented as in the file (a column offset of its own), inside a
        # block that starts on the line before.
        text, first = "if 1:\n" + " " * indent + statement + "\n", lineno - 1
    else:
        text, first = statement + "\n", lineno
    code = compile(text, filename, "exec")
    code = code.replace(co_name=name, co_firstlineno=first)
    if sys.version_info >= (3, 11):
        code = code.replace(co_qualname=name)
    if len(_standInCode) >= 4096:
        _standInCode.clear()  # bounded: a cache, not a record
    _standInCode[key] = code
    return code
