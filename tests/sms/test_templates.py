"""Template text: placeholders found, refused with their position, filled; key=value read."""

import pytest

from bot.sms import templates
from bot.sms.errors import TextError


def test_placeholders_are_listed_once_in_order_and_double_braces_are_literal():
    text = "Outage at {site} since {since}; {site} crew on it {{ref}}"
    assert templates.keys(text) == ["site", "since"]
    assert (
        templates.fill(text, {"site": "Cape Town", "since": "07:00"})
        == "Outage at Cape Town since 07:00; Cape Town crew on it {ref}"
    )
    assert templates.fixed_text(text) == "Outage at  since ;  crew on it {ref}"


@pytest.mark.parametrize(
    "text, position, words",
    [
        ("Hi {Name}, ready", 4, "`{Name}`"),
        ("Hi {first name}", 4, "lowercase letters"),
        ("Order {order is ready", 7, "stray `{`"),
        ("Price } 10", 7, "stray `}`"),
        ("Hi {}", 4, "`{}`"),
    ],
)
def test_a_bad_placeholder_or_stray_brace_is_refused_naming_its_position(text, position, words):
    with pytest.raises(TextError) as refused:
        templates.parse(text)
    assert f"position {position}" in str(refused.value) and words in str(refused.value)


def test_a_missing_value_lists_what_is_missing_and_an_unknown_key_names_the_keys():
    with pytest.raises(TextError) as missing:
        templates.fill("{site} down since {since}", {"site": "A"})
    assert "Missing key `since`" in str(missing.value)
    with pytest.raises(TextError) as unknown:
        templates.fill("{site} down since {since}", {"site": "A", "since": "1", "sight": "x"})
    assert "no key `sight`" in str(unknown.value) and "`site`, `since`" in str(unknown.value)


def test_values_take_straight_and_curly_quotes_which_slack_clients_insert():
    assert templates.read_values("who=‘Cape Town’ x='y z'") == {"who": "Cape Town", "x": "y z"}
    values = templates.read_values('site=“Cape Town” note="a b" n=3')
    assert values == {"site": "Cape Town", "note": "a b", "n": "3"}
    assert templates.read_values("site=”Cape Town”") == {"site": "Cape Town"}


def test_a_value_without_a_key_or_an_unclosed_quote_says_how_to_write_it():
    with pytest.raises(TextError) as loose:
        templates.read_values("site=A Cape")
    assert "`key=value`" in str(loose.value)
    with pytest.raises(TextError) as unclosed:
        templates.read_values('site="Cape Town')
    assert "never closed" in str(unclosed.value)
    with pytest.raises(TextError) as twice:
        templates.read_values("site=A site=B")
    assert "twice" in str(twice.value)
