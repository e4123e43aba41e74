"""What the database layer does about faults: which SQLite and PostgreSQL errors make a connection
untrustworthy, the errors it raises itself, and a copy of a file deleted under the running bot."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable

from bot.storage.errors import PostgresError, PostgresOperationalError

log = logging.getLogger(__name__)

# SQLite's primary result codes after which a connection is not trusted again (it may have been
# opened while the file was read-only or missing, or its file handle went bad)
_REOPEN_CODES = frozenset({8, 10, 11, 14, 26})  # READONLY, IOERR, CORRUPT, CANTOPEN, NOTADB
_BUSY_CODES = frozenset({5, 6})  # BUSY, LOCKED
# PostgreSQL's SQLSTATEs: the server is going away or the link is gone (class 08 too), and busy ones
_PG_REOPEN_STATES = frozenset({"57P01", "57P02", "57P03"})  # admin_shutdown, crash_shutdown, cannot_connect_now
_PG_BUSY_STATES = frozenset({"55P03", "40P01", "40001"})  # lock_not_available, deadlock, serialization_failure


class DatabaseClosed(sqlite3.ProgrammingError):
    """The database was closed (smsbot is stopping): no connection is opened any more."""


class DatabaseGone(sqlite3.OperationalError):
    """The file was deleted or replaced under the running bot: nothing is written any more."""


class WriteTimeout(sqlite3.OperationalError):
    """Another write held the database longer than this thread was willing to wait."""


def needs_reopen(error: BaseException) -> bool:
    """Whether a connection that raised ``error`` must be replaced by a new one (SQLite: I/O, read-only,
    a file gone; PostgreSQL: the connection broke or the server is shutting down)."""
    if isinstance(error, PostgresError):
        state = error.sqlstate
        return isinstance(error, PostgresOperationalError) and (
            state is None or state.startswith("08") or state in _PG_REOPEN_STATES
        )
    code = getattr(error, "sqlite_errorcode", None)
    return (code is not None and code & 0xFF in _REOPEN_CODES) or "no such table" in str(error)


def is_busy(error: BaseException) -> bool:
    """Whether ``error`` means another writer holds the database (it passes by itself)."""
    if isinstance(error, PostgresError):
        return error.sqlstate in _PG_BUSY_STATES
    code = getattr(error, "sqlite_errorcode", None)
    return isinstance(error, WriteTimeout) or (code is not None and code & 0xFF in _BUSY_CODES)


def _noting(method):
    def run(self, *args):
        try:
            return method(self, *args)
        except sqlite3.Error as error:
            if not self.broken and needs_reopen(error):
                self.broken, self.fault = True, str(error)
            raise

    return run


class FaultAwareConnection(sqlite3.Connection):
    """A connection that remembers an error after which it must not be used again (``broken``,
    and ``fault`` says which; a connection opened read-only is broken without a fault)."""

    dialect = "sqlite"  # PgConnection (bot/storage/postgres.py): "postgresql"
    broken = False
    fault: str | None = None
    execute = _noting(sqlite3.Connection.execute)
    executemany = _noting(sqlite3.Connection.executemany)
    executescript = _noting(sqlite3.Connection.executescript)


class FileWatch:
    """Whether the file first opened is still the one at its path; once it is not, never again."""

    def __init__(self, file: str, shown_as: str) -> None:
        self.file, self.shown_as = file, shown_as
        self.identity: tuple[int, int] | None = None  # (device, inode) of the file first opened
        self.gone: str | None = None  # why nothing is written any more
        self._lock = threading.Lock()
        self._keeper: sqlite3.Connection | None = None  # kept open to read a lost file back from

    def remember(self, open_keeper: Callable[[], sqlite3.Connection]) -> None:
        if self.identity is None:
            stat = os.stat(self.file)
            self.identity = (stat.st_dev, stat.st_ino)
            self._keeper = open_keeper()

    def close(self) -> None:
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.close()

    def check(self) -> None:
        """Raise DatabaseGone if the file is no longer at its path (deleted, or another file there)."""
        if self.gone is not None:
            raise DatabaseGone(self.gone)
        if self.identity is None:
            return
        try:
            stat = os.stat(self.file)
        except FileNotFoundError:
            self._lost("deleted")
        except OSError:
            return  # cannot tell (e.g. the folder is unreadable): SQLite will say what is wrong
        else:
            if (stat.st_dev, stat.st_ino) != self.identity:
                self._lost("replaced")

    def _lost(self, how: str) -> None:
        with self._lock:
            first = self.gone is None
            if first:
                self.gone = (
                    f"the database file {self.shown_as} was {how} while smsbot was running, so "
                    "smsbot stopped writing to it"
                )
        if first:
            log.error(
                "event=database_gone path=%s how=%s note=%s",
                self.shown_as,
                how,
                json_quote(
                    "sends are refused and delivery reports get 500 (the gateway retries them) until smsbot "
                    f"restarts. Put the right database back at {self.shown_as} (from a backup, or the copy "
                    "smsbot saved beside it if this line is followed by event=database_rescued), then restart "
                    "smsbot. Do not restart without it: smsbot would start an empty database with a new "
                    "callback URL."
                ),
            )
            self._rescue()
        raise DatabaseGone(self.gone)

    def _rescue(self) -> None:
        """Copy what the kept connection still sees of the lost file to ``FILE.rescued-TIME``, and say
        at ERROR where it is and what to do with it."""
        with self._lock:
            keeper, self._keeper = self._keeper, None
        if keeper is None:
            return
        target = f"{self.file}.rescued-{dt.datetime.now():%Y%m%dT%H%M%S}"
        try:
            with contextlib.closing(keeper), contextlib.closing(sqlite3.connect(target)) as copy:
                keeper.backup(copy)
        except (sqlite3.Error, OSError) as error:
            log.error("event=database_rescue_failed target=%s error=%s", target, json_quote(str(error)))
            return
        log.error(
            "event=database_rescued copy=%s note=%s",
            target,
            json_quote(
                f"this is the database as smsbot last saw it: stop smsbot, move it to {self.shown_as}, start smsbot"
            ),
        )


def json_quote(text: str) -> str:
    """A log value with spaces, quoted as key=value lines quote them."""
    return json.dumps(text)
