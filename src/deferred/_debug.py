"""Reporting of errors nobody handled, and the debug stacks that explain them.

Everything here is off the hot path: a :class:`DebugInfo` exists only for a
Deferred that rests on a failure, was cancelled without a canceller, or was
made while debugging is on; and the standard library's ``logging`` and
``traceback`` are imported on first use, so ``import deferred`` stays fast.
"""

from __future__ import annotations

from sys import _getframe
from typing import TYPE_CHECKING, Any
from weakref import ref as _ref

from .failure import _earlierFrames

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import CodeType, FrameType

    from .failure import Failure

__all__ = ["DebugInfo", "logFailure", "formatStack", "reportLiveFailures"]

LOGGER_NAME = "deferred"
UNHANDLED_MESSAGE = "Unhandled error in Deferred:"

# -- nothing lost at exit --------------------------------------------------------
#
# A failed Deferred still referenced when the interpreter exits is never
# collected before the interpreter tears its modules down, when logging no
# longer works.  So every DebugInfo (they exist only for Deferreds that rest
# on a failure, were cancelled, or were made while debugging) is registered
# here, weakly, from its creation to its __del__; and the first one made
# imports logging and registers an atexit hook.  Registered after logging's
# own (its shutdown flushes the handlers), the hook runs before it: it reports
# what cyclic garbage still holds, then every failure still held by a live
# Deferred.

#: id(DebugInfo) -> weak reference, for every DebugInfo alive.
_live: dict[int, Callable[[], DebugInfo | None]] = {}
#: The logging module, imported with the first DebugInfo (see above).
_logging: Any = None


def _hookExit() -> None:
    global _logging
    import atexit
    import logging

    _logging = logging
    atexit.register(_reportAtExit)


def _reportAtExit() -> None:
    if not _live:
        return
    import gc

    gc.collect()  # unreachable failed Deferreds report through __del__
    reportLiveFailures("when the interpreter exited")


def reportLiveFailures(when: str) -> int:
    """Report, once each, the unhandled failures of the Deferreds still
    alive (nothing will handle them any more: the program or the test
    session is over); return how many.  ``when`` completes the sentence
    "the Deferred was still referenced ...".
    """
    count = 0
    for weak in list(_live.values()):
        info = weak()
        if info is not None and info.failResult is not None:
            count += 1
            info._report(
                f"(the Deferred was still referenced {when}: "
                "its failure was never handled)"
            )
    return count


# -- where a failure came from ---------------------------------------------------

#: The attribute of a never-raised Failure that holds where errback() was
#: called: ``(filename, lineno, function)`` entries, outermost first.
_WHERE = "_deferred_where"
#: How many of the caller's frames a never-raised failure keeps, and how many
#: frames past the first it looks at, at most.
_WHERE_LIMIT = 5
_WHERE_WALK = 40
SUGGEST_DEBUGGING = (
    "(setDebugging(True) also shows where the Deferred was created and first fired)"
)

# The directory of this package: its frames are the library's, not the user's.
_PACKAGE_DIR = __file__[: -len("_debug.py")]
_hiddenFiles: dict[str, bool] = {}
_HIDDEN_PACKAGES = ("_pytest", "pytest", "pluggy", "asyncio")


def _isHidden(filename: str) -> bool:
    """Whether frames of ``filename`` are machinery the user did not write:
    this package, pytest, pluggy, asyncio, runpy."""
    hidden = _hiddenFiles.get(filename)
    if hidden is None:
        parts = filename.replace("\\", "/").split("/")
        hidden = _hiddenFiles[filename] = (
            filename.startswith(_PACKAGE_DIR)
            or any(p in _HIDDEN_PACKAGES for p in parts[-3:-1])
            or parts[-1] in ("<frozen runpy>", "runpy.py", "pytest", "py.test")
        )
    return hidden


def noteCaller(failure: Failure, depth: int = 2) -> None:
    """Remember where ``failure`` was fired, if it has no traceback at all
    (its exception was never raised): the innermost frames that called into
    this package.  Only errback() calls this, for a failure without ``tb``.

    Off the hot path, yet cancel() comes here: so only code objects and
    instruction offsets are kept, the line numbers and text are worked out
    if a report needs them.
    """
    # Cleaned, or raised earlier: it knows where it was.  (Not through
    # failure.frames, which would cache an empty list.)
    if failure._frames or _earlierFrames(failure.value):
        return
    # ``depth``: this frame, and errback()'s (none in the compiled core).
    frame: FrameType | None = _getframe(depth)
    hidden = _hiddenFiles
    while frame is not None:
        name = frame.f_code.co_filename
        isHidden = hidden.get(name)
        if isHidden is None:
            isHidden = _isHidden(name)
        if not isHidden:
            break
        frame = frame.f_back
    where: list[tuple[CodeType, int]] = []
    walked = 0
    while frame is not None and walked < _WHERE_WALK:
        code = frame.f_code
        name = code.co_filename
        isHidden = hidden.get(name)
        if isHidden is None:
            isHidden = _isHidden(name)
        if not isHidden:
            where.append((code, frame.f_lasti))
            if len(where) == _WHERE_LIMIT:
                break
        walked += 1
        frame = frame.f_back
    where.reverse()
    try:
        setattr(failure, _WHERE, where)
    except BaseException:  # pragma: no cover - a Failure subclass refusing it
        pass


def _lineAt(code: CodeType, lasti: int) -> int:
    for start, end, line in code.co_lines():
        if start <= lasti < end:
            return line if line is not None else code.co_firstlineno
    return code.co_firstlineno


def _whereOf(failure: Failure) -> list[tuple[str, int, str]] | None:
    """Where a never-raised failure was fired: ``(file, line, function)``
    entries, outermost first (``None`` if not recorded)."""
    where: list[tuple[CodeType, int]] | None = getattr(failure, _WHERE, None)
    if where is None:
        return None
    return [
        (code.co_filename, _lineAt(code, lasti), code.co_name) for code, lasti in where
    ]


def failureLocation(failure: Failure) -> tuple[str, int, str | None]:
    """Where ``failure`` came from, as a log record's ``(pathname, lineno,
    funcName)``: the line that raised it (the innermost frame of its
    traceback), or for an exception never raised the errback() or fail()
    call that fired it."""
    tb = failure.tb
    if tb is not None:
        while tb.tb_next is not None:
            tb = tb.tb_next
        code = tb.tb_frame.f_code
        return code.co_filename, tb.tb_lineno, code.co_name
    frames = failure.frames
    if frames:
        name, filename, lineno = frames[-1][:3]
        return filename, lineno, name
    where = _whereOf(failure)
    if where:
        filename, lineno, name = where[-1]
        return filename, lineno, name
    return "(deferred)", 0, None


def failureText(failure: Failure, hint: str = SUGGEST_DEBUGGING) -> str:
    """The traceback of ``failure`` as text, for a report.

    For an exception that was never raised (no traceback at all) that is,
    instead of an empty traceback, where it was handed to errback() or
    fail(), followed by ``hint``.
    """
    where = None if failure.tb is not None or failure.frames else _whereOf(failure)
    if where is None:
        text = failure.getTraceback().rstrip("\n")
        if failure.tb is None and not failure.frames and hint:
            text += "\n" + hint
        return text
    import traceback

    from .failure import _qual, _safeStr

    lines = [
        "The exception was never raised; it was passed to errback() or "
        "fail() at (most recent call last):\n"
    ]
    lines += traceback.StackSummary.from_list(
        [(filename, lineno, name, None) for filename, lineno, name in where]
    ).format()
    lines.append(f"{_qual(failure.type)}: {_safeStr(failure.value)}")
    if hint:
        lines.append("\n" + hint)
    return "".join(lines)


#: The environment variable that keeps whole stacks in debug reports.
FULL_STACKS_VARIABLE = "DEFERRED_DEBUG_FULL_STACKS"


def formatStack(skip: int) -> list[str]:
    """The current call stack as text lines, without the innermost ``skip``
    frames (this function's own frame is always left out).

    Only the user's frames are kept: those of this package, pytest, pluggy,
    asyncio and runpy are left out, unless the environment variable
    ``DEFERRED_DEBUG_FULL_STACKS`` is set (to anything but "" or "0").
    """
    import os
    import traceback

    frame: FrameType | None = _getframe(skip + 1)
    full = os.environ.get(FULL_STACKS_VARIABLE, "") not in ("", "0")
    kept = []
    while frame is not None:
        name = frame.f_code.co_filename
        if full or not (_hiddenFiles.get(name) or _isHidden(name)):
            kept.append((frame, frame.f_lineno))
        frame = frame.f_back
    if not kept and not full:
        # Nothing but machinery (a callback run by the event loop, say):
        # say so rather than show nothing.
        return [
            "  (only frames of deferred, asyncio or pytest: set "
            f"{FULL_STACKS_VARIABLE}=1 to see them)\n"
        ]
    kept.reverse()
    return traceback.StackSummary.extract(kept).format()


def logFailure(message: str, failure: Failure, hint: str = "") -> None:
    """Log one ERROR record on the ``"deferred"`` logger for ``failure``.

    The record carries ``exc_info`` and the Failure itself as its ``failure``
    attribute, and says where the failure came from (``pathname``,
    ``lineno``, ``funcName``: see :func:`failureLocation`).  A Failure whose
    frames were cleaned or pickled has no live traceback, so its text
    traceback is given to the formatter instead (see :func:`failureText`;
    ``hint`` follows the report of an exception never raised).
    """
    logging = _logging
    if logging is None:
        import logging

    logger = logging.getLogger(LOGGER_NAME)
    if not logger.isEnabledFor(logging.ERROR):
        return
    pathname, lineno, funcName = failureLocation(failure)
    record = logger.makeRecord(
        logger.name,
        logging.ERROR,
        pathname,
        lineno,
        message,
        (),
        (failure.type, failure.value, failure.tb),
        funcName,
        {"failure": failure},
    )
    if failure.tb is None:
        record.exc_text = failureText(failure, hint)
    logger.handle(record)


class DebugInfo:
    """What a Deferred remembers beyond its result, when it needs to.

    ``failResult`` is the failure the Deferred currently rests on, if any;
    when this object is collected with one still set, the failure was never
    handled and is logged once.  ``creator`` and ``invoker`` are the stacks
    (lists of text lines) that created the Deferred and first fired it,
    recorded only while debugging is on.  The Deferred also keeps its
    canceller here, and whether to ignore its next fire (it was cancelled
    without a canceller), so it needs one slot for all of them.
    """

    __slots__ = (
        "__weakref__",
        "_canceller",
        "_suppress",
        "creator",
        "failResult",
        "invoker",
    )

    def __init__(self) -> None:
        self.failResult: Failure | None = None
        self.creator: list[str] | None = None
        self.invoker: list[str] | None = None
        self._canceller: Callable[[Any], object] | None = None
        self._suppress = False
        if _logging is None:
            _hookExit()
        _live[id(self)] = _ref(self)

    def _getDebugTracebacks(self) -> str:
        info = ""
        for label, title, stack in (
            ("C", "Deferred was created:", self.creator),
            ("I", "First Invoker was:", self.invoker),
        ):
            if stack is not None:
                body = "".join(stack).rstrip().replace("\n", f"\n {label}:")
                info += f" {label}: {title}\n {label}:{body}\n"
        return info

    def __del__(self) -> None:
        try:
            del _live[id(self)]
        except Exception:  # pragma: no cover - interpreter shutdown
            pass
        if self.failResult is not None:
            self._report("")

    def _report(self, note: str) -> None:
        """Log the unhandled failure, once: ``note`` ends the message."""
        failure = self.failResult
        if failure is None:
            return
        self.failResult = None
        message = UNHANDLED_MESSAGE
        extra = self._getDebugTracebacks()
        if extra:
            message += f"\n(debug: {extra})"
        if note:
            message += "\n" + note
        try:
            # The debug stacks, when recorded, say what the hint would.
            logFailure(message, failure, "" if extra else SUGGEST_DEBUGGING)
        except Exception:  # pragma: no cover - interpreter shutdown
            pass


# -- subclasses registered weakly --------------------------------------------------
#
# The hot paths test ``type(x) in _DEFERRED_TYPES`` (and the like for
# Failure): a set lookup in C, far cheaper than isinstance() when it misses.
# Every subclass joins these sets when it is made.  Held strongly, a class
# made at run time (inside a function, by type()) would stay for good; so a
# subclass is held through a _ClassEntry, a weak reference that hashes and
# compares equal like the class.  A lookup of Deferred or Failure themselves
# (strong entries) or a miss never calls into Python; a hit on a weak entry
# calls its __eq__ -- and the first hit on a class that its module holds (a
# class statement at module level, which lives as long as the module anyway)
# replaces the entry with the class itself, so that later lookups stay in C.
# Only classes made at run time keep paying for the Python-level __eq__.


class _ClassEntry(_ref[type]):
    __slots__ = ("_registry", "_tries")

    _registry: set[type]
    _tries: int

    def __eq__(self, other: object) -> bool:
        cls = self()
        if cls is not other or cls is None or self._tries < 0:
            return False
        if self._tries:
            self._tries -= 1
            if _heldByModule(cls):
                # Strong from now on.  Meanwhile this entry equals nothing,
                # or the set would take the class for one it holds already.
                # (Changing the set while it looks up is safe: the lookup
                # starts again, and finds the class.)
                self._tries = -1
                registry = self._registry
                registry.add(cls)
                registry.discard(self)
        return True

    __hash__ = _ref.__hash__


def _heldByModule(cls: type) -> bool:
    import sys

    qualname = cls.__qualname__
    if "<locals>" in qualname:
        return False
    held: object = sys.modules.get(cls.__module__)
    try:
        for name in qualname.split("."):
            held = getattr(held, name, None)
    except Exception:  # a module __getattr__ that raises something else
        return False
    return held is cls


def registerClass(cls: type, *registries: set[type]) -> None:
    """Add ``cls`` to each of ``registries`` (sets of classes looked up as
    ``type(x) in registry``) without keeping it alive."""
    for registry in registries:
        entry = _ClassEntry(cls, registry.discard)
        hash(entry)  # cached now, for the discard once the class is gone
        entry._registry = registry
        entry._tries = 0 if "<locals>" in cls.__qualname__ else 8
        registry.add(entry)  # type: ignore[arg-type]
