"""SMS rules checked before any gateway call: text length and encoding, recipient numbers.

Pure functions, no I/O. Every refusal is a :class:`SmsRuleError` whose text is meant
for the person who typed the command: it says what is wrong and how to fix it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, ValidationResult

MAX_PARTS = 4
MAX_CHARS = 620

EXAMPLE_NUMBER = "27831234567"


class SmsRuleError(ValueError):
    """A text or recipient the gateway would refuse; ``str(e)`` is the user-facing advice."""


class TextError(SmsRuleError):
    """The message text cannot be sent as it is."""


class RecipientError(SmsRuleError):
    """A recipient entry cannot be sent to; ``.entry`` is the raw entry at fault."""

    def __init__(self, message: str, entry: str) -> None:
        super().__init__(message)
        self.entry = entry


# --- text -------------------------------------------------------------------------

@dataclass(frozen=True)
class _Encoding:
    name: str
    single: int    # units that fit one stand-alone SMS
    per_part: int  # units per part of a concatenated SMS (the rest is the UDH header)


GSM7 = _Encoding("GSM-7", 160, 153)
UCS2 = _Encoding("UCS-2", 70, 67)

# GSM 03.38 default alphabet, in table order. 0x1B (ESC) is left out: it introduces
# an extension character and is not text anyone types.
_GSM7_BASIC = frozenset(
    "@£$¥èéùìòÇ\nØø\rÅå"
    "Δ_ΦΓΛΩΠΨΣΘΞÆæßÉ"
    " !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# Extension table: sent as ESC + character, so each costs 2 septets.
_GSM7_EXTENSION = frozenset("€[]{}\\~^|\f")


@dataclass(frozen=True)
class TextInfo:
    """How the gateway will encode and split a text."""

    encoding: str  # "GSM-7" or "UCS-2"
    units: int     # septets (GSM-7) or UTF-16 code units (UCS-2)
    chars: int     # len(text) in Python characters
    parts: int

    @property
    def credits_per_recipient(self) -> int:
        """The gateway charges one credit per part."""
        return self.parts


def _gsm7_cost(char: str) -> int | None:
    """Septets ``char`` takes in GSM-7, or None when GSM-7 cannot carry it."""
    if char in _GSM7_BASIC:
        return 1
    if char in _GSM7_EXTENSION:
        return 2
    return None


def _non_gsm7_chars(text: str) -> list[str]:
    """The distinct characters that force UCS-2, in order of first appearance."""
    return list(dict.fromkeys(c for c in text if _gsm7_cost(c) is None))


def _parts(units: int, encoding: _Encoding) -> int:
    # Phones do not split an extension pair (ESC + char) across two parts, so a GSM-7
    # text full of € can take one part more than this count; we ignore that subtlety.
    if units == 0:
        return 0
    if units <= encoding.single:
        return 1
    return -(-units // encoding.per_part)


def analyse_text(text: str) -> TextInfo:
    """Encoding, size and number of SMS parts of ``text``. Never raises."""
    costs = [_gsm7_cost(c) for c in text]
    if None not in costs:
        septets = sum(costs)
        return TextInfo(GSM7.name, septets, len(text), _parts(septets, GSM7))
    # surrogatepass: a lone surrogate still counts as one unit instead of raising
    units = len(text.encode("utf-16-le", "surrogatepass")) // 2
    return TextInfo(UCS2.name, units, len(text), _parts(units, UCS2))


def _fits(info: TextInfo) -> bool:
    return info.parts <= MAX_PARTS and info.chars <= MAX_CHARS


def _longest_fitting_prefix(text: str) -> int:
    """Length of the longest start of ``text`` that the gateway accepts.

    Fitting is monotone in the prefix length (a shorter prefix never needs more
    units, and if it drops back to GSM-7 its septets stay within the limit), so a
    binary search over the prefix length is exact.
    """
    low, high = 0, min(len(text), MAX_CHARS)
    while low < high:
        mid = (low + high + 1) // 2
        if _fits(analyse_text(text[:mid])):
            low = mid
        else:
            high = mid - 1
    return low


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def _show_char(char: str) -> str:
    """A character quoted for a message; invisible ones by their code point."""
    if char.isprintable() and not char.isspace():
        return f"‘{char}’"
    return f"U+{ord(char):04X}"


def _ucs2_advice(text: str) -> str:
    culprits = _non_gsm7_chars(text)
    shown = [_show_char(c) for c in culprits[:3]]
    others = len(culprits) - len(shown)
    if others:
        listed = f"{', '.join(shown)} and {_plural(others, 'other character')}"
    elif len(shown) > 1:
        listed = f"{', '.join(shown[:-1])} and {shown[-1]}"
    else:
        listed = shown[0]
    verb, pronoun = ("forces", "it") if len(culprits) == 1 else ("force", "them")
    return (f"{listed} {verb} UCS-2: replacing {pronoun} gives GSM-7 "
            f"({GSM7.single} characters per SMS, {GSM7.per_part} per part).")


def _too_long_message(text: str, info: TextInfo) -> str:
    encoding = GSM7 if info.encoding == GSM7.name else UCS2
    # With these limits the part limit always binds before MAX_CHARS does.
    limit = encoding.per_part * MAX_PARTS
    doubles = ""
    if info.units != info.chars:
        doubles = (", where € [ ] { } \\ ~ ^ | count as 2" if encoding is GSM7
                   else ", where emoji count as 2")
    cut = len(text) - _longest_fitting_prefix(text)
    message = (f"Too long: {info.chars} {encoding.name} characters need {info.parts} SMS parts; "
               f"the limit is {MAX_PARTS} parts ({limit} {encoding.name} characters{doubles}). "
               f"Cut {_plural(cut, 'character')}.")
    if encoding is UCS2:
        message += " " + _ucs2_advice(text)
    return message


def check_text(text: str) -> TextInfo:
    """``analyse_text(text)`` if the gateway will take the text, else raise TextError."""
    if not text.strip():
        raise TextError("The message is empty: write the text after the numbers, "
                        f"e.g. `/sms send {EXAMPLE_NUMBER} Hello`.")
    info = analyse_text(text)
    if not _fits(info):
        raise TextError(_too_long_message(text, info))
    return info


# --- recipients -------------------------------------------------------------------

_NUMBER_CHARS = re.compile(r"\+?[0-9().\-]*[0-9][0-9().\-]*")
_SEPARATORS = str.maketrans("", "", "+-.()")
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


def _quote(entry: str, limit: int = 30) -> str:
    """The entry as the user typed it, shortened if it is long."""
    shown = entry if len(entry) <= limit else entry[:limit - 1] + "…"
    return f"‘{shown}’"


def looks_like_number(entry: str) -> bool:
    """True if ``entry`` is made of a phone number's characters.

    Digits, a leading ``+`` and the separators ``- . ( )``; at least one digit.
    """
    return _NUMBER_CHARS.fullmatch(entry) is not None


def _dialable(entry: str, default_region: str | None) -> tuple[str, str | None]:
    """The text and region to hand to phonenumbers.parse for ``entry``."""
    digits = entry.translate(_SEPARATORS)
    if entry.startswith("+"):
        return "+" + digits, None
    if digits.startswith("00"):  # 00 is the international prefix
        return "+" + digits[2:], None
    if digits.startswith("0"):
        region = (default_region or "").upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise RecipientError(
                f"{_quote(entry)} is a local number: write it with the country code "
                f"(e.g. {EXAMPLE_NUMBER} for South Africa), or set SMS_DEFAULT_REGION.", entry)
        return digits, region
    return "+" + digits, None


def _country(number: phonenumbers.PhoneNumber) -> str:
    # The region code, not geocoder's country name: the geocoder's data costs ~100 MB of memory.
    region = phonenumbers.region_code_for_country_code(number.country_code)
    code = f"+{number.country_code}"
    return f"{code} ({region})" if region and region != "ZZ" else code


def normalise_number(entry: str, default_region: str | None = None) -> str:
    """The gateway's digits-only international form of ``entry``, e.g. "27831234567".

    Accepts ``27…``, ``+27…``, ``0027…`` and, when ``default_region`` (e.g. "ZA") is
    given, local numbers starting with a single 0. Raises RecipientError otherwise.
    """
    if not looks_like_number(entry):
        raise RecipientError(
            f"{_quote(entry)} is not a phone number: write digits only, in international form "
            f"(e.g. {EXAMPLE_NUMBER}), and separate numbers with commas and no spaces.", entry)
    text, region = _dialable(entry, default_region)
    try:
        number = phonenumbers.parse(text, region)
    except NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, "is not a phone number")
        raise RecipientError(f"{_quote(entry)} {reason}: {_FIX}", entry) from None
    if not phonenumbers.is_valid_number(number):
        template = _VALIDATION_REASONS.get(
            phonenumbers.is_possible_number_with_reason(number), "is not a valid {country} number")
        reason = template.format(country=_country(number))
        raise RecipientError(f"{_quote(entry)} {reason}: {_FIX}", entry)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164).lstrip("+")


def split_recipients(spec: str) -> list[str]:
    """The comma-separated entries of ``spec``; raises RecipientError on an empty one."""
    entries = spec.split(",")
    if "" not in entries:
        return entries
    if spec == "":
        raise RecipientError(
            "No numbers given: write them before the text, separated by commas and no spaces, "
            f"e.g. `/sms send {EXAMPLE_NUMBER},27821234567 Hello`.", "")
    raise RecipientError(
        f"{_quote(spec)} has an empty entry: separate numbers with commas and no spaces, "
        f"e.g. {EXAMPLE_NUMBER},27821234567.", "")


def parse_recipients(spec: str, default_region: str | None = None) -> list[str]:
    """Normalised, de-duplicated numbers of ``spec`` in first-seen order.

    The first bad entry refuses the whole list; the error names that entry.
    """
    numbers = [normalise_number(entry, default_region) for entry in split_recipients(spec)]
    return list(dict.fromkeys(numbers))
