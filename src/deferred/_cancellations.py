"""What counts as a cancellation, for the bridges between Deferreds and
futures.

Three kinds of ``CancelledError`` meet there: ours, asyncio's and
``concurrent.futures``'.  These tell a failure of cancellation from any other
failure -- one that must still be reported when it arrives after the waiting
was called off -- and recognise the results and failures of combinators whose
every input was cancelled.

asyncio is imported on first use only: ``import deferred`` must stay cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._errors import CancelledError
from .failure import _FAILURE_TYPES

if TYPE_CHECKING:
    from ._deferred import Deferred


def _cancelledErrors() -> tuple[type[BaseException], ...]:
    import asyncio
    import concurrent.futures

    return (CancelledError, asyncio.CancelledError, concurrent.futures.CancelledError)


def _isCancellation(outcome: object) -> bool:
    """Whether ``outcome`` is a failure of cancellation (ours, asyncio's or
    concurrent.futures')."""
    return type(outcome) in _FAILURE_TYPES and isinstance(
        outcome.value,  # type: ignore[attr-defined]
        _cancelledErrors(),
    )


def _isError(outcome: object) -> bool:
    """Whether ``outcome`` is a failure other than a cancellation: what must
    still be reported when it arrives after the waiting was called off."""
    return type(outcome) in _FAILURE_TYPES and not _isCancellation(outcome)


def _cancelledList(deferred: Deferred[Any], result: object) -> bool:
    """Whether ``result`` is what a cancelled ``DeferredList`` gives: a
    ``(False, cancellation)`` pair for every input."""
    from ._combinators import DeferredList

    return (
        isinstance(deferred, DeferredList)
        and type(result) is list
        and bool(result)
        and all(
            type(entry) is tuple
            and len(entry) == 2
            and entry[0] is False
            and _isCancellation(entry[1])
            for entry in result
        )
    )


def _onlyCancellations(value: BaseException) -> bool:
    """Whether ``value`` is a ``FirstError`` or ``FailureGroup`` made, at any
    depth, only of cancellations (ours, asyncio's or concurrent.futures')."""
    from ._combinators import FailureGroup, FirstError

    if not isinstance(value, (FirstError, FailureGroup)):
        return False
    cancelled = _cancelledErrors()
    pending: list[BaseException] = [value]
    while pending:
        value = pending.pop()
        if isinstance(value, FirstError):
            pending.append(value.subFailure.value)
        elif isinstance(value, FailureGroup):
            if not value.failures:
                return False
            pending.extend(f.value for f in value.failures)
        elif not isinstance(value, cancelled):
            return False
    return True
