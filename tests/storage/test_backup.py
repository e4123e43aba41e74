"""Online backups: a consistent copy while writing, and the daily schedule keeping N copies."""

import sqlite3
import threading

import pytest

from bot.storage.backup import DAY, BackupError, DailyBackups, backup, stamped_copies

pytestmark = pytest.mark.sqlite_only(reason="copies of the SQLite file; PostgreSQL is backed up with pg_dump")


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


# -- what a killed backup leaves is removed by the next one (issue 20, item 19) ----------------------------
def _killed_backup_leftovers(db, folder, name):
    """What SIGKILL during a backup leaves: the half-written copy and its journal, WAL and shared memory."""
    partial = folder / f"{name}.partial"
    folder.mkdir(parents=True, exist_ok=True)
    backup(db.path, partial.with_name(name + ".tmp"))
    (partial.with_name(name + ".tmp")).rename(partial)  # an SQLite file by that name
    for companion in ("-journal", "-wal", "-shm"):
        partial.with_name(partial.name + companion).write_bytes(b"\0" * 4096)
    return partial


def test_the_next_backup_removes_what_a_killed_one_left_and_nothing_else(db, tmp_path, caplog):
    _insert(db)
    folder = tmp_path / "backups"
    left = _killed_backup_leftovers(db, folder, "smsbot-20260101T020000Z.db")
    (folder / "empty.db.partial").write_bytes(b"")  # killed before the first page was written
    (folder / "orphan.db.partial-journal").write_bytes(b"\0" * 512)  # its database already removed
    (folder / "download.iso.partial").write_bytes(b"not ours")  # another program's file: left alone
    (folder / "disk.img.partial").write_bytes(bytes(4096))  # zeros, but no SQLite journal beside it: not ours
    (folder / "notes.txt").write_text("ours to keep")
    written = backup(db.path, str(folder) + "/")
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        ["disk.img.partial", "download.iso.partial", "notes.txt", written.name]
    )
    assert _count(written) == 1
    removed = [r.getMessage() for r in caplog.records if "event=backup_partial_removed" in r.getMessage()]
    assert len(removed) == 6 and any(str(left) in line for line in removed)


def test_a_partial_that_a_running_backup_holds_is_left_alone(db, tmp_path):
    from bot.storage.lock import FileLock

    folder = tmp_path / "backups"
    busy = _killed_backup_leftovers(db, folder, "nightly.db")
    held = FileLock.try_take(str(busy), create=False)  # as the backup writing it holds it
    assert held is not None
    try:
        backup(db.path, folder / "manual.db")
        assert busy.exists() and busy.with_name("nightly.db.partial-journal").exists()
        with pytest.raises(BackupError, match="another backup is writing"):
            backup(db.path, folder / "nightly.db")
    finally:
        held.release()
    backup(db.path, folder / "nightly.db")  # once it is no longer held, it is stale
    assert sorted(p.name for p in folder.iterdir()) == ["manual.db", "nightly.db"]
