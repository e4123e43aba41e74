"""The do-not-contact list in a real SQLite file: added and removed in the caller's transaction,
each number once, an empty reason stored as none, and the check that sends use answering for lists
longer than SQLite's limit of bound values in one query."""

import pytest

from bot.storage.db import Database
from bot.storage.optouts import OptOut, OptOuts


def test_adding_twice_and_removing_say_what_changed(db):
    optouts = OptOuts(db)
    with db.transaction() as conn:
        assert optouts.add(conn, ["27831234567", "27821234567", "27831234567"], "", "U0BOSS", 1.0) == (
            ["27831234567", "27821234567"],
            [],
        )
    with db.transaction() as conn:
        assert optouts.add(conn, ["27831234567", "27841234567"], "asked", "U0BOSS", 2.0) == (
            ["27841234567"],
            ["27831234567"],
        )
    assert optouts.entry("27831234567") == OptOut("27831234567", None, "U0BOSS", 1.0)  # the first reason stays
    with db.transaction() as conn:
        assert optouts.remove(conn, ["27831234567", "27849999999"]) == (["27831234567"], ["27849999999"])
    assert [e.number for e in optouts.entries()] == ["27821234567", "27841234567"]
    assert optouts.reasons(["27841234567", "27831234567"]) == {"27841234567": "asked"}


def test_the_check_finds_opted_out_numbers_in_a_list_of_thousands(db):
    numbers = [f"2783{i:07d}" for i in range(2000)]
    with db.transaction() as conn:
        OptOuts(db).add(conn, [numbers[0], numbers[999], numbers[1999]], None, "U0BOSS", 1.0)
    assert OptOuts(db).blocked(numbers) == {numbers[0], numbers[999], numbers[1999]}
    assert OptOuts(db).blocked([]) == set() and OptOuts(db).reasons(["27820000000"]) == {}


def test_a_failed_transaction_adds_nothing_and_the_list_survives_a_restart(tmp_path):
    path = str(tmp_path / "smsbot.db")
    db = Database(path)
    db.migrate()
    with pytest.raises(RuntimeError), db.transaction() as conn:
        OptOuts(db).add(conn, ["27821234567"], None, "U0BOSS", 1.0)
        raise RuntimeError("the audit entry could not be written")
    with db.transaction() as conn:
        OptOuts(db).add(conn, ["27831234567"], "stop", "U0BOSS", 2.0)
    db.close()
    db = Database(path)
    try:
        assert OptOuts(db).is_opted_out("27831234567") and not OptOuts(db).is_opted_out("27821234567")
    finally:
        db.close()
