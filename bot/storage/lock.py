"""One `smsbot run` per SQLite file: an OS lock on ``<SMSBOT_DB>.lock``, held for the process's life.

A second process on the same database would open a second gateway connection (the account allows
one), mark the first one's SMS on the wire unconfirmed at its start-up, and leave the first one's
sender retrying rows it no longer owns. ``hold_database(path)`` takes ``flock(LOCK_EX)`` on a file
beside the database and writes this process's PID and host into it; a second process finds the lock
taken and is refused with a sentence naming that PID. The kernel releases the lock when the process
ends, however it ends (kill -9 included), so a stale file never keeps smsbot from starting: the file
stays, only the lock matters. The same lock keeps a backup from removing a ``.partial`` file another
backup is still writing (:mod:`bot.storage.backup`).
"""

from __future__ import annotations

import fcntl
import os
import socket

SUFFIX = ".lock"


class AlreadyRunning(Exception):
    """Another process holds the database; the text names it and says what to do."""


class FileLock:
    """An exclusive ``flock`` on one file, held until :meth:`release` or the process ends."""

    def __init__(self, path: str, fd: int) -> None:
        self.path, self._fd = path, fd

    @classmethod
    def try_take(cls, path: str, *, create: bool = True) -> FileLock | None:
        """The lock on ``path``, or None when another open file holds it. Raises OSError when the
        file cannot be opened (or, with ``create=False``, does not exist)."""
        flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0)
        fd = os.open(path, flags, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd)

    def write(self, text: str) -> None:
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, text.encode(), 0)

    def release(self) -> None:
        if self._fd >= 0:
            fd, self._fd = self._fd, -1
            os.close(fd)  # closing the only descriptor releases the flock


def lock_path(db_path: str) -> str:
    return os.path.abspath(os.path.expanduser(db_path)) + SUFFIX


def hold_database(db_path: str) -> FileLock:
    """Take the database's run lock for this process, or raise AlreadyRunning naming its holder.
    Raises OSError (with the lock file's name) when the file beside the database cannot be opened."""
    path = lock_path(db_path)
    lock = FileLock.try_take(path)
    if lock is None:
        raise AlreadyRunning(
            f"another smsbot ({holder(path)}) is already running on the database {path[: -len(SUFFIX)]}: "
            "only one may use it at a time (the gateway account allows one connection). Stop that one first, "
            "or give this one its own SMSBOT_DB."
        )
    lock.write(f"{os.getpid()}\n{socket.gethostname()}\n")
    return lock


def is_held(db_path: str) -> bool | None:
    """Whether a process holds the database's run lock now: True, False (the file is there and free),
    or None (no lock file: no `smsbot run` since the lock came, or it cannot be opened). The probe takes
    the lock for an instant when it is free, so a bot starting at that very moment is refused once."""
    try:
        lock = FileLock.try_take(lock_path(db_path), create=False)
    except OSError:
        return None
    if lock is None:
        return True
    lock.release()
    return False


def holder(path: str) -> str:
    """``PID 1234`` (``on host h`` when it is another machine's), as the holder wrote it; or why not known."""
    try:
        with open(path, encoding="utf-8", errors="replace") as file:
            pid, _, host = file.read().partition("\n")
    except OSError:
        return "PID unknown"
    pid, host = pid.strip(), host.strip()
    if not pid.isdigit():
        return "PID unknown: it has only just started"
    if host and host != socket.gethostname():
        return f"PID {pid} on host {host}"
    return f"PID {pid}"
