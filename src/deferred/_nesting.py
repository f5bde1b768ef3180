"""Firing Deferreds from inside other Deferreds' callbacks without nesting
deeper and deeper.

A Deferred fired by a callback of another one runs its own callbacks inside
that callback, and so on: a pipeline of generators, or combinators nested
inside one another (``gatherResults([gatherResults([...])])``), would then
use stack in proportion to its length, and a few hundred levels would hit
``RecursionError``.  :func:`fire` keeps the first levels exactly as Twisted
runs them, and past :data:`MAX_NESTED` hands the firing to the outermost
level, which fires the backlog in order once its own callback has returned:
the same outcome for any depth, in linear time and bounded stack.
"""

from __future__ import annotations

from collections import deque
from threading import local
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._deferred import Deferred

__all__ = ["MAX_NESTED", "fire", "takeBack"]

#: How many fires may nest inside one another before the rest wait for the
#: outermost one.
MAX_NESTED = 20


class _State(local):
    """Per thread: how deep fires are nested, and the ones left to make."""

    depth = 0

    def __init__(self) -> None:
        self.backlog: deque[tuple[Deferred[Any], Any]] = deque()


_state = _State()


def fire(deferred: Deferred[Any], result: Any) -> None:
    """``deferred.callback(result)`` (a Failure fires the errbacks), now or,
    when nested too deep and something waits on it, once the outermost fire
    in progress has made its own."""
    state = _state
    depth = state.depth
    if depth >= MAX_NESTED and deferred._callbacks:
        # (With nothing waiting on it, it fires at once: callers may rely on
        # seeing its result right after.)
        state.backlog.append((deferred, result))
        return
    state.depth = depth + 1
    try:
        deferred.callback(result)
    finally:
        state.depth = depth
        if not depth:
            backlog = state.backlog
            while backlog:
                deferred, result = backlog.popleft()
                state.depth = 1
                try:
                    deferred.callback(result)
                except BaseException:
                    # Not the concern of the chain that happens to be
                    # outermost (nor a reason to strand the rest): report it.
                    from ._debug import logFailure
                    from .failure import Failure

                    logFailure("Exception raised firing a Deferred:", Failure())
                finally:
                    state.depth = 0


def takeBack(deferred: Deferred[Any]) -> tuple[bool, Any]:
    """Remove ``deferred``'s fire from the backlog, if it is there: ``(True,
    result)``, or ``(False, None)``."""
    backlog = _state.backlog
    for index, (waiting, result) in enumerate(backlog):
        if waiting is deferred:
            del backlog[index]
            return True, result
    return False, None
