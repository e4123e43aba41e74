"""PostgreSQL as the store: the same interface as ``Database`` (bot/storage/db.py), for several replicas.

SQLAlchemy Core 2 gives the dialect, the URL and the connection pool (``pool_pre_ping``: a connection
broken by a server restart or a network cut is replaced at its next check-out); psycopg 3 is the
driver. Every module keeps writing the SQL text it writes for SQLite: ``conn`` is a thin adapter
(:class:`PgConnection`) that runs that text on PostgreSQL. The mapping is small, on purpose:

- ``?`` parameters become psycopg's ``%s`` (and a literal ``%`` becomes ``%%``); a dict of parameters
  is used with ``:name`` placeholders (``%(name)s``). Quoted strings and identifiers are left alone.
- rows behave like ``sqlite3.Row``: ``row[0]``, ``row["col"]``, ``row[2:]``, ``keys()``, ``dict(row)``;
  cursors have ``fetchone``, ``fetchall``, iteration and ``rowcount`` (no ``lastrowid``: ``RETURNING id``).
- connections are in autocommit mode, as SQLite's are here (``isolation_level=None``): reads outside a
  transaction see the latest commit, and ``BEGIN``/``COMMIT``/``SAVEPOINT`` are written as SQL.
- ``numeric`` values (``sum()`` of a BIGINT) are read as int or float, never Decimal.

Writers across replicas: SQLite has one writer at a time, and rules such as a daily limit in a
20-way race, a confirmation queued once, or an opt-out stopping the rest of a batch rely on it
(check, then write, inside ``transaction()``). Here each ``transaction()`` first takes one
transaction-scoped advisory lock (``pg_advisory_xact_lock``), the same discipline across every
replica: READ COMMITTED then gives each statement after it a snapshot that holds every earlier
writer's commit, so check-then-insert stays exact. Readers never take it. ``patience(s)`` bounds the
wait for it with ``lock_timeout`` and raises ``WriteTimeout`` as SQLite's busy wait does.

Everything PostgreSQL-specific about connections, locks and the schema version is in this module.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar, cast
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import psycopg
import psycopg.errors
import sqlalchemy
import sqlalchemy.exc
from psycopg.adapt import Loader
from psycopg.pq import TransactionStatus
from sqlalchemy import event

from bot.config.settings import POSTGRES_SCHEMES
from bot.storage.db import BUSY_TIMEOUT_MS, Database
from bot.storage.errors import DatabaseError, PostgresError, PostgresIntegrityError, PostgresOperationalError
from bot.storage.faults import DatabaseClosed, WriteTimeout, needs_reopen
from bot.storage.group_commit import GroupCommit
from bot.storage.migrations import BASELINE, MIGRATIONS, Steps
from bot.storage.schema import VERSION_TABLE, baseline_ddl

log = logging.getLogger(__name__)

T = TypeVar("T")

# Advisory lock keys (64-bit, per database): the writers' lock and the migrations' lock.
WRITER_LOCK = 0x736D73626F740001  # "smsbot" 1
MIGRATION_LOCK = 0x736D73626F740002  # "smsbot" 2

POOL_SIZE = 10  # connections kept open; a thread holds one while it lives (see PostgresDatabase.conn)
POOL_OVERFLOW = 90  # more, opened when needed and closed when given back
POOL_WAIT_SECONDS = 10.0


# libpq's network settings where the URL does not set its own: a server that stops answering is noticed
# within seconds, not after the kernel's TCP timeouts (minutes), so a leader cut off from the database
# fails its renewal in time and a standby's requests fail with a sentence instead of hanging.
NETWORK_DEFAULTS = {
    "connect_timeout": 5,  # seconds to connect
    "keepalives": 1,
    "keepalives_idle": 5,  # an idle connection is probed after 5 s …
    "keepalives_interval": 2,  # … every 2 s …
    "keepalives_count": 3,  # … and given up after 3 unanswered probes
    "tcp_user_timeout": 10000,  # ms: data sent and not acknowledged for this long breaks the connection
}


def network_defaults(url: str) -> dict[str, int]:
    given = {key for key, _ in parse_qsl(urlsplit(url).query)}
    return {key: value for key, value in NETWORK_DEFAULTS.items() if key not in given}


LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout ran out


def translate(error: BaseException) -> PostgresError:
    """A PostgreSQL error as one of sqlite3's classes (bot/storage/errors.py), keeping the server's code."""
    orig = getattr(error, "orig", None) or error  # SQLAlchemy wraps the driver's error
    if isinstance(orig, psycopg.IntegrityError):
        cls: type[PostgresError] = PostgresIntegrityError
    elif isinstance(orig, psycopg.OperationalError) or isinstance(
        error, (sqlalchemy.exc.OperationalError, sqlalchemy.exc.TimeoutError, sqlalchemy.exc.DisconnectionError)
    ):
        cls = PostgresOperationalError
    else:
        cls = PostgresError
    translated = cls(str(orig).strip() or type(orig).__name__)
    translated.sqlstate = getattr(orig, "sqlstate", None)
    return translated


def is_postgres_url(url: str) -> bool:
    return urlsplit(url).scheme.lower() in POSTGRES_SCHEMES


def engine_url(url: str) -> str:
    """The URL as SQLAlchemy's psycopg 3 dialect takes it (postgres:// and postgresql:// alike)."""
    parts = urlsplit(url)
    return urlunsplit(("postgresql+psycopg", *parts[1:]))


def libpq_url(url: str) -> str:
    """The URL as libpq (a plain psycopg connection) reads it: ``postgres://`` and SQLAlchemy's
    ``postgresql+psycopg://`` spellings alike."""
    return urlunsplit(("postgresql", *urlsplit(url)[1:]))


def shown_url(url: str) -> str:
    """The URL without its password, to show in logs and messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = netloc[0].split(":", 1)[0]
    return urlunsplit((parts.scheme, f"{user}:***@{netloc[1]}", *parts[2:]))


# -- SQL text: the one mapping from what SQLite reads to what psycopg reads -------------------------


@functools.lru_cache(maxsize=4096)
def to_psycopg(sql: str, named: bool = False) -> str:
    """``?`` -> ``%s`` (or ``:name`` -> ``%(name)s`` when ``named``), ``%`` -> ``%%``, outside quotes."""
    out: list[str] = []
    quote: str | None = None
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if quote is not None:
            out.append("%%" if c == "%" else c)
            if c == quote:
                quote = None
        elif c in "'\"":
            quote = c
            out.append(c)
        elif c == "%":
            out.append("%%")
        elif c == "?" and not named:
            out.append("%s")
        elif c == ":" and named and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_") and sql[i - 1] != ":":
            j = i + 1
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            out.append(f"%({sql[i + 1 : j]})s")
            i = j
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


class Row:
    """A result row that behaves as ``sqlite3.Row`` does: by position, by column name, keys()."""

    __slots__ = ("_values", "_index")

    def __init__(self, values: Sequence[Any], index: dict[str, int]) -> None:
        self._values = tuple(values)
        self._index = index

    def __getitem__(self, key):
        if isinstance(key, str):
            try:
                return self._values[self._index[key]]
            except KeyError:
                raise IndexError(f"No item with that key: {key!r}") from None
        return self._values[key]

    def keys(self) -> list[str]:
        return list(self._index)

    def __iter__(self) -> Iterator[Any]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Row):
            return self._values == other._values and self._index == other._index
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._values)

    def __repr__(self) -> str:
        return f"<Row {dict(zip(self._index, self._values, strict=False))!r}>"


def _row_factory(cursor: psycopg.Cursor[Any]) -> Callable[[Sequence[Any]], Row]:
    index: dict[str, int] = {}
    for i, column in enumerate(cursor.description or ()):
        index.setdefault(column.name, i)  # a repeated name means its first column, as in sqlite3.Row
    return lambda values: Row(values, index)


class _NumberLoader(Loader):
    """``numeric`` as int (whole) or float: sums of BIGINT are numeric in PostgreSQL, int in SQLite."""

    def load(self, data) -> int | float:
        text = bytes(data).decode()
        return float(text) if any(c in text for c in ".eEN") else int(text)


class PgCursor:
    """A finished statement's results, read as a sqlite3 cursor's are."""

    __slots__ = ("_cur",)

    def __init__(self, cur: psycopg.Cursor[Any]) -> None:
        self._cur = cur

    @property
    def rowcount(self) -> int:
        return self._cur.rowcount

    @property
    def description(self):
        return self._cur.description

    def fetchone(self) -> Row | None:
        return self._cur.fetchone() if self._cur.description is not None else None

    def fetchall(self) -> list[Row]:
        return self._cur.fetchall() if self._cur.description is not None else []

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())


class PgConnection:
    """One pooled PostgreSQL connection, used by one thread at a time, that runs the SQL text written for
    SQLite (see the module's docstring). ``broken`` once a fault means it must not be used again."""

    dialect = "postgresql"

    def __init__(self, fairy: Any) -> None:
        self._fairy = fairy  # SQLAlchemy's pooled connection: closing it gives it back to the pool
        self.raw: psycopg.Connection[Any] = fairy.driver_connection
        self.thread = threading.current_thread()
        self.broken = False
        self.fault: str | None = None

    def _noting(self, error: psycopg.Error) -> PostgresError:
        """The error as the code above storage catches it; the connection marked broken if it must go."""
        translated = translate(error)
        if not self.broken and (needs_reopen(translated) or self.raw.closed):
            self.broken, self.fault = True, str(translated)
        return translated

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> PgCursor:
        named = isinstance(params, dict)
        try:
            cur = self.raw.cursor(row_factory=_row_factory)
            cur.execute(to_psycopg(sql, named), params)
            return PgCursor(cur)
        except psycopg.Error as error:
            raise self._noting(error) from error

    def executemany(self, sql: str, seq: Any) -> PgCursor:
        rows = list(seq)
        named = bool(rows) and isinstance(rows[0], dict)
        cur = self.raw.cursor(row_factory=_row_factory)
        try:
            if rows:
                cur.executemany(to_psycopg(sql, named), rows)
        except psycopg.Error as error:
            raise self._noting(error) from error
        return PgCursor(cur)

    def script(self, sql: str) -> None:
        """Several statements in one round trip (the simple query protocol: no parameters, no ``%``)."""
        try:
            self.raw.execute(sql.encode())  # bytes: sent as is, never read for placeholders
        except psycopg.Error as error:
            raise self._noting(error) from error

    @property
    def in_transaction(self) -> bool:
        return self.raw.info.transaction_status in (
            TransactionStatus.INTRANS,
            TransactionStatus.INERROR,
            TransactionStatus.ACTIVE,
        )

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.broken or self.in_transaction:
                self._fairy.invalidate()
            self._fairy.close()


class PostgresDatabase(Database):
    """A PostgreSQL database shared by threads (and by replicas), each thread with its own pooled connection.

    ``path`` is the local SQLite path (SMSBOT_DB), used only for the files smsbot keeps beside it on
    this host (the sender's journal of accepted SMS). Typed as a ``Database`` (its subclass): the code
    above storage uses either the same way."""

    dialect = "postgresql"

    def __init__(self, url: str, local_path: str) -> None:  # not super().__init__(): that opens a SQLite file
        self.url = url
        self.path = local_path
        self.shown = shown_url(url)
        self._closed = False
        self._local = threading.local()
        self._all: list[PgConnection] = []
        self._lock = threading.Lock()
        self._write_lock = threading.Lock()
        self._group: GroupCommit | None = None
        self.engine = sqlalchemy.create_engine(
            engine_url(url),
            pool_pre_ping=True,
            pool_size=POOL_SIZE,
            max_overflow=POOL_OVERFLOW,
            pool_timeout=POOL_WAIT_SECONDS,
            hide_parameters=True,  # the texts and numbers of SMS never reach an exception's text
            isolation_level="AUTOCOMMIT",  # as SQLite's connections here: BEGIN and COMMIT are written out
            connect_args=network_defaults(url),
        )
        event.listen(self.engine, "connect", _on_connect)

    def __repr__(self) -> str:
        return f"PostgresDatabase({self.shown!r})"

    # -- connections ---------------------------------------------------------------------------------
    # conn is Database's (a connection per thread, replaced once broken); here each comes from the pool
    def _fresh(self) -> Any:  # a PgConnection, used wherever a sqlite3.Connection is
        return self._connect()

    def _connect(self) -> PgConnection:
        if self._closed:
            raise DatabaseClosed(f"the database {self.shown} is closed (smsbot is stopping)")
        self._reap()
        try:
            return PgConnection(self.engine.raw_connection())
        except (psycopg.Error, sqlalchemy.exc.SQLAlchemyError) as error:  # refused, timed out, no pooled one free
            raise translate(error) from error

    def _reap(self) -> None:
        """Give back to the pool the connections of threads that have ended."""
        with self._lock:
            dead = [c for c in self._all if not c.thread.is_alive()]
            self._all = [c for c in self._all if c.thread.is_alive()]
        for conn in dead:
            conn.close()

    def _forget(self, conn: Any) -> None:
        self._local.conn = None
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        conn.close()

    @property
    def utils(self) -> Any:
        raise RuntimeError("sqlite-utils works on SQLite only; write SQL both backends read")

    # -- writing -----------------------------------------------------------------------------------
    # transaction() is Database's: these are the two places where a PostgreSQL write differs
    def _begin_write(self, conn: Any, patience: float | None) -> None:
        """BEGIN, then the writers' advisory lock every replica takes (SQLite's one writer, across replicas)."""
        self._begin_writing(conn, BUSY_TIMEOUT_MS / 1000 if patience is None else patience)

    def _after_commit(self) -> None:
        """No WAL to checkpoint: the server writes its own."""

    def commit_alone(self, sql: str, params: Sequence[Any] = (), timeout: float | None = None) -> None:
        """One statement in autocommit on this thread's pooled connection: one round trip, in parallel with the
        other threads and replicas, no writers' lock (no rule depends on what it writes). It waits only for the
        network (NETWORK_DEFAULTS), not for other writers, so ``timeout`` is not used."""
        if self._closed:
            raise DatabaseClosed(f"the database {self.shown} is closed (smsbot is stopping)")
        conn = self.conn
        if conn.in_transaction:
            raise RuntimeError("commit_alone() runs outside a transaction")
        conn.execute(sql, params)

    @staticmethod
    def _begin_writing(conn: PgConnection, patience: float) -> None:
        """BEGIN, then wait at most ``patience`` seconds for the writers' advisory lock (one round trip)."""
        try:
            conn.script(
                f"BEGIN; SELECT pg_advisory_xact_lock({WRITER_LOCK}) FROM "
                f"(SELECT set_config('lock_timeout', '{max(1, int(patience * 1000))}', true)) AS waiting"
            )
        except PostgresError as error:
            if conn.in_transaction:
                with contextlib.suppress(*DatabaseError):
                    conn.execute("ROLLBACK")
            if error.sqlstate == LOCK_NOT_AVAILABLE:
                raise WriteTimeout(f"database is locked: another write took more than {patience:g} s") from None
            raise
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(*DatabaseError):
                    conn.execute("ROLLBACK")
            raise

    def probe(self, timeout: float) -> None:
        """Commit one tiny write within ``timeout`` seconds, as a writer that starts now would."""
        if self._closed:  # before waiting for the write lock, which a worker stopping may still hold
            raise DatabaseClosed(f"the database {self.shown} is closed (smsbot is stopping)")
        started = time.monotonic()
        if not self._write_lock.acquire(timeout=timeout):
            raise WriteTimeout(f"database is locked: a write has been waiting more than {timeout:g} s")
        try:
            conn = self._connect()
            try:
                self._begin_writing(conn, max(0.001, timeout - (time.monotonic() - started)))
                self.set_kv(cast(Any, conn), "health_probe", str(time.time()))
                conn.execute("COMMIT")
            finally:
                conn.close()
        finally:
            self._write_lock.release()

    @property
    def name(self) -> str:
        return self.shown

    def checkpoint(self, patience: float = 1.0) -> bool:
        """Nothing to do: PostgreSQL has no WAL file of ours to truncate (erased rows go with VACUUM)."""
        return True

    def vacuum(self, tables: Sequence[str], *, analyze: bool = False) -> None:
        """VACUUM these tables (outside any transaction), so erased rows leave their dead tuples; with
        ``analyze``, VACUUM (ANALYZE): the planner's statistics refreshed too (``smsbot vacuum``)."""
        conn = self._connect()
        try:
            for table in tables:
                conn.execute(f'VACUUM {"(ANALYZE) " if analyze else ""}"{table}"')
        finally:
            conn.close()

    # -- schema ------------------------------------------------------------------------------------
    def migrate(self) -> int:
        """Bring the schema to the newest version; returns it. A new database gets the baseline
        (bot/storage/schema.py, version BASELINE), then the steps after it. Two processes starting
        together queue on a session advisory lock, so the steps never run twice."""
        newest = len(MIGRATIONS)
        conn = self._connect()  # its own connection: the session lock must not outlive this call elsewhere
        try:
            conn.execute(f"SELECT pg_advisory_lock({MIGRATION_LOCK})")
            try:
                version = self._version(conn)
                if version > newest:
                    raise RuntimeError(
                        f"the database {self.shown} was written by a newer smsbot "
                        f"(schema {version}, this one knows {newest}): upgrade smsbot"
                    )
                if version == 0:
                    self._in_transaction(conn, lambda: self._create_baseline(conn))
                    log.info("event=db_migrated version=%d note=%s", BASELINE, json.dumps("PostgreSQL baseline"))
                    version = BASELINE
                for number in range(version + 1, newest + 1):
                    self._in_transaction(conn, functools.partial(self._step, conn, MIGRATIONS[number - 1], number))
                    log.info("event=db_migrated version=%d", number)
            finally:
                conn.execute(f"SELECT pg_advisory_unlock({MIGRATION_LOCK})")
        finally:
            conn.close()
        return newest

    @staticmethod
    def _version(conn: PgConnection) -> int:
        if conn.execute(f"SELECT to_regclass('{VERSION_TABLE}')").fetchone()[0] is None:  # type: ignore[index]
            return 0
        row = conn.execute(f"SELECT version FROM {VERSION_TABLE}").fetchone()
        return 0 if row is None else int(row[0])

    def _in_transaction(self, conn: PgConnection, fn: Callable[[], None]) -> None:
        self._begin_writing(conn, BUSY_TIMEOUT_MS / 1000)
        try:
            fn()
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(*DatabaseError):
                conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _create_baseline(conn: PgConnection) -> None:
        for statement in baseline_ddl():
            conn.execute(statement)
        conn.execute(f"CREATE TABLE {VERSION_TABLE} (version INTEGER NOT NULL)")
        conn.execute(f"INSERT INTO {VERSION_TABLE} (version) VALUES (?)", (BASELINE,))

    @staticmethod
    def _step(conn: PgConnection, step: Callable[[Any], None], number: int) -> None:
        step(Steps(conn))
        conn.execute(f"UPDATE {VERSION_TABLE} SET version = ?", (number,))

    # -- small things ----------------------------------------------------------------------------
    def ping(self) -> bool:
        try:
            return self.conn.execute("SELECT 1").fetchone()[0] == 1
        except DatabaseError:
            return False

    # close() is Database's (the writer stopped, every connection given back, within ``timeout``)
    def _before_closing(self) -> None:
        """No checkpoint thread: the server writes its own WAL."""

    def _after_closing(self) -> None:
        """Close the pool: from then on no connection is opened."""
        self.engine.dispose()

    @property
    def gone(self) -> str | None:
        return None  # a server has no file to delete under us: its faults are connection errors


def _on_connect(dbapi_conn: psycopg.Connection[Any], _record: Any) -> None:
    dbapi_conn.adapters.register_loader("numeric", _NumberLoader)
