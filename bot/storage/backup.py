"""Consistent copies of the running database: SQLite's online backup API, on demand or daily; for
PostgreSQL, ``pg_dump -Fc`` on demand (:func:`pg_dump`), the password passed in its environment."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import shutil
import sqlite3
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from bot.storage.lock import FileLock

log = logging.getLogger(__name__)

DAY = 24 * 3600.0
CHECK_EVERY_SECONDS = 3600.0  # a restart never postpones the daily copy by more than this
PARTIAL = ".partial"
COMPANIONS = ("-journal", "-wal", "-shm")  # what SQLite writes beside a database file
SQLITE_HEADER = b"SQLite format 3\x00"
JOURNAL_MAGIC = bytes.fromhex("d9d505f920a163d7")  # the start of an SQLite rollback journal
_NAME = re.compile(r"^smsbot-(\d{8}T\d{6}Z)\.db$")


class BackupError(Exception):
    """A backup could not be made; the text says why and what to do."""


def backup(db_path: str, dest: str | Path) -> Path:
    """Copy ``db_path`` to ``dest`` while other connections keep writing; returns the file written.

    ``dest`` may be a folder (existing, or named with a trailing slash): the copy is then
    ``smsbot-<UTC time>.db`` inside it. Missing folders are created. The copy is written to a
    temporary file (``<name>.partial``, locked while it is written) and renamed into place, so ``dest``
    is never a half-written database; the partial files a killed backup left in that folder are
    removed first (:func:`remove_stale_partials`).
    """
    source = Path(db_path).expanduser()
    if not source.is_file():
        raise BackupError(f"there is no database at {str(source)!r}: check SMSBOT_DB.")
    target = Path(dest).expanduser()
    if target.is_dir() or str(dest).endswith(("/", os.sep)):
        target = target / stamped_name(dt.datetime.now(dt.timezone.utc))
    if target.exists() and target.resolve() == source.resolve():
        raise BackupError("the backup path is the database itself: choose another file.")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BackupError(f"cannot create the folder {str(target.parent)!r}: {error.strerror}.") from None
    partial = target.with_name(target.name + PARTIAL)
    remove_stale_partials(target.parent)
    try:
        lock = FileLock.try_take(str(partial))  # a killed backup's lock goes with its process
    except OSError as error:
        raise BackupError(f"the copy to {str(target)!r} failed: {_reason(error)}.") from None
    if lock is None:
        raise BackupError(f"another backup is writing {str(target)!r} right now: wait for it, or choose another file.")
    try:
        _copy(source, partial)
        os.replace(partial, target)
    except (sqlite3.Error, OSError) as error:
        _remove_partial(partial)
        raise BackupError(f"the copy to {str(target)!r} failed: {_reason(error)}.") from None
    finally:
        lock.release()  # only now: closing it earlier would drop SQLite's own locks on the file
    return target


PG_DUMP_HOW = (
    "install the PostgreSQL client (e.g. apt install postgresql-client, the same major version as the server "
    "or newer) and run this again, or run pg_dump -Fc yourself, or use your database provider's snapshots"
)


def pg_dump(url: str, dest: str | Path, *, program: str = "pg_dump") -> Path:
    """``pg_dump -Fc`` of the database at ``url`` into ``dest`` (a file, or a folder for a dated
    ``smsbot-<UTC time>.dump``); returns the file written. The password goes to pg_dump in its environment
    (PGPASSWORD), never on its command line or in any output. Written to ``<name>.partial`` first and
    renamed when pg_dump succeeded, so ``dest`` is never half a dump."""
    found = shutil.which(program)
    if found is None:
        raise BackupError(f"SMSBOT_DATABASE_URL is PostgreSQL and {program} is not on PATH: {PG_DUMP_HOW}.")
    target = Path(dest).expanduser()
    if target.is_dir() or str(dest).endswith(("/", os.sep)):
        target = target / stamped_name(dt.datetime.now(dt.timezone.utc), ".dump")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise BackupError(f"cannot create the folder {str(target.parent)!r}: {error.strerror}.") from None
    partial = target.with_name(target.name + PARTIAL)
    dbname, password = _without_password(url)
    env = {**os.environ, "PGCONNECT_TIMEOUT": os.environ.get("PGCONNECT_TIMEOUT") or "10"}
    if password is not None:
        env["PGPASSWORD"] = password
    command = [found, "--format=custom", "--no-password", f"--file={partial}", f"--dbname={dbname}"]
    try:
        done = subprocess.run(command, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True)
    except OSError as error:
        raise BackupError(f"{program} could not be started: {_reason(error)}.") from None
    if done.returncode != 0:
        _remove_partial(partial)
        said = " ".join(line.strip() for line in done.stderr.strip().splitlines()[-3:]) or f"exit {done.returncode}"
        if password:
            said = said.replace(password, "***")
        hint = (
            " Install the pg_dump of the server's major version (or newer)."
            if "version mismatch" in said
            else " Check SMSBOT_DATABASE_URL and that its user may read every table."
        )
        raise BackupError(f"{program} failed, nothing was written to {str(target)!r}: {said}.{hint}")
    try:
        os.replace(partial, target)
    except OSError as error:
        _remove_partial(partial)
        raise BackupError(f"the dump could not be moved to {str(target)!r}: {_reason(error)}.") from None
    return target


def _without_password(url: str) -> tuple[str, str | None]:
    """(the URL as libpq reads it, without its password; the password, decoded)."""
    parts = urlsplit(url)
    password = unquote(parts.password) if parts.password is not None else None
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, host = netloc.rsplit("@", 1)
        netloc = f"{userinfo.split(':', 1)[0]}@{host}"
    return urlunsplit(("postgresql", netloc, *parts[2:])), password


def remove_stale_partials(folder: Path) -> list[Path]:
    """Remove what killed backups left in ``folder``: ``<name>.partial`` (an SQLite file, or empty)
    that no running backup holds, with its ``-journal``, ``-wal`` and ``-shm``; returns what was removed.
    Other files are not ours and are left alone."""
    removed: list[Path] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    bases = {name[: -len(c)] if (c := _companion(name)) else name for name in names}
    for base in sorted(b for b in bases if b.endswith(PARTIAL)):
        partial = folder / base
        if partial.exists():
            if not _ours(partial):
                continue
            try:
                lock = FileLock.try_take(str(partial), create=False)
            except OSError:
                continue  # gone meanwhile, or not ours to open
            if lock is None:
                continue  # a backup is writing it right now
            try:
                removed += _remove_partial(partial)
            finally:
                lock.release()
        else:  # the partial itself is gone: its journal or WAL has nothing left to belong to
            removed += _remove_partial(partial)
    for path in removed:
        log.warning("event=backup_partial_removed path=%s note=%s", path, json.dumps("left by an interrupted backup"))
    return removed


def _companion(name: str) -> str | None:
    return next((c for c in COMPANIONS if name.endswith(PARTIAL + c)), None)


def _ours(path: Path) -> bool:
    """What a backup writes: an SQLite file, an empty one (killed at once), or one whose first page is
    still zeros (SQLite writes a new file's header at its commit) beside an SQLite rollback journal."""
    head = _head(path, len(SQLITE_HEADER))
    if head in (b"", SQLITE_HEADER):
        return True
    journal = path.with_name(path.name + "-journal")
    return head == bytes(len(SQLITE_HEADER)) and _head(journal, len(JOURNAL_MAGIC)) == JOURNAL_MAGIC


def _head(path: Path, size: int) -> bytes | None:
    try:
        with open(path, "rb") as file:
            return file.read(size)
    except OSError:
        return None


def _remove_partial(partial: Path) -> list[Path]:
    removed = []
    for path in (partial, *(partial.with_name(partial.name + c) for c in COMPANIONS)):
        try:
            path.unlink()
        except OSError:
            continue
        removed.append(path)
    return removed


def _copy(source: Path, target: Path) -> None:
    # Read-only URI: a backup never creates or migrates the database it copies.
    src = sqlite3.connect(f"{source.resolve().as_uri()}?mode=ro", uri=True, timeout=30)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)  # one step: a consistent snapshot; in WAL mode writers go on meanwhile
            check = dst.execute("PRAGMA quick_check").fetchone()[0]
            if check != "ok":
                raise sqlite3.DatabaseError(f"the copy failed its integrity check ({check})")
            dst.execute("PRAGMA journal_mode = DELETE")  # one self-contained file, no -wal companion
        finally:
            dst.close()
    finally:
        src.close()


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error)


def stamped_name(when: dt.datetime, suffix: str = ".db") -> str:
    return f"smsbot-{when.strftime('%Y%m%dT%H%M%SZ')}{suffix}"


def stamped_copies(folder: Path) -> list[tuple[float, Path]]:
    """(time, path) of the scheduled copies in ``folder``, oldest first; other files are not ours."""
    found = []
    if folder.is_dir():
        for path in folder.iterdir():
            if m := _NAME.match(path.name):
                when = dt.datetime.strptime(m.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
                found.append((when.timestamp(), path))
    return sorted(found)


class DailyBackups:
    """SMSBOT_BACKUP_DIR: a copy when the newest is a day old, keeping the newest ``keep``.

    ``run_once(now)`` is checked hourly rather than run every 24 h, so a bot that restarts
    more often than daily still gets its daily copy.
    """

    def __init__(self, db_path: str, folder: str, keep: int, *, clock: Callable[[], float]) -> None:
        self.db_path, self.folder, self.keep, self.clock = db_path, Path(folder).expanduser(), keep, clock
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self, now: float | None = None) -> Path | None:
        """Make a copy if one is due, then prune; returns the new copy, or None."""
        now = self.clock() if now is None else now
        copies = stamped_copies(self.folder)
        made = None
        if not copies or now - copies[-1][0] >= DAY - CHECK_EVERY_SECONDS / 2:
            when = dt.datetime.fromtimestamp(now, dt.timezone.utc)
            try:
                made = backup(self.db_path, self.folder / stamped_name(when))
            except BackupError as error:
                log.error('event=backup_failed folder=%s error="%s"', self.folder, error)
                return None
            log.info("event=backup_made path=%s", made)
            copies = stamped_copies(self.folder)
        for _, old in copies[: -self.keep]:
            with contextlib.suppress(OSError):
                old.unlink()
                log.info("event=backup_pruned path=%s", old)
        return made

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="backup", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # never let one bad night end the schedule
                log.exception("event=backup_crashed")
            self._stop.wait(CHECK_EVERY_SECONDS)

    def is_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
