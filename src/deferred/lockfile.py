"""A mutex between processes, kept in the filesystem.

A lock named ``name`` is held while a symbolic link exists at that path whose
target is the decimal process id of its holder (the format Twisted's
``twisted.python.lockfile`` uses).  Creating a symlink is atomic and fails when
the path already exists, so exactly one process can win the race to create
it.  The target never has to exist: the link is only a place to write the
owner's pid down.

If the recorded owner has died without releasing the lock, the lock is *stale*
and the next process to try takes it over, noting that it was not released
cleanly (`FilesystemLock.clean` is ``False``).  A link whose target is not a
positive decimal integer can name no process, so it is treated as stale too.

Taking over a stale lock
------------------------

Removing a stale link is the dangerous step.  Two processes that both find
``name`` pointing at a dead pid may both decide to remove it; if the first has
already removed it *and created its own link* by the time the second removes
"the stale link", the second removes the first one's live lock, creates its
own, and both hold the lock.  (Twisted's lock has this hole.)

Here a link may only be removed by the process that created it (`unlock`) or
by a process holding its *takeover lock*: a second link at
``name + ".takeover"``, in the same format, taken by creating it.  The
protocol for a stale ``name``:

1. Take the takeover lock (by this same procedure, recursively).  If a live
   process holds it, somebody else is taking over: `lock` returns ``False``.
2. Holding it, read ``name`` again.  Only if it is still stale, remove it.
   Nobody else can remove ``name`` meanwhile: its owner is dead and every
   other would-be taker needs the takeover lock we hold.  So the link removed
   is the very one found stale, never a fresh lock taken in between.
3. Release the takeover lock, and race for ``name`` again as usual.

A taker killed while it holds the takeover lock leaves that link stale in
turn.  It is broken the same way, under ``name + ".takeover.takeover"``, and
so on: each level is needed only while a taker at the level below is being
killed, so the chain stays short, and no stale link can wedge the lock for
good.  A leftover takeover link is harmless: the next takeover breaks it.

The guarantee holds among processes that follow this protocol on one machine
(process liveness is judged with ``kill(pid, 0)``, so processes in different
pid namespaces sharing the directory can mistake each other for dead).  On a
platform with no ``os.kill``, liveness cannot be checked: as in Twisted, a lock
whose link names a process is then held until released, never taken over.

The operating-system calls go through the module-level functions `symlink`,
`readlink`, `rmlink` and `kill`, looked up each time they are used, so tests can
replace them to stage races.  On Windows, where unprivileged processes cannot
make symlinks, a directory holding a file with the pid stands in for the link;
that fallback is less atomic and less tested than the POSIX path.
"""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Callable

__all__ = ["FilesystemLock", "isLocked"]


if sys.platform != "win32":

    def symlink(value: str, filename: str) -> None:
        """Create the lock *filename* recording *value*; `FileExistsError` if taken."""
        os.symlink(value, filename)

    def readlink(filename: str) -> str:
        """Return the value recorded in the lock *filename*."""
        return os.readlink(filename)

    def rmlink(filename: str) -> None:
        """Remove the lock *filename*."""
        os.remove(filename)

    def _kill(pid: int, signal: int) -> None:
        """Send *signal* to *pid*; signal 0 only checks that the process exists."""
        os.kill(pid, signal)

else:
    import contextlib
    import ctypes
    from ctypes import wintypes

    # Name of the file, inside the lock directory, that holds the owner's pid.
    _PID_FILE = "symlink"

    def symlink(value: str, filename: str) -> None:
        """Create the lock *filename* recording *value*; `FileExistsError` if taken."""
        # Renaming a directory onto an existing path fails, so build the lock
        # privately and rename it into place: others never see it half-written.
        staging = f"{filename}.{os.getpid()}.{os.urandom(4).hex()}.newlink"
        os.mkdir(staging)
        try:
            with open(os.path.join(staging, _PID_FILE), "w") as f:
                f.write(value)
            os.rename(staging, filename)
        except BaseException:
            # Tidy up without hiding the original error (e.g. FileExistsError).
            with contextlib.suppress(OSError):
                rmlink(staging)
            raise

    def readlink(filename: str) -> str:
        """Return the value recorded in the lock *filename*."""
        with open(os.path.join(filename, _PID_FILE)) as f:
            return f.read()

    def rmlink(filename: str) -> None:
        """Remove the lock *filename*."""
        os.remove(os.path.join(filename, _PID_FILE))
        os.rmdir(filename)

    _kernel32 = ctypes.WinDLL("kernel32", use_last_error=True)
    _kernel32.OpenProcess.restype = wintypes.HANDLE
    _kernel32.OpenProcess.argtypes = (wintypes.DWORD, wintypes.BOOL, wintypes.DWORD)
    _kernel32.GetExitCodeProcess.argtypes = (
        wintypes.HANDLE,
        ctypes.POINTER(wintypes.DWORD),
    )
    _kernel32.CloseHandle.argtypes = (wintypes.HANDLE,)
    _PROCESS_QUERY_LIMITED_INFORMATION = 0x1000
    _STILL_ACTIVE = 259
    _ERROR_ACCESS_DENIED = 5
    _ERROR_INVALID_PARAMETER = 87

    def _kill(pid: int, signal: int) -> None:
        """Check that process *pid* exists, like ``os.kill(pid, 0)`` on POSIX.

        *signal* is ignored: ``os.kill`` on Windows would terminate the process.
        """
        handle = _kernel32.OpenProcess(_PROCESS_QUERY_LIMITED_INFORMATION, 0, pid)
        if not handle:
            error = ctypes.get_last_error()
            if error == _ERROR_ACCESS_DENIED:
                return  # it exists; we just may not look at it
            if error == _ERROR_INVALID_PARAMETER:
                raise ProcessLookupError(errno.ESRCH, os.strerror(errno.ESRCH))
            raise ctypes.WinError(error)
        try:
            code = wintypes.DWORD()
            if (
                _kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
                and code.value != _STILL_ACTIVE
            ):
                # Someone still has a handle open on a process that has exited.
                raise ProcessLookupError(errno.ESRCH, os.strerror(errno.ESRCH))
        finally:
            _kernel32.CloseHandle(handle)


#: Checks that a process exists (``kill(pid, 0)``); ``None`` where the platform
#: has no ``os.kill`` (then no lock naming a process is ever taken over).
kill: Callable[[int, int], None] | None = _kill if hasattr(os, "kill") else None

#: Appended to a lock's path to name the lock that guards its takeover.
_TAKEOVER = ".takeover"


def _parse_pid(value: str) -> int | None:
    """The pid recorded in a lock, or None if *value* is not a usable pid."""
    # Be strict: int() would accept " 12", "+12" and "1_2", and pid 0 or a
    # negative pid would make kill() probe a whole process group.
    if value.isascii() and value.isdigit():
        pid = int(value)
        if pid > 0:
            return pid
    return None


def _is_alive(pid: int) -> bool:
    """Whether process *pid* exists (always ``True`` without ``kill``)."""
    check = kill
    if check is None:
        return True  # no way to tell: assume the holder lives, as Twisted does
    try:
        check(pid, 0)
    except OSError as e:
        if e.errno == errno.ESRCH:
            return False
        if e.errno == errno.EPERM:
            return True  # it exists, but belongs to someone else
        raise
    return True


def _is_stale(value: str) -> bool:
    """Whether a lock recording *value* is held by nobody alive."""
    pid = _parse_pid(value)
    return pid is None or not _is_alive(pid)


def _acquire(path: str, me: str) -> tuple[bool, bool]:
    """Try to create the lock link *path* recording *me*, breaking it if stale.

    Returns whether it is now ours, and whether that happened without
    breaking a stale link (see the module docstring for the protocol).
    """
    clean = True
    while True:
        try:
            symlink(me, path)
        except OSError as e:
            if e.errno != errno.EEXIST:
                raise
        else:
            return True, clean

        # Somebody's link is in the way: does its owner still live?
        try:
            value = readlink(path)
        except OSError as e:
            if e.errno == errno.ENOENT:
                continue  # released meanwhile; race for it again
            raise
        if not _is_stale(value):
            return False, clean

        # Stale (or corrupt): only the holder of the takeover lock may break it.
        guard = path + _TAKEOVER
        if not _acquire(guard, me)[0]:
            return False, clean  # a live process is taking it over
        try:
            if _break_if_stale(path):
                clean = False
        finally:
            try:
                rmlink(guard)
            except FileNotFoundError:
                pass  # it was broken: only if we looked dead to someone


def _break_if_stale(path: str) -> bool:
    """Remove the link *path* if it is stale; the caller holds its takeover lock.

    Returns whether a stale link was removed.
    """
    try:
        value = readlink(path)
    except OSError as e:
        if e.errno == errno.ENOENT:
            return False  # released, or broken by a taker killed since
        raise
    if not _is_stale(value):
        return False  # taken by a living process since we looked
    # Nobody else can remove or replace this link now: its owner is dead and
    # any other taker needs the takeover lock, which is ours.
    try:
        rmlink(path)
    except FileNotFoundError:
        return False
    return True


class FilesystemLock:
    """A lock shared between processes, held by a symlink at path *name*.

    The lock is not re-entrant: `lock` returns ``False`` while anyone holds it,
    this object included.

    Attributes:
        name: The path of the lock.
        locked: Whether this object currently holds the lock.
        clean: ``None`` until `lock` first succeeds; then ``False`` if that
            acquisition had to break a stale lock left by a dead process (or a
            corrupt link), ``True`` otherwise.
    """

    def __init__(self, name: str | os.PathLike[str]) -> None:
        self.name: str = os.fspath(name)
        self.locked: bool = False
        self.clean: bool | None = None

    def lock(self) -> bool:
        """Try to take the lock without waiting.

        Returns ``True`` if the lock is now ours, ``False`` if a living process
        (possibly this one) holds it, or is taking it over.  A stale or corrupt
        lock is removed and taken over, race-free (see the module docstring).
        Any `OSError` other than the expected races (the lock already
        existing, or vanishing while we look at it) propagates.
        """
        locked, clean = _acquire(self.name, str(os.getpid()))
        if locked:
            self.locked = True
            self.clean = clean
        return locked

    def unlock(self) -> None:
        """Release the lock.

        Raises `ValueError`, leaving the lock in place, if it is held by another
        process (or its link is corrupt), and `OSError` if nobody holds it.
        """
        value = readlink(self.name)
        if _parse_pid(value) != os.getpid():
            raise ValueError(
                f"lock {self.name!r} is held by process {value!r}, "
                f"not by this process ({os.getpid()})"
            )
        rmlink(self.name)
        self.locked = False


def isLocked(name: str | os.PathLike[str]) -> bool:
    """Whether anyone, this process included, holds the lock at *name*.

    This briefly takes the lock when it is free (breaking it if stale).
    """
    probe = FilesystemLock(name)
    if probe.lock():
        probe.unlock()
        return False
    return True
