import re

import pytest

from bot.sms.errors import RecipientError, SmsRuleError, TextError
from bot.sms.rules import MAX_CHARS, MAX_PARTS, analyse_text, check_text

# The GSM 03.38 default alphabet as printed in the standard (ESC left out).
GSM7_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "€[]{}\\~^|\f"
EMOJI = "😀"


# --- counting ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, encoding, units, parts",
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("a" * 612, "GSM-7", 612, 4),
        ("€" * 80, "GSM-7", 160, 1),
        ("€" * 81, "GSM-7", 162, 2),
        ("ł" * 70, "UCS-2", 70, 1),
        ("ł" * 71, "UCS-2", 71, 2),
        ("ł" * 268, "UCS-2", 268, 4),
        (EMOJI * 35, "UCS-2", 70, 1),
        (EMOJI * 132, "UCS-2", 264, 4),
    ],
)
def test_analyse_counts_units_and_parts(text, encoding, units, parts):
    info = analyse_text(text)
    assert (info.encoding, info.units, info.chars, info.parts) == (encoding, units, len(text), parts)


def test_every_default_alphabet_character_is_one_septet():
    info = analyse_text(GSM7_TABLE)
    assert len(GSM7_TABLE) == 127
    assert (info.encoding, info.units) == ("GSM-7", 127)


def test_extension_characters_are_two_septets_each():
    info = analyse_text(GSM7_EXTENSION)
    assert (info.encoding, info.units, info.chars) == ("GSM-7", 2 * len(GSM7_EXTENSION), 10)


def test_everyday_punctuation_and_newlines_stay_gsm7():
    text = "Meet at 10 & bring R50 + 20% off #1\r\nThanks!"
    info = analyse_text(text)
    assert (info.encoding, info.units) == ("GSM-7", len(text))


@pytest.mark.parametrize("odd_one, units", [("ł", 1), ("’", 1), ("\t", 1), ("\u00a0", 1), (EMOJI, 2)])
def test_one_non_gsm_character_makes_the_whole_text_ucs2(odd_one, units):
    text = "a" * 100 + odd_one
    info = analyse_text(text)
    assert info.encoding == "UCS-2"
    assert info.units == 100 + units
    assert info.parts == 2  # the same 101 characters in GSM-7 would be 1 part


def test_analyse_never_raises_on_a_lone_surrogate():
    assert analyse_text("\ud83d").units == 1


# --- check_text -------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "a" * 612,
        "a" * 610 + "€",  # 612 septets, the € ends part 4 exactly
        "ł" * 268,
        EMOJI * 132,  # 33 emoji per part
    ],
)
def test_texts_at_the_limit_are_accepted(text):
    assert check_text(text).parts == MAX_PARTS


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_text_is_refused_with_an_example(text):
    with pytest.raises(TextError) as err:
        check_text(text)
    assert str(err.value) == (
        "The message is empty: write the text after the numbers, e.g. `/sms send 27831234567 Hello`."
    )


def test_too_long_gsm7_text_says_parts_limit_and_cut():
    with pytest.raises(TextError) as err:
        check_text("a" * 700)
    assert str(err.value) == (
        "Too long: 700 GSM-7 characters need 5 SMS parts; the limit is 4 parts "
        "(612 GSM-7 characters). Cut 88 characters: the text fits up to "
        "“…aaaaaaaaaaaaaaaaaaaa”."
    )


@pytest.mark.parametrize(
    "text, cut",
    [
        ("a" * 613, "Cut 1 character:"),
        ("a" * 611 + "€", "Cut 1 character:"),  # the last € crosses 612 septets
        ("€" * 307, "Cut 3 characters:"),  # 76 € per part: 304 fit
        ("a" * MAX_CHARS, "Cut 8 characters:"),  # 620 characters is already past 4 parts
        ("a" * (MAX_CHARS + 1), "Cut 9 characters:"),
        ("ł" * 269, "Cut 1 character:"),
        (EMOJI * 135, "Cut 3 characters:"),  # 33 emoji per part: 132 fit
        (EMOJI * 134, "Cut 2 characters:"),  # the issue's example: 268 units but 5 parts
    ],
)
def test_refusal_says_exactly_how_much_to_cut(text, cut):
    with pytest.raises(TextError) as err:
        check_text(text)
    assert cut in str(err.value)


@pytest.mark.parametrize(
    "text",
    [
        "a" * 613,
        "a" * 611 + "€" * 3,
        "ł" * 300,
        "a" * 300 + EMOJI * 50,
        "a" * 600 + EMOJI,
        "x" * 5000,
    ],
)
def test_cutting_as_told_makes_the_text_fit_and_not_one_character_less(text):
    with pytest.raises(TextError) as err:
        check_text(text)
    keep = len(text) - int(re.search(r"Cut (\d+) character", str(err.value)).group(1))
    assert check_text(text[:keep]).parts <= MAX_PARTS
    with pytest.raises(TextError):
        check_text(text[: keep + 1])


def test_emoji_refusal_mentions_double_count_and_how_to_get_gsm7():
    with pytest.raises(TextError) as err:
        check_text(EMOJI * 135)
    msg = str(err.value)
    assert "135 UCS-2 characters need 5 SMS parts" in msg
    assert (
        "268 UCS-2 units, where emoji count as 2 and are never split between parts, so a part holds at most 33 emoji"
    ) in msg
    assert "‘😀’ forces UCS-2: replacing it gives GSM-7 (160 characters per SMS, 153 per part)." in msg


def test_ucs2_refusal_names_at_most_three_culprits():
    with pytest.raises(TextError) as err:
        check_text("Café ł đ ž ő ’" * 40)
    msg = str(err.value)
    assert "‘ł’, ‘đ’, ‘ž’ and 2 other characters force UCS-2: replacing them gives GSM-7" in msg
    assert "‘é’" not in msg  # é is GSM-7


def test_invisible_culprit_is_shown_by_code_point():
    with pytest.raises(TextError) as err:
        check_text("word\u00a0" * 60)
    assert "U+00A0 forces UCS-2" in str(err.value)


def test_gsm7_refusal_with_extension_characters_explains_the_double_count():
    with pytest.raises(TextError) as err:
        check_text("€" * 307)
    assert (
        "(612 GSM-7 septets, where € [ ] { } \\ ~ ^ | count as 2 and are never split between parts, "
        "so a part holds at most 76 of them)"
    ) in str(err.value)


def test_rule_errors_are_value_errors():
    assert issubclass(TextError, SmsRuleError) and issubclass(RecipientError, SmsRuleError)
    assert issubclass(SmsRuleError, ValueError)


# --- pairs on part boundaries (TS 23.038/23.040: a character is never split across parts) ---
# Expected parts worked out by hand from the rule: 153 septets or 67 units per part; an
# extension character (2 septets) or an emoji (2 units) that finds 1 unit left moves whole.


@pytest.mark.parametrize(
    "text, units, parts",
    [
        ("a" * 152 + "€" + "a" * 152, 306, 3),  # the issue's example: € on the 1|2 boundary
        ("a" * 151 + "€" + "a" * 153, 306, 2),  # one septet earlier, the pair fits part 1
        ("a" * 305 + "€" + "a" * 152, 459, 4),  # € on the 2|3 boundary
        ("a" * 304 + "€" + "a" * 153, 459, 3),
        ("a" * 458 + "€" + "a" * 152, 612, 5),  # € on the 3|4 boundary: over the limit
        ("a" * 457 + "€" + "a" * 153, 612, 4),
        ("a" * 610 + "€", 612, 4),  # € ends part 4 exactly
    ],
)
def test_gsm7_extension_pair_on_a_part_boundary(text, units, parts):
    info = analyse_text(text)
    assert (info.encoding, info.units, info.parts) == ("GSM-7", units, parts)


@pytest.mark.parametrize(
    "text, units, parts",
    [
        ("ł" * 66 + EMOJI + "ł" * 66, 134, 3),  # emoji on the 1|2 boundary
        ("ł" * 65 + EMOJI + "ł" * 67, 134, 2),
        ("ł" * 133 + EMOJI + "ł" * 66, 201, 4),  # 2|3 boundary
        ("ł" * 132 + EMOJI + "ł" * 67, 201, 3),
        ("ł" * 200 + EMOJI + "ł" * 66, 268, 5),  # 3|4 boundary: over the limit
        ("ł" * 199 + EMOJI + "ł" * 67, 268, 4),
    ],
)
def test_ucs2_surrogate_pair_on_a_part_boundary(text, units, parts):
    info = analyse_text(text)
    assert (info.encoding, info.units, info.parts) == ("UCS-2", units, parts)


@pytest.mark.parametrize(
    "text, parts",
    [
        ("€" * 76, 1),  # 152 septets: one part
        ("€" * 152, 2),  # 76 per part
        ("€" * 153, 3),  # 306 septets, yet 3 parts
        ("€" * 304, 4),
        ("€" * 305, 5),  # 610 septets, yet over 4 parts
        (EMOJI * 66, 2),  # 33 per part
        (EMOJI * 67, 3),  # 134 units, yet 3 parts
        (EMOJI * 132, 4),
        (EMOJI * 133, 5),  # 266 units, yet over 4 parts
        (EMOJI * 134, 5),  # the issue's example: 268 units, 5 parts
    ],
)
def test_texts_made_only_of_pairs(text, parts):
    assert analyse_text(text).parts == parts


@pytest.mark.parametrize(
    "text, units, parts",
    [
        ("€" * 80, 160, 1),
        ("a" * 158 + "€", 160, 1),
        ("a" * 159 + "€", 161, 2),
        ("€" * 79 + "a" * 3, 161, 2),
        (EMOJI * 35, 70, 1),
        ("ł" * 68 + EMOJI, 70, 1),
        ("ł" * 69 + EMOJI, 71, 2),
        (EMOJI * 35 + "ł", 71, 2),
    ],
)
def test_single_part_edges_with_pairs_are_unchanged(text, units, parts):
    info = analyse_text(text)
    assert (info.units, info.parts) == (units, parts)


def test_the_issues_5_part_emoji_text_is_refused():
    with pytest.raises(TextError) as err:
        check_text(EMOJI * 134)
    assert "134 UCS-2 characters need 5 SMS parts" in str(err.value)


# --- cutting never breaks a character cluster -------------------------------------
# Each text is 1 unit over a fitting length in a way that a code-point cut would keep half a
# cluster; the advice must cut the whole cluster.


@pytest.mark.parametrize(
    "text, kept",
    [
        ("ł" * 265 + "🇿🇦", "ł" * 265),  # a flag: two regional indicators
        ("ł" * 265 + "👍🏽", "ł" * 265),  # an emoji with its skin tone
        ("ł" * 262 + "👨\u200d👩\u200d👧", "ł" * 262),  # a ZWJ family
        ("ł" * 267 + "e\u0301", "ł" * 267),  # a letter with its combining accent
        ("a" * 266 + "🇿🇦", "a" * 266),  # without the flag the text is GSM-7 again
    ],
)
def test_cut_advice_removes_whole_clusters(text, kept):
    with pytest.raises(TextError) as err:
        check_text(text)
    message = str(err.value)
    assert "Cut 1 character:" in message
    assert f"the text fits up to “…{kept[-20:]}”." in message
    assert check_text(kept).parts <= MAX_PARTS


def test_cut_advice_counts_a_flag_as_one_character():
    with pytest.raises(TextError) as err:
        check_text("🇿🇦" * 70)  # 4 units each: 33 regional indicators per part, 66 flags fit
    assert "Cut 4 characters:" in str(err.value)
    assert "‘🇿🇦’ forces UCS-2" in str(err.value)
