"""The accepted-SMS journal beside the database: durable lines, torn lines reported, not fatal; a file of
garbage reported in a few lines and kept aside whole."""

import json
import logging
import os
from pathlib import Path

from bot.storage.journal import Accepted, Journal


def test_answers_are_appended_and_read_back_in_order(tmp_path):
    journal = Journal.beside(str(tmp_path / "smsbot.db"))
    assert journal.path == str(tmp_path / "smsbot.db.accepted.jsonl")
    assert journal.entries() == []
    journal.append(Accepted(1, "100001", "27831234567", 1000.5))
    journal.append(Accepted(2, "100002", "27821234567", 1001.5))
    assert journal.entries() == [
        Accepted(1, "100001", "27831234567", 1000.5),
        Accepted(2, "100002", "27821234567", 1001.5),
    ]
    journal.clear()
    assert journal.entries() == [] and not (tmp_path / "smsbot.db.accepted.jsonl").exists()


def test_a_torn_last_line_is_logged_with_its_text_and_the_rest_is_kept(tmp_path, caplog):
    journal = Journal(str(tmp_path / "smsbot.db.accepted.jsonl"))
    journal.append(Accepted(1, "100001", "27831234567", 1000.5))
    with open(journal.path, "a") as f:
        f.write('{"message_id": 2, "recipient": "27821234567", "sent_at": 1001.5, "tracking_id": "1000')  # cut off
    assert journal.entries() == [Accepted(1, "100001", "27831234567", 1000.5)]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "line=2" in errors[0] and "1000" in errors[0]
    [aside] = tmp_path.glob("*.unreadable-*")  # its text, kept
    assert '"tracking_id": "1000' in aside.read_text()
    assert journal.entries() == [Accepted(1, "100001", "27831234567", 1000.5)]


def test_a_garbage_journal_logs_a_count_and_the_first_lines_and_keeps_every_line_aside(tmp_path, caplog):
    """A 20 MB file of garbage where the journal should be: a handful of ERROR lines, not one per line."""
    journal = Journal(str(tmp_path / "smsbot.db.accepted.jsonl"))
    journal.append(Accepted(1, "100001", "27831234567", 1000.5))
    garbage = ["x" * 1023] * 20_480  # 20 MB
    with open(journal.path, "a") as f:
        f.write("\n".join(garbage) + "\n")
    journal.append(Accepted(2, "100002", "27821234567", 1001.5))
    caplog.set_level(logging.INFO)
    assert journal.entries() == [
        Accepted(1, "100001", "27831234567", 1000.5),
        Accepted(2, "100002", "27821234567", 1001.5),
    ]
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 6 and "line=2 " in errors[0]
    assert "count=20480 shown=5" in errors[-1]
    [aside] = tmp_path.glob("smsbot.db.accepted.jsonl.unreadable-*")
    assert aside.read_text().splitlines() == garbage  # every unreadable line, as it was
    assert any(f"path={aside}" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert [json.loads(line)["tracking_id"] for line in Path(journal.path).read_text().splitlines()] == [
        "100001",
        "100002",
    ]
    journal.entries()  # read again: nothing more to report
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 6


def test_a_journal_of_garbage_only_is_moved_aside_whole(tmp_path):
    journal = Journal(str(tmp_path / "smsbot.db.accepted.jsonl"))
    garbage = bytes(range(256)) * 4  # not even text
    Path(journal.path).write_bytes(garbage)
    assert journal.entries() == []
    assert not os.path.exists(journal.path)
    [aside] = tmp_path.glob("*.unreadable-*")
    assert aside.read_bytes() == garbage + b"\n"  # byte for byte
