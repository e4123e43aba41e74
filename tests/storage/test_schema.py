"""The PostgreSQL baseline (bot/storage/schema.py) and SQLite's steps (bot/storage/migrations.py) build the
same schema: the same tables, columns, nullability, keys and indexes (partial where SQLite's are), read
back from both with SQLAlchemy's inspector, so the two histories cannot drift apart."""

import sqlalchemy

from bot.storage.db import Database
from bot.storage.postgres import PostgresDatabase, engine_url
from bot.storage.schema import VERSION_TABLE

# the kind of value each declared type holds, on either side
KIND = {"INTEGER": int, "BIGINT": int, "REAL": float, "DOUBLE PRECISION": float, "DOUBLE": float, "FLOAT": float}
KIND |= {"TEXT": str, "BLOB": bytes, "BYTEA": bytes}
ONLY_POSTGRES = {(VERSION_TABLE, None), ("group_members", "rowid")}  # SQLite's are PRAGMA user_version, rowid


def shape(engine: sqlalchemy.Engine) -> dict:
    inspector = sqlalchemy.inspect(engine)
    tables = {}
    for name in inspector.get_table_names():
        if (name, None) in ONLY_POSTGRES:
            continue
        columns = {
            c["name"]: (str(c["type"]).split("(")[0], c["nullable"] and c["name"] not in _pk(inspector, name))
            for c in inspector.get_columns(name)
            if (name, c["name"]) not in ONLY_POSTGRES
        }
        indexes = sorted(
            (
                i["name"],
                tuple(i["column_names"]),
                bool(i["unique"]),
                (i.get("dialect_options") or {}).get(f"{engine.dialect.name}_where") is not None,
            )
            for i in inspector.get_indexes(name)
        )
        foreign = sorted(
            (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
            for f in inspector.get_foreign_keys(name)
        )
        tables[name] = {"columns": columns, "pk": sorted(_pk(inspector, name)), "indexes": indexes, "fks": foreign}
    return tables


def _pk(inspector, table: str) -> list[str]:
    return inspector.get_pk_constraint(table)["constrained_columns"]


def test_the_postgresql_baseline_and_the_sqlite_steps_build_the_same_schema(tmp_path, pg_url):
    lite = Database(str(tmp_path / "smsbot.db"))
    lite.migrate()
    lite.close()
    pg = PostgresDatabase(pg_url, str(tmp_path / "unused.db"))
    pg.migrate()
    pg.close()
    sqlite_engine = sqlalchemy.create_engine(f"sqlite:///{tmp_path / 'smsbot.db'}")
    pg_engine = sqlalchemy.create_engine(engine_url(pg_url))
    try:
        sqlite_shape, pg_shape = shape(sqlite_engine), shape(pg_engine)
    finally:
        sqlite_engine.dispose()
        pg_engine.dispose()
    assert sorted(pg_shape) == sorted(sqlite_shape)
    for table, lite_table in sqlite_shape.items():
        pg_table = pg_shape[table]
        assert sorted(pg_table["columns"]) == sorted(lite_table["columns"]), table
        for column, (lite_type, lite_nullable) in lite_table["columns"].items():
            pg_type, pg_nullable = pg_table["columns"][column]
            assert KIND[pg_type] is KIND[lite_type], (table, column, lite_type, pg_type)
            assert pg_nullable == lite_nullable, (table, column)
        assert pg_table["pk"] == lite_table["pk"], table
        assert pg_table["indexes"] == lite_table["indexes"], table
        assert pg_table["fks"] == lite_table["fks"], table
    assert any(partial for t in pg_shape.values() for (*_, partial) in t["indexes"])  # the partial ones compared
