"""WAL checkpoints run on a thread of their own (bot/storage/checkpoints.py): no commit waits for the disk,
yet the database file catches up soon after writes, a steady stream of writes does not grow the WAL
without bound, retention's TRUNCATE still empties it, and the thread ends with ``Database.close`` and
never touches a file deleted under the bot."""

import os
import shutil
import sqlite3
import threading
import time

import pytest

from bot.storage import checkpoints
from bot.storage.db import Database, DatabaseGone
from tests.conftest import wait_for


def write(db: Database, n: int, size: int = 1000, prefix: str = "k") -> None:
    for i in range(n):
        with db.transaction() as conn:
            db.set_kv(conn, f"{prefix}{i}", "x" * size)


def rows_in_the_file_alone(path: str, tmp_path) -> int:
    """The kv rows a copy of the database file holds without its WAL (what the checkpoints copied)."""
    copy = tmp_path / "copy.db"
    shutil.copyfile(path, copy)
    conn = sqlite3.connect(copy)
    try:
        return conn.execute("SELECT count(*) FROM kv WHERE key LIKE 'k%'").fetchone()[0]
    except sqlite3.DatabaseError:  # not even the schema is in the file yet, or copied mid-checkpoint (torn)
        return 0
    finally:
        conn.close()


def checkpoint_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "db-checkpoint"]


def test_commits_leave_the_checkpoint_to_its_thread_which_copies_the_wal_soon_after(tmp_path):
    db = Database(str(tmp_path / "smsbot.db"))
    try:
        db.migrate()
        assert db.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0  # no commit runs one
        write(db, 300)
        assert wait_for(lambda: rows_in_the_file_alone(db.path, tmp_path) == 300, timeout=5)
    finally:
        db.close()


def test_a_steady_stream_of_writes_keeps_the_wal_small(tmp_path, monkeypatch):
    monkeypatch.setattr(checkpoints, "RESET_PAGES", 300)  # a small cap (1.2 MB), to reach it in a second
    db = Database(str(tmp_path / "smsbot.db"))
    wal = tmp_path / "smsbot.db-wal"
    try:
        db.migrate()
        largest, n, deadline = 0, 0, time.monotonic() + 2.0
        while time.monotonic() < deadline:  # a busy bot's pace: about a thousand commits a second
            write(db, 1, size=4000, prefix=f"s{n}-")
            n += 1
            largest = max(largest, os.path.getsize(wal))
            time.sleep(0.0005)
        written = n * 4000
        assert largest < written / 2, (written, largest)  # the WAL started over, again and again
        assert largest < 10e6, largest
    finally:
        db.close()


def test_retentions_truncate_checkpoint_still_empties_the_wal(tmp_path):
    db = Database(str(tmp_path / "smsbot.db"))
    try:
        db.migrate()
        for round_ in range(5):  # while the thread is copying what the writes before left
            write(db, 50, size=2000, prefix=f"r{round_}-")
            assert db.checkpoint() is True
            assert os.path.getsize(tmp_path / "smsbot.db-wal") == 0
    finally:
        db.close()


def test_close_ends_the_thread_even_in_the_middle_of_copying_a_large_wal(tmp_path):
    db = Database(str(tmp_path / "smsbot.db"))
    db.migrate()
    with db.transaction() as conn:  # one commit of ~20 MB: its checkpoint takes a while
        conn.executemany("INSERT INTO kv (key, value) VALUES (?, ?)", ((f"big{i}", "y" * 4000) for i in range(5000)))
    assert wait_for(lambda: checkpoint_threads() != [], timeout=5)
    time.sleep(checkpoints.CHECKPOINT_SECONDS * 1.5)  # about when it starts copying
    db.close()
    assert checkpoint_threads() == []  # joined by close(), not left running
    check = sqlite3.connect(tmp_path / "smsbot.db")
    try:
        assert check.execute("SELECT count(*) FROM kv WHERE key LIKE 'big%'").fetchone()[0] == 5000
    finally:
        check.close()


def test_no_thread_starts_after_close(tmp_path):
    db = Database(str(tmp_path / "smsbot.db"))
    db.migrate()
    db.close()
    db._checkpoints.committed()  # a late commit's notice, as a writer racing close() would give
    assert checkpoint_threads() == []


def test_a_deleted_file_is_never_checkpointed_nor_created_again(tmp_path, caplog):
    db = Database(str(tmp_path / "smsbot.db"))
    try:
        db.migrate()
        write(db, 20)
        assert wait_for(lambda: checkpoint_threads() != [], timeout=5)
        for name in ("smsbot.db", "smsbot.db-wal", "smsbot.db-shm"):
            os.remove(tmp_path / name)
        db._checkpoints.committed()  # as if a write had just been committed
        assert wait_for(lambda: checkpoint_threads() == [], timeout=5)  # it gave up on the file
        assert not (tmp_path / "smsbot.db").exists()
        assert not any("event=database_gone" in r.getMessage() for r in caplog.records)  # the writers say it
        with pytest.raises(DatabaseGone):
            write(db, 1)
        assert not (tmp_path / "smsbot.db").exists()
    finally:
        db.close()
