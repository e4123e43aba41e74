"""The admin audit log in a real SQLite file: the newest entries first, as many as asked for, kept
across a restart, and recorded only together with the change it describes."""

import pytest

from bot.storage.audit import Audit, AuditEntry
from bot.storage.db import Database
from bot.storage.optouts import OptOuts


def test_recent_lists_the_newest_first_up_to_the_limit(db):
    for i, action in enumerate(["access allow", "optout add", "group remove"]):
        with db.transaction() as conn:
            Audit.record(conn, "U0BOSS", action, f"arg{i}", 100.0 + i)
    audit = Audit(db)
    assert [e.action for e in audit.recent(2)] == ["group remove", "optout add"]
    assert audit.recent(10)[-1] == AuditEntry(100.0, "U0BOSS", "access allow", "arg0")


def test_entries_recorded_in_the_same_second_keep_their_order(db):
    with db.transaction() as conn:
        Audit.record(conn, "U0BOSS", "optout add", "27831234567", 5.0)
        Audit.record(conn, "U0BOSS", "optout remove", "27831234567", 5.0)
    assert [e.action for e in Audit(db).recent(2)] == ["optout remove", "optout add"]


def test_the_log_is_kept_across_a_restart(tmp_path):
    path = str(tmp_path / "smsbot.db")
    db = Database(path)
    db.migrate()
    with db.transaction() as conn:
        Audit.record(conn, "cli:root", "optout import", "3 added", 7.0)
    db.close()
    db = Database(path)
    try:
        assert Audit(db).recent(5) == [AuditEntry(7.0, "cli:root", "optout import", "3 added")]
    finally:
        db.close()


def test_a_change_that_fails_leaves_no_audit_entry_and_no_change(db):
    with pytest.raises(RuntimeError), db.transaction() as conn:
        OptOuts(db).add(conn, ["27831234567"], "asked", "U0BOSS", 1.0)
        Audit.record(conn, "U0BOSS", "optout add", "27831234567 asked", 1.0)
        raise RuntimeError("Slack went away mid-change")
    assert Audit(db).recent(5) == [] and not OptOuts(db).is_opted_out("27831234567")
