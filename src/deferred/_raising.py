"""Raising a Failure's exception in plain Python code, traceback included."""

from __future__ import annotations

from typing import NoReturn

from .failure import Failure

__all__ = ["raiseFailure"]


def raiseFailure(failure: Failure) -> NoReturn:
    """Raise the exception of ``failure`` with its traceback.

    A Failure that rested on a Deferred keeps its traceback only as text (its
    frames were released): that text is then attached to the exception, as a
    note (or, on Python 3.10, as the ``__cause__``), so whoever sees the
    exception still learns where it came from.
    """
    __tracebackhide__ = True  # pytest: the caller's line is the one to show
    value = failure.value
    if failure.tb is None and failure.frames:
        text = "Traceback of the Deferred's failure:\n" + failure.getTraceback()
        addNote = getattr(value, "add_note", None)
        if addNote is not None:
            addNote(text.rstrip("\n"))
        elif value.__cause__ is None:  # Python 3.10: no exception notes
            raise value from FailureTraceback(text)
    raise value.with_traceback(failure.tb)


class FailureTraceback(Exception):
    """Carries the text traceback of a Deferred's failure, where Python has
    no exception notes to hold it (3.10)."""
