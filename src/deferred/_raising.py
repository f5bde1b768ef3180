"""Raising a Failure's exception in plain Python code, traceback included."""

from __future__ import annotations

from typing import NoReturn

from .failure import Failure

__all__ = ["raiseFailure"]


def raiseFailure(failure: Failure) -> NoReturn:
    """Raise the exception of ``failure`` with its traceback: the live one,
    or for a Failure that rested on a Deferred (which keeps its traceback as
    text only), one rebuilt from that text, so whoever sees the exception
    still learns where it came from."""
    __tracebackhide__ = True  # pytest: the caller's line is the one to show
    raise failure._reraisable()
