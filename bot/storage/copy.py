"""Copy a SQLite database into an empty PostgreSQL one, in one transaction, with counts checked.

The target's schema comes first (``PostgresDatabase.migrate``: the baseline, then the later steps), so
both sides are at the same version; then every table's rows go across in dependency order, ids kept,
and each identity column continues after the highest id copied. Within the same transaction the rows
on each side are counted: any difference rolls everything back. So the target ends with all of the
history or none of it.

Not copied: the PostgreSQL version table (the target's own) and ``leases`` (who leads is decided
afresh by the processes that run on the target).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bot.storage.db import Database
from bot.storage.schema import VERSION_TABLE, metadata

CHUNK_ROWS = 5000
NOT_COPIED = {VERSION_TABLE, "leases"}


class CopyRefused(Exception):
    """The copy did not start or was rolled back; the text says why and what to do."""


@dataclass(frozen=True)
class Copied:
    table: str
    rows: int


def copy_sqlite_to_postgres(
    source: Database, target: Any, progress: Callable[[str, int], None] = lambda table, rows: None
) -> list[Copied]:
    """Both already migrated to the same version. Raises CopyRefused when the target holds smsbot rows
    already or a count differs after the copy (nothing is kept then)."""
    tables = _tables(source, target)
    held = [(name, n) for name in tables if (n := _count(target.conn, name))]
    if held:
        listed = ", ".join(f"{name} ({n:,} rows)" for name, n in held[:5])
        raise CopyRefused(
            f"the PostgreSQL database already holds smsbot data: {listed}. migrate-to copies into an empty "
            "database only, so that nothing is mixed or overwritten: create a new database "
            "(e.g. `createdb smsbot`) and give its URL"
        )
    copied: list[Copied] = []
    with target.transaction() as conn:
        for name in tables:
            columns = _target_columns(conn, name)
            select = _select_list(source, name, columns)
            names, marks = ", ".join(_q(c) for c in columns), ", ".join("?" * len(columns))
            insert = f"INSERT INTO {_q(name)} ({names}) VALUES ({marks})"
            rows = 0
            for chunk in _chunks(source.conn.execute(f"SELECT {select} FROM {_q(name)} ORDER BY 1")):
                conn.executemany(insert, chunk)
                rows += len(chunk)
                progress(name, rows)
            _continue_identity(conn, name)
            expected = _count(source.conn, name)
            got = _count(conn, name)
            if not rows == expected == got:
                raise CopyRefused(
                    f"the table {name} has {expected:,} rows in SQLite but {got:,} arrived: nothing was kept. "
                    "Is another program writing to the SQLite file? Stop it and run migrate-to again"
                )
            copied.append(Copied(name, got))
    return copied


def _tables(source: Database, target: Any) -> list[str]:
    """smsbot's tables on both sides, parents before children (the baseline's order, then later steps')."""
    here = {r[0] for r in source.conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    there = {
        r[0]
        for r in target.conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() "
            "AND table_type = 'BASE TABLE'"
        )
    }
    both = (here & there) - NOT_COPIED
    ordered = [t.name for t in metadata.sorted_tables if t.name in both]
    return ordered + sorted(both - set(ordered))


def _target_columns(conn: Any, table: str) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
            "AND table_name = ? ORDER BY ordinal_position",
            (table,),
        )
    ]


def _select_list(source: Database, table: str, columns: list[str]) -> str:
    """The SQLite side of each target column: the column itself; ``rowid`` where PostgreSQL keeps
    SQLite's implicit row order as a column of that name; NULL for one SQLite never had."""
    have = {r["name"] for r in source.conn.execute(f"PRAGMA table_info({_q(table)})")}
    return ", ".join(_q(c) if c in have else ("rowid" if c == "rowid" else "NULL") for c in columns)


def _chunks(cursor: Any) -> Iterator[list[tuple]]:
    while rows := cursor.fetchmany(CHUNK_ROWS):
        yield [tuple(row) for row in rows]


def _continue_identity(conn: Any, table: str) -> None:
    for (column,) in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = ? AND is_identity = 'YES'",
        (table,),
    ):
        conn.execute(
            f"SELECT setval(pg_get_serial_sequence(?, ?), coalesce(max({_q(column)}), 0) + 1, false) FROM {_q(table)}",
            (_q(table), column),
        )


def _count(conn: Any, table: str) -> int:
    return int(conn.execute(f"SELECT count(*) FROM {_q(table)}").fetchone()[0])


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
