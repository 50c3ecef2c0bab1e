"""One process at a time per run: an exclusive lock on ``runs/<id>/.lock``.

The lock is the operating system's (``flock``), so it goes away with its process however that
ends, ``kill -9`` included: a crashed run never leaves a stale lock behind.
"""

from __future__ import annotations

import os
from pathlib import Path

from director.errors import InputError, SystemFault

LOCK_NAME = ".lock"


class RunLock:
    def __init__(self, root: Path) -> None:
        self.path = root / LOCK_NAME
        self._fd: int | None = None

    def __enter__(self) -> RunLock:
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except PermissionError as exc:
            raise SystemFault(
                f"Run {self.path.parent.name} cannot be locked for this process: {self.path}: "
                f"{exc.strerror}.",
                "The run folder must be writable to go on: check its permissions.",
            ) from None
        if not _try_lock(fd):
            holder = _read(fd)
            os.close(fd)
            raise InputError(
                f"Run {self.path.parent.name} is being run by another process"
                f"{f' (pid {holder})' if holder else ''}.",
                "Wait for it to finish or stop it; `director status RUN` shows where it stands.",
            )
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the file releases the lock
            self._fd = None


def is_locked(root: Path) -> bool:
    """Whether some process holds the run's lock now."""
    path = root / LOCK_NAME
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDONLY)  # a lock needs no write access: a read-only run has one
    try:
        return not _try_lock(fd)
    finally:
        os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        import fcntl
    except ImportError:  # Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _read(fd: int) -> str:
    os.lseek(fd, 0, os.SEEK_SET)
    return os.read(fd, 32).decode(errors="replace").strip()
