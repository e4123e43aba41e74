"""The database layer: group commit keeps each write's own outcome."""
import threading

import pytest

from bot.storage.db import Database


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
