"""WAL checkpoints run on a thread of their own: no commit waits for the disk, yet the database file
catches up soon after writes, and a steady stream of writes does not grow the WAL without bound."""

import os
import shutil
import sqlite3
import time

from bot.storage import checkpoints
from bot.storage.db import Database
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
    except sqlite3.OperationalError:  # not even the schema is in the file yet
        return 0
    finally:
        conn.close()


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
