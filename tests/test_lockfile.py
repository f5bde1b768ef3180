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
    # Holding the takeover lock, we found nothing left to remove: the only
    # link we removed is the takeover lock, when releasing it.
    assert rmlinks == [name + ".takeover"]
    # We did not break the stale lock ourselves.
    assert lock.clean is True
    assert not os.path.lexists(name + ".takeover")


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


# -- No os.kill, and errors from checking the owner (issue 11) -----------------


def test_without_kill_a_lock_naming_a_process_is_held(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As in Twisted: with no way to check the owner, never take a lock over.
    monkeypatch.setattr(lockfile, "kill", None)
    lockfile.symlink("4242", name)
    lock = FilesystemLock(name)
    assert lock.lock() is False
    assert lock.locked is False
    assert lockfile.readlink(name) == "4242"
    assert isLocked(name) is True


def test_without_kill_a_corrupt_lock_is_still_stale(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lockfile, "kill", None)
    lockfile.symlink("garbage", name)
    lock = FilesystemLock(name)
    assert lock.lock() is True
    assert lock.clean is False
    lock.unlock()


def test_without_kill_locking_and_unlocking_work(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lockfile, "kill", None)
    lock = FilesystemLock(name)
    assert lock.lock() is True
    assert FilesystemLock(name).lock() is False
    lock.unlock()
    assert isLocked(name) is False


def test_platform_without_os_kill_imports_and_never_breaks(name: str) -> None:
    # A platform with no os.kill at all (WASI, say): the module still imports.
    code = f"""
        import os
        del os.kill
        import deferred.lockfile as lockfile
        assert lockfile.kill is None
        os.symlink("4242", {name!r})
        assert lockfile.FilesystemLock({name!r}).lock() is False
        print("ok")
    """
    proc = _child(code)
    out, _ = proc.communicate(timeout=30)
    assert (proc.returncode, out) == (0, "ok\n")


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.EINVAL, "Invalid argument"),
        OSError("no errno at all"),
        PermissionError(errno.EACCES, "Permission denied"),
    ],
)
def test_any_kill_error_but_esrch_and_eperm_propagates(
    name: str, error: OSError, monkeypatch: pytest.MonkeyPatch
) -> None:
    def kill(pid: int, signal: int) -> None:
        raise error

    lockfile.symlink("4242", name)
    monkeypatch.setattr(lockfile, "kill", kill)
    lock = FilesystemLock(name)
    with pytest.raises(OSError) as info:
        lock.lock()
    assert info.value is error
    assert lock.locked is False
    assert lockfile.readlink(name) == "4242"  # not taken for stale
    assert not os.path.lexists(name + ".takeover")


def test_kill_error_while_holding_the_takeover_lock_releases_it(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    error = OSError(errno.EINVAL, "Invalid argument")
    calls: list[int] = []

    def kill(pid: int, signal: int) -> None:
        calls.append(pid)
        if len(calls) == 1:
            raise ProcessLookupError(errno.ESRCH, "No such process")
        raise error  # the second look, under the takeover lock

    lockfile.symlink("4242", name)
    monkeypatch.setattr(lockfile, "kill", kill)
    with pytest.raises(OSError) as info:
        FilesystemLock(name).lock()
    assert info.value is error
    assert lockfile.readlink(name) == "4242"
    assert not os.path.lexists(name + ".takeover")


# -- Taking over a stale lock, race-free (issue 14) ------------------------------


def _dead_pid() -> int:
    """The pid of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", ""])
    proc.wait(timeout=30)
    return proc.pid


def test_fresh_lock_taken_during_our_takeover_is_left_alone(
    name: str, held_elsewhere: subprocess.Popen[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # We find the lock stale; before we act on it another taker (following the
    # protocol) breaks it and takes the lock for a live process.  Removing "the
    # stale link" now would remove that live process's lock.
    real_kill = lockfile.kill
    assert real_kill is not None
    dead, live = _dead_pid(), str(held_elsewhere.pid)
    # held_elsewhere holds the lock: stage it as a stale one for now.
    lockfile.rmlink(name)
    lockfile.symlink(str(dead), name)
    looks: list[int] = []

    def kill(pid: int, signal: int) -> None:
        looks.append(pid)
        if len(looks) == 1:
            assert pid == dead
            other = FilesystemLock(name + ".takeover")
            lockfile.symlink(live, other.name)  # the other taker's protocol
            lockfile.rmlink(name)
            lockfile.symlink(live, name)
            lockfile.rmlink(other.name)
        real_kill(pid, signal)

    monkeypatch.setattr(lockfile, "kill", kill)
    lock = FilesystemLock(name)
    assert lock.lock() is False
    assert lockfile.readlink(name) == live
    assert looks == [dead, held_elsewhere.pid, held_elsewhere.pid]
    assert not os.path.lexists(name + ".takeover")


def test_takeover_in_progress_by_a_live_process_means_busy(
    name: str, held_elsewhere: subprocess.Popen[str]
) -> None:
    dead, live = _dead_pid(), str(held_elsewhere.pid)
    lockfile.rmlink(name)
    lockfile.symlink(str(dead), name)
    lockfile.symlink(live, name + ".takeover")
    try:
        lock = FilesystemLock(name)
        assert lock.lock() is False
        assert lock.locked is False
        assert lockfile.readlink(name) == str(dead)  # the taker's to break
        assert lockfile.readlink(name + ".takeover") == live
    finally:
        lockfile.rmlink(name + ".takeover")
        lockfile.rmlink(name)
        lockfile.symlink(live, name)  # for the fixture's holder to release


@pytest.mark.parametrize("depth", [1, 2, 5])
def test_takeover_locks_left_by_killed_takers_are_broken(name: str, depth: int) -> None:
    # Takers killed while taking over leave their takeover links behind, even
    # one per level; none of them can wedge the lock.
    dead = str(_dead_pid())
    lockfile.symlink(dead, name)
    for level in range(1, depth + 1):
        lockfile.symlink(dead, name + ".takeover" * level)
    lock = FilesystemLock(name)
    assert lock.lock() is True
    assert lock.clean is False
    assert lockfile.readlink(name) == str(os.getpid())
    assert sorted(os.listdir(os.path.dirname(name))) == ["lock"]
    lock.unlock()


def test_leftover_takeover_lock_with_free_lock_does_not_matter(name: str) -> None:
    # A taker killed after removing the stale lock but before releasing its
    # takeover lock: the lock itself is free, and taken cleanly.
    lockfile.symlink(str(_dead_pid()), name + ".takeover")
    lock = FilesystemLock(name)
    assert lock.lock() is True
    assert lock.clean is True
    lock.unlock()


# A child whose every filesystem and process call waits for the test's "go":
# the test decides the interleaving of two takers, step by step.
_STEPPED = """
    import os, sys
    import deferred.lockfile as lockfile

    def stepped(op, real):
        def call(*args):
            subject = args[1] if op == "symlink" else args[0]
            if isinstance(subject, str):
                subject = os.path.basename(subject)
            print(op, subject, flush=True)
            if sys.stdin.readline() != "go\\n":
                raise SystemExit(3)
            return real(*args)
        return call

    for op in ("symlink", "readlink", "rmlink", "kill"):
        setattr(lockfile, op, stepped(op, getattr(lockfile, op)))
    lock = lockfile.FilesystemLock(sys.argv[1])
    print("result", lock.lock(), lock.clean, flush=True)
"""


class _Stepped:
    """A child process trying to take the lock one system call at a time."""

    def __init__(self, name: str) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_SRC, env.get("PYTHONPATH")]))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(_STEPPED), name],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.pid = self.proc.pid
        self.pending = self._read()  # the call it waits to make, or its result

    def _read(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, "the stepped child died"
        return line.rstrip("\n")

    @property
    def done(self) -> bool:
        return self.pending.startswith("result ")

    def step(self) -> None:
        """Let the pending call happen, and wait for the next one."""
        assert not self.done and self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        self.pending = self._read()

    def run_until(self, pending: str) -> None:
        """Step until it is about to make *pending* (or has finished)."""
        while not self.done and self.pending != pending:
            self.step()

    def finish(self) -> str:
        self.run_until("")
        self.close()
        return self.pending

    def close(self) -> None:
        for f in (self.proc.stdin, self.proc.stdout):
            if f is not None:
                f.close()
        self.proc.wait(timeout=30)

    def kill(self) -> None:
        self.proc.kill()
        self.close()


@posix_only
def test_two_takers_of_one_stale_lock_staged_exactly_one_wins(name: str) -> None:
    # The staged race: both find the lock stale, and the first is about to
    # remove it.  (Before the takeover lock, the second then removed the first
    # one's brand-new lock, and both won.)
    lockfile.symlink(str(_dead_pid()), name)
    first = _Stepped(name)
    first.run_until("rmlink lock")
    assert lockfile.readlink(name + ".takeover") == str(first.pid)
    second = _Stepped(name)
    second.run_until("rmlink lock")
    assert second.done  # the takeover is in progress: busy
    assert first.finish() == "result True False"
    assert second.finish() == "result False None"
    assert lockfile.readlink(name) == str(first.pid)
    assert sorted(os.listdir(os.path.dirname(name))) == ["lock"]


@posix_only
@pytest.mark.parametrize("stale_takeover", [False, True])
@pytest.mark.parametrize("seed", range(4))
def test_two_takers_any_interleaving_exactly_one_wins(
    name: str, seed: int, stale_takeover: bool
) -> None:
    import random

    rng = random.Random(seed)
    dead = str(_dead_pid())
    lockfile.symlink(dead, name)
    if stale_takeover:  # a taker was killed while taking over, too
        lockfile.symlink(dead, name + ".takeover")
    takers = [_Stepped(name), _Stepped(name)]
    while not all(t.done for t in takers):
        rng.choice([t for t in takers if not t.done]).step()
    results = [t.finish() for t in takers]
    # The winner may be the one that broke the stale lock (clean False), or the
    # other, if it took the lock the moment it was free (clean True).
    assert sorted(r.split()[1] for r in results) == ["False", "True"]
    assert "result False None" in results
    winner = takers[0 if results[0].startswith("result True") else 1]
    assert lockfile.readlink(name) == str(winner.pid)
    assert sorted(os.listdir(os.path.dirname(name))) == ["lock"]


@posix_only
@pytest.mark.parametrize(
    "killed_at",
    [
        "its first look at the takeover lock",
        "its second look at the owner, under the takeover lock",
        "removing the stale lock",
        "releasing the takeover lock",
        "its second try for the lock",
    ],
)
def test_taker_killed_mid_takeover_leaves_no_deadlock(
    name: str, killed_at: str
) -> None:
    dead = _dead_pid()
    lockfile.symlink(str(dead), name)
    victim = _Stepped(name)
    victim.run_until("symlink lock.takeover")
    if killed_at != "its first look at the takeover lock":
        victim.step()
        victim.run_until(f"kill {dead}")
    if killed_at not in (
        "its first look at the takeover lock",
        "its second look at the owner, under the takeover lock",
    ):
        victim.run_until("rmlink lock")
    if killed_at in ("releasing the takeover lock", "its second try for the lock"):
        victim.step()
        victim.run_until("rmlink lock.takeover")
    if killed_at == "its second try for the lock":
        victim.step()
        victim.run_until("symlink lock")
    assert not victim.done
    victim.kill()

    lock = FilesystemLock(name)
    assert lock.lock() is True
    assert lockfile.readlink(name) == str(os.getpid())
    lock.unlock()
    # Whatever the victim left behind, the next takeover of a stale lock works
    # and clears it.
    lockfile.symlink(str(dead), name)
    assert lock.lock() is True
    assert lock.clean is False
    assert sorted(os.listdir(os.path.dirname(name))) == ["lock"]
    lock.unlock()


# -- Stress: many processes, holders killed at random, every section logged -----

# A contender: takes the lock, logs "enter", holds it a moment, logs "exit",
# releases it, and again, until killed.  Each log line is one O_APPEND write,
# so the log's order is the order things happened in.
_STRESS_CONTENDER = """
    import importlib.util, os, random, sys, time
    # Just the module (it imports nothing from the package): quick to start.
    path = os.path.join(sys.argv[3], "deferred", "lockfile.py")
    spec = importlib.util.spec_from_file_location("lockfile", path)
    lockfile = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(lockfile)
    lock = lockfile.FilesystemLock(sys.argv[1])
    log = os.open(sys.argv[2], os.O_WRONLY | os.O_APPEND)
    pid, rng = os.getpid(), random.Random()
    os.write(log, f"start {pid}\\n".encode())
    while True:
        while not lock.lock():
            time.sleep(rng.random() * 0.0005)
        os.write(log, f"enter {pid} {int(bool(lock.clean))}\\n".encode())
        time.sleep(rng.random() * 0.002)
        os.write(log, f"exit {pid}\\n".encode())
        lock.unlock()
        time.sleep(rng.random() * 0.0005)
"""


class StressResult:
    def __init__(self) -> None:
        self.sections = 0  # critical sections entered
        self.takeovers = 0  # of them, entered by breaking a stale lock
        self.kills = 0  # contenders killed with SIGKILL
        self.killed_holding = 0  # of them, killed inside a critical section
        self.overlaps: list[str] = []  # entries while another process held it
        self.failures: list[str] = []  # contenders that died on their own
        self.seconds = 0.0

    def __str__(self) -> str:
        return (
            f"{self.sections} critical sections ({self.takeovers} after taking "
            f"over a stale lock), {self.kills} kill -9s ({self.killed_holding} "
            f"inside a section), {len(self.overlaps)} overlaps, "
            f"{len(self.failures)} contenders failed, "
            f"{self.seconds:.1f} s"
        )


def check_log(lines: list[str]) -> StressResult:
    """Replay a stress log: nobody may enter while another holds the lock.

    A holder stops holding when it logs "exit", or when the test logs "dead"
    for it: the test logs that once the process has died but before reaping
    it, and an unreaped (zombie) process still counts as alive to ``kill(pid,
    0)``, so no one can take its lock over before that line.
    """
    result = StressResult()
    holder: str | None = None
    for number, line in enumerate(lines, 1):
        event, pid, *rest = line.split()
        if event == "enter":
            if holder is not None:
                result.overlaps.append(f"line {number}: {pid} entered, {holder} held")
            holder = pid
            result.sections += 1
            result.takeovers += rest == ["0"]
        elif event == "exit":
            if holder == pid:
                holder = None
        elif event == "dead":
            result.kills += 1
            if holder == pid:
                holder = None
                result.killed_holding += 1
    return result


def stress(
    directory: Path,
    processes: int = 4,
    seconds: float = 3.0,
    min_takeovers: int = 5,
    max_seconds: float = 30.0,
    src: str = _SRC,
) -> StressResult:
    """Run *processes* contenders for the lock in *directory*, killing one
    with SIGKILL every few tens of milliseconds (mostly the holder), for
    *seconds* and until *min_takeovers* stale locks were taken over (but at
    most *max_seconds*), then check the log for overlapping sections."""
    import random
    import signal
    import time

    name, log = str(directory / "lock"), directory / "log"
    log.touch()
    code = textwrap.dedent(_STRESS_CONTENDER)
    argv = [sys.executable, "-c", code, name, str(log), src]
    rng = random.Random(1234)
    running: dict[int, subprocess.Popen[bytes]] = {}
    failures: list[str] = []
    logfd = os.open(log, os.O_WRONLY | os.O_APPEND)

    def spawn() -> None:
        proc = subprocess.Popen(argv)
        running[proc.pid] = proc

    def kill(pid: int) -> None:
        proc = running.pop(pid)
        # Not proc.kill(): it would reap a child that died on its own.
        os.kill(pid, signal.SIGKILL)
        # Wait for its death without reaping it; log it; then reap it.
        os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
        os.write(logfd, f"dead {pid}\n".encode())
        if proc.wait() != -signal.SIGKILL:
            # It died on its own: say, unlock() found its lock taken.
            failures.append(f"contender {pid} exited with {proc.returncode}")

    start = time.monotonic()
    try:
        for _ in range(processes):
            spawn()
        while True:
            elapsed = time.monotonic() - start
            if elapsed > max_seconds:
                break
            if elapsed > seconds:
                done = check_log(log.read_text().splitlines())
                if done.takeovers >= min_takeovers:
                    break
            time.sleep(rng.uniform(0.01, 0.06))
            victim = rng.choice(list(running))
            if rng.random() < 0.8:  # mostly the holder, when it is one of ours
                try:
                    holder = int(lockfile.readlink(name))
                except (OSError, ValueError):
                    pass
                else:
                    if holder in running:
                        victim = holder
            kill(victim)
            spawn()
    finally:
        for pid in list(running):
            kill(pid)
        os.close(logfd)
    result = check_log(log.read_text().splitlines())
    result.seconds = time.monotonic() - start
    result.failures = failures
    return result


@posix_only
def test_stress_holders_killed_at_random_never_overlap(tmp_path: Path) -> None:
    result = stress(tmp_path)
    print(result)
    assert result.overlaps == []
    assert result.failures == []
    assert result.takeovers >= 5, result
    assert result.sections >= 50, result
    assert result.killed_holding >= 1, result


def test_check_log_finds_overlaps() -> None:
    # The checker itself: a second entry before the first holder exits or
    # dies is an overlap; an entry after either is not.
    log = [
        "enter 1 1",
        "exit 1",
        "enter 2 1",
        "dead 2",
        "enter 3 0",
        "enter 4 1",
        "exit 4",
    ]
    result = check_log(log)
    assert result.overlaps == ["line 6: 4 entered, 3 held"]
    assert (result.sections, result.takeovers) == (4, 1)
    assert (result.kills, result.killed_holding) == (1, 1)


if __name__ == "__main__":
    # A longer run than the unit suite's, e.g.:
    #   python tests/test_lockfile.py --processes 8 --seconds 30
    import argparse
    import tempfile

    parser = argparse.ArgumentParser(description="FilesystemLock stress test")
    parser.add_argument("--processes", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--src", default=_SRC, help="where to import deferred from")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        outcome = stress(
            Path(tmp),
            processes=args.processes,
            seconds=args.seconds,
            min_takeovers=0,
            max_seconds=args.seconds,
            src=args.src,
        )
    print(outcome)
    for problem in outcome.overlaps + outcome.failures:
        print(problem)
    sys.exit(1 if outcome.overlaps or outcome.failures else 0)
