"""Twisted's Deferred, standalone: typed, fast, and at home on asyncio.

The public API of ``twisted.internet.defer``: swap the import and code written
for Twisted runs unchanged.  The manual clock lives in :mod:`deferred.clock`,
the filesystem lock in :mod:`deferred.lockfile`, and test helpers (with a
pytest plugin) in :mod:`deferred.testing`.
"""

# The Deferred and the helpers that make or fire one.
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

# Waiting for several Deferreds at once.
from ._combinators import FAILURE as FAILURE
from ._combinators import SUCCESS as SUCCESS
from ._combinators import DeferredList as DeferredList
from ._combinators import FailureGroup as FailureGroup
from ._combinators import FirstError as FirstError
from ._combinators import gatherResults as gatherResults
from ._combinators import race as race

# Generators, coroutines and asyncio.
from ._coroutines import NotACoroutineError as NotACoroutineError
from ._coroutines import ensureDeferred as ensureDeferred
from ._defgen import deferredGenerator as deferredGenerator
from ._defgen import waitForDeferred as waitForDeferred
from ._inline import inlineCallbacks as inlineCallbacks
from ._inline import returnValue as returnValue
from ._react import react as react

# Concurrency primitives.
from ._fslock import AlreadyTryingToLockError as AlreadyTryingToLockError
from ._fslock import DeferredFilesystemLock as DeferredFilesystemLock
from ._primitives import DeferredLock as DeferredLock
from ._primitives import DeferredSemaphore as DeferredSemaphore
from ._queue import DeferredQueue as DeferredQueue
from ._queue import QueueOverflow as QueueOverflow
from ._queue import QueueUnderflow as QueueUnderflow

#: Which core the Deferred runs on: "compiled" or "python" (docs/cores.md).
from ._core import IMPLEMENTATION as __core__  # noqa: F401

# __version__, read from the installed metadata only when first asked for.
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    __version__: str
else:
    from ._version import __getattr__ as __getattr__
del TYPE_CHECKING

__all__ = [
    "FAILURE",
    "SUCCESS",
    "AlreadyCalledError",
    "AlreadyTryingToLockError",
    "CancelledError",
    "DebugInfo",
    "Deferred",
    "DeferredFilesystemLock",
    "DeferredList",
    "DeferredLock",
    "DeferredQueue",
    "DeferredSemaphore",
    "Failure",
    "FailureGroup",
    "FirstError",
    "NotACoroutineError",
    "QueueOverflow",
    "QueueUnderflow",
    "TimeoutError",
    "deferredGenerator",
    "ensureDeferred",
    "execute",
    "fail",
    "gatherResults",
    "getDebugging",
    "inlineCallbacks",
    "logError",
    "maybeDeferred",
    "passthru",
    "race",
    "react",
    "returnValue",
    "setDebugging",
    "succeed",
    "timeout",
    "waitForDeferred",
]
