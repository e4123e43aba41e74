"""Allow-list entries added from Slack, in a real SQLite file: kept across a restart, one entry per
id and kind, removed only when there, and nothing written when the caller's transaction fails."""

import pytest

from bot.storage.access_list import CHANNEL, USER, AccessList
from bot.storage.db import Database


def test_entries_survive_a_restart_and_are_listed_oldest_first(tmp_path):
    path = str(tmp_path / "smsbot.db")
    db = Database(path)
    db.migrate()
    with db.transaction() as conn:
        assert AccessList.allow(conn, USER, "U0ANN", "U0BOSS", 200.0) is True
        assert AccessList.allow(conn, CHANNEL, "C0NOC", "U0BOSS", 100.0) is True
    db.close()
    db = Database(path)
    try:
        access = AccessList(db)
        assert access.entries() == [(CHANNEL, "C0NOC", "U0BOSS", 100.0), (USER, "U0ANN", "U0BOSS", 200.0)]
        assert access.ids(USER) == {"U0ANN"} and access.ids(CHANNEL) == {"C0NOC"}
    finally:
        db.close()


def test_allowing_twice_keeps_the_first_entry_and_says_so(db):
    with db.transaction() as conn:
        AccessList.allow(conn, USER, "U0ANN", "U0BOSS", 100.0)
    with db.transaction() as conn:
        assert AccessList.allow(conn, USER, "U0ANN", "U0OTHER", 500.0) is False
    assert AccessList(db).entries() == [(USER, "U0ANN", "U0BOSS", 100.0)]


def test_a_user_and_a_channel_are_separate_kinds(db):
    with db.transaction() as conn:
        AccessList.allow(conn, USER, "U0ANN", "U0BOSS", 1.0)
        assert AccessList.deny(conn, CHANNEL, "U0ANN") is False  # not a channel entry
    assert AccessList(db).ids(USER) == {"U0ANN"}


def test_deny_removes_only_what_is_there(db):
    with db.transaction() as conn:
        AccessList.allow(conn, USER, "U0ANN", "U0BOSS", 1.0)
        AccessList.allow(conn, USER, "U0BEN", "U0BOSS", 2.0)
    with db.transaction() as conn:
        assert AccessList.deny(conn, USER, "U0ANN") is True
        assert AccessList.deny(conn, USER, "U0ANN") is False
    assert AccessList(db).ids(USER) == {"U0BEN"}


def test_an_allow_in_a_failed_transaction_is_not_kept(db):
    with pytest.raises(RuntimeError), db.transaction() as conn:
        AccessList.allow(conn, USER, "U0ANN", "U0BOSS", 1.0)
        raise RuntimeError("the audit entry could not be written")
    assert AccessList(db).entries() == []


def test_both_lists_and_the_emptied_kinds_come_in_one_read(db):
    access = AccessList(db)
    assert access.lists() == ({USER: frozenset(), CHANNEL: frozenset()}, frozenset())
    with db.transaction() as conn:
        AccessList.allow(conn, USER, "U0ANN", "U0BOSS", 1.0)
        AccessList.allow(conn, USER, "U0BEN", "U0BOSS", 2.0)
        AccessList.close(conn, CHANNEL, "U0BOSS", 3.0)  # an admin emptied the channels' list
    assert access.lists() == ({USER: frozenset({"U0ANN", "U0BEN"}), CHANNEL: frozenset()}, frozenset({CHANNEL}))
    assert access.lists()[0][USER] == access.ids(USER)
    with db.transaction() as conn:
        AccessList.open(conn, CHANNEL)
    assert access.lists()[1] == frozenset()
