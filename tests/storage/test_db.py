"""The database (bot/storage/db.py): a closed, deleted or replaced file fails clearly and loses nothing;
wake-ups run after the commit."""

import os
import sqlite3
import threading

import pytest

from bot.storage.db import DatabaseClosed, DatabaseGone
from bot.storage.errors import IntegrityError
from tests.conftest import another_connection


def insert(value):
    def fn(conn):
        conn.execute("INSERT INTO kv (key, value) VALUES (?, ?)", (value, value))
        return value

    return fn


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
    check = another_connection(db)
    assert [r[0] for r in check.execute("SELECT key FROM kv")] == ["one"]
    check.close()


@pytest.mark.sqlite_only(reason="a file deleted under the bot: PostgreSQL has no file")
def test_a_deleted_file_is_never_written_nor_created_again_and_a_copy_is_saved(db, tmp_path, caplog):
    db.write(insert("before"))
    db.conn.execute("SELECT 1")  # this thread's connection is open, as every worker's is
    for name in ("smsbot.db", "smsbot.db-wal", "smsbot.db-shm"):
        os.remove(tmp_path / name)
    with pytest.raises(DatabaseGone, match="was deleted while smsbot was running"), db.transaction() as conn:
        conn.execute("INSERT INTO kv (key, value) VALUES ('after', 'x')")
    with pytest.raises(DatabaseGone):
        db.write(insert("report"))
    other = []

    def new_thread():  # a thread without a connection yet must not open (and so create) the file
        try:
            db.conn  # noqa: B018 (opening is what is tried)
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


@pytest.mark.sqlite_only(reason="a file replaced under the bot: PostgreSQL has no file")
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


def test_wake_ups_run_after_the_commit_once_and_never_after_a_rollback(db):
    woken = []

    def wake():  # what the sender's wake() does: it must see the committed row
        woken.append(db.conn.execute("SELECT count(*) FROM kv").fetchone()[0])

    with db.transaction() as conn:
        conn.execute("INSERT INTO kv (key, value) VALUES ('a', '1')")
        db.on_commit(wake)
        db.on_commit(wake)  # ten changes in one transaction wake a worker once
        assert woken == []  # not inside the transaction
    assert woken == [1]
    with pytest.raises(IntegrityError), db.transaction() as conn:
        db.on_commit(wake)
        conn.execute("INSERT INTO kv (key, value) VALUES ('a', 'again')")  # a duplicate key: rolled back
    assert woken == [1]


def test_a_carried_write_commits_with_the_first_transaction_of_the_block_or_not_at_all(db):
    with db.carrying(insert("record")) as carried:
        with pytest.raises(IntegrityError), db.transaction() as conn:  # the block's own write fails
            conn.execute("INSERT INTO kv (key, value) VALUES ('x', '1')")
            conn.execute("INSERT INTO kv (key, value) VALUES ('x', '2')")
        assert carried.tried and not carried.committed
        assert db.conn.execute("SELECT count(*) FROM kv").fetchone()[0] == 0  # rolled back with it
        with db.transaction() as conn:  # the next one carries it
            conn.execute("INSERT INTO kv (key, value) VALUES ('y', '1')")
        with db.transaction() as conn:  # and only that one
            conn.execute("INSERT INTO kv (key, value) VALUES ('z', '1')")
    assert carried.committed
    assert sorted(r[0] for r in db.conn.execute("SELECT key FROM kv")) == ["record", "y", "z"]
    with db.transaction() as conn:  # outside the block nothing is carried
        conn.execute("INSERT INTO kv (key, value) VALUES ('w', '1')")
    assert db.conn.execute("SELECT count(*) FROM kv").fetchone()[0] == 4
