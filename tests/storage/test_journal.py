"""The accepted-SMS journal beside the database: durable lines, torn lines reported, not fatal."""

import logging

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
