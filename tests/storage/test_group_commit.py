"""Group commit (bot/storage/group_commit.py): many writers share a transaction, each write in its
own savepoint keeps its own outcome."""

import sqlite3
import threading

import pytest

from tests.conftest import inserts_refused, wait_for


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


def test_writes_sharing_a_transaction_a_failing_one_is_undone_alone(db):
    """Two writes queued behind a long one share the next transaction (each in its savepoint): the one
    that fails leaves nothing behind and raises; the other is committed."""
    started, release = threading.Event(), threading.Event()

    def long_one(conn):
        started.set()
        assert release.wait(5)
        return insert("first")(conn)

    def half_then_fail(conn):
        conn.execute("INSERT INTO kv (key, value) VALUES ('half', 'x')")
        raise ValueError("bad report")

    outcomes = {}

    def run(name, fn):
        try:
            outcomes[name] = db.write(fn)
        except ValueError as error:
            outcomes[name] = error

    first = threading.Thread(target=run, args=("first", long_one))
    first.start()
    assert started.wait(5)
    others = [
        threading.Thread(target=run, args=("failing", half_then_fail)),
        threading.Thread(target=run, args=("fine", insert("fine"))),
    ]
    for t in others:
        t.start()
    assert wait_for(lambda: len(db._group._jobs) == 2)  # both wait for the same next transaction
    release.set()
    for t in [first, *others]:
        t.join(5)
    assert outcomes["first"] == "first" and outcomes["fine"] == "fine"
    assert isinstance(outcomes["failing"], ValueError)
    assert sorted(r[0] for r in db.conn.execute("SELECT key FROM kv")) == ["fine", "first"]


def test_a_storage_error_fails_the_write(db):
    with inserts_refused(db, "kv", "disk full"), pytest.raises(Exception, match="disk full"):
        db.write(insert("lost"))


def test_in_a_group_commit_a_failed_write_takes_its_wake_ups_with_it(db):
    woken = []

    def failing(conn):
        db.on_commit(lambda: woken.append("failed one"))
        raise ValueError("refused")

    def fine(conn):
        db.on_commit(lambda: woken.append("fine one"))
        conn.execute("INSERT INTO kv (key, value) VALUES ('b', '1')")

    with pytest.raises(ValueError):
        db.write(failing)
    db.write(fine)
    assert woken == ["fine one"]


def test_a_write_handed_over_without_waiting_is_committed_by_close_and_a_failure_is_told(tmp_path):
    from bot.storage.db import Database

    db = Database(str(tmp_path / "smsbot.db"))
    db.migrate()
    failures = []
    db.write_soon(insert("soon"), failures.append)
    db.write_soon(lambda conn: insert("soon")(conn), failures.append)  # a duplicate key: fails alone
    db.close()  # commits what is waiting
    assert len(failures) == 1 and isinstance(failures[0], sqlite3.IntegrityError)
    check = sqlite3.connect(tmp_path / "smsbot.db")
    try:
        assert [r[0] for r in check.execute("SELECT key FROM kv")] == ["soon"]
    finally:
        check.close()


def test_writes_handed_over_without_waiting_are_committed_soon_without_a_close(db):
    from tests.conftest import wait_for

    for i in range(20):
        db.write_soon(insert(f"s{i}"), lambda error: None)
    assert wait_for(lambda: db.conn.execute("SELECT count(*) FROM kv").fetchone()[0] == 20, timeout=5)
