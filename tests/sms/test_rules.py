import re

import pytest

from bot.sms.rules import (
    MAX_CHARS,
    MAX_PARTS,
    RecipientError,
    SmsRuleError,
    TextError,
    analyse_text,
    check_text,
    looks_like_number,
    normalise_number,
    parse_recipients,
    split_recipients,
)

# The GSM 03.38 default alphabet as printed in the standard (ESC left out).
GSM7_TABLE = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENSION = "€[]{}\\~^|\f"
EMOJI = "😀"


# --- counting ---------------------------------------------------------------------

@pytest.mark.parametrize("text, encoding, units, parts", [
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
    (EMOJI * 134, "UCS-2", 268, 4),
])
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


@pytest.mark.parametrize("odd_one, units", [("ł", 1), ("’", 1), ("\t", 1), ("\u00a0", 1),
                                            (EMOJI, 2)])
def test_one_non_gsm_character_makes_the_whole_text_ucs2(odd_one, units):
    text = "a" * 100 + odd_one
    info = analyse_text(text)
    assert info.encoding == "UCS-2"
    assert info.units == 100 + units
    assert info.parts == 2  # the same 101 characters in GSM-7 would be 1 part


def test_credits_per_recipient_is_the_number_of_parts():
    assert analyse_text("a" * 200).credits_per_recipient == 2


def test_analyse_never_raises_on_a_lone_surrogate():
    assert analyse_text("\ud83d").units == 1


# --- check_text -------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "a" * 612,
    "a" * 610 + "€",      # 612 septets
    "ł" * 268,
    EMOJI * 134,          # 268 UTF-16 units
])
def test_texts_at_the_limit_are_accepted(text):
    assert check_text(text).parts == MAX_PARTS


@pytest.mark.parametrize("text", ["", "   ", "\n\t "])
def test_empty_text_is_refused_with_an_example(text):
    with pytest.raises(TextError) as err:
        check_text(text)
    assert str(err.value) == ("The message is empty: write the text after the numbers, "
                              "e.g. `/sms send 27831234567 Hello`.")


def test_too_long_gsm7_text_says_parts_limit_and_cut():
    with pytest.raises(TextError) as err:
        check_text("a" * 700)
    assert str(err.value) == ("Too long: 700 GSM-7 characters need 5 SMS parts; the limit is 4 parts "
                              "(612 GSM-7 characters). Cut 88 characters.")


@pytest.mark.parametrize("text, cut", [
    ("a" * 613, "Cut 1 character."),
    ("a" * 611 + "€", "Cut 1 character."),   # the last € crosses 612 septets
    ("€" * 307, "Cut 1 character."),
    ("a" * MAX_CHARS, "Cut 8 characters."),  # 620 characters is already past 4 parts
    ("a" * (MAX_CHARS + 1), "Cut 9 characters."),
    ("ł" * 269, "Cut 1 character."),
    (EMOJI * 135, "Cut 1 character."),
])
def test_refusal_says_exactly_how_much_to_cut(text, cut):
    with pytest.raises(TextError) as err:
        check_text(text)
    assert cut in str(err.value)


@pytest.mark.parametrize("text", [
    "a" * 613, "a" * 611 + "€" * 3, "ł" * 300, "a" * 300 + EMOJI * 50, "a" * 600 + EMOJI, "x" * 5000,
])
def test_cutting_as_told_makes_the_text_fit_and_not_one_character_less(text):
    with pytest.raises(TextError) as err:
        check_text(text)
    keep = len(text) - int(re.search(r"Cut (\d+) character", str(err.value)).group(1))
    assert check_text(text[:keep]).parts <= MAX_PARTS
    with pytest.raises(TextError):
        check_text(text[:keep + 1])


def test_emoji_refusal_mentions_double_count_and_how_to_get_gsm7():
    with pytest.raises(TextError) as err:
        check_text(EMOJI * 135)
    msg = str(err.value)
    assert "135 UCS-2 characters need 5 SMS parts" in msg
    assert "268 UCS-2 characters, where emoji count as 2" in msg
    assert ("‘😀’ forces UCS-2: replacing it gives GSM-7 (160 characters per SMS, 153 per part)."
            in msg)


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
    assert "(612 GSM-7 characters, where € [ ] { } \\ ~ ^ | count as 2)" in str(err.value)


def test_rule_errors_are_value_errors():
    assert issubclass(TextError, SmsRuleError) and issubclass(RecipientError, SmsRuleError)
    assert issubclass(SmsRuleError, ValueError)


# --- numbers ----------------------------------------------------------------------

@pytest.mark.parametrize("entry", [
    "27831234567", "+27831234567", "0027831234567", "+27(83)123-4567", "27.83.123.4567",
])
def test_international_forms_normalise_to_gateway_digits(entry):
    assert normalise_number(entry) == "27831234567"


@pytest.mark.parametrize("region", ["ZA", "za"])
def test_local_number_uses_the_default_region(region):
    assert normalise_number("083-123-4567", region) == "27831234567"


def test_local_number_without_region_is_refused_with_advice():
    with pytest.raises(RecipientError) as err:
        normalise_number("0831234567")
    assert err.value.entry == "0831234567"
    assert str(err.value) == ("‘0831234567’ is a local number: write it with the country code "
                              "(e.g. 27831234567 for South Africa), or set SMS_DEFAULT_REGION.")


@pytest.mark.parametrize("entry", ["abc", "27 831234567", "2783123456x", "+", "", "27831234567;"])
def test_junk_is_not_a_phone_number(entry):
    with pytest.raises(RecipientError) as err:
        normalise_number(entry)
    assert err.value.entry == entry
    assert str(err.value).startswith(f"‘{entry}’ is not a phone number: ")
    assert "commas and no spaces" in str(err.value)


@pytest.mark.parametrize("entry, reason", [
    ("27123", "is too short for a +27 (ZA) number"),
    ("278312345678901", "is too long for a +27 (ZA) number"),
    ("27031234567", "is not a valid +27 (ZA) number"),
    ("+999123456", "does not start with a known country code"),
    ("271", "is too short to be a phone number"),
])
def test_invalid_numbers_are_refused_with_the_reason(entry, reason):
    with pytest.raises(RecipientError) as err:
        normalise_number(entry)
    assert err.value.entry == entry
    assert str(err.value) == (f"‘{entry}’ {reason}: check the digits and write it in "
                              "international form, e.g. 27831234567.")


def test_a_very_long_entry_is_shortened_in_the_message():
    entry = "x" * 200
    with pytest.raises(RecipientError) as err:
        normalise_number(entry)
    assert err.value.entry == entry
    assert str(err.value).startswith("‘" + "x" * 29 + "…’ is not a phone number")


@pytest.mark.parametrize("entry, expected", [
    ("27831234567", True), ("+27 83", False), ("(083)123-4567", True), ("sales", False),
    ("27+83", False), ("--", False), ("٢٧٨٣", False),
])
def test_looks_like_number(entry, expected):
    assert looks_like_number(entry) is expected


# --- recipient lists --------------------------------------------------------------

def test_duplicates_fold_after_normalisation_keeping_first_seen_order():
    spec = "27821234567,27831234567,+27831234567,0027821234567"
    assert parse_recipients(spec) == ["27821234567", "27831234567"]


def test_single_recipient_list():
    assert parse_recipients("0831234567", "ZA") == ["27831234567"]


def test_one_bad_entry_refuses_the_list_and_is_named():
    with pytest.raises(RecipientError) as err:
        parse_recipients("27831234567,27123,abc")
    assert err.value.entry == "27123"
    assert str(err.value).startswith("‘27123’ is too short")


@pytest.mark.parametrize("spec", ["27831234567,,27821234567", "27831234567,", ",27831234567"])
def test_empty_entry_is_refused(spec):
    with pytest.raises(RecipientError) as err:
        split_recipients(spec)
    assert str(err.value) == (f"‘{spec}’ has an empty entry: separate numbers with commas and "
                              "no spaces, e.g. 27831234567,27821234567.")


def test_no_numbers_at_all_is_refused_with_an_example():
    with pytest.raises(RecipientError) as err:
        parse_recipients("")
    assert "No numbers given" in str(err.value)
    assert "`/sms send 27831234567,27821234567 Hello`" in str(err.value)


def test_space_after_a_comma_is_named():
    with pytest.raises(RecipientError) as err:
        parse_recipients("27831234567, 27821234567")
    assert err.value.entry == " 27821234567"
    assert "separate numbers with commas and no spaces" in str(err.value)
