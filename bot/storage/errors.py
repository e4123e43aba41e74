"""The database error families, named once for both backends (SQLite and PostgreSQL).

Callers above storage catch these tuples: a fault of either backend (busy, locked, connection lost,
constraint) is handled the same way. ``except DatabaseError`` works because ``except`` takes a tuple.

PostgreSQL's errors (psycopg's, and SQLAlchemy's pool's) reach the code above storage as the classes
below, which are sqlite3's own: the adapter in bot/storage/postgres.py raises them, with the server's
``sqlstate`` and the original error as ``__cause__``. So every ``except`` written for a database error
holds on both backends, and a SQLite installation never imports the PostgreSQL driver (about 30 MB).

- ``DatabaseError``: any error raised by the database layer.
- ``IntegrityError``: a constraint refused a row (a duplicate key, a missing parent).
- ``OperationalError``: the database could not do it now (busy, locked, gone, disk, connection).
"""

from __future__ import annotations

import sqlite3


class PostgresError(sqlite3.DatabaseError):
    """An error PostgreSQL (or the way to it) raised; ``sqlstate`` is the server's code, None when no
    server answered (refused, timed out, no pooled connection free)."""

    sqlstate: str | None = None


class PostgresOperationalError(PostgresError, sqlite3.OperationalError):
    """The server could not do it now: a lock not granted in time, the connection broken or refused."""


class PostgresIntegrityError(PostgresError, sqlite3.IntegrityError):
    """A constraint refused a row."""


DatabaseError: tuple[type[Exception], ...] = (sqlite3.Error,)
IntegrityError: tuple[type[Exception], ...] = (sqlite3.IntegrityError,)
OperationalError: tuple[type[Exception], ...] = (sqlite3.OperationalError,)
