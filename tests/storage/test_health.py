"""The database's part of /healthz (bot/storage/health.py): busy is tolerated for a while, read-only or
closed is unhealthy at once, each with a sentence saying what to do."""

import os

import pytest

from bot.storage.health import StorageHealth
from tests.conftest import Clock, writes_held


def test_a_writable_database_is_healthy(db):
    assert StorageHealth(db, Clock()).check() == {
        "database": True,
        "database_state": "ok",
        "database_problem": None,
        "database_busy_seconds": None,
    }


def test_busy_turns_unhealthy_only_after_a_minute_in_a_row(db):
    clock = Clock(1000.0)
    health = StorageHealth(db, clock, timeout=0.05, every=0)
    with writes_held(db):  # another program (or replica) holds the database's write lock
        first = health.check()
        assert (first["database"], first["database_state"], first["database_busy_seconds"]) == (True, "busy", 0)
        clock.t += 61
        later = health.check()
        assert later["database"] is False and later["database_busy_seconds"] == 61
        assert "another program" in later["database_problem"]
    assert health.check()["database"] is True  # released: healthy again, the streak forgotten


@pytest.mark.sqlite_only(reason="a file deleted under the bot: PostgreSQL has no file")
def test_a_deleted_file_is_unhealthy_at_once_and_says_how_to_recover(db, tmp_path):
    db.conn.execute("SELECT 1")  # the bot has the file open, as it always has once started
    for name in ("smsbot.db", "smsbot.db-wal", "smsbot.db-shm"):
        if (tmp_path / name).exists():
            os.remove(tmp_path / name)
    result = StorageHealth(db, Clock(), every=0).check()
    assert (result["database"], result["database_state"]) == (False, "gone")
    assert "restore it and restart smsbot" in result["database_problem"]


def test_a_closed_database_is_reported_as_stopping(db):
    db.close()
    result = StorageHealth(db, Clock(), every=0).check()
    assert (result["database"], result["database_state"], result["database_problem"]) == (
        False,
        "closed",
        "smsbot is stopping",
    )
