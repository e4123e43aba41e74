"""One `smsbot run` per database (bot/storage/lock.py): the second is refused naming the first's PID;
the lock goes with its holder. Across real processes and kill -9: tests/system/test_start_faults.py."""

import os

import pytest

from bot.storage.lock import AlreadyRunning, hold_database, lock_path


def test_a_second_holder_is_refused_naming_the_first_and_may_take_it_once_released(tmp_path):
    db = str(tmp_path / "smsbot.db")
    first = hold_database(db)
    with pytest.raises(AlreadyRunning, match=rf"another smsbot \(PID {os.getpid()}\) is already running") as refused:
        hold_database(db)
    assert "Stop that one first, or give this one its own SMSBOT_DB" in str(refused.value)
    first.release()
    hold_database(db).release()
    assert os.path.exists(lock_path(db))  # the file stays; only the lock matters


def test_a_lock_file_that_cannot_be_created_is_an_os_error_naming_it(tmp_path):
    (tmp_path / "smsbot.db.lock").mkdir()
    with pytest.raises(IsADirectoryError) as error:
        hold_database(str(tmp_path / "smsbot.db"))
    assert error.value.filename == str(tmp_path / "smsbot.db.lock")
