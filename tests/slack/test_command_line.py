"""The /sms command line as Slack sends it: Slack's markup undone, the subcommand found."""
import pytest

from bot.slack.command_line import SUBCOMMANDS, parse_command, unescape_slack


@pytest.mark.parametrize("sent,typed", [
    ("Tom &amp; Jerry", "Tom & Jerry"),
    ("&lt;3 and a-&gt;b", "<3 and a->b"),
    ("&amp;lt; stays as typed", "&lt; stays as typed"),  # someone typing an entity gets the entity
    ("<tel:+27831234567|+27831234567>", "+27831234567"),
    ("<tel:0831234567|083 123 4567>", "083 123 4567"),  # the label is what was typed
    ("<tel:+27831234567>", "+27831234567"),
    ("mail <mailto:ops@example.com|ops@example.com>", "mail ops@example.com"),
    ("see <https://example.com/status>", "see https://example.com/status"),
    ("50% off #1 +more", "50% off #1 +more"),
])
def test_slack_markup_is_undone_so_the_text_is_what_was_typed(sent, typed):
    assert unescape_slack(sent) == typed


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_each_subcommand_is_found_in_any_case(name):
    command = parse_command(f"  {name.upper()}   rest of it")
    assert (command.name, command.args, command.unknown) == (name, "rest of it", "")


def test_the_arguments_keep_their_lines_and_inner_spacing():
    command = parse_command("send <tel:+27831234567|+27831234567> Line one\n  line  two &amp; more")
    assert command.name == "send"
    assert command.args == "+27831234567 Line one\n  line  two & more"


@pytest.mark.parametrize("text", ["", "   ", None])
def test_nothing_typed_means_help(text):
    assert parse_command(text) == parse_command("help") and parse_command(text).unknown == ""


def test_an_unknown_word_means_help_naming_what_was_typed():
    command = parse_command("Frobnicate now please")
    assert (command.name, command.args, command.unknown) == ("help", "", "frobnicate")
