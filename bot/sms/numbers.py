"""Recipient numbers: pasted text cleaned, read (both ways when ambiguous), and checked to be a
number that can really receive an SMS in an allowed country. Pure functions, no I/O."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import phonenumbers
import pycountry
from phonenumbers import NumberParseException, PhoneNumberType, ValidationResult

from bot.sms.errors import EXAMPLE_NUMBER, RecipientError

HOME_REGION = "ZA"  # the gateway's market: numbers elsewhere are shown with their country's name
ZA_MOBILE_DIGITS = 9  # South African mobile numbers have 9 digits after the 27
NON_GEOGRAPHIC = "001"  # phonenumbers' region for +800, +882… (international networks)

# Pasted from web pages, PDFs and phones: marks nobody sees, removed before reading.
_INVISIBLE = dict.fromkeys(
    map(ord, "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200b\u200c\u200d\u2060\u00ad\ufeff")
)
# No-break spaces, dashes and the non-breaking hyphen separate digit groups like a space or '-'.
_SEPARATORS = frozenset("\u00a0\u2007\u202f\u2010\u2011\u2012\u2013\u2212\t ")
_NUMBER_CHARS = re.compile(r"\+?[0-9().\- ]*[0-9][0-9().\- ]*")
_STRIP = str.maketrans("", "", "+-.() ")
_FIX = f"check the digits and write it in international form, e.g. {EXAMPLE_NUMBER}."

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "does not start with a known country code",
    NumberParseException.TOO_SHORT_AFTER_IDD: "is too short to be a phone number",
    NumberParseException.TOO_SHORT_NSN: "is too short to be a phone number",
    NumberParseException.TOO_LONG: "is too long to be a phone number",
}
_VALIDATION_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "does not start with a known country code",
    ValidationResult.TOO_SHORT: "is too short for a {country} number",
    ValidationResult.TOO_LONG: "is too long for a {country} number",
    ValidationResult.INVALID_LENGTH: "has the wrong number of digits for a {country} number",
}
# Types that cannot receive an SMS. Kept: mobile, fixed-line-or-mobile (phonenumbers cannot
# tell, e.g. in the US), personal numbers, and VoIP (accepted with a warning).
_NO_SMS = {
    PhoneNumberType.FIXED_LINE: "a landline",
    PhoneNumberType.TOLL_FREE: "a toll-free number",
    PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    PhoneNumberType.SHARED_COST: "a shared-cost number",
    PhoneNumberType.UAN: "a UAN (company) number",
    PhoneNumberType.VOICEMAIL: "a voicemail access number",
    PhoneNumberType.PAGER: "a pager number",
}


@dataclass(frozen=True)
class Recipient:
    """One number that passed every rule."""

    number: str  # the gateway's digits-only international form, e.g. "27831234567"
    region: str  # ISO country code, or "001" for an international network
    voip: bool  # accepted, but it may not receive SMS
    entry: str  # as typed
    guessed: bool = False  # typed with no + or 0 and read in SMS_DEFAULT_REGION: show what it became


def clean_entry(entry: str) -> str:
    """A pasted entry made plain: invisible marks removed, Unicode digits (Arabic-Indic,
    full-width, Devanagari…) as 0-9, no-break spaces and dashes as spaces."""
    out = []
    for char in unicodedata.normalize("NFKC", entry.translate(_INVISIBLE)):
        digit = unicodedata.decimal(char, None)
        out.append(str(digit) if digit is not None else " " if char in _SEPARATORS else char)
    return "".join(out).strip()


def looks_like_number(entry: str) -> bool:
    """True if ``entry`` (once cleaned) is made of a phone number's characters.

    Digits, a leading ``+``, spaces and the separators ``- . ( )``; at least one digit.
    """
    return _NUMBER_CHARS.fullmatch(clean_entry(entry)) is not None


def country_name(region: str | None) -> str:
    """A country's short English name from its ISO code ("NC" → "New Caledonia")."""
    if region == NON_GEOGRAPHIC:
        return "an international network"
    country = pycountry.countries.get(alpha_2=region or "")
    if country is None:
        return region or "an unknown country"
    return getattr(country, "common_name", None) or country.name


def home_region(default_region: str | None) -> str:
    """Where a number is not 'abroad': SMS_DEFAULT_REGION, else South Africa."""
    return (default_region or HOME_REGION).upper()


def _quote(entry: str, limit: int = 30) -> str:
    """The entry as the user typed it (cleaned), shortened if it is long."""
    shown = entry if len(entry) <= limit else entry[: limit - 1] + "…"
    return f"‘{shown}’"


def _odd_characters(cleaned: str) -> str:
    """For a number with a stray character in it ('2783123456x'), which characters are wrong."""
    odd = list(dict.fromkeys(c for c in cleaned if c not in "0123456789+-.() "))[:3]
    if not odd or not any(c.isdigit() for c in cleaned):
        return ""
    shown = ", ".join(f"‘{c}’" if c.isprintable() else f"U+{ord(c):04X}" for c in odd)
    return f" ({shown} {'is' if len(odd) == 1 else 'are'} not part of a phone number)"


def _not_a_number(entry: str, cleaned: str) -> RecipientError:
    return RecipientError(
        f"{_quote(cleaned or entry)} is not a phone number{_odd_characters(cleaned)}: write digits only, in "
        f"international form (e.g. {EXAMPLE_NUMBER}), and separate numbers with commas.",
        entry,
        reason="not a phone number",
    )


def _readings(cleaned: str, entry: str, default_region: str | None) -> list[tuple[str, str | None, bool]]:
    """(text, region, guessed) to hand to phonenumbers.parse: one reading, or two for bare digits
    when SMS_DEFAULT_REGION is set (international, then national in that region)."""
    digits = cleaned.translate(_STRIP)
    if cleaned.startswith("+"):
        return [("+" + digits, None, False)]
    if digits.startswith("00"):  # 00 is the international prefix
        return [("+" + digits[2:], None, False)]
    region = (default_region or "").upper()
    if digits.startswith("0"):
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise RecipientError(
                f"{_quote(cleaned)} is a local number: write it with the country code "
                f"(e.g. {EXAMPLE_NUMBER} for South Africa), or set SMS_DEFAULT_REGION.",
                entry,
                reason="a local number and no SMS_DEFAULT_REGION",
            )
        return [(digits, region, False)]
    readings: list[tuple[str, str | None, bool]] = [("+" + digits, None, False)]
    if region in phonenumbers.SUPPORTED_REGIONS:
        readings.append((digits, region, True))
    return readings


def _parse(text: str, region: str | None, cleaned: str, entry: str) -> phonenumbers.PhoneNumber:
    """A valid number, or RecipientError saying why not."""
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, "is not a phone number")
        raise RecipientError(f"{_quote(cleaned)} {reason}: {_FIX}", entry, reason=reason[3:]) from None
    if not phonenumbers.is_valid_number(number):
        template = _VALIDATION_REASONS.get(
            phonenumbers.is_possible_number_with_reason(number), "is not a valid {country} number"
        )
        reason = template.format(country=_code_and_region(number))
        raise RecipientError(f"{_quote(cleaned)} {reason}: {_FIX}", entry, reason=reason[3:])
    return number


def _code_and_region(number: phonenumbers.PhoneNumber) -> str:
    assert number.country_code is not None  # parse() always sets it
    region = phonenumbers.region_code_for_country_code(number.country_code)
    code = f"+{number.country_code}"
    return f"{code} ({region})" if region and region not in ("ZZ", NON_GEOGRAPHIC) else code


def _region(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.region_code_for_number(number) or NON_GEOGRAPHIC


def _sms_problem(number: phonenumbers.PhoneNumber, cleaned: str, entry: str) -> RecipientError | None:
    """Why a valid number cannot get an SMS: its type, or an incomplete South African mobile."""
    kind = phonenumbers.number_type(number)
    where = country_name(_region(number))
    if kind in _NO_SMS:
        return RecipientError(
            f"{_quote(cleaned)} is {_NO_SMS[kind]} in {where} and cannot receive SMS: send to a mobile number instead.",
            entry,
            reason=f"{_NO_SMS[kind]} in {where}, which cannot receive SMS",
        )
    national = str(number.national_number)
    if _region(number) == "ZA" and kind == PhoneNumberType.MOBILE and len(national) < ZA_MOBILE_DIGITS:
        missing = ZA_MOBILE_DIGITS - len(national)
        digits = f"{missing} digit{'s are' if missing > 1 else ' is'} missing"
        return RecipientError(
            f"{_quote(cleaned)} is an incomplete South African mobile number: it has {len(national)} digits "
            f"after the 27 (or the 0) and needs {ZA_MOBILE_DIGITS}, so {digits}. Check the number "
            f"(e.g. {EXAMPLE_NUMBER}).",
            entry,
            reason=f"incomplete: {digits}",
        )
    return None


def _write_as(number: phonenumbers.PhoneNumber, national: bool) -> str:
    """How to type ``number`` so it reads only one way."""
    local = re.sub(r"\D", "", phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
    if national and local.startswith("0"):
        return local
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _ambiguous(cleaned: str, entry: str, found: list[tuple[phonenumbers.PhoneNumber, bool]]) -> RecipientError:
    fmt = phonenumbers.PhoneNumberFormat
    shown = [
        f"{phonenumbers.format_number(n, fmt.INTERNATIONAL if not g else fmt.NATIONAL)} in "
        f"{country_name(_region(n))}{_kind_note(n)}"
        for n, g in found
    ]
    write = [f"{_write_as(n, g)} for {country_name(_region(n))}" for n, g in found]
    return RecipientError(
        f"{_quote(cleaned)} can be read two ways: {shown[0]}, or {shown[1]}. Write {write[0]}, or {write[1]}.",
        entry,
        reason="can be read two ways",
    )


def _e164(number: phonenumbers.PhoneNumber) -> str:
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def _kind_note(number: phonenumbers.PhoneNumber) -> str:
    """`` (a landline)`` for a reading that could not get an SMS; nothing for one that could."""
    kind = _NO_SMS.get(phonenumbers.number_type(number))
    return f" ({kind})" if kind else ""


def _check_allowed(number: phonenumbers.PhoneNumber, allowed: frozenset[str], cleaned: str, entry: str) -> None:
    region = _region(number)
    if not allowed or region in allowed:
        return
    where = country_name(region)
    code = f" ({region})" if region != NON_GEOGRAPHIC else ""
    raise RecipientError(
        f"{_quote(cleaned)} is in {where}{code}, and SMSBOT_ALLOWED_COUNTRIES ({', '.join(sorted(allowed))}) "
        f"does not include it: send to a number in an allowed country, or ask whoever runs smsbot to add "
        f"{region if code else 'it'} to SMSBOT_ALLOWED_COUNTRIES.",
        entry,
        reason=f"in {where}, not in SMSBOT_ALLOWED_COUNTRIES",
    )


def read_number(
    entry: str, default_region: str | None = None, allowed: frozenset[str] = frozenset(), *, sms_rules: bool = True
) -> Recipient:
    """``entry`` as a Recipient that can receive an SMS, or RecipientError that says how to fix it.

    Accepts ``27…``, ``+27…``, ``0027…`` and, with ``default_region`` (e.g. "ZA"), local numbers
    starting with 0, and bare digits that read validly only in that region (``831234567``). Bare digits
    that could be sent abroad while they read as a valid number of any type in that region (``358469686``:
    a landline there, a Finnish mobile) are refused naming both readings, as when both are mobiles.
    ``sms_rules=False`` skips the type, completeness and country checks (to name a stored number).
    """
    cleaned = clean_entry(entry)
    if _NUMBER_CHARS.fullmatch(cleaned) is None:
        raise _not_a_number(entry, cleaned)
    usable: dict[str, tuple[phonenumbers.PhoneNumber, bool]] = {}
    local = None  # bare digits read in SMS_DEFAULT_REGION as a valid number of any type
    refusals: list[tuple[bool, RecipientError]] = []  # (was a valid number, why not)
    for text, region, guessed in _readings(cleaned, entry, default_region):
        try:
            number = _parse(text, region, cleaned, entry)
        except RecipientError as error:
            refusals.append((False, error))
            continue
        local = (number, guessed) if guessed else local
        problem = _sms_problem(number, cleaned, entry) if sms_rules else None
        if problem is not None:
            refusals.append((True, problem))
            continue
        usable.setdefault(_e164(number), (number, guessed))
    if len(usable) > 1:
        raise _ambiguous(cleaned, entry, list(usable.values()))
    if usable and local is not None and _e164(local[0]) not in usable:  # '358469686': a landline here, or abroad
        raise _ambiguous(cleaned, entry, [*usable.values(), local])
    if not usable:
        raise next((error for valid, error in refusals if valid), refusals[0][1])
    ((e164, (number, guessed)),) = usable.items()
    if sms_rules:
        _check_allowed(number, allowed, cleaned, entry)
    return Recipient(
        e164.lstrip("+"), _region(number), phonenumbers.number_type(number) == PhoneNumberType.VOIP, entry, guessed
    )


def normalise_number(entry: str, default_region: str | None = None, allowed: frozenset[str] = frozenset()) -> str:
    """The gateway's digits-only international form of ``entry``, e.g. "27831234567"."""
    return read_number(entry, default_region, allowed).number


def split_recipients(spec: str) -> list[str]:
    """The comma-separated entries of ``spec`` (the slash command); RecipientError on an empty one."""
    entries = spec.split(",")
    if "" not in entries:
        return entries
    if spec == "":
        raise RecipientError(
            "No numbers given: write them before the text, separated by commas and no spaces, "
            f"e.g. `/sms send {EXAMPLE_NUMBER},27821234567 Hello`.",
            "",
        )
    raise RecipientError(
        f"{_quote(spec)} has an empty entry: separate numbers with commas and no spaces, "
        f"e.g. {EXAMPLE_NUMBER},27821234567.",
        "",
    )


def split_lines(spec: str) -> list[str]:
    """The compose form's entries: one per line, or separated by commas (or semicolons, as mail
    programs paste them); spaces inside a number are fine and blank entries are ignored."""
    entries = [entry.strip() for entry in re.split(r"[,;\n]", spec)]
    entries = [entry for entry in entries if entry]
    if not entries:
        raise RecipientError(
            "No numbers given: write one number or group per line, or separate them "
            f"with commas, e.g. {EXAMPLE_NUMBER}.",
            "",
        )
    return entries


def parse_recipients(spec: str, default_region: str | None = None, allowed: frozenset[str] = frozenset()) -> list[str]:
    """Normalised, de-duplicated numbers of ``spec`` in first-seen order.

    The first bad entry refuses the whole list; the error names that entry.
    """
    numbers = [normalise_number(entry, default_region, allowed) for entry in split_recipients(spec)]
    return list(dict.fromkeys(numbers))


def numbers_to_remove(spec: str, default_region: str | None = None) -> list[str]:
    """Numbers to take out of a group, read like any entry but without the SMS rules: a member
    stored before a rule existed (a landline, an incomplete mobile, a country no longer allowed)
    must still be removable, as the skip notice suggests. Digits that are no valid number at all
    are taken as they are, to match what was stored."""
    numbers = []
    for entry in split_recipients(spec):
        try:
            numbers.append(read_number(entry, default_region, sms_rules=False).number)
        except RecipientError:
            digits = clean_entry(entry).translate(_STRIP)
            if not digits.isdigit():
                raise
            numbers.append(digits[2:] if digits.startswith("00") else digits)
    return list(dict.fromkeys(numbers))


def country_of(number: str) -> str | None:
    """The ISO country of a stored digits-only number (kept when retention erases the number)."""
    try:
        return _region(phonenumbers.parse("+" + number, None))
    except phonenumbers.NumberParseException:
        return None


def mask(number: str | None) -> str:
    """A number as log lines show it: the country code and the last 3 digits (``+27...567``)."""
    digits = "".join(ch for ch in str(number or "") if ch.isdigit())
    if len(digits) < 6:
        return "..." + digits[-3:] if digits else "-"
    # Country codes are prefix-free (1 to 3 digits): the first prefix that is one is the code. A table
    # look-up, not a parse: it runs for every log line that names a number, on the send path too.
    code = next((digits[:n] for n in (1, 2, 3) if int(digits[:n]) in phonenumbers.COUNTRY_CODE_TO_REGION_CODE), None)
    return f"+{code}...{digits[-3:]}" if code else "..." + digits[-3:]
