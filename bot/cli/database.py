"""Which database a command opens, and what it says when it cannot: one place for every command.

``SMSBOT_DATABASE_URL`` (PostgreSQL) wins over ``SMSBOT_DB`` (the SQLite file), whose folder then only
keeps this host's own files (the sender's journal of accepted SMS). A command's ``--db FILE`` names an
SQLite file for that one run (a copy, an old file) and wins over both.

On PostgreSQL several ``smsbot run`` processes share the database by design (one of them, the leader,
sends): there is no file lock to ask, and a send queued by a command is sent by whichever process leads.
``smsbot check`` looks at the server read-only (:func:`postgres_state`): it creates and upgrades nothing.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn
from urllib.parse import unquote, urlsplit

from bot.config.settings import POSTGRES_SCHEMES, Settings, db_path_from, url_password
from bot.redact import register_secret
from bot.storage.db import Database
from bot.storage.errors import DatabaseError
from bot.storage.migrations import MIGRATIONS

EXIT_FAILED, EXIT_CONFIG = 1, 2
URL_SETTING = "SMSBOT_DATABASE_URL"
CONNECT_SECONDS = 10  # how long a command waits for the server to answer
OLDEST_SERVER = 130000  # PostgreSQL 13
JOURNAL_NOTE = "this host's own files (the sender's journal of accepted SMS)"


@dataclass(frozen=True)
class Target:
    """The database a command works on: PostgreSQL at ``url``, or the SQLite file at ``path``."""

    url: str | None
    path: str

    @property
    def postgres(self) -> bool:
        return self.url is not None

    @property
    def shown(self) -> str:
        """The database as a person reads it: the URL without its password, or the file's full path."""
        if self.url is not None:
            return shown_url(self.url)
        return str(Path(self.path).expanduser().resolve())

    @property
    def setting(self) -> str:
        return URL_SETTING if self.url is not None else "SMSBOT_DB"

    def open(self) -> Database:
        """A ``Database`` (SQLite) or ``PostgresDatabase``; nothing is connected, created or migrated yet."""
        if self.url is not None:
            from bot.storage.postgres import PostgresDatabase

            return PostgresDatabase(self.url, self.path)
        return Database(self.path)


def target_of(settings: Settings) -> Target:
    return Target(settings.database_url, settings.db_path)


def target_for(given_db: str | None, prog: str) -> Target:
    """For the commands that need no Slack or gateway settings (``backup``, ``vacuum``, ``export``,
    ``optout``): ``--db`` if given, else SMSBOT_DATABASE_URL, else SMSBOT_DB (environment, then .env)."""
    path = db_path_from(given_db)
    url = os.environ.get(URL_SETTING) or None
    if given_db or url is None:
        return Target(None, path)
    register_secret(url_password(url))
    if urlsplit(url).scheme.lower() not in POSTGRES_SCHEMES or "://" not in url:
        fail(
            prog,
            f"{URL_SETTING} must be a PostgreSQL URL such as postgresql://smsbot:PASSWORD@db.example:5432/smsbot; "
            "leave it unset to use the SQLite file at SMSBOT_DB (or pass --db FILE).",
            EXIT_CONFIG,
        )
    return Target(url, path)


def open_migrated(target: Target, prog: str) -> Database:
    """The database, created or upgraded as ``smsbot run`` would; a sentence and an exit when it cannot be."""
    db = target.open()
    try:
        db.migrate()
    except DatabaseError as error:
        db.close()
        fail(prog, cannot_use(target, error))
    except RuntimeError as error:  # written by a newer smsbot: refused, untouched
        db.close()
        fail(prog, f"{error}.", EXIT_CONFIG)
    return db


def cannot_use(target: Target, error: BaseException) -> str:
    """Why the database could not be used, and what to do."""
    if target.url is not None:
        return unreachable(target.url, error)
    return f"the database {target.shown} cannot be used ({error}): check SMSBOT_DB and that this user may write it."


def refused_write(target: Target, error: BaseException) -> str:
    """The sentence for a write the database refused (or a server that went away meanwhile)."""
    if target.url is not None:
        return unreachable(target.url, error) + " Try again once it is fixed."
    return (
        f"the database refused the write ({error}). Try again; if it keeps happening, check SMSBOT_DB and that "
        "this user may write it."
    )


def fail(prog: str, sentence: str, code: int = EXIT_FAILED) -> NoReturn:
    print(f"{prog}: {sentence}", file=sys.stderr)
    raise SystemExit(code)


# -- PostgreSQL: the URL, shown and reached ------------------------------------------------------------------
def shown_url(url: str) -> str:
    from bot.storage.postgres import shown_url as shown

    return shown(url)


def conninfo(url: str) -> str:
    """The URL as libpq reads it (SQLAlchemy's ``postgresql+psycopg://`` spelling included)."""
    from bot.storage.postgres import libpq_url

    return libpq_url(url)


@dataclass(frozen=True)
class Place:
    """Where a URL points, for sentences: host:port/database and the user (never the password)."""

    host: str
    port: int
    database: str
    user: str

    def __str__(self) -> str:
        return f"{self.host}:{self.port}/{self.database}"


def place(url: str) -> Place:
    parts = urlsplit(url)
    user = unquote(parts.username or "") or os.environ.get("PGUSER") or _os_user()
    database = unquote(parts.path.lstrip("/")) or user
    return Place(parts.hostname or "localhost", parts.port or 5432, database, user)


def _os_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "(this OS user)"


def unreachable(url: str, error: BaseException) -> str:
    """A sentence for a connection PostgreSQL refused or never answered: which case, and what to do."""
    at = place(url)
    text = str(getattr(error, "orig", None) or error)
    password = url_password(url)
    if password:
        text = text.replace(password, "***")
    lowered = text.lower()
    server = f"PostgreSQL at {at.host}:{at.port}"
    if "connection refused" in lowered:
        return (
            f"cannot reach {server} (connection refused): nothing listens there. Start PostgreSQL, or correct the "
            f"host and port in {URL_SETTING} (and check that the firewall lets this host through)."
        )
    if "resolve host" in lowered or "translate host name" in lowered or "name or service not known" in lowered:
        return f"cannot reach PostgreSQL: the host {at.host!r} in {URL_SETTING} is not known (DNS): correct it."
    if "timeout" in lowered or "timed out" in lowered:
        return (
            f"cannot reach {server}: no answer within {CONNECT_SECONDS} s. Check the host and port in "
            f"{URL_SETTING} and that the firewall lets this host through."
        )
    if "does not exist" in lowered and "database" in lowered:
        return (
            f"{server} has no database {at.database!r}: create it (CREATE DATABASE {at.database} OWNER {at.user}; "
            f"or createdb -O {at.user} {at.database}), or correct the database name in {URL_SETTING}."
        )
    if "authentication failed" in lowered or ("role" in lowered and "does not exist" in lowered):
        return (
            f"{server} refused the user {at.user!r} (authentication failed): correct the user and password in "
            f"{URL_SETTING} (URL-encode special characters in the password, e.g. %40 for @), or create that role."
        )
    if "pg_hba.conf" in lowered:
        return (
            f"{server} does not let the user {at.user!r} in from this host (no pg_hba.conf entry): add one for it "
            f"on the server, or connect through an allowed host."
        )
    if "password" in lowered and ("supplied" in lowered or "no password" in lowered):
        return f"{server} asks the user {at.user!r} for a password: add it to {URL_SETTING}."
    first = text.strip().splitlines()[0] if text.strip() else type(error).__name__
    return f"cannot use PostgreSQL at {at} ({first}): check {URL_SETTING}."


@dataclass(frozen=True)
class PostgresState:
    """What ``smsbot check`` found on the server (read only)."""

    ok: bool
    line: str
    callback_secret: str | None = None
    warning: str | None = None  # works, but not as it should: said after the line


# The tables every SMS sent updates: without autovacuum their old row versions pile up until a VACUUM.
BUSY_TABLES = ("messages", "attempts", "charges", "outbox", "reports")


def vacuum_warning(conn) -> str | None:
    """A sentence when autovacuum is off on the server or for one of smsbot's busy tables; else None."""
    where = []
    if _one(conn, "SHOW autovacuum") == "off":
        where.append("on this server (autovacuum = off)")
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relname = ANY(%s) "
            "AND array_to_string(c.reloptions, ',') ~* 'autovacuum_enabled=(false|off|no|0)' ORDER BY 1",
            (list(BUSY_TABLES),),
        )
    ]
    if tables:
        where.append(f"for the table{'s' if len(tables) > 1 else ''} {', '.join(tables)} (autovacuum_enabled)")
    if not where:
        return None
    return (
        f"autovacuum is off {' and '.join(where)}: every SMS sent leaves old row versions that only VACUUM "
        "removes, and sending slows down as they pile up (on the benchmark's machine, from 4 ms to 10 ms per SMS "
        "over a 10,000-SMS burst). Turn it back on (autovacuum = on is PostgreSQL's default; ALTER TABLE … "
        "RESET (autovacuum_enabled)), or run `smsbot vacuum` after large sends."
    )


def postgres_state(url: str) -> PostgresState:
    """Reachable, allowed to write (or to create the tables, when there are none yet), and at a schema this
    smsbot knows. Nothing is created or upgraded: the one write is rolled back."""
    import psycopg

    from bot.storage.schema import VERSION_TABLE

    at, shown, newest = place(url), shown_url(url), len(MIGRATIONS)
    try:
        conn = psycopg.connect(conninfo(url), autocommit=True, connect_timeout=CONNECT_SECONDS)
    except psycopg.Error as error:
        return PostgresState(False, f"Database: FAILED: {unreachable(url, error)}")
    try:
        with conn:
            server = conn.info.server_version
            release = f"PostgreSQL {server // 10000}.{server % 10000}"
            if server < OLDEST_SERVER:
                return PostgresState(
                    False, f"Database: FAILED: {shown} is {release}; smsbot needs PostgreSQL 13 or newer."
                )
            if _one(conn, "SELECT pg_is_in_recovery()"):
                return PostgresState(
                    False,
                    f"Database: FAILED: {shown} is a read-only standby (in recovery): point {URL_SETTING} at "
                    "the primary server.",
                )
            schema = _one(conn, "SELECT current_schema()")
            if schema is None:
                return PostgresState(
                    False,
                    f"Database: FAILED: the user {at.user!r} has no schema to create tables in at {at} (its "
                    "search_path names none that exists): CREATE SCHEMA, or set the role's search_path.",
                )
            warning = vacuum_warning(conn)
            if _one(conn, "SELECT to_regclass(%s)", (VERSION_TABLE,)) is None:
                return dataclasses.replace(_empty(conn, at, shown, schema, release), warning=warning)
            version = int(_one(conn, f"SELECT version FROM {VERSION_TABLE}") or 0)
            if version > newest:
                return PostgresState(
                    False,
                    f"Database: FAILED: {shown} was written by a newer smsbot (schema {version}; this smsbot "
                    f"knows up to {newest}). Install that newer smsbot again, or restore the pg_dump taken "
                    "before the upgrade; this version will not touch the database.",
                )
            state = _existing(conn, at, shown, schema, release, version)
            return dataclasses.replace(state, warning=warning) if state.ok else state
    except psycopg.Error as error:
        return PostgresState(False, f"Database: FAILED: {unreachable(url, error)}")


def _one(conn, sql: str, params: tuple = ()):
    row = conn.execute(sql, params).fetchone()
    return None if row is None else row[0]


def _may_create(conn, at: Place, schema: str) -> str | None:
    """None, or why the user may not create smsbot's tables in ``schema``."""
    if _one(conn, "SELECT has_schema_privilege(current_schema(), 'CREATE')"):
        return None
    return (
        f"the user {at.user!r} may not create tables in the schema {schema!r} of {at} (PostgreSQL 15 and newer "
        f"let only the database's owner create tables in public): make it the owner (ALTER DATABASE "
        f"{at.database} OWNER TO {at.user}) or GRANT CREATE ON SCHEMA {schema} TO {at.user}."
    )


def _empty(conn, at: Place, shown: str, schema: str, release: str) -> PostgresState:
    if problem := _may_create(conn, at, schema):
        return PostgresState(False, f"Database: FAILED: {problem}")
    return PostgresState(
        True,
        f"Database: OK, {shown} ({release}) has no smsbot tables yet; the user may create them, and the first "
        "`smsbot run` does",
    )


def _existing(conn, at: Place, shown: str, schema: str, release: str, version: int) -> PostgresState:
    import psycopg

    denied = [
        row[0]
        for row in conn.execute(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p') AND NOT ("
            "has_table_privilege(c.oid, 'SELECT') AND has_table_privilege(c.oid, 'INSERT') "
            "AND has_table_privilege(c.oid, 'UPDATE') AND has_table_privilege(c.oid, 'DELETE')) ORDER BY 1"
        )
    ]
    if denied:
        return PostgresState(
            False,
            f"Database: FAILED: the user {at.user!r} may not read and write every smsbot table of {at} "
            f"({', '.join(denied[:5])}{'…' if len(denied) > 5 else ''}): GRANT SELECT, INSERT, UPDATE, DELETE "
            f"ON ALL TABLES IN SCHEMA {schema} TO {at.user}, or connect as their owner.",
        )
    try:  # one write, as smsbot's first would be, rolled back: nothing changes
        with conn.transaction(force_rollback=True):
            conn.execute("SET LOCAL lock_timeout = '5s'")
            conn.execute(
                "INSERT INTO kv(key, value) VALUES ('smsbot_check', 'rolled back') "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            )
    except psycopg.Error as error:
        return PostgresState(False, f"Database: FAILED: a write to {shown} was refused ({error}).")
    secret = _one(conn, "SELECT value FROM kv WHERE key = 'callback_secret'")
    newest = len(MIGRATIONS)
    if version < newest:
        if not _one(conn, "SELECT pg_has_role(relowner, 'USAGE') FROM pg_class WHERE oid = 'kv'::regclass"):
            return PostgresState(
                False,
                f"Database: FAILED: {shown} is at schema {version} and the next `smsbot run` upgrades it to "
                f"{newest}, but the user {at.user!r} does not own smsbot's tables, so it may not alter them: "
                "run smsbot as their owner.",
                secret,
            )
        upgrade = f" (schema {version}; it will be upgraded to {newest} at the next `smsbot run`)"
    else:
        upgrade = f" (schema {version})"
    return PostgresState(True, f"Database: OK, {shown} ({release}), the user may read and write{upgrade}", secret)


def postgres_newer(url: str) -> str | None:
    """A sentence if the database at ``url`` was written by a newer smsbot; None otherwise, and when the
    server cannot be reached (the command that connects says so itself)."""
    import psycopg

    from bot.storage.schema import VERSION_TABLE

    try:
        with psycopg.connect(conninfo(url), autocommit=True, connect_timeout=CONNECT_SECONDS) as conn:
            if _one(conn, "SELECT to_regclass(%s)", (VERSION_TABLE,)) is None:
                return None
            version = int(_one(conn, f"SELECT version FROM {VERSION_TABLE}") or 0)
    except psycopg.Error:
        return None
    if version > len(MIGRATIONS):
        return (
            f"{URL_SETTING} ({shown_url(url)}) was written by a newer smsbot (schema {version}; this smsbot knows "
            f"up to {len(MIGRATIONS)}). Install that newer smsbot again, or restore the pg_dump taken before the "
            "upgrade; this version will not touch the database."
        )
    return None


def overridden_line(settings: Settings) -> str | None:
    """When both are set, the one line saying SMSBOT_DATABASE_URL wins over SMSBOT_DB."""
    if not settings.database_url or not os.environ.get("SMSBOT_DB"):
        return None
    return (
        f"Database: {URL_SETTING} is set, so smsbot uses PostgreSQL; SMSBOT_DB "
        f"({Path(settings.db_path).expanduser().resolve()}) only keeps {JOURNAL_NOTE}"
    )


def backup_dir_warning(settings: Settings) -> str | None:
    """SMSBOT_BACKUP_DIR copies the SQLite file; with PostgreSQL nothing is copied, and this says what to do."""
    if not (settings.database_url and settings.backup_dir):
        return None
    return (
        f"SMSBOT_BACKUP_DIR ({settings.backup_dir}) makes daily copies of the SQLite file only; with "
        f"{URL_SETTING} no copies are made there. Back PostgreSQL up with pg_dump -Fc (`smsbot backup FILE` runs "
        "it) from a cron job, or use your provider's snapshots, and unset SMSBOT_BACKUP_DIR."
    )
