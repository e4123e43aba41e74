"""Database faults (bot/storage/faults.py), caused for real: which errors retire a connection, which
only mean "busy", and a file deleted under the bot is never written again."""

import sqlite3

import pytest

from bot.storage.faults import DatabaseGone, FaultAwareConnection, FileWatch, is_busy, needs_reopen


def make_file(path):
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT)")
    conn.commit()
    conn.close()


def test_a_write_on_a_read_only_connection_retires_it_with_the_reason(tmp_path):
    path = tmp_path / "ro.db"
    make_file(path)
    conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, factory=FaultAwareConnection)
    try:
        with pytest.raises(sqlite3.OperationalError) as refused:
            conn.execute("INSERT INTO kv VALUES ('a', 'b')")
        assert needs_reopen(refused.value) and not is_busy(refused.value)
        assert conn.broken and "readonly" in conn.fault
    finally:
        conn.close()


def test_another_program_holding_the_database_is_busy_not_broken(tmp_path):
    path = tmp_path / "busy.db"
    make_file(path)
    holder = sqlite3.connect(path, isolation_level=None)
    writer = sqlite3.connect(path, timeout=0.05, factory=FaultAwareConnection)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(sqlite3.OperationalError) as waited:
            writer.execute("INSERT INTO kv VALUES ('a', 'b')")
        assert is_busy(waited.value) and not needs_reopen(waited.value)
        assert not writer.broken  # it passes by itself: the connection stays in use
    finally:
        holder.close()
        writer.close()


def test_a_deleted_file_is_noticed_once_and_stays_gone(tmp_path, caplog):
    path = tmp_path / "watched.db"
    make_file(path)
    watch = FileWatch(str(path), "watched.db")
    watch.remember(lambda: sqlite3.connect(path))
    watch.check()  # still there: nothing to say
    path.unlink()
    with pytest.raises(DatabaseGone, match="was deleted while smsbot was running"):
        watch.check()
    make_file(path)  # even a new file at the same path is not written to
    with pytest.raises(DatabaseGone):
        watch.check()
    assert len([r for r in caplog.records if "event=database_gone" in r.getMessage()]) == 1
    assert list(tmp_path.glob("watched.db.rescued-*"))  # the copy the ERROR line points to
    watch.close()
