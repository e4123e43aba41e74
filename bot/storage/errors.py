"""The database error families, named once for both backends (SQLite and PostgreSQL).

Callers above storage catch these tuples instead of ``sqlite3.Error``: a fault of either backend
(busy, locked, connection lost, constraint) is then handled the same way. ``except DatabaseError``
works because ``except`` takes a tuple of classes.

- ``DatabaseError``: any error raised by the database layer (SQLite, psycopg, or SQLAlchemy's pool
  when no connection can be had).
- ``IntegrityError``: a constraint refused a row (a duplicate key, a missing parent).
- ``OperationalError``: the database could not do it now (busy, locked, gone, disk, connection).
"""

from __future__ import annotations

import sqlite3

import psycopg
import sqlalchemy.exc

DatabaseError: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error, sqlalchemy.exc.SQLAlchemyError)
IntegrityError: tuple[type[Exception], ...] = (sqlite3.IntegrityError, psycopg.IntegrityError)
OperationalError: tuple[type[Exception], ...] = (
    sqlite3.OperationalError,
    psycopg.OperationalError,
    sqlalchemy.exc.TimeoutError,  # no pooled connection came free in time
    sqlalchemy.exc.OperationalError,  # the pool could not connect (server down, refused)
)
