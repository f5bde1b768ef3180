"""Helpers the test modules share: reading what a fired Deferred holds, picking
the unhandled-error reports out of captured log records, and checking that a
piece of code leaves no reference cycles behind.

pytest puts this folder on ``sys.path`` (its default "prepend" import mode), so
test modules import these as ``from support import outcome, ...``.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from typing import Any

from deferred import Deferred, Failure

__all__ = [
    "Log",
    "UNHANDLED",
    "unhandled",
    "unhandledRecords",
    "outcome",
    "failureOf",
    "resultOf",
    "assertLeavesNoCycle",
]

Log = list[logging.LogRecord]
"""The records the ``deferredLog`` fixture captures."""

UNHANDLED = "Unhandled error in Deferred:"
"""How the report of a failure nobody handled begins."""


def unhandled(records: Log) -> Log:
    """The unhandled-error reports among ``records``."""
    return [r for r in records if r.getMessage().startswith(UNHANDLED)]


def unhandledRecords(records: Log) -> Log:
    """Like :func:`unhandled`, after a garbage collection, so Deferreds that
    only a reference cycle kept alive have reported by then."""
    gc.collect()
    return unhandled(records)


def outcome(d: Deferred[Any]) -> Any:
    """The result or Failure ``d`` holds now; a failure counts as handled.

    Fails the test if ``d`` has not fired yet.
    """
    seen: list[Any] = []
    d.addBoth(seen.append)
    assert seen, f"{d!r} has not fired"
    return seen[0]


def failureOf(d: Deferred[Any], *types: type[BaseException]) -> Failure:
    """The Failure ``d`` holds now, handled; given ``types``, it must be one
    of them. Fails the test if ``d`` has not fired or holds a result."""
    result = outcome(d)
    assert isinstance(result, Failure), f"expected a failure, got {result!r}"
    if types:
        assert result.check(*types), result
    return result


def resultOf(d: Deferred[Any]) -> Any:
    """The result ``d`` holds now. Fails the test if ``d`` has not fired or
    holds a Failure (which is then handled)."""
    result = outcome(d)
    assert not isinstance(result, Failure), f"expected a result, got {result!r}"
    return result


def assertLeavesNoCycle(run: Callable[[], object]) -> None:
    """Run ``run()`` with the garbage collector off; nothing it leaves behind
    may need the collector (every object must be freed by reference counts)."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        run()
        gc.collect()
        leftovers = sorted({type(o).__name__ for o in gc.garbage})
        assert leftovers == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def callbacksOf(d: Deferred[Any]) -> list[Any]:
    """``d.callbacks`` (deprecated, as in Twisted) without its warning."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return d.callbacks
