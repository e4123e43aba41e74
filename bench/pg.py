"""PostgreSQL for the benchmark: is a server there, a fresh database per run (created and dropped here),
and reads of the bot's tables with the same ``?`` placeholders as SQLite's."""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    from bot.storage.db import Database

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
URL_VARIABLE = "SMSBOT_BENCH_DATABASE_URL"
PREFIX = "smsbot_bench"
_PLACEHOLDER = re.compile(r"\?")


def server_url() -> str:
    """The server the benchmark creates its databases on (any database there it can connect to)."""
    return os.environ.get(URL_VARIABLE) or DEFAULT_URL


def with_database(url: str, name: str) -> str:
    """``url`` naming database ``name`` instead (user, password, host, port and query kept)."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


def database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def libpq_url(url: str) -> str:
    """The URL as psycopg reads it (``postgresql+psycopg://`` is SQLAlchemy's spelling): the bot's own mapping."""
    from bot.storage.postgres import libpq_url as mapped

    return mapped(url)


def shown(url: str) -> str:
    """The URL without its password."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{parts.hostname}:{parts.port or 5432}"))


def placeholders(sql: str) -> str:
    """SQLite's ``?`` as psycopg's ``%s`` (the benchmark's own reads have no literal ``?`` or ``%``)."""
    return _PLACEHOLDER.sub("%s", sql)


def unreachable(url: str, timeout: float = 3.0) -> str | None:
    """Why the benchmark cannot create databases on the server at ``url``, or None when it can."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed"
    try:
        with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=max(1, int(timeout))) as conn:
            if not conn.execute("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()[
                0
            ]:
                return f"the user of {shown(url)} may not create databases"
    except psycopg.Error as error:
        return f"no PostgreSQL at {shown(url)} ({str(error).strip().splitlines()[0]})"
    return None


def create_database(url: str, prefix: str = PREFIX) -> str:
    """A new empty database on the server at ``url``; its URL (drop it with :func:`drop_database`)."""
    import psycopg

    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return with_database(url, name)


def drop_database(url: str, server: str) -> None:
    """Drop the database of ``url`` (connected through ``server``'s database), its sessions ended first."""
    import psycopg

    with psycopg.connect(libpq_url(server), autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database_name(url)}" WITH (FORCE)')


@contextmanager
def fresh_database(server: str, prefix: str = PREFIX) -> Iterator[str]:
    """A database of its own for one run: created on entry, dropped on exit whatever happened."""
    url = create_database(server, prefix)
    try:
        yield url
    finally:
        drop_database(url, server)


def autovacuum_off(url: str) -> bool:
    """Whether the server at ``url`` runs without autovacuum (``autovacuum = off``; PostgreSQL's default is on)."""
    import psycopg

    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5) as conn:
        row = conn.execute("SHOW autovacuum").fetchone()
    return row is not None and row[0] == "off"


def vacuum(url: str) -> None:
    """``VACUUM (ANALYZE)`` the database at ``url``: what autovacuum does between bursts on a default server."""
    import psycopg

    with psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5) as conn:
        conn.execute("VACUUM (ANALYZE)")


class Reader:
    """Reads of the bot's PostgreSQL tables on one autocommit connection, ``?`` placeholders as for SQLite."""

    def __init__(self, url: str) -> None:
        import psycopg

        self._conn = psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=5)

    def sql(self, query: str, *params) -> list[tuple]:
        return self._conn.execute(placeholders(query), params).fetchall()

    def close(self) -> None:
        self._conn.close()


@contextmanager
def scratch_database(server: str | None) -> Iterator[Database]:
    """A migrated, empty smsbot database for a measurement in this process: a fresh SQLite file in a
    temporary folder (``server`` None), or a fresh database on the PostgreSQL server at ``server``;
    closed and removed (dropped) afterwards."""
    from bot.storage.db import Database

    with tempfile.TemporaryDirectory(prefix="smsbot-bench-") as folder:
        path = str(Path(folder) / "bench.db")
        if server is None:
            db = Database(path)
            try:
                db.migrate()
                yield db
            finally:
                db.close()
            return
        from bot.storage.postgres import PostgresDatabase

        with fresh_database(server) as url:
            db = PostgresDatabase(url, path)
            try:
                db.migrate()
                yield db
            finally:
                db.close()
