"""The database layer: group commit keeps each write's own outcome."""
import threading

import pytest

from bot.storage.db import MIGRATIONS, Database


def insert(value):
    def fn(conn):
        conn.execute("INSERT INTO kv (key, value) VALUES (?, ?)", (value, value))
        return value
    return fn


def test_writes_from_many_threads_are_all_committed(db):
    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(db.write(insert(f"k{i}")))) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == sorted(f"k{i}" for i in range(40))
    assert db.conn.execute("SELECT count(*) FROM kv").fetchone()[0] == 40


def test_a_failing_write_is_undone_alone_and_its_error_raised(db):
    def half_then_fail(conn):
        conn.execute("INSERT INTO kv (key, value) VALUES ('half', 'x')")
        raise ValueError("bad report")

    with pytest.raises(ValueError, match="bad report"):
        db.write(half_then_fail)
    assert db.write(insert("after")) == "after"
    assert [r[0] for r in db.conn.execute("SELECT key FROM kv")] == ["after"]


def test_a_storage_error_fails_the_write(db):
    db.conn.execute("CREATE TRIGGER full BEFORE INSERT ON kv BEGIN SELECT RAISE(ABORT, 'disk full'); END")
    with pytest.raises(Exception, match="disk full"):
        db.write(insert("lost"))


def test_close_stops_the_writer_and_later_writes_start_a_new_one(db):
    db.write(insert("one"))
    db.close()
    assert db.write(insert("two")) == "two"
    assert db.conn.execute("SELECT count(*) FROM kv").fetchone()[0] == 2


def test_migrations_are_idempotent_and_refuse_a_newer_schema(tmp_path):
    db = Database(str(tmp_path / "m.db"))
    try:
        assert db.migrate() == db.migrate()
        db.conn.execute("PRAGMA user_version = 999")
        with pytest.raises(RuntimeError, match="newer smsbot"):
            db.migrate()
    finally:
        db.close()


# -- the schema after migrate(), read back with sqlite-utils -----------------------------------------
def schema(db: Database) -> dict:
    """Every table's columns, primary key, foreign keys and indexes, as sqlite-utils sees them."""
    utils = db.utils
    return {name: {"columns": utils[name].columns_dict, "pks": utils[name].pks,
                   "fks": sorted((fk.column, fk.other_table, fk.other_column) for fk in utils[name].foreign_keys),
                   "indexes": sorted((i.name, i.unique, i.partial, tuple(i.columns)) for i in utils[name].indexes)}
            for name in utils.table_names()}


def test_migrate_builds_every_store_the_bot_keeps(db):
    tables = set(db.utils.table_names())
    assert {"kv", "batches", "messages", "outbox", "reports", "balance_history", "groups", "group_members",
            "pending_sends"} <= tables
    messages = db.utils["messages"]
    assert {"batch_id", "recipient", "status", "tracking_id", "attempts", "next_attempt_at"} <= set(
        messages.columns_dict)
    assert ("batch_id", "batches", "id") in schema(db)["messages"]["fks"]
    members = db.utils["group_members"]
    assert members.pks == ["group_name", "number"]  # a number is in a group at most once
    assert [(fk.column, fk.other_table) for fk in members.foreign_keys] == [("group_name", "groups")]


def test_lookups_the_bot_makes_often_have_an_index(db):
    def indexed(table):
        return [i.columns for i in db.utils[table].indexes]
    assert ["tracking_id"] in indexed("messages")  # delivery reports find their SMS by tracking number
    assert ["batch_id"] in indexed("messages")
    assert any(cols[0] == "status" for cols in indexed("messages"))  # the sender's claim
    assert any(cols[0] == "state" for cols in indexed("outbox"))  # the notifier's due jobs
    assert ["tracking_id"] in indexed("reports")


def test_only_one_pending_outbox_job_per_thing_is_enforced_by_the_schema(db):
    [coalesce] = [i for i in db.utils["outbox"].indexes if i.unique]
    assert coalesce.partial and coalesce.columns == ["kind", "key"]


def test_running_migrate_again_changes_nothing(db):
    before = schema(db)
    db.migrate()
    assert schema(db) == before


def test_an_old_database_is_upgraded_and_keeps_its_rows(tmp_path):
    old = Database(str(tmp_path / "old.db"))
    try:
        with old.transaction() as conn:  # a file written by the first release
            MIGRATIONS[0](old.utils)
            conn.execute("PRAGMA user_version = 1")
        old.utils["kv"].insert({"key": "callback_secret", "value": "kept"})
        old.utils["batches"].insert({"id": 7, "user_id": "U0ANN", "text": "Generator running", "parts": 1})
        assert old.migrate() == len(MIGRATIONS)
        assert old.get_kv("callback_secret") == "kept"
        assert old.utils["batches"].get(7)["text"] == "Generator running"
        assert "group_members" in old.utils.table_names()
    finally:
        old.close()
