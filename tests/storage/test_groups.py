"""Named groups of numbers: the store, name rules, and groups used through `/sms group` and `/sms send`."""

import pytest

from bot.sms.names import GroupError
from bot.storage.db import Database
from bot.storage.groups import GroupStore
from tests.conftest import said

NUMBERS = ["27831234567", "27821234567", "27841234567"]


# -- through /sms ---------------------------------------------------------------------------------
def test_group_commands_create_list_show_and_remove(slack_driver, bot):
    text = said(slack_driver.command("group add oncall +27831234567,0027821234567"))
    assert "Created group `oncall`" in text and "27831234567, 27821234567" in text
    assert "Already in it: 27831234567" in said(slack_driver.command("group add oncall 27831234567"))
    assert "`oncall` · 2 numbers" in said(slack_driver.command("group list"))
    shown = said(slack_driver.command("group show oncall"))
    assert shown.splitlines()[1:] == ["27831234567", "27821234567"]
    assert "Removed 27821234567" in said(slack_driver.command("group remove oncall 27821234567"))
    assert "Deleted group `oncall` (1 number)" in said(slack_driver.command("group remove oncall"))
    assert "no groups yet" in said(slack_driver.command("group list"))


@pytest.mark.parametrize(
    "command,expect",
    [
        ("group add 0831234567 27831234567", "looks like a phone number"),
        ("group add on/call 27831234567", "can't be a group name"),
        ("group add oncall 27831234567,12", "‘12’"),
        ("group add oncall", "Group commands"),
        ("group show nope", "There is no group called ‘nope’"),
        ("group frobnicate", "Group commands"),
    ],
)
def test_group_mistakes_are_explained(slack_driver, bot, command, expect):
    assert expect in said(slack_driver.command(command))
    assert bot.groups.sizes() == []


def test_a_group_works_wherever_a_number_does_and_folds_duplicates(slack_driver, bot, simulator):
    slack_driver.command("group add oncall 27831234567,27821234567")
    text = said(slack_driver.command("send oncall,27831234567,27841234567 Generator running"))
    assert "Queued 3 SMS to 3 recipients" in text
    slack_driver.pump()
    assert sorted(m.to for m in simulator.messages) == sorted(NUMBERS)


def test_an_unknown_group_refuses_the_send_and_suggests_the_closest(slack_driver, bot):
    slack_driver.command("group add oncall 27831234567")
    text = said(slack_driver.command("send oncal,27821234567 Generator running"))
    assert "no group called ‘oncal’" in text and "Did you mean `oncall`?" in text
    assert bot.queue.depth() == 0


# -- the store ---------------------------------------------------------------------------------------
@pytest.fixture
def groups(db):
    return GroupStore(db)


def test_adding_creates_the_group_once_and_tells_new_numbers_from_known_ones(groups):
    first = groups.add("oncall", NUMBERS[:2], by="U0ANN", now=1.0)
    assert (first.created, first.added, first.already) == (True, NUMBERS[:2], [])
    again = groups.add("oncall", NUMBERS[1:], by="U0BEN", now=2.0)
    assert (again.created, again.added, again.already) == (False, NUMBERS[2:], NUMBERS[1:2])
    assert groups.members("oncall") == NUMBERS  # in the order they were added


def test_sizes_list_every_group_by_name_with_its_count(groups):
    groups.add("zulu", NUMBERS, by="U0ANN", now=1.0)
    groups.add("alpha", NUMBERS[:1], by="U0ANN", now=1.0)
    assert groups.sizes() == [("alpha", 1), ("zulu", len(NUMBERS))]
    assert groups.members("nope") is None


def test_removing_numbers_reports_only_those_that_were_members(groups):
    groups.add("oncall", NUMBERS[:2], by="U0ANN", now=1.0)
    assert groups.remove("oncall", [NUMBERS[0], NUMBERS[2]]) == [NUMBERS[0]]
    assert groups.members("oncall") == [NUMBERS[1]]
    assert groups.remove("oncall", [NUMBERS[1]]) == [NUMBERS[1]]
    assert groups.sizes() == [("oncall", 0)]  # an empty group stays until it is removed


def test_removing_the_group_returns_its_numbers_and_forgets_it(groups):
    groups.add("oncall", NUMBERS, by="U0ANN", now=1.0)
    assert sorted(groups.remove("oncall", None)) == sorted(NUMBERS)
    assert groups.members("oncall") is None and groups.sizes() == []
    assert groups.add("oncall", NUMBERS[:1], by="U0ANN", now=2.0).created  # the name is free again


def test_removing_from_an_unknown_group_is_refused_with_the_closest_name(groups):
    groups.add("oncall", NUMBERS[:1], by="U0ANN", now=1.0)
    with pytest.raises(GroupError, match="no group called ‘oncal’.*Did you mean `oncall`"):
        groups.remove("oncal", None)
    assert groups.members("oncall") == NUMBERS[:1]


def test_an_unknown_name_points_to_the_list_or_to_creating_one(groups):
    assert "Create it with `/sms group add NAME NUMBERS`" in groups.unknown("oncall")
    groups.add("site-a", NUMBERS[:1], by="U0ANN", now=1.0)
    assert "See `/sms group list`" in groups.unknown("finance")
    assert "Did you mean `site-a`?" in groups.unknown("site-b")


def test_groups_survive_a_restart(tmp_path):
    path = str(tmp_path / "groups.db")
    for attempt in range(2):
        db = Database(path)
        try:
            db.migrate()
            store = GroupStore(db)
            if attempt == 0:
                store.add("oncall", NUMBERS, by="U0ANN", now=1.0)
            else:
                assert store.members("oncall") == NUMBERS
        finally:
            db.close()
