"""Tests for deferred.lockfile."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import deferred.lockfile as lockfile
from deferred.lockfile import FilesystemLock, isLocked

posix_only = pytest.mark.skipif(
    sys.platform == "win32", reason="relies on POSIX symlinks and signals"
)

# Lets child processes import this checkout of deferred.
_SRC = str(Path(lockfile.__file__).resolve().parents[1])


def _child(code: str) -> subprocess.Popen[str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_SRC, env.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


# A child that takes the lock named by argv, says so, and holds it until its
# stdin is closed.
_HOLDER = """
    import sys
    from deferred.lockfile import FilesystemLock
    lock = FilesystemLock({name!r})
    assert lock.lock()
    print("locked", flush=True)
    sys.stdin.read()
    lock.unlock()
"""


@pytest.fixture
def name(tmp_path: Path) -> str:
    return str(tmp_path / "lock")


@pytest.fixture
def held_elsewhere(name: str) -> Iterator[subprocess.Popen[str]]:
    """A live child process holding the lock at *name*."""
    proc = _child(_HOLDER.format(name=name))
    assert proc.stdout is not None and proc.stdin is not None
    assert proc.stdout.readline() == "locked\n"
    try:
        yield proc
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=10) == 0
        proc.stdout.close()


def test_initial_attributes(tmp_path: Path) -> None:
    lock = FilesystemLock(tmp_path / "lock")
    assert lock.name == str(tmp_path / "lock")
    assert lock.locked is False
    assert lock.clean is None


def test_lock_unlock_round_trip(name: str) -> None:
    lock = FilesystemLock(name)
    assert lock.lock() is True
    assert lock.locked is True
    assert lock.clean is True
    assert lockfile.readlink(name) == str(os.getpid())
    lock.unlock()
    assert lock.locked is False
    assert not os.path.lexists(name)
    # The lock can be taken again once released.
    assert lock.lock() is True
    lock.unlock()


def test_second_lock_in_same_process_fails_while_held(name: str) -> None:
    first = FilesystemLock(name)
    assert first.lock()
    second = FilesystemLock(name)
    assert second.lock() is False
    assert second.locked is False
    assert second.clean is None
    # Not re-entrant either.
    assert first.lock() is False
    first.unlock()
    assert second.lock() is True
    second.unlock()


@posix_only
def test_stale_lock_from_killed_process_is_taken_over(name: str) -> None:
    proc = _child(_HOLDER.format(name=name))
    assert proc.stdout is not None
    assert proc.stdout.readline() == "locked\n"
    proc.kill()  # SIGKILL: the child gets no chance to unlock
    proc.wait(timeout=10)
    proc.stdout.close()
    assert proc.stdin is not None
    proc.stdin.close()
    assert lockfile.readlink(name) == str(proc.pid)

    lock = FilesystemLock(name)
    assert lock.lock() is True
    assert lock.clean is False
    assert lockfile.readlink(name) == str(os.getpid())
    lock.unlock()


def test_lock_held_by_live_process_is_not_taken(
    name: str, held_elsewhere: subprocess.Popen[str]
) -> None:
    lock = FilesystemLock(name)
    assert lock.lock() is False
    assert lock.locked is False
    assert lockfile.readlink(name) == str(held_elsewhere.pid)


def test_unlock_of_lock_held_by_another_process_raises(
    name: str, held_elsewhere: subprocess.Popen[str]
) -> None:
    with pytest.raises(ValueError, match="not by this process"):
        FilesystemLock(name).unlock()
    assert lockfile.readlink(name) == str(held_elsewhere.pid)


def test_unlock_of_free_lock_raises_oserror(name: str) -> None:
    with pytest.raises(FileNotFoundError):
        FilesystemLock(name).unlock()


def test_isLocked(name: str) -> None:
    assert isLocked(name) is False
    assert not os.path.lexists(name)  # probing leaves nothing behind
    lock = FilesystemLock(name)
    lock.lock()
    assert isLocked(name) is True
    assert lock.locked
    lock.unlock()
    assert isLocked(name) is False


def test_isLocked_by_another_process(
    name: str, held_elsewhere: subprocess.Popen[str]
) -> None:
    assert isLocked(name) is True


@pytest.mark.parametrize("target", ["garbage", "0", "-5", " 12", "+12", "1_2", "٣"])
def test_corrupt_lock_is_treated_as_stale(
    name: str, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def kill(pid: int, signal: int) -> None:
        raise AssertionError("a corrupt lock names no process to probe")

    lockfile.symlink(target, name)
    monkeypatch.setattr(lockfile, "kill", kill)
    lock = FilesystemLock(name)
    assert lock.lock() is True
    assert lock.clean is False
    assert lockfile.readlink(name) == str(os.getpid())
    lock.unlock()


def test_unlock_of_corrupt_lock_raises(name: str) -> None:
    lockfile.symlink("garbage", name)
    with pytest.raises(ValueError, match="'garbage'"):
        FilesystemLock(name).unlock()
    assert lockfile.readlink(name) == "garbage"


def test_owner_gone_per_kill_is_stale(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def kill(pid: int, signal: int) -> None:
        assert (pid, signal) == (4242, 0)
        raise ProcessLookupError(errno.ESRCH, "No such process")

    lockfile.symlink("4242", name)
    monkeypatch.setattr(lockfile, "kill", kill)
    lock = FilesystemLock(name)
    assert lock.lock() is True
    assert lock.clean is False


def test_lock_vanishing_before_readlink_is_retried(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_readlink = lockfile.readlink

    def readlink(filename: str) -> str:
        # The holder releases the lock between our symlink and readlink.
        monkeypatch.setattr(lockfile, "readlink", real_readlink)
        lockfile.rmlink(filename)
        raise FileNotFoundError(errno.ENOENT, "gone", filename)

    lockfile.symlink(str(os.getpid()), name)
    monkeypatch.setattr(lockfile, "readlink", readlink)
    lock = FilesystemLock(name)
    assert lock.lock() is True
    assert lock.clean is True  # nothing stale was broken
    assert lockfile.readlink(name) == str(os.getpid())


def test_stale_lock_broken_by_someone_else_is_retried(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rmlinks: list[str] = []
    real_rmlink = lockfile.rmlink

    def kill(pid: int, signal: int) -> None:
        # The owner is dead, and another process breaks the stale lock between
        # our kill() and our rmlink().
        real_rmlink(name)
        raise ProcessLookupError(errno.ESRCH, "No such process")

    def rmlink(filename: str) -> None:
        rmlinks.append(filename)
        real_rmlink(filename)

    lockfile.symlink("4242", name)
    monkeypatch.setattr(lockfile, "kill", kill)
    monkeypatch.setattr(lockfile, "rmlink", rmlink)
    lock = FilesystemLock(name)
    assert lock.lock() is True
    assert rmlinks == [name]  # our attempt found nothing to remove
    # We did not break the stale lock ourselves.
    assert lock.clean is True


def test_kill_eperm_means_owner_is_alive(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def kill(pid: int, signal: int) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted")

    lockfile.symlink("4242", name)
    monkeypatch.setattr(lockfile, "kill", kill)
    lock = FilesystemLock(name)
    assert lock.lock() is False
    assert lock.locked is False
    assert lockfile.readlink(name) == "4242"


def test_unexpected_kill_error_propagates(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = OSError(errno.EINVAL, "Invalid argument")

    def kill(pid: int, signal: int) -> None:
        raise error

    lockfile.symlink("4242", name)
    monkeypatch.setattr(lockfile, "kill", kill)
    with pytest.raises(OSError) as info:
        FilesystemLock(name).lock()
    assert info.value is error


def test_symlink_eacces_propagates(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    error = PermissionError(errno.EACCES, "Permission denied")

    def symlink(value: str, filename: str) -> None:
        raise error

    monkeypatch.setattr(lockfile, "symlink", symlink)
    lock = FilesystemLock(name)
    with pytest.raises(PermissionError) as info:
        lock.lock()
    assert info.value is error
    assert lock.locked is False
    assert lock.clean is None


@posix_only
def test_non_symlink_in_the_way_propagates(name: str) -> None:
    Path(name).write_text(str(os.getpid()))
    with pytest.raises(OSError) as info:
        FilesystemLock(name).lock()
    assert info.value.errno == errno.EINVAL
    assert Path(name).read_text() == str(os.getpid())  # left alone


_CONTENDER = """
    import os, sys, time
    from deferred.lockfile import FilesystemLock
    name, log, rounds = sys.argv[1], sys.argv[2], int(sys.argv[3])
    lock = FilesystemLock(name)
    pid = os.getpid()

    def note(event):
        with open(log, "a") as f:
            f.write(f"{event} {pid}\\n")

    for _ in range(rounds):
        while not lock.lock():
            time.sleep(0.0002)
        assert lock.clean
        note("enter")
        time.sleep(0.001)
        note("exit")
        lock.unlock()
        time.sleep(0.0005)  # give the other process a chance to get in
"""


def test_two_processes_contending_never_overlap(tmp_path: Path) -> None:
    name, log, rounds = str(tmp_path / "lock"), tmp_path / "log", 40
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [_SRC, env.get("PYTHONPATH")]))
    argv = [sys.executable, "-c", textwrap.dedent(_CONTENDER)]
    procs = [
        subprocess.Popen([*argv, name, str(log), str(rounds)], env=env)
        for _ in range(2)
    ]
    assert [p.wait(timeout=30) for p in procs] == [0, 0]

    lines = log.read_text().splitlines()
    assert len(lines) == 2 * 2 * rounds
    holder = None
    for line in lines:
        event, pid = line.split()
        if event == "enter":
            assert holder is None, f"{pid} entered while {holder} held the lock"
            holder = pid
        else:
            assert holder == pid
            holder = None
    assert {line.split()[1] for line in lines} == {str(p.pid) for p in procs}
    assert not os.path.lexists(name)
