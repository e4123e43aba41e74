"""Named groups of numbers: the store, name rules, and groups used through `/sms group` and `/sms send`."""
import pytest

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


@pytest.mark.parametrize("command,expect", [
    ("group add 0831234567 27831234567", "looks like a phone number"),
    ("group add on/call 27831234567", "can't be a group name"),
    ("group add oncall 27831234567,12", "‘12’"),
    ("group add oncall", "Group commands"),
    ("group show nope", "There is no group called ‘nope’"),
    ("group frobnicate", "Group commands"),
])
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

