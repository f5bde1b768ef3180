"""Twisted's Deferred, standalone: typed, fast, and at home on asyncio.

The public API of ``twisted.internet.defer``: swap the import and code written
for Twisted runs unchanged.
"""

from ._debug import DebugInfo as DebugInfo
from ._deferred import Deferred as Deferred
from ._deferred import getDebugging as getDebugging
from ._deferred import passthru as passthru
from ._deferred import setDebugging as setDebugging
from ._errors import AlreadyCalledError as AlreadyCalledError
from ._errors import CancelledError as CancelledError
from ._errors import TimeoutError as TimeoutError
from ._functions import execute as execute
from ._functions import fail as fail
from ._functions import logError as logError
from ._functions import maybeDeferred as maybeDeferred
from ._functions import succeed as succeed
from ._functions import timeout as timeout
from .failure import Failure as Failure

# Each area's exports (kept in separate blocks so they can grow independently).
# exports: combinators
# exports: generators and coroutines
# exports: concurrency primitives
# exports: clock

#: ``DeferredList`` result entries: ``(SUCCESS, value)`` or ``(FAILURE, failure)``.
SUCCESS = True
FAILURE = False

__all__ = [
    "FAILURE",
    "SUCCESS",
    "AlreadyCalledError",
    "CancelledError",
    "DebugInfo",
    "Deferred",
    "Failure",
    "TimeoutError",
    "execute",
    "fail",
    "getDebugging",
    "logError",
    "maybeDeferred",
    "passthru",
    "setDebugging",
    "succeed",
    "timeout",
]
