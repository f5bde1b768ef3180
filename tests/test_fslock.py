"""Tests for DeferredFilesystemLock."""

from __future__ import annotations

import asyncio
import errno
import gc
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import deferred.lockfile as lockfile
from deferred import (
    AlreadyTryingToLockError,
    CancelledError,
    Deferred,
    DeferredFilesystemLock,
    TimeoutError,
)
from deferred.clock import AsyncioClock, Clock
from deferred.lockfile import FilesystemLock
from deferred.testing import assertNoResult, failureResultOf, successResultOf

# Lets a child process import this checkout of deferred.
_SRC = str(Path(lockfile.__file__).resolve().parents[1])


@pytest.fixture
def name(tmp_path: Path) -> str:
    return str(tmp_path / "lock")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def lock(name: str, clock: Clock) -> DeferredFilesystemLock:
    return DeferredFilesystemLock(name, scheduler=clock)


@pytest.fixture
def other(name: str) -> Iterator[FilesystemLock]:
    """Another holder of the same lock, in this process."""
    holder = FilesystemLock(name)
    assert holder.lock()
    yield holder
    if holder.locked:
        holder.unlock()


def test_is_a_filesystem_lock(lock: DeferredFilesystemLock, name: str) -> None:
    assert isinstance(lock, FilesystemLock)
    assert lock.name == name
    assert lock.locked is False
    assert lock._interval == 1


def test_free_lock_is_taken_at_once(lock: DeferredFilesystemLock, clock: Clock) -> None:
    d = lock.deferUntilLocked()
    assert successResultOf(d) is None
    assert lock.locked is True
    assert clock.getDelayedCalls() == []
    lock.unlock()


def test_held_lock_is_retried_every_interval_until_free(
    lock: DeferredFilesystemLock, clock: Clock, other: FilesystemLock
) -> None:
    d = lock.deferUntilLocked()
    assertNoResult(d)
    [call] = clock.getDelayedCalls()
    assert call.getTime() == 1
    clock.advance(1)
    assertNoResult(d)
    [call] = clock.getDelayedCalls()
    assert call.getTime() == 2
    other.unlock()
    clock.advance(0.5)
    assertNoResult(d)
    clock.advance(0.5)
    assert successResultOf(d) is None
    assert lock.locked is True
    assert clock.getDelayedCalls() == []
    lock.unlock()


def test_interval_can_be_changed(
    lock: DeferredFilesystemLock, clock: Clock, other: FilesystemLock
) -> None:
    lock._interval = 0.25
    d = lock.deferUntilLocked()
    other.unlock()
    clock.advance(0.25)
    successResultOf(d)
    lock.unlock()


def test_times_out_with_timeout_error(
    lock: DeferredFilesystemLock, clock: Clock, other: FilesystemLock
) -> None:
    d = lock.deferUntilLocked(timeout=5.5)
    clock.pump([1] * 5)
    assertNoResult(d)
    clock.advance(0.5)
    failure = failureResultOf(d, TimeoutError)
    assert "5.5" in failure.getErrorMessage()
    assert lock.locked is False
    assert clock.getDelayedCalls() == []
    assert lock._tryLockCall is None and lock._timeoutCall is None


def test_lock_freed_before_the_timeout_is_taken(
    lock: DeferredFilesystemLock, clock: Clock, other: FilesystemLock
) -> None:
    clock.callLater(1, other.unlock)
    d = lock.deferUntilLocked(timeout=10)
    clock.advance(1)
    successResultOf(d)
    assert clock.getDelayedCalls() == []
    lock.unlock()


def test_lock_freed_just_before_the_timeout_is_still_taken(
    lock: DeferredFilesystemLock, clock: Clock, other: FilesystemLock
) -> None:
    # One last attempt is made when the time is up.
    d = lock.deferUntilLocked(timeout=1.5)
    clock.advance(1)
    other.unlock()
    clock.advance(0.5)
    successResultOf(d)
    assert lock.locked is True
    assert clock.getDelayedCalls() == []
    lock.unlock()


def test_bad_timeout_raises_at_the_call(lock: DeferredFilesystemLock) -> None:
    with pytest.raises(ValueError):
        lock.deferUntilLocked(timeout=-1)
    with pytest.raises(TypeError):
        lock.deferUntilLocked(timeout="soon")  # type: ignore[arg-type]
    successResultOf(lock.deferUntilLocked())
    lock.unlock()


def test_second_call_while_trying_fails_with_already_trying_to_lock_error(
    lock: DeferredFilesystemLock, clock: Clock, other: FilesystemLock
) -> None:
    clock.callLater(1, other.unlock)
    first = lock.deferUntilLocked()
    second = lock.deferUntilLocked()
    failureResultOf(second, AlreadyTryingToLockError)
    clock.advance(1)
    successResultOf(first)
    lock.unlock()


def test_can_be_used_again_after_locking(
    lock: DeferredFilesystemLock, clock: Clock, other: FilesystemLock
) -> None:
    clock.callLater(1, other.unlock)
    again: list[Deferred[None]] = []

    def relock(_: None) -> None:
        lock.unlock()
        again.append(lock.deferUntilLocked())

    lock.deferUntilLocked().addCallback(relock)
    clock.advance(1)
    successResultOf(again[0])
    assert lock.locked is True
    lock.unlock()


def test_cancel_stops_the_retries(
    lock: DeferredFilesystemLock, clock: Clock, other: FilesystemLock
) -> None:
    d = lock.deferUntilLocked()
    tryLockCall = lock._tryLockCall
    assert tryLockCall is not None
    d.cancel()
    failureResultOf(d, CancelledError)
    assert not tryLockCall.active()
    assert lock._tryLockCall is None
    assert clock.getDelayedCalls() == []
    assert lock.locked is False
    # Free to try again.
    other.unlock()
    successResultOf(lock.deferUntilLocked())
    lock.unlock()


def test_cancel_with_a_timeout_stops_both_calls(
    lock: DeferredFilesystemLock, clock: Clock, other: FilesystemLock
) -> None:
    d = lock.deferUntilLocked(timeout=1)
    timeoutCall = lock._timeoutCall
    assert timeoutCall is not None
    d.cancel()
    failureResultOf(d, CancelledError)
    assert not timeoutCall.active()
    assert lock._timeoutCall is None
    assert clock.getDelayedCalls() == []


def test_cancel_when_the_lock_has_just_come_free_takes_it(
    lock: DeferredFilesystemLock, clock: Clock, other: FilesystemLock
) -> None:
    # As in Twisted: cancelling makes one last attempt, which may succeed.
    d = lock.deferUntilLocked()
    other.unlock()
    d.cancel()
    successResultOf(d)
    assert lock.locked is True
    assert clock.getDelayedCalls() == []
    lock.unlock()


def test_cancel_after_locking_does_nothing(lock: DeferredFilesystemLock) -> None:
    d = lock.deferUntilLocked()
    d.cancel()
    successResultOf(d)
    assert lock.locked is True
    lock.unlock()


def test_error_on_the_first_attempt_raises_at_the_call(
    lock: DeferredFilesystemLock, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    def denied(value: str, filename: str) -> None:
        raise PermissionError(errno.EACCES, "denied")

    monkeypatch.setattr(lockfile, "symlink", denied)
    with pytest.raises(PermissionError):
        lock.deferUntilLocked()
    assert clock.getDelayedCalls() == []
    monkeypatch.undo()
    successResultOf(lock.deferUntilLocked())
    lock.unlock()


def test_error_on_a_retry_fails_the_deferred(
    lock: DeferredFilesystemLock,
    clock: Clock,
    other: FilesystemLock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    d = lock.deferUntilLocked(timeout=10)

    def denied(value: str, filename: str) -> None:
        raise PermissionError(errno.EACCES, "denied")

    monkeypatch.setattr(lockfile, "symlink", denied)
    clock.advance(1)
    failureResultOf(d, PermissionError)
    assert clock.getDelayedCalls() == []
    monkeypatch.undo()
    other.unlock()
    successResultOf(lock.deferUntilLocked())
    lock.unlock()


def test_waits_for_a_lock_held_by_another_process(
    lock: DeferredFilesystemLock, clock: Clock, name: str
) -> None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_SRC, env.get("PYTHONPATH")]))
    holder = textwrap.dedent(
        f"""
        import sys
        from deferred.lockfile import FilesystemLock
        lock = FilesystemLock({name!r})
        assert lock.lock()
        print("locked", flush=True)
        sys.stdin.read()
        lock.unlock()
        """
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", holder],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline() == "locked\n"
    d = lock.deferUntilLocked()
    clock.pump([1, 1])
    assertNoResult(d)
    proc.stdin.close()
    assert proc.wait(timeout=10) == 0
    proc.stdout.close()
    clock.advance(1)
    successResultOf(d)
    assert lockfile.readlink(name) == str(os.getpid())
    lock.unlock()


def test_finished_wait_leaves_no_reference_cycles(
    lock: DeferredFilesystemLock, clock: Clock, other: FilesystemLock
) -> None:
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        d = lock.deferUntilLocked(timeout=5)
        clock.advance(1)
        other.unlock()
        clock.advance(1)
        successResultOf(d)
        cancelled = lock.deferUntilLocked()  # held by lock itself: waits
        cancelled.cancel()
        failureResultOf(cancelled, CancelledError)
        del d, cancelled
        gc.collect()
        assert gc.garbage == []
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    lock.unlock()


# --- the default scheduler ----------------------------------------------------


def test_default_scheduler_is_an_asyncio_clock(name: str) -> None:
    assert isinstance(DeferredFilesystemLock(name)._scheduler, AsyncioClock)


def test_default_scheduler_retries_on_the_running_loop(
    name: str, other: FilesystemLock
) -> None:
    lock = DeferredFilesystemLock(name)
    lock._interval = 0.001

    async def main() -> Any:
        asyncio.get_running_loop().call_later(0.005, other.unlock)
        return await lock.deferUntilLocked(timeout=10)

    assert asyncio.run(main()) is None
    assert lock.locked is True
    lock.unlock()


def test_default_scheduler_times_out_on_the_running_loop(
    name: str, other: FilesystemLock
) -> None:
    lock = DeferredFilesystemLock(name)
    lock._interval = 0.001

    async def main() -> None:
        await lock.deferUntilLocked(timeout=0.01)

    with pytest.raises(TimeoutError):
        asyncio.run(main())
    assert lock.locked is False
    assert lock._tryLockCall is None


def test_default_scheduler_without_a_loop_raises_and_stays_usable(
    name: str, other: FilesystemLock
) -> None:
    lock = DeferredFilesystemLock(name)
    with pytest.raises(RuntimeError, match="running asyncio event loop"):
        lock.deferUntilLocked()
    other.unlock()
    # Not left "already trying"; and a free lock needs no loop at all.
    successResultOf(lock.deferUntilLocked())
    lock.unlock()
