"""Reporting of errors nobody handled, and the debug stacks that explain them.

Everything here is off the hot path: a :class:`DebugInfo` exists only for a
Deferred that rests on a failure, was cancelled without a canceller, or was
made while debugging is on; and the standard library's ``logging`` and
``traceback`` are imported on first use, so ``import deferred`` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from weakref import ref as _ref

if TYPE_CHECKING:
    from collections.abc import Callable

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


def formatStack(skip: int) -> list[str]:
    """The current call stack as text lines, without the innermost ``skip``
    frames (this function's own frame is always left out)."""
    import traceback

    return traceback.format_stack()[: -(skip + 1)]


def logFailure(message: str, failure: Failure) -> None:
    """Log one ERROR record on the ``"deferred"`` logger for ``failure``.

    The record carries ``exc_info`` and the Failure itself as its ``failure``
    attribute.  A Failure whose frames were cleaned or pickled has no live
    traceback, so its text traceback is given to the formatter instead.
    """
    logging = _logging
    if logging is None:
        import logging

    logger = logging.getLogger(LOGGER_NAME)
    if not logger.isEnabledFor(logging.ERROR):
        return
    record = logger.makeRecord(
        logger.name,
        logging.ERROR,
        "(deferred)",
        0,
        message,
        (),
        (failure.type, failure.value, failure.tb),
        extra={"failure": failure},
    )
    if failure.tb is None:
        record.exc_text = failure.getTraceback().rstrip("\n")
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
            logFailure(message, failure)
        except Exception:  # pragma: no cover - interpreter shutdown
            pass
