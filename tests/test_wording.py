"""Wording (bot/wording.py): counts read as English, whatever the number."""

from bot.wording import plural


def test_one_thing_is_singular_and_any_other_count_plural():
    assert plural(1, "part") == "1 part"
    assert plural(3, "part") == "3 parts"
    assert plural(0, "recipient") == "0 recipients"


def test_fractions_show_as_written_without_trailing_zeros():
    assert plural(1.5, "hour") == "1.5 hours"
    assert plural(1.0, "hour") == "1 hour"
