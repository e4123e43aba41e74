"""Group and template names (bot/sms/names.py): one rule for both, each refusal saying how to fix it."""

import pytest

from bot.sms.names import GroupError, check_name


@pytest.mark.parametrize("raw", ["oncall", "  OnCall ", "site-a", "team_2", "a" * 32])
def test_a_good_name_is_accepted_lowercased(raw):
    assert check_name(raw) == raw.strip().lower()


@pytest.mark.parametrize(
    "raw,advice",
    [
        ("a" * 33, "up to 32"),
        ("on call", "lowercase letters, digits, - and _"),
        ("", "lowercase letters"),
        ("0831234567", "include at least one letter"),
        ("+27831234567", "can't be a group name"),
    ],
)
def test_a_bad_name_is_refused_saying_how_to_fix_it(raw, advice):
    with pytest.raises(GroupError) as caught:
        check_name(raw)
    assert advice in str(caught.value)
