"""`smsbot vacuum`: the one full VACUUM that turns on auto_vacuum=INCREMENTAL, after which the
retention job gives freed pages back to the disk."""
import sqlite3

from bot.cli import main
from bot.storage.db import Database
from bot.storage.retention import Retention


def test_vacuum_turns_on_incremental_auto_vacuum_and_shrinks_the_file(tmp_path, monkeypatch, capsys):
    path = tmp_path / "smsbot.db"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMSBOT_DB", str(path))
    db = Database(str(path))
    db.migrate()
    with db.transaction() as conn:
        conn.executemany("INSERT INTO kv (key, value) VALUES (?, ?)", [(f"k{i}", "x" * 2000) for i in range(500)])
    with db.transaction() as conn:
        conn.execute("DELETE FROM kv WHERE key LIKE 'k%'")
    db.close()
    big = path.stat().st_size
    assert main(["vacuum"]) == 0
    assert "auto_vacuum is now INCREMENTAL" in capsys.readouterr().out
    assert path.stat().st_size < big / 2
    conn = sqlite3.connect(str(path))
    try:
        assert conn.execute("PRAGMA auto_vacuum").fetchone()[0] == 2
    finally:
        conn.close()
    # from now on, space freed by deletes goes back to the disk with the retention job
    db = Database(str(path))
    with db.transaction() as conn:
        conn.executemany("INSERT INTO kv (key, value) VALUES (?, ?)", [(f"k{i}", "x" * 2000) for i in range(500)])
    with db.transaction() as conn:
        conn.execute("DELETE FROM kv WHERE key LIKE 'k%'")
    assert db.conn.execute("PRAGMA freelist_count").fetchone()[0] > 100
    Retention(db, 365).run_all(0.0)
    assert db.conn.execute("PRAGMA freelist_count").fetchone()[0] == 0
    db.close()
    assert main(["vacuum"]) == 0 and "already INCREMENTAL" in capsys.readouterr().out


def test_vacuum_without_a_database_says_where_it_looked(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMSBOT_DB", str(tmp_path / "missing.db"))
    assert main(["vacuum"]) == 2
    assert "missing.db" in capsys.readouterr().err and not (tmp_path / "missing.db").exists()
