"""The import surface is a public contract (SPEC section 1)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import deferred

TOP_LEVEL = {
    # Everything public on twisted.internet.defer's reference page...
    "Deferred", "DeferredList", "gatherResults", "succeed", "fail", "execute",
    "maybeDeferred", "logError", "passthru", "timeout", "setDebugging",
    "getDebugging", "DebugInfo", "ensureDeferred", "inlineCallbacks",
    "returnValue", "deferredGenerator", "waitForDeferred", "FirstError",
    "SUCCESS", "FAILURE", "AlreadyCalledError", "CancelledError", "TimeoutError",
    "DeferredLock", "DeferredSemaphore", "DeferredQueue", "QueueOverflow",
    "QueueUnderflow", "DeferredFilesystemLock", "AlreadyTryingToLockError",
    # ...the modern additions, and Failure re-exported.
    "race", "FailureGroup", "NotACoroutineError", "Failure", "react",
}  # fmt: skip

SUBMODULES = {
    "deferred.failure": {"Failure", "NoCurrentExceptionError"},
    "deferred.clock": {"Clock", "AsyncioClock"},
    "deferred.lockfile": {"FilesystemLock", "isLocked"},
    "deferred.testing": {
        "successResultOf", "failureResultOf", "assertNoResult", "TestCase",
        "SynchronousTestCase",
    },
    "deferred.task": {
        "deferLater", "LoopingCall", "Cooperator", "coiterate", "cooperate",
        "CooperativeTask", "SchedulerError", "SchedulerStopped", "TaskDone",
        "TaskFailed", "TaskStopped", "TaskFinished", "NotPaused", "Clock", "react",
    },
    "deferred.threads": {
        "deferToThread", "deferToThreadPool", "blockingCallFromThread",
        "callMultipleInThread",
    },
}  # fmt: skip


def test_all_lists_exactly_the_public_names() -> None:
    assert set(deferred.__all__) == TOP_LEVEL
    assert len(deferred.__all__) == len(TOP_LEVEL)


def test_every_public_name_is_importable() -> None:
    for name in deferred.__all__:
        assert getattr(deferred, name) is not None


@pytest.mark.parametrize("module", sorted(SUBMODULES))
def test_submodules_export_their_names(module: str) -> None:
    imported = __import__(module, fromlist=["*"])
    for name in SUBMODULES[module]:
        assert hasattr(imported, name), f"{module}.{name}"
        assert name in imported.__all__


def test_failure_is_the_same_class_everywhere() -> None:
    from deferred.failure import Failure

    assert deferred.Failure is Failure


def test_the_package_ships_py_typed() -> None:
    assert (Path(deferred.__file__).parent / "py.typed").is_file()


def test_import_loads_no_heavy_modules() -> None:
    # asyncio, logging and friends are imported when first used, so that
    # `import deferred` stays fast for programs that never need them.
    heavy = ["asyncio", "logging", "inspect", "traceback", "concurrent.futures"]
    code = (
        "import sys; import deferred; "
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": str(Path(deferred.__file__).parent.parent)},
    ).stdout
    assert out.strip() == "[]"
