"""Online backups: a consistent copy while writing, and the daily schedule keeping N copies."""

import sqlite3
import threading

import pytest

from bot.storage.backup import DAY, BackupError, DailyBackups, backup, stamped_copies


def _count(path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT count(*) FROM kv WHERE key LIKE 'row-%'").fetchone()[0]
    finally:
        conn.close()


def _insert(db, n=1):
    with db.transaction() as conn:
        for _ in range(n):
            conn.execute("INSERT INTO kv (key, value) VALUES ('row-' || lower(hex(randomblob(8))), 'x')")


def test_a_copy_taken_while_another_thread_writes_is_consistent(db, tmp_path):
    stop = threading.Event()

    def write():
        while not stop.is_set():
            _insert(db, 10)  # ten rows per transaction: a copy holds a multiple of ten

    writer = threading.Thread(target=write)
    writer.start()
    try:
        copies = [backup(db.path, tmp_path / "out" / f"{n}.db") for n in range(5)]
    finally:
        stop.set()
        writer.join()
    for copy in copies:
        assert _count(copy) % 10 == 0
        assert not copy.with_name(copy.name + ".partial").exists()
    assert _count(copies[-1]) >= _count(copies[0])


def test_a_folder_gets_a_dated_copy_and_missing_folders_are_created(db, tmp_path):
    _insert(db)
    written = backup(db.path, str(tmp_path / "a" / "b") + "/")
    assert written.parent == tmp_path / "a" / "b" and written.name.startswith("smsbot-")
    assert _count(written) == 1


def test_refusals_are_sentences(db, tmp_path):
    with pytest.raises(BackupError, match="no database"):
        backup(str(tmp_path / "nope.db"), tmp_path / "x.db")
    with pytest.raises(BackupError, match="the database itself"):
        backup(db.path, db.path)
    (tmp_path / "file").write_text("")
    with pytest.raises(BackupError, match="cannot create the folder"):
        backup(db.path, tmp_path / "file" / "sub" / "x.db")


def test_daily_copies_keep_the_newest_n_and_leave_other_files_alone(db, tmp_path):
    folder = tmp_path / "daily"
    folder.mkdir()
    (folder / "notes.txt").write_text("mine")
    clock = [1_800_000_000.0]
    daily = DailyBackups(db.path, str(folder), keep=3, clock=lambda: clock[0])
    assert daily.run_once() is not None
    assert daily.run_once() is None  # not a day old yet: no second copy
    clock[0] += DAY / 2
    assert daily.run_once() is None
    for _ in range(5):
        clock[0] += DAY
        _insert(db)
        assert daily.run_once() is not None
    copies = stamped_copies(folder)
    assert len(copies) == 3 and (folder / "notes.txt").read_text() == "mine"
    assert [_count(path) for _, path in copies] == [3, 4, 5]  # the newest three days


def test_a_failing_backup_is_logged_not_raised(db, tmp_path, caplog):
    (tmp_path / "file").write_text("")
    daily = DailyBackups(db.path, str(tmp_path / "file" / "sub"), keep=7, clock=lambda: 1_800_000_000.0)
    assert daily.run_once() is None
    assert "event=backup_failed" in caplog.text
