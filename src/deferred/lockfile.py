"""A mutex between processes, kept in the filesystem.

A lock named ``name`` is held while a symbolic link exists at that path whose
target is the decimal process id of its holder.  Creating a symlink is atomic
and fails when the path already exists, so exactly one process can win the
race to create it.  The target never has to exist: the link is only a place to
write the owner's pid down.

If the recorded owner has died without releasing the lock, the lock is *stale*
and the next process to try takes it over, noting that it was not released
cleanly (`FilesystemLock.clean` is ``False``).  A link whose target is not a
positive decimal integer can name no process, so it is treated as stale too.

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

    def kill(pid: int, signal: int) -> None:
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

    def kill(pid: int, signal: int) -> None:
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
    """Whether process *pid* exists."""
    try:
        kill(pid, 0)
    except OSError as e:
        if e.errno == errno.ESRCH:
            return False
        if e.errno == errno.EPERM:
            return True  # it exists, but belongs to someone else
        raise
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
        (possibly this one) holds it.  A stale or corrupt lock is removed and
        taken over.  Any `OSError` other than the expected races (the lock
        already existing, or vanishing while we look at it) propagates.
        """
        clean = True
        while True:
            try:
                symlink(str(os.getpid()), self.name)
            except OSError as e:
                if e.errno != errno.EEXIST:
                    raise
            else:
                self.locked = True
                self.clean = clean
                return True

            # Somebody's lock is in the way: does its owner still live?
            try:
                value = readlink(self.name)
            except OSError as e:
                if e.errno == errno.ENOENT:
                    continue  # released meanwhile; race for it again
                raise
            pid = _parse_pid(value)
            if pid is not None and _is_alive(pid):
                return False

            # Stale (or corrupt): break it and try again.
            try:
                rmlink(self.name)
            except OSError as e:
                if e.errno == errno.ENOENT:
                    continue  # another process broke it first
                raise
            clean = False

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
