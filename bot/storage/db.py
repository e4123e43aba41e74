"""The SQLite file: one connection per thread, WAL, busy_timeout, and migrations.

Every thread (sender, notifier, HTTP workers, Bolt listeners) calls ``db.conn``
and gets its own connection. Writes that must happen together use
``with db.transaction() as conn:`` which takes the write lock up front
(``BEGIN IMMEDIATE``), so two writers never deadlock on a lock upgrade.

Every write goes through ``transaction()`` (or ``write()``, which batches several
callers' writes into one transaction): outside it, connections are in autocommit
mode and only read. Work that must wait for the commit — waking the sender or the
notifier — is registered with ``db.on_commit(callback)`` and runs after COMMIT,
never on a rollback, as Django's ``transaction.on_commit`` does.

sqlite-utils builds the schema (``bot/storage/migrations.py``: tables, indexes, and
``table.transform()`` for migrations that ADD COLUMN cannot do). The hot paths (claim, enqueue, outbox,
reports) are hand-written SQL: each is one statement whose exact form (RETURNING,
partial-index ON CONFLICT, index hints) matters for correctness and speed.

Faults heal by themselves: a connection that hit an I/O, read-only or "no such table"
error is dropped and the thread's next use opens a new one. A file deleted or replaced
under the running bot is never written again (nor created anew): every write raises
``DatabaseGone`` until a restart. After ``close()`` no connection is opened any more.

WAL checkpoints run on a thread of their own (bot/storage/checkpoints.py, ``wal_autocheckpoint = 0``),
so no commit waits for the disk while it holds the write lock; ``checkpoint()`` (retention's TRUNCATE)
waits for that thread's copy, and ``close()`` stops and joins it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import sqlite_utils

from bot.storage.backup import BackupError, backup
from bot.storage.checkpoints import BUSY_MS as CHECKPOINT_BUSY_MS
from bot.storage.checkpoints import Checkpointer
from bot.storage.errors import DatabaseError
from bot.storage.faults import (
    DatabaseClosed,
    DatabaseGone,
    FaultAwareConnection,
    FileWatch,
    WriteTimeout,
    is_busy,
    needs_reopen,
)
from bot.storage.group_commit import GroupCommit
from bot.storage.migrations import BASELINE, MIGRATIONS, Steps

__all__ = ["Database", "DatabaseClosed", "DatabaseGone", "WriteTimeout", "is_busy", "needs_reopen"]

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
ACK_PATIENCE_SECONDS = 2.0  # writes before a Slack ack give up after this long (Slack waits 3 s)
CHECKPOINT_PATIENCE_SECONDS = 1.0  # a TRUNCATE checkpoint waits this long for readers and writers
WAL_SIZE_LIMIT = 64 << 20  # the WAL file shrinks back to this after a burst (journal_size_limit)
BEFORE_SCHEMA = ".before-schema-"  # <db>.before-schema-N: the file as it was before schema N (see migrate)

T = TypeVar("T")


class Database:
    """A SQLite file shared by threads, each with its own connection."""

    dialect = "sqlite"  # PostgresDatabase (bot/storage/postgres.py): "postgresql"

    def __init__(self, path: str) -> None:
        self.path = path
        self.shown = path  # how messages name the database
        self._file = FileWatch(os.path.abspath(path), path)  # never write into a deleted or replaced file
        self._closed = False
        self._local = threading.local()
        self._all: list = []  # every thread's connection (PostgresDatabase: its pooled ones)
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._group: GroupCommit | None = None
        # WAL checkpoints on a thread of their own (bot/storage/checkpoints.py): no commit waits for the disk
        self._checkpoints = Checkpointer(self._checkpoint_conn, self._still_there, self._write_lock)

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection; a new one if the last one broke (outside a transaction)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn.broken and not conn.in_transaction:
            log.log(
                logging.WARNING if conn.fault else logging.DEBUG,
                "event=db_reconnect thread=%s after=%s",
                threading.current_thread().name,
                json.dumps(conn.fault or "opened read-only"),
            )
            self._forget(conn)
            conn = None
        if conn is None:
            conn = self._fresh()
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _fresh(self) -> sqlite3.Connection:
        """A new connection for this thread (PostgresDatabase: one from the pool)."""
        return self._open(BUSY_TIMEOUT_MS)

    def _open(self, busy_timeout_ms: int) -> FaultAwareConnection:
        if self._closed:
            raise DatabaseClosed(f"the database {self.path} is closed (smsbot is stopping)")
        self._file.check()
        # mode=rw once the file exists: a deleted file must never come back empty
        mode = "rwc" if self._file.identity is None else "rw"
        uri = f"file:{quote(self._file.file)}?mode={mode}"
        conn = sqlite3.connect(
            uri,
            uri=True,
            factory=FaultAwareConnection,
            isolation_level=None,
            check_same_thread=False,
            timeout=busy_timeout_ms / 1000,
        )
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA wal_autocheckpoint = 0")  # no commit pays for a checkpoint: see checkpoints.py
            conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
            conn.execute("PRAGMA foreign_keys = ON")
            # deleted and overwritten rows are zeroed, not left in free space (retention erases in place)
            conn.execute("PRAGMA secure_delete = ON")
            self._file.remember(lambda: self._keeper(uri))
            # SQLite silently opens a file it may not write read-only, and such a connection stays
            # read-only after the fault clears: use it now, and open a new one at the next use.
            conn.broken = not os.access(self._file.file, os.W_OK)
        except BaseException:
            conn.close()
            raise
        return conn

    def _checkpoint_conn(self) -> sqlite3.Connection:
        """The checkpoint thread's connection: it never creates the file, and gives up on a lock at once."""
        uri = f"file:{quote(self._file.file)}?mode=rw"
        return sqlite3.connect(
            uri, uri=True, isolation_level=None, check_same_thread=False, timeout=CHECKPOINT_BUSY_MS / 1000
        )

    def _still_there(self) -> bool:
        """Whether the file first opened is still at its path (without reporting it: the writers do)."""
        if self._closed or self._file.gone is not None or self._file.identity is None:
            return False
        try:
            stat = os.stat(self._file.file)
        except OSError:
            return False
        return (stat.st_dev, stat.st_ino) == self._file.identity

    @staticmethod
    def _keeper(uri: str) -> sqlite3.Connection:
        """A connection that only holds the file (and its WAL) open, to copy it back if it is lost."""
        keeper = sqlite3.connect(uri, uri=True, check_same_thread=False)
        keeper.execute("SELECT count(*) FROM sqlite_master").fetchall()  # opens the -wal and -shm too
        return keeper

    def _forget(self, conn: sqlite3.Connection) -> None:
        self._local.conn = None
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        with contextlib.suppress(sqlite3.Error):
            conn.close()

    @property
    def utils(self) -> sqlite_utils.Database:
        """sqlite-utils over this thread's connection."""
        return sqlite_utils.Database(self.conn)

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Take the write lock now, commit on success, roll back on any error; then run the
        callbacks registered with :meth:`on_commit` (only after a commit).

        Inside :meth:`patience`, waiting for the lock gives up after that many seconds
        (``WriteTimeout`` or SQLite's "database is locked"), and nothing is written."""
        conn = self.conn
        if conn.in_transaction:
            raise RuntimeError("transaction() does not nest")
        callbacks: list[Callable[[], None]] = []
        patience = getattr(self._local, "patience", None)
        carried: Carried | None = getattr(self._local, "carry", None)
        if carried is not None and carried.committed:
            carried = None
        if carried is not None:
            carried.tried = True
        # Writers in this process queue on a lock of ours: SQLite's own busy handler would make
        # them sleep and poll (1 ms, 2 ms, 5 ms …). busy_timeout still covers other processes.
        if not self._write_lock.acquire(timeout=-1 if patience is None else patience):
            raise WriteTimeout(f"database is locked: another write took more than {patience:g} s")
        try:
            self._begin_write(conn, patience)
            self._local.on_commit = callbacks
            try:
                if carried is not None:
                    carried.fn(conn)
                yield conn
                conn.execute("COMMIT")
                if carried is not None:
                    carried.committed = True
            except BaseException:
                callbacks.clear()
                if conn.in_transaction:
                    with contextlib.suppress(*DatabaseError):  # a failed rollback must not hide the cause
                        conn.execute("ROLLBACK")
                raise
            finally:
                self._local.on_commit = None
        finally:
            self._write_lock.release()
        self._after_commit()
        _run_callbacks(callbacks)

    # The two places where the backends differ in a write (PostgresDatabase overrides both).
    def _begin_write(self, conn: sqlite3.Connection, patience: float | None) -> None:
        """Open the write: the file still ours, then SQLite's write lock (BEGIN IMMEDIATE)."""
        self._file.check()
        self._begin(conn, patience)

    def _after_commit(self) -> None:
        self._checkpoints.committed()

    @staticmethod
    def _begin(conn: sqlite3.Connection, patience: float | None) -> None:
        if patience is None:
            conn.execute("BEGIN IMMEDIATE")
            return
        conn.execute(f"PRAGMA busy_timeout = {max(1, int(patience * 1000))}")
        try:
            conn.execute("BEGIN IMMEDIATE")
        finally:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")

    @contextlib.contextmanager
    def carrying(self, fn: Callable[[sqlite3.Connection], None]) -> Iterator[Carried]:
        """In the block, the transactions this thread opens run ``fn(conn)`` first, until one commits: its
        write commits with the block's first write, or not at all. ``tried``/``committed`` say what
        became of it (e.g. a Slack request's record, stored with the send it asked for)."""
        carried = Carried(fn)
        previous = getattr(self._local, "carry", None)
        self._local.carry = carried
        try:
            yield carried
        finally:
            self._local.carry = previous

    @contextlib.contextmanager
    def patience(self, seconds: float) -> Iterator[None]:
        """This thread's writes in the block wait at most ``seconds`` for the write lock (for work
        that must answer quickly, such as a Slack request before its ack)."""
        previous = getattr(self._local, "patience", None)
        self._local.patience = seconds
        try:
            yield
        finally:
            self._local.patience = previous

    def probe(self, timeout: float) -> None:
        """Commit one tiny write on a new connection within ``timeout`` seconds, as a writer that
        starts now would; raises sqlite3.Error saying why not (``is_busy()`` when it is only busy)."""
        if self._closed:  # before waiting for the write lock, which a worker stopping may still hold
            raise DatabaseClosed(f"the database {self.path} is closed (smsbot is stopping)")
        started = time.monotonic()
        if not self._write_lock.acquire(timeout=timeout):
            raise WriteTimeout(f"database is locked: a write has been waiting more than {timeout:g} s")
        try:
            left = max(0.001, timeout - (time.monotonic() - started))
            conn = self._open(max(1, int(left * 1000)))
            try:
                conn.execute("BEGIN IMMEDIATE")
                self.set_kv(conn, "health_probe", str(time.time()))
                conn.execute("COMMIT")
            finally:
                conn.close()
        finally:
            self._write_lock.release()

    def on_commit(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` once this thread's open transaction commits (at once if none is open).
        Duplicates are run once: ten changes in one transaction wake a worker once."""
        pending = getattr(self._local, "on_commit", None)
        if pending is None:
            callback()
        elif callback not in pending:
            pending.append(callback)

    def write(self, fn: Callable[[sqlite3.Connection], T], timeout: float | None = None) -> T:
        """Run ``fn(conn)`` in a committed write, sharing the transaction with writes from other
        threads that arrive at the same moment (group commit); returns its result once committed.

        Each call runs inside its own savepoint, so one that raises is undone alone and its
        exception is raised here; if the shared commit fails, every call in it raises. Waiting
        longer than ``timeout`` seconds (default: GROUP_WAIT_SECONDS) raises TimeoutError.
        """
        group = self._group_writer()
        return group.run(fn) if timeout is None else group.run(fn, timeout)

    def commit_alone(self, sql: str, params: Sequence[Any] = (), timeout: float | None = None) -> None:
        """Commit one statement that no rule depends on (a delivery report taken in): here with the group
        writer's next commit, like :meth:`write`; on PostgreSQL on this thread's own connection, in parallel
        with other threads and without the writers' lock."""
        self.write(lambda conn: conn.execute(sql, params), timeout)

    def write_soon(self, fn: Callable[[sqlite3.Connection], object], on_error: Callable[[Exception], None]) -> None:
        """Like :meth:`write`, without waiting for the commit: for a write nobody needs to see committed
        before going on (``close()`` commits what is waiting). ``on_error`` is told if it fails."""
        self._group_writer().submit(fn, on_error)

    def _group_writer(self) -> GroupCommit:
        """The group-commit writer, started at the first use; DatabaseClosed once closing."""
        with self._lock:
            if self._closed:
                raise DatabaseClosed(f"the database {self.name} is closed (smsbot is stopping)")
            if self._group is None:
                self._group = GroupCommit(self)
            return self._group

    @property
    def name(self) -> str:
        """The database as messages name it (PostgreSQL: its URL without the password)."""
        return self.path

    def checkpoint(self, patience: float = CHECKPOINT_PATIENCE_SECONDS) -> bool:
        """Copy the WAL into the file and truncate it to nothing (``PRAGMA wal_checkpoint(TRUNCATE)``),
        so that what was overwritten is in neither. False when a reader or a writer kept it from
        finishing within ``patience`` seconds: the WAL still holds frames then."""
        conn = self.conn
        started = time.monotonic()
        # the checkpoint thread's own copy (a few ms) would make this one fail at once: wait for it to end
        if not self._checkpoints.lock.acquire(timeout=patience):
            return False
        try:
            return self._truncate(conn, max(0.001, patience - (time.monotonic() - started)))
        finally:
            self._checkpoints.lock.release()

    def _truncate(self, conn: sqlite3.Connection, patience: float) -> bool:
        # Our own writers queue behind it on our lock, as behind any write; SQLite's busy handler
        # covers readers and other processes, for no longer than ``patience``.
        if not self._write_lock.acquire(timeout=patience):
            return False
        try:
            self._file.check()
            conn.execute(f"PRAGMA busy_timeout = {max(1, int(patience * 1000))}")
            try:
                busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            finally:
                conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        finally:
            self._write_lock.release()
        return not busy

    def migrate(self) -> int:
        """Bring the schema to the newest version; returns it. Safe to run at every start.

        Before an existing file is moved to a newer schema, a copy of it is kept beside it
        (``<db>.before-schema-N``, N the schema it is moved to): the way back to the old version.
        The copies of earlier upgrades are deleted once this one has succeeded, since they hold
        texts and numbers that retention erases from the database later."""
        conn = self.conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        newest = len(MIGRATIONS)
        if version > newest:
            raise RuntimeError(
                f"the database {self.path} was written by a newer smsbot "
                f"(schema {version}, this one knows {newest}): upgrade smsbot"
            )
        if version == newest:
            return newest
        if version > 0:  # a new, empty file (schema 0) has nothing to keep
            self._keep_copy(version, newest)
        for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                step(self.utils if number <= BASELINE else Steps(conn))  # later steps: SQL both backends read
                conn.execute(f"PRAGMA user_version = {number}")
            log.info("event=db_migrated version=%d", number)
        for older in copies_before_schema(self.path):
            if older[0] < newest:
                with contextlib.suppress(FileNotFoundError):
                    os.remove(older[1])
                    log.info("event=db_copy_removed path=%s reason=upgraded_again", older[1])
        return newest

    def _keep_copy(self, version: int, newest: int) -> None:
        copy = f"{self.path}{BEFORE_SCHEMA}{newest}"
        if os.path.exists(copy):  # a start that failed midway: the copy from before it is the one to keep
            log.warning("event=db_copy_kept path=%s note=%s", copy, json.dumps("made by an earlier start; kept as is"))
            return
        try:
            backup(self.path, copy)
        except BackupError as error:
            raise RuntimeError(
                f"the database {self.path} (schema {version}) was not upgraded to schema {newest}, because the "
                f"copy to keep before upgrading could not be made ({error}). Free some space beside it, "
                "or make a copy yourself and move it away, then start smsbot again"
            ) from None
        log.warning(
            "event=db_copied_before_upgrade path=%s from=%d to=%d note=%s",
            copy,
            version,
            newest,
            json.dumps(
                "the database as it was before this upgrade, to go back to the older smsbot; delete it once this "
                "version works (it keeps texts and numbers that retention erases); the next upgrade deletes it"
            ),
        )

    def ping(self) -> bool:
        try:
            return self.conn.execute("SELECT 1").fetchone()[0] == 1
        except sqlite3.Error:
            return False

    def get_kv(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM kv WHERE key = ?", (key,)).fetchone()
        return None if row is None else row[0]

    @staticmethod
    def set_kv(conn: sqlite3.Connection, key: str, value: str) -> None:
        """Inside the caller's transaction."""
        conn.execute(
            "INSERT INTO kv(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def close(self, timeout: float | None = None) -> None:
        """Stop the group-commit writer and close every thread's connection (at shutdown); from
        then on no connection is opened: late work gets DatabaseClosed instead of a leaked one.

        ``timeout``: return within about this long (what is left of smsbot's stop budget). A thread still
        waiting for a lock another program holds keeps its connection busy (SQLite's busy wait holds
        the connection's mutex) until it gives up; its connection is then closed behind, unwaited for."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._closed = True
            group, self._group = self._group, None
        if group is not None:
            group.stop(seconds_left(deadline))
        self._before_closing()
        with self._lock:
            conns, self._all = self._all, []
        close_connections(conns, seconds_left(deadline))
        self._after_closing()
        self._local = threading.local()

    # What closing does besides, on each backend (PostgresDatabase overrides both).
    def _before_closing(self) -> None:
        """Stop the WAL checkpoint thread (it copies between our writes, never after close)."""
        self._checkpoints.stop()

    def _after_closing(self) -> None:
        """Let go of the file (the connection that keeps it open against deletion)."""
        self._file.close()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def gone(self) -> str | None:
        """Why nothing is written any more, once the file was deleted or replaced."""
        return self._file.gone


class Carried:
    """A write carried by the first transaction of a block (:meth:`Database.carrying`)."""

    __slots__ = ("fn", "tried", "committed")

    def __init__(self, fn: Callable[[sqlite3.Connection], None]) -> None:
        self.fn = fn
        self.tried = False  # a transaction was begun (or waited for) to carry it
        self.committed = False


def copies_before_schema(db_path: str) -> list[tuple[int, str]]:
    """(N, path) of each ``<db>.before-schema-N`` beside the database, by N."""
    folder, name = os.path.split(os.path.abspath(db_path))
    found = []
    with contextlib.suppress(OSError):
        for entry in os.listdir(folder):
            rest = entry[len(name + BEFORE_SCHEMA) :] if entry.startswith(name + BEFORE_SCHEMA) else ""
            if rest.isdigit():
                found.append((int(rest), os.path.join(folder, entry)))
    return sorted(found)


def seconds_left(deadline: float | None) -> float | None:
    """Seconds until ``deadline`` (a ``time.monotonic()``), never below 0; None for no deadline."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def close_connections(conns: list, timeout: float | None) -> None:
    """Close these connections (either backend's), waiting at most ``timeout`` seconds (None: as long as it
    takes); those not closed by then are closed by a thread of their own as soon as they can be."""

    def close_each() -> None:
        for conn in conns:
            with contextlib.suppress(*DatabaseError):
                conn.close()

    if timeout is None:
        close_each()
        return
    closer = threading.Thread(target=close_each, name="db-close", daemon=True)
    closer.start()
    closer.join(timeout)
    if closer.is_alive():
        log.warning(
            "event=db_close_unfinished note=%s",
            json.dumps("a thread still waits for a lock another program holds; its connection is closed when it stops"),
        )


def _run_callbacks(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:  # the data is committed; a failed wake-up must not undo the caller's success
            log.exception("event=on_commit_failed callback=%s", getattr(callback, "__qualname__", callback))
