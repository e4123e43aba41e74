"""Slack markup in /sms text: split first, then turned back into what the person typed."""

import pytest

from bot.slack.command_line import parse_command
from tests.conftest import said as ack_text


@pytest.mark.parametrize(
    "escaped, typed",
    [
        ("Ask <@U024BE7LH|bob> now", "Ask @bob now"),
        ("<!here> generator down", "@here generator down"),
        ("see <#C024BE7LR|ops>", "see #ops"),
        ("<!channel> and <!everyone>", "@channel and @everyone"),
        ("<!subteam^SAZ94GDB8|@oncall-team> please", "@oncall-team please"),
        ("since <!date^1392734382^{date_short}|Feb 18, 2014>", "since Feb 18, 2014"),
        ("<https://status.example.com/x?a=1&amp;b=2>", "https://status.example.com/x?a=1&b=2"),
        ("<https://status.example.com|status page>", "status page (https://status.example.com)"),
        ("<http://example.com|example.com>", "example.com"),
        ("call <tel:+27831234567|083 123 4567>", "call 083 123 4567"),
        ("mail <mailto:ops@example.com|ops@example.com>", "mail ops@example.com"),
        ("Tom &amp; Jerry &lt;3 &amp;lt;", "Tom & Jerry <3 &lt;"),
    ],
)
def test_markup_in_the_message_becomes_what_was_typed(escaped, typed):
    command = parse_command("send 27831234567 " + escaped)
    assert command.problem == "" and command.args == "27831234567 " + typed


def test_a_tel_link_in_the_recipients_is_its_number_and_its_spaces_do_not_split_the_list():
    command = parse_command("send <tel:+27831234567|+27 83 123 4567>,27821234567 Drill at 3pm")
    assert command.name == "send" and command.args == "+27831234567,27821234567 Drill at 3pm"


def test_a_bare_user_mention_is_refused_with_what_to_write():
    command = parse_command("send 27831234567 Ask <@U024BE7LH> now")
    assert "write the person's name as text" in command.problem


def test_through_slack_the_sms_carries_names_not_ids(slack_driver, simulator):
    text = ack_text(
        slack_driver.command(
            "send <tel:+27831234567|+27 83 123 4567> <!here> <@U024BE7LH|bob> in <#C024BE7LR|ops>: "
            "<https://status.example.com|status>"
        )
    )
    assert "Queued 1 SMS to 27831234567" in text
    slack_driver.pump()
    assert [(m.to, m.text) for m in simulator.messages] == [
        ("27831234567", "@here @bob in #ops: status (https://status.example.com)")
    ]


def test_through_slack_a_bare_mention_queues_nothing_and_says_why(slack_driver, bot):
    text = ack_text(slack_driver.command("send 27831234567 Call <@U024BE7LH> back"))
    assert "write the person's name as text" in text
    assert bot.queue.depth() == 0


def test_a_tel_link_works_in_group_add(slack_driver, bot):
    text = ack_text(slack_driver.command("group add oncall <tel:+27831234567|083 123 4567>"))
    assert "27831234567" in text
    assert bot.groups.members("oncall") == ["27831234567"]


def test_a_tel_link_after_at_when_is_read_as_the_number_in_the_link():
    cmd = parse_command("send --at tomorrow 07:00 <tel:+27831234567|083 123 4567> Hi &amp; bye")
    assert cmd.args == "--at tomorrow 07:00 +27831234567 Hi & bye"


def test_access_keeps_the_ids_of_mentions_and_optout_reads_numbers_and_reason():
    cmd = parse_command("access allow <@U024BE7LH|bob>")
    assert (cmd.name, cmd.args) == ("access", "allow <@U024BE7LH|bob>")
    cmd = parse_command("optout add <tel:+27831234567|083 123 4567>,27821234567 asked &amp; agreed")
    assert (cmd.name, cmd.args) == ("optout", "add +27831234567,27821234567 asked & agreed")
