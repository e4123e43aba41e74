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

sqlite-utils builds the schema (tables, indexes, and ``table.transform()`` for
migrations that ADD COLUMN cannot do). The hot paths (claim, enqueue, outbox,
reports) are hand-written SQL: each is one statement whose exact form (RETURNING,
partial-index ON CONFLICT, index hints) matters for correctness and speed.

Faults heal by themselves: a connection that hit an I/O, read-only or "no such table"
error is dropped and the thread's next use opens a new one. A file deleted or replaced
under the running bot is never written again (nor created anew): every write raises
``DatabaseGone`` until a restart. After ``close()`` no connection is opened any more.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from urllib.parse import quote
from typing import Callable, Iterator, TypeVar

import sqlite_utils

from bot.storage.faults import (DatabaseClosed, DatabaseGone, FaultAwareConnection, FileWatch, WriteTimeout,
                                is_busy, needs_reopen)

__all__ = ["Database", "DatabaseClosed", "DatabaseGone", "WriteTimeout", "is_busy", "needs_reopen"]

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
ACK_PATIENCE_SECONDS = 2.0  # writes before a Slack ack give up after this long (Slack waits 3 s)
GROUP_MAX = 64             # writes committed together at most
GROUP_WAIT_SECONDS = 30.0  # a caller gives up (and its request fails) after this long

T = TypeVar("T")


def _v1(db: sqlite_utils.Database) -> None:
    db["kv"].create({"key": str, "value": str}, pk="key")
    db["batches"].create({
        "id": int, "created_at": float, "team_id": str, "user_id": str, "user_name": str,
        "channel_id": str, "channel_name": str, "text": str, "encoding": str, "parts": int,
        "recipients": int, "response_url": str,
        "status_channel": str, "status_ts": str, "posted_where": str,
    }, pk="id")
    db["messages"].create({
        "id": int, "batch_id": int, "recipient": str, "status": str, "tracking_id": str,
        "attempts": int, "next_attempt_at": float, "last_error": str,
        "queued_at": float, "sending_at": float, "sent_at": float, "failed_at": float,
        "unconfirmed_at": float, "updated_at": float,
        "dlr_status_id": int, "dlr_status": str, "dlr_at": float,
    }, pk="id", foreign_keys=[("batch_id", "batches", "id")],
        defaults={"attempts": 0}, not_null={"batch_id", "recipient", "status"})
    db["messages"].create_index(["status", "next_attempt_at", "id"], index_name="messages_due")
    db["messages"].create_index(["batch_id"], index_name="messages_batch")
    db["messages"].create_index(["tracking_id"], index_name="messages_tracking")
    db["outbox"].create({
        "id": int, "kind": str, "key": str, "batch_id": int, "channel": str, "payload": str,
        "state": str, "created_at": float, "next_attempt_at": float, "attempts": int,
        "last_error": str, "done_at": float,
    }, pk="id", defaults={"attempts": 0, "state": "pending"}, not_null={"kind", "state"})
    db["outbox"].create_index(["state", "next_attempt_at", "id"], index_name="outbox_due")
    # At most one pending row per (kind, key): later changes coalesce into it.
    db.execute("CREATE UNIQUE INDEX outbox_coalesce ON outbox(kind, key) "
               "WHERE state = 'pending' AND key IS NOT NULL")


def _v2(db: sqlite_utils.Database) -> None:
    # Delivery reports exactly as received (raw parameters), and what each did.
    db["reports"].create({
        "id": int, "received_at": float, "message_id": int, "tracking_id": str, "recipient": str,
        "sender": str, "status_id": int, "status_message": str, "raw": str, "outcome": str,
    }, pk="id")
    db["reports"].create_index(["message_id", "id"], index_name="reports_message")
    db["reports"].create_index(["tracking_id"], index_name="reports_tracking")
    # Every balance check, for the balance watch and its forecast.
    db["balance_history"].create({
        "id": int, "checked_at": float, "balance": float, "outcome": str, "error": str,
    }, pk="id")
    db["balance_history"].create_index(["checked_at"], index_name="balance_history_time")
    db["messages"].create_index(["recipient", "status"], index_name="messages_recipient")


def _v3(db: sqlite_utils.Database) -> None:
    # Named groups of numbers, usable wherever a number is.
    db["groups"].create({"name": str, "created_at": float, "created_by": str}, pk="name")
    db["group_members"].create({"group_name": str, "number": str, "added_at": float, "added_by": str},
                               pk=("group_name", "number"), foreign_keys=[("group_name", "groups", "name")])
    # Costly sends waiting for their requester's "Send" click.
    db["pending_sends"].create({
        "id": str, "created_at": float, "expires_at": float, "user_id": str, "channel_id": str,
        "plan": str, "origin": str, "state": str, "decided_at": float, "batch_id": int,
    }, pk="id", not_null={"state"})
    db["batches"].create_index(["created_at"], index_name="batches_created")


def _v4(db: sqlite_utils.Database) -> None:
    # Claims and due jobs in id order without sorting the whole queue each time.
    db["messages"].create_index(["status", "id"], index_name="messages_status_id")
    db["outbox"].create_index(["state", "id"], index_name="outbox_state_id")


def _v5_slack_posts(db: sqlite_utils.Database) -> None:
    # Where a send shows in Slack is the Slack side's business, not the queue's: move those
    # columns to a table of its own (data kept), leaving the batch its text, parts, requester
    # and an opaque origin.
    db["slack_posts"].create({
        "batch_id": int, "team_id": str, "channel_id": str, "channel_name": str, "response_url": str,
        "status_channel": str, "status_ts": str, "posted_where": str,
    }, pk="batch_id", foreign_keys=[("batch_id", "batches", "id")])
    db.execute("INSERT INTO slack_posts (batch_id, team_id, channel_id, channel_name, response_url, "
               "status_channel, status_ts, posted_where) SELECT id, team_id, channel_id, channel_name, "
               "response_url, status_channel, status_ts, posted_where FROM batches")
    db["batches"].add_column("origin", str)
    db.execute("UPDATE batches SET origin = 'slack'")
    db["batches"].transform(drop={"team_id", "channel_id", "channel_name", "response_url",
                                  "status_channel", "status_ts", "posted_where"})
    db["batches"].create_index(["created_at"], index_name="batches_created", if_not_exists=True)
    # Failures of a long list already told in a digest reply (see bot/slack/notices.py).
    db["slack_digested"].create({"batch_id": int, "message_id": int}, pk=("batch_id", "message_id"))
    db["outbox"].create_index(["batch_id"], index_name="outbox_batch")


def _v6_batch_notes(db: sqlite_utils.Database) -> None:
    # What the status message says besides the count: skipped group members, numbers abroad, VoIP (JSON).
    db["batches"].add_column("notes", str)


def _v7_message_failure(db: sqlite_utils.Database) -> None:
    # Why a failed SMS failed (bot/sms/failures.py): decides whether a Resend button can cure it.
    db["messages"].add_column("failure", str)


def _v8_attempts(db: sqlite_utils.Database) -> None:
    # Every time an SMS reached (or may have reached) the gateway, with its tracking number and
    # its own delivery status: a late report for an attempt before a Resend still finds its SMS.
    db["attempts"].create({
        "id": int, "message_id": int, "tracking_id": str, "attempted_at": float, "outcome": str,
        "recorded_at": float, "dlr_status_id": int, "dlr_at": float,
    }, pk="id", foreign_keys=[("message_id", "messages", "id")], not_null={"message_id", "outcome"})
    db["attempts"].create_index(["tracking_id"], index_name="attempts_tracking")
    db["attempts"].create_index(["message_id", "id"], index_name="attempts_message")
    db.execute("INSERT INTO attempts (message_id, tracking_id, attempted_at, outcome, recorded_at, "
               "dlr_status_id, dlr_at) SELECT id, tracking_id, coalesce(sending_at, sent_at), status, "
               "coalesce(sent_at, updated_at), dlr_status_id, dlr_at FROM messages "
               "WHERE tracking_id IS NOT NULL OR status = 'unconfirmed' ORDER BY id")


def _v9_slack_requests(db: sqlite_utils.Database) -> None:
    # Slack requests accepted in the last few minutes and what each was answered, against replays.
    db["slack_requests"].create({
        "key": str, "received_at": float, "expires_at": float, "status": int, "content_type": str,
        "body": bytes,
    }, pk="key")
    db["slack_requests"].create_index(["expires_at"], index_name="slack_requests_expiry")


def _v10_compliance(db: sqlite_utils.Database) -> None:
    # Issue 14: the do-not-contact list, allow-list entries added from Slack, the admin audit log,
    # each SMS's country (kept when retention erases its number) and when a send was erased.
    db["opt_outs"].create({"number": str, "reason": str, "added_by": str, "added_at": float}, pk="number")
    db["access_entries"].create({"kind": str, "id": str, "added_by": str, "added_at": float}, pk=("kind", "id"))
    db["audit_log"].create({"id": int, "at": float, "user_id": str, "action": str, "args": str}, pk="id")
    db["messages"].add_column("country", str)
    db["batches"].add_column("erased_at", float)
    db["outbox"].create_index(["state", "done_at"], index_name="outbox_done", if_not_exists=True)


# Append only: each function moves the schema one version forward.
MIGRATIONS: list[Callable[[sqlite_utils.Database], None]] = [
    _v1, _v2, _v3, _v4, _v5_slack_posts, _v6_batch_notes, _v7_message_failure,
    _v8_attempts, _v9_slack_requests, _v10_compliance]


class Database:
    """A SQLite file shared by threads, each with its own connection."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._file = FileWatch(os.path.abspath(path), path)  # never write into a deleted or replaced file
        self._closed = False
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._group: _GroupCommit | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection; a new one if the last one broke (outside a transaction)."""
        conn = getattr(self._local, "conn", None)
        if conn is not None and conn.broken and not conn.in_transaction:
            log.log(logging.WARNING if conn.fault else logging.DEBUG, "event=db_reconnect thread=%s after=%s",
                    threading.current_thread().name, json.dumps(conn.fault or "opened read-only"))
            self._forget(conn)
            conn = None
        if conn is None:
            conn = self._open(BUSY_TIMEOUT_MS)
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def _open(self, busy_timeout_ms: int) -> FaultAwareConnection:
        if self._closed:
            raise DatabaseClosed(f"the database {self.path} is closed (smsbot is stopping)")
        self._file.check()
        # mode=rw once the file exists: a deleted file must never come back empty
        mode = "rwc" if self._file.identity is None else "rw"
        uri = f"file:{quote(self._file.file)}?mode={mode}"
        conn = sqlite3.connect(uri, uri=True, factory=FaultAwareConnection, isolation_level=None,
                               check_same_thread=False, timeout=busy_timeout_ms / 1000)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._file.remember(lambda: self._keeper(uri))
            # SQLite silently opens a file it may not write read-only, and such a connection stays
            # read-only after the fault clears: use it now, and open a new one at the next use.
            conn.broken = not os.access(self._file.file, os.W_OK)
        except BaseException:
            conn.close()
            raise
        return conn

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
        # Writers in this process queue on a lock of ours: SQLite's own busy handler would make
        # them sleep and poll (1 ms, 2 ms, 5 ms …). busy_timeout still covers other processes.
        if not self._write_lock.acquire(timeout=-1 if patience is None else patience):
            raise WriteTimeout(f"database is locked: another write took more than {patience:g} s")
        try:
            self._file.check()
            self._begin(conn, patience)
            self._local.on_commit = callbacks
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                callbacks.clear()
                if conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):  # a failed rollback must not hide the cause
                        conn.execute("ROLLBACK")
                raise
            finally:
                self._local.on_commit = None
        finally:
            self._write_lock.release()
        _run_callbacks(callbacks)

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

    def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn(conn)`` in a committed write, sharing the transaction with writes from other
        threads that arrive at the same moment (group commit); returns its result once committed.

        Each call runs inside its own savepoint, so one that raises is undone alone and its
        exception is raised here; if the shared commit fails, every call in it raises.
        """
        with self._lock:
            if self._closed:
                raise DatabaseClosed(f"the database {self.path} is closed (smsbot is stopping)")
            if self._group is None:
                self._group = _GroupCommit(self)
            group = self._group
        return group.run(fn)

    def migrate(self) -> int:
        """Bring the schema to the newest version; returns it. Safe to run at every start."""
        conn = self.conn
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > len(MIGRATIONS):
            raise RuntimeError(f"the database {self.path} was written by a newer smsbot "
                               f"(schema {version}, this one knows {len(MIGRATIONS)}): upgrade smsbot")
        for number, step in enumerate(MIGRATIONS[version:], start=version + 1):
            with self.transaction():
                step(self.utils)
                conn.execute(f"PRAGMA user_version = {number}")
            log.info("event=db_migrated version=%d", number)
        return len(MIGRATIONS)

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
            (key, value))

    def close(self) -> None:
        """Stop the group-commit writer and close every thread's connection (at shutdown); from
        then on no connection is opened: late work gets DatabaseClosed instead of a leaked one."""
        with self._lock:
            self._closed = True
            group, self._group = self._group, None
        if group is not None:
            group.stop()
        with self._lock:
            conns, self._all = self._all, []
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        self._file.close()
        self._local = threading.local()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def gone(self) -> str | None:
        """Why nothing is written any more, once the file was deleted or replaced."""
        return self._file.gone


def _run_callbacks(callbacks: list[Callable[[], None]]) -> None:
    for callback in callbacks:
        try:
            callback()
        except Exception:  # the data is committed; a failed wake-up must not undo the caller's success
            log.exception("event=on_commit_failed callback=%s", getattr(callback, "__qualname__", callback))


class _Job:
    __slots__ = ("fn", "done", "result", "error")

    def __init__(self, fn: Callable) -> None:
        self.fn, self.done, self.result, self.error = fn, threading.Event(), None, None


class _GroupCommit:
    """One thread that commits the writes handed to it, several per transaction.

    Many threads each committing one small write queue on the write lock and hand the GIL
    around while they wait; one writer committing whatever has arrived does the same work
    with one BEGIN/COMMIT per group.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        self._cond = threading.Condition()
        self._jobs: list[_Job] = []
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="db-writer", daemon=True)
        self._thread.start()

    def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        job = _Job(fn)
        with self._cond:
            if self._stopping:
                raise RuntimeError("the database is closing")
            self._jobs.append(job)
            self._cond.notify()
        if not job.done.wait(GROUP_WAIT_SECONDS):
            raise TimeoutError("the database writer did not answer in time")
        if job.error is not None:
            raise job.error
        return job.result

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(5.0)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._jobs and not self._stopping:
                    self._cond.wait()
                if not self._jobs:
                    return
                jobs, self._jobs = self._jobs[:GROUP_MAX], self._jobs[GROUP_MAX:]
            self._commit(jobs)

    def _commit(self, jobs: list[_Job]) -> None:
        try:
            with self.db.transaction() as conn:
                pending = self.db._local.on_commit
                for job in jobs:
                    conn.execute("SAVEPOINT job")
                    registered = len(pending)
                    try:
                        job.result = job.fn(conn)
                    except Exception as error:
                        conn.execute("ROLLBACK TO job")
                        del pending[registered:]  # that job's wake-ups were undone with it
                        job.error = error
                    conn.execute("RELEASE job")
        except Exception as error:  # the commit itself failed: nothing of this group is stored
            for job in jobs:
                job.error = job.error or error
        finally:
            for job in jobs:
                job.done.set()
