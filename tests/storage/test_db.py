"""The database layer: group commit keeps each write's own outcome."""
import os
import sqlite3
import threading

import pytest

from bot.storage.db import Database, DatabaseClosed, DatabaseGone


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


def test_after_close_late_work_gets_a_clear_error_and_no_connection_is_opened(db):
    db.write(insert("one"))
    db.close()
    late = []

    def background_work():  # a thread that was still running when the bot closed the database
        for attempt in (lambda: db.conn, lambda: db.write(insert("two")), lambda: db.transaction().__enter__()):
            try:
                attempt()
            except DatabaseClosed as error:
                late.append(str(error))

    worker = threading.Thread(target=background_work)
    worker.start()
    worker.join()
    assert len(late) == 3 and all("is closed (smsbot is stopping)" in text for text in late)
    assert db._all == []  # nothing was opened, so nothing leaks
    check = sqlite3.connect(db.path)
    assert [r[0] for r in check.execute("SELECT key FROM kv")] == ["one"]
    check.close()


def test_a_deleted_file_is_never_written_nor_created_again_and_a_copy_is_saved(db, tmp_path, caplog):
    db.write(insert("before"))
    db.conn.execute("SELECT 1")  # this thread's connection is open, as every worker's is
    for name in ("smsbot.db", "smsbot.db-wal", "smsbot.db-shm"):
        os.remove(tmp_path / name)
    with pytest.raises(DatabaseGone, match="was deleted while smsbot was running"):
        with db.transaction() as conn:
            conn.execute("INSERT INTO kv (key, value) VALUES ('after', 'x')")
    with pytest.raises(DatabaseGone):
        db.write(insert("report"))
    other = []

    def new_thread():  # a thread without a connection yet must not open (and so create) the file
        try:
            db.conn
        except DatabaseGone as error:
            other.append(error)

    thread = threading.Thread(target=new_thread)
    thread.start()
    thread.join()
    assert len(other) == 1
    assert not (tmp_path / "smsbot.db").exists()  # never created anew, empty
    assert [r for r in caplog.records if r.levelname == "ERROR" and "event=database_gone" in r.getMessage()]
    copies = list(tmp_path.glob("smsbot.db.rescued-*"))
    assert len(copies) == 1
    rescued = sqlite3.connect(copies[0])
    assert [r[0] for r in rescued.execute("SELECT key FROM kv")] == ["before"]
    rescued.close()


def test_a_replaced_file_is_left_as_it_is(db, tmp_path):
    db.write(insert("ours"))
    stranger = tmp_path / "other.db"
    conn = sqlite3.connect(stranger)
    conn.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT)")
    conn.commit()
    conn.close()
    os.replace(stranger, tmp_path / "smsbot.db")
    before = (tmp_path / "smsbot.db").read_bytes()
    with pytest.raises(DatabaseGone, match="was replaced while smsbot was running"):
        db.write(insert("into the stranger"))
    assert (tmp_path / "smsbot.db").read_bytes() == before
    wal = tmp_path / "smsbot.db-wal"
    assert b"into the stranger" not in (wal.read_bytes() if wal.exists() else b"")


def test_migrations_are_idempotent_and_refuse_a_newer_schema(tmp_path):
    db = Database(str(tmp_path / "m.db"))
    assert db.migrate() == db.migrate()
    db.conn.execute("PRAGMA user_version = 999")
    with pytest.raises(RuntimeError, match="newer smsbot"):
        db.migrate()
