"""Recipient numbers: cleaning pasted text, readings, SMS-capable types, allowed countries."""

import phonenumbers
import pytest
from phonenumbers import PhoneNumberType

from bot.sms.errors import RecipientError
from bot.sms.numbers import (
    clean_entry,
    country_name,
    looks_like_number,
    normalise_number,
    parse_recipients,
    read_number,
    split_lines,
    split_recipients,
)

# --- numbers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        "27831234567",
        "+27831234567",
        "0027831234567",
        "+27(83)123-4567",
        "27.83.123.4567",
    ],
)
def test_international_forms_normalise_to_gateway_digits(entry):
    assert normalise_number(entry) == "27831234567"


@pytest.mark.parametrize("region", ["ZA", "za"])
def test_local_number_uses_the_default_region(region):
    assert normalise_number("083-123-4567", region) == "27831234567"


def test_local_number_without_region_is_refused_with_advice():
    with pytest.raises(RecipientError) as err:
        normalise_number("0831234567")
    assert err.value.entry == "0831234567"
    assert str(err.value) == (
        "‘0831234567’ is a local number: write it with the country code "
        "(e.g. 27831234567 for South Africa), or set SMS_DEFAULT_REGION."
    )


@pytest.mark.parametrize("entry", ["abc", "+", "", "--"])
def test_junk_is_not_a_phone_number(entry):
    with pytest.raises(RecipientError) as err:
        normalise_number(entry)
    assert err.value.entry == entry
    assert str(err.value).startswith(f"‘{entry}’ is not a phone number: ")
    assert str(err.value).endswith(
        "write digits only, in international form (e.g. 27831234567), and separate numbers with commas."
    )


@pytest.mark.parametrize(
    "entry, odd", [("2783123456x", "‘x’ is"), ("27831234567;", "‘;’ is"), ("27#83*1234567", "‘#’, ‘*’ are")]
)
def test_a_stray_character_in_a_number_is_named(entry, odd):
    with pytest.raises(RecipientError) as err:
        normalise_number(entry)
    assert str(err.value).startswith(f"‘{entry}’ is not a phone number ({odd} not part of a phone number): ")


@pytest.mark.parametrize(
    "entry, reason",
    [
        ("27123", "is too short for a +27 (ZA) number"),
        ("278312345678901", "is too long for a +27 (ZA) number"),
        ("27031234567", "is not a valid +27 (ZA) number"),
        ("+999123456", "does not start with a known country code"),
        ("271", "is too short to be a phone number"),
    ],
)
def test_invalid_numbers_are_refused_with_the_reason(entry, reason):
    with pytest.raises(RecipientError) as err:
        normalise_number(entry)
    assert err.value.entry == entry
    assert str(err.value) == (
        f"‘{entry}’ {reason}: check the digits and write it in international form, e.g. 27831234567."
    )


def test_a_very_long_entry_is_shortened_in_the_message():
    entry = "x" * 200
    with pytest.raises(RecipientError) as err:
        normalise_number(entry)
    assert err.value.entry == entry
    assert str(err.value).startswith("‘" + "x" * 29 + "…’ is not a phone number")


@pytest.mark.parametrize(
    "entry, expected",
    [
        ("27831234567", True),
        ("+27 83", True),
        ("(083)123-4567", True),
        ("sales", False),
        ("27+83", False),
        ("--", False),
        ("٢٧٨٣", True),
        ("oncall", False),
        ("team-2", False),
    ],
)
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
    assert str(err.value) == (
        f"‘{spec}’ has an empty entry: separate numbers with commas and no spaces, e.g. 27831234567,27821234567."
    )


def test_no_numbers_at_all_is_refused_with_an_example():
    with pytest.raises(RecipientError) as err:
        parse_recipients("")
    assert "No numbers given" in str(err.value)
    assert "`/sms send 27831234567,27821234567 Hello`" in str(err.value)


def test_spaces_inside_and_around_a_number_are_separators():
    assert parse_recipients("27831234567, 27 82 123 4567") == ["27831234567", "27821234567"]


# --- numbers that cannot receive an SMS -------------------------------------------


@pytest.mark.parametrize(
    "entry, kind, country",
    [
        ("0215551234", "a landline", "South Africa"),
        ("0800123456", "a toll-free number", "South Africa"),
        ("0900123456", "a premium-rate number", "South Africa"),
        ("0860123456", "a shared-cost number", "South Africa"),
        ("0861123456", "a UAN (company) number", "South Africa"),
        ("+49177991234567", "a voicemail access number", "Germany"),
        ("+447640123456", "a pager number", "United Kingdom"),
    ],
)
def test_numbers_that_cannot_get_sms_are_refused_naming_type_and_country(entry, kind, country):
    with pytest.raises(RecipientError) as err:
        read_number(entry, "ZA")
    assert str(err.value) == (
        f"‘{entry}’ is {kind} in {country} and cannot receive SMS: send to a mobile number instead."
    )
    assert err.value.reason == f"{kind} in {country}, which cannot receive SMS"


@pytest.mark.parametrize(
    "entry, number, voip",
    [
        ("0831234567", "27831234567", False),  # mobile
        ("+12025550123", "12025550123", False),  # US: fixed line or mobile, phonenumbers cannot tell
        ("+447012345678", "447012345678", False),  # UK personal number
        ("0871234567", "27871234567", True),  # South African VoIP: accepted, with a warning
    ],
)
def test_numbers_that_may_get_sms_are_kept(entry, number, voip):
    recipient = read_number(entry, "ZA")
    assert (recipient.number, recipient.voip) == (number, voip)


@pytest.mark.parametrize(
    "entry, region, has, missing",
    [
        ("083123", "ZA", 5, "4 digits are missing"),  # the typo
        ("2783123", None, 5, "4 digits are missing"),
        ("+2783123456", None, 8, "1 digit is missing"),
    ],
)
def test_incomplete_south_african_mobiles_say_how_many_digits_are_missing(entry, region, has, missing):
    with pytest.raises(RecipientError) as err:
        read_number(entry, region)
    assert str(err.value) == (
        f"‘{entry}’ is an incomplete South African mobile number: it has {has} digits "
        f"after the 27 (or the 0) and needs 9, so {missing}. Check the number "
        "(e.g. 27831234567)."
    )


# --- bare digits with SMS_DEFAULT_REGION --------------------------------------------


def test_digits_that_read_validly_two_ways_are_refused_showing_both():
    with pytest.raises(RecipientError) as err:
        read_number("687949853", "ZA")
    assert str(err.value) == (
        "‘687949853’ can be read two ways: +687 94.98.53 in New Caledonia, or "
        "068 794 9853 in South Africa. Write +687949853 for New Caledonia, or "
        "0687949853 for South Africa."
    )


def test_digits_whose_local_reading_is_valid_of_any_type_are_refused_showing_both():
    local = phonenumbers.parse("358469686", "ZA")  # 035 846 9686, as the numbering plan reads it
    assert phonenumbers.is_valid_number(local) and phonenumbers.number_type(local) == PhoneNumberType.FIXED_LINE
    assert phonenumbers.region_code_for_number(phonenumbers.parse("+358469686")) == "FI"
    with pytest.raises(RecipientError) as err:
        read_number("358469686", "ZA")
    assert "can be read two ways" in str(err.value) and "in South Africa (a landline)" in str(err.value)
    assert "Write +358469686 for Finland, or 0358469686 for South Africa." in str(err.value)


@pytest.mark.parametrize("entry", ["+687949853", "00687949853"])
def test_each_way_the_refusal_suggests_reads_one_way(entry):
    assert read_number(entry, "ZA").region == "NC"
    assert read_number("0687949853", "ZA").number == "27687949853"


def test_digits_that_read_validly_one_way_are_accepted_that_way():
    recipient = read_number("831234567", "ZA")  # +83 is no country
    assert (recipient.number, recipient.guessed) == ("27831234567", True)


def test_without_a_default_region_bare_digits_are_international():
    recipient = read_number("687949853")
    assert (recipient.number, recipient.region, recipient.guessed) == ("687949853", "NC", False)


def test_international_digits_are_not_guessed_when_both_readings_agree():
    assert read_number("27831234567", "ZA").guessed is False


# --- countries ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "region, name", [("NC", "New Caledonia"), ("ZA", "South Africa"), ("SA", "Saudi Arabia"), ("US", "United States")]
)
def test_country_names_come_from_a_light_table(region, name):
    assert country_name(region) == name


def test_a_country_outside_the_allowed_list_is_refused_naming_it_and_the_setting():
    with pytest.raises(RecipientError) as err:
        read_number("+687949853", "ZA", frozenset({"ZA", "BW"}))
    assert str(err.value) == (
        "‘+687949853’ is in New Caledonia (NC), and SMSBOT_ALLOWED_COUNTRIES (BW, ZA) "
        "does not include it: send to a number in an allowed country, or ask whoever "
        "runs smsbot to add NC to SMSBOT_ALLOWED_COUNTRIES."
    )
    assert read_number("+26771234567", "ZA", frozenset({"ZA", "BW"})).region == "BW"


def test_an_empty_allowed_list_allows_any_country():
    assert read_number("+687949853", None, frozenset()).number == "687949853"


# --- pasted numbers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "entry",
    [
        "\u200e+27831234567\u200f",  # left-to-right / right-to-left marks
        "\u202a+27 83 123 4567\u202c",  # bidi embedding
        "\u2066+27831234567\u2069",  # bidi isolate
        "+2783\u200b123\u200d4567",  # zero-width space and joiner
        "+27831\u00ad234567",  # soft hyphen
        "\ufeff+27831234567",  # BOM
        "+27\u00a083\u00a0123\u00a04567",  # no-break spaces
        "+27\u202f83\u202f123\u202f4567",  # narrow no-break spaces
        "+27\u201383\u2013123\u20134567",  # en dashes
        "+27\u201183\u2011123\u20114567",  # non-breaking hyphens
        "+٢٧٨٣١٢٣٤٥٦٧",  # Arabic-Indic digits
        "+۲۷۸۳۱۲۳۴۵۶۷",  # Extended Arabic-Indic (Persian) digits
        "＋２７８３１２３４５６７",  # full-width
        "+२७८३१२३४५६७",  # Devanagari
    ],
)
def test_pasted_numbers_are_cleaned_before_reading(entry):
    assert read_number(entry).number == "27831234567"


def test_a_pasted_entry_still_refused_is_quoted_clean():
    with pytest.raises(RecipientError) as err:
        read_number("\u200e2783123456x\u200f")
    assert str(err.value).startswith("‘2783123456x’ is not a phone number (‘x’ is not part")


def test_clean_entry_keeps_what_it_does_not_know():
    assert clean_entry("\u200eoncall\u200f") == "oncall"
    assert clean_entry("27\u00a083") == "27 83"


# --- the compose form's recipients --------------------------------------------------------


def test_form_recipients_are_one_per_line_or_comma_separated():
    spec = "083 123 4567\n+27 82 123 4567, oncall\n\n 27841234567 ;27851234567\n"
    assert split_lines(spec) == ["083 123 4567", "+27 82 123 4567", "oncall", "27841234567", "27851234567"]


def test_an_empty_form_field_says_how_to_fill_it():
    with pytest.raises(RecipientError) as err:
        split_lines(" \n , \n")
    assert str(err.value) == (
        "No numbers given: write one number or group per line, or separate them with commas, e.g. 27831234567."
    )


def test_the_slash_command_keeps_comma_separation():
    assert split_recipients("27831234567,oncall") == ["27831234567", "oncall"]
