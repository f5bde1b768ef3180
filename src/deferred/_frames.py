"""A Failure's traceback as plain data, and as text.

A :data:`Frame` tuple stands for one traceback entry.  Here the frames are
taken from a traceback, made safe to keep (captured variables replaced by
their ``repr``), and written out as text; :class:`_Chain` keeps the
exceptions a failure's exception was raised from, to be formatted only if
someone asks.  Nothing here imports :mod:`deferred.failure`, which builds on
it.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ._reprs import _safeRepr

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Frame", "format_frames"]

#: One traceback entry: ``(function, file, line, locals, globals)``; the two
#: variable lists are empty tuples unless the Failure was made with
#: ``captureVars``.
Frame = tuple[str, str, int, Sequence[tuple[str, Any]], Sequence[tuple[str, Any]]]


def _extractFrames(tb: TracebackType | None, captureVars: bool) -> list[Frame]:
    frames: list[Frame] = []
    while tb is not None:
        frame = tb.tb_frame
        code = frame.f_code
        localVars: Sequence[tuple[str, Any]] = ()
        globalVars: Sequence[tuple[str, Any]] = ()
        if captureVars:
            localVars = [kv for kv in frame.f_locals.items() if kv[0] != "__builtins__"]
            if frame.f_locals is not frame.f_globals:
                globalVars = [
                    kv for kv in frame.f_globals.items() if kv[0] != "__builtins__"
                ]
        frames.append(
            (code.co_name, code.co_filename, tb.tb_lineno, localVars, globalVars)
        )
        tb = tb.tb_next
    return frames


def _safeFrames(frames: list[Frame], captureVars: bool) -> list[Frame]:
    """Frames whose captured variables are replaced by their ``repr``, so the
    list references no live object."""
    if not captureVars:
        return frames
    return [
        (
            name,
            filename,
            lineno,
            [(k, _safeRepr(v)) for k, v in localVars],
            [(k, _safeRepr(v)) for k, v in globalVars],
        )
        for name, filename, lineno, localVars, globalVars in frames
    ]


def _earlierFrames(value: BaseException) -> list[Frame] | None:
    try:
        frames = getattr(value, "_deferred_frames", None)
    except BaseException:  # a __getattr__ that raises something else
        return None
    return frames if type(frames) is list else None


def _where(frames: list[Frame]) -> list[tuple[str, str, int]]:
    return [(name, filename, lineno) for name, filename, lineno, _, _ in frames]


def format_frames(
    frames: Sequence[Frame], write: Callable[[str], object], detail: str = "default"
) -> None:
    """Write ``frames`` (as in :attr:`Failure.frames`) as traceback text, one
    ``write()`` call per line.

    ``detail`` is ``default`` (file, line and source, as Python shows them),
    ``brief`` (``file:line:function``), ``verbose`` (with the captured
    variables) or ``verbose-vars-not-captured`` (saying they were not).
    """
    if detail == "brief":
        for name, filename, lineno, _, _ in frames:
            write(f"{filename}:{lineno}:{name}\n")
    elif detail == "default":
        import linecache

        for name, filename, lineno, _, _ in frames:
            write(f'  File "{filename}", line {lineno}, in {name}\n')
            # Two lines a frame, source or not, as Twisted writes.
            write(f"    {linecache.getline(filename, lineno).strip()}\n")
    elif detail == "verbose":
        for name, filename, lineno, localVars, globalVars in frames:
            write(f"{filename}:{lineno}: {name}(...)\n")
            write(" [ Locals ]\n")
            for key, val in localVars:
                write(f"  {key} : {_safeRepr(val)}\n")
            write(" ( Globals )\n")
            for key, val in globalVars:
                write(f"  {key} : {_safeRepr(val)}\n")
    elif detail == "verbose-vars-not-captured":
        for name, filename, lineno, _, _ in frames:
            write(f"{filename}:{lineno}: {name}(...)\n")
        write(" [Capture of Locals and Globals disabled (use captureVars=True)]\n")
    else:
        raise ValueError(
            "detail must be 'default', 'brief', 'verbose' or "
            f"'verbose-vars-not-captured', not {detail!r}"
        )


_CAUSE = "The above exception was the direct cause of the following exception:"
_CONTEXT = "During handling of the above exception, another exception occurred:"


class _Chain:
    """The exceptions a failure's exception was raised from (``raise ...
    from``, or raised inside ``except``), captured without their frames and
    formatted only if someone asks for the text."""

    __slots__ = ("_captured", "_link")

    def __init__(self, value: BaseException) -> None:
        self._captured: Any = None
        self._link = ""
        if value.__cause__ is not None:
            linked, self._link = value.__cause__, _CAUSE
        elif value.__context__ is not None and not value.__suppress_context__:
            linked, self._link = value.__context__, _CONTEXT
        else:
            return
        import traceback

        self._captured = traceback.TracebackException(
            type(linked), linked, linked.__traceback__, lookup_lines=False
        )

    def text(self) -> str:
        """Python's text for the chain, ending with the sentence that leads to
        the failure's own exception ("" when there is no chain)."""
        if self._captured is None:
            return ""
        return "".join(self._captured.format()) + f"\n{self._link}\n\n"
