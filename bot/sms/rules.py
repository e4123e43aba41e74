"""SMS text rules checked before any gateway call: encoding and parts (numbers: bot.sms.numbers).

Pure functions, no I/O. Every refusal is a :class:`SmsRuleError` whose text is meant
for the person who typed the command: it says what is wrong and how to fix it.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex

from bot.sms.errors import EXAMPLE_NUMBER, TextError
from bot.wording import plural

MAX_PARTS = 4
MAX_CHARS = 620


# --- text -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Encoding:
    name: str
    single: int  # units that fit one stand-alone SMS
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
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    chars: int  # len(text) in Python characters
    parts: int


def _gsm7_cost(char: str) -> int | None:
    """Septets ``char`` takes in GSM-7, or None when GSM-7 cannot carry it."""
    if char in _GSM7_BASIC:
        return 1
    if char in _GSM7_EXTENSION:
        return 2
    return None


def _non_gsm7_chars(text: str) -> list[str]:
    """The distinct characters (whole clusters, e.g. a flag) that force UCS-2, in order of first appearance."""
    return list(dict.fromkeys(c for c in _clusters(text) if any(_gsm7_cost(x) is None for x in c)))


def _parts(costs: list[int], encoding: _Encoding) -> int:
    """Parts as phones and gateways split a text (TS 23.038/23.040, Android's GsmAlphabet).

    A single part holds ``single`` units. A concatenated one holds ``per_part``, and a
    character is never split across two parts: an extension character (ESC + code, 2
    septets) or a surrogate pair (2 UTF-16 units) that finds only one unit left in a
    part moves whole to the next one, so the part ends one unit short.
    """
    total = sum(costs)
    if total == 0:
        return 0
    if total <= encoding.single:
        return 1
    parts, room = 1, encoding.per_part
    for cost in costs:
        if cost > room:
            parts, room = parts + 1, encoding.per_part
        room -= cost
    return parts


def _ucs2_cost(char: str) -> int:
    """UTF-16 code units of ``char``: 2 outside the Basic Multilingual Plane (a surrogate pair)."""
    return 2 if ord(char) > 0xFFFF else 1


def analyse_text(text: str) -> TextInfo:
    """Encoding, size and number of SMS parts of ``text``. Never raises."""
    gsm7 = [_gsm7_cost(c) for c in text]
    known = [cost for cost in gsm7 if cost is not None]  # None: not in the GSM 7-bit alphabet
    if len(known) == len(gsm7):
        return TextInfo(GSM7.name, sum(known), len(text), _parts(known, GSM7))
    # A lone surrogate (possible in a Python str) counts as one unit instead of raising.
    costs = [_ucs2_cost(c) for c in text]
    return TextInfo(UCS2.name, sum(costs), len(text), _parts(costs, UCS2))


def _fits(info: TextInfo) -> bool:
    return info.parts <= MAX_PARTS and info.chars <= MAX_CHARS


def _clusters(text: str) -> list[str]:
    """The user-perceived characters of ``text`` (Unicode extended grapheme clusters):
    a flag, a ZWJ emoji sequence, an emoji with its skin tone, a letter with its marks."""
    return regex.findall(r"\X", text)


def _longest_fitting_prefix(clusters: list[str]) -> int:
    """How many whole clusters at the start of the text the gateway accepts.

    Fitting is monotone in the prefix (a longer prefix never needs fewer parts, and a
    prefix that drops back to GSM-7 packs at least as many characters per part), so a
    binary search over cluster boundaries is exact.
    """
    low, high = 0, len(clusters)
    while low < high:
        mid = (low + high + 1) // 2
        if _fits(analyse_text("".join(clusters[:mid]))):
            low = mid
        else:
            high = mid - 1
    return low


def _show_char(char: str) -> str:
    """A character (cluster) quoted for a message; invisible ones by their code points."""
    if char[0].isprintable() and not char[0].isspace():  # a visible base: show it with its marks
        return f"‘{char}’"
    return "+".join(f"U+{ord(c):04X}" for c in char)


def _ucs2_advice(text: str) -> str:
    culprits = _non_gsm7_chars(text)
    shown = [_show_char(c) for c in culprits[:3]]
    others = len(culprits) - len(shown)
    if others:
        listed = f"{', '.join(shown)} and {plural(others, 'other character')}"
    elif len(shown) > 1:
        listed = f"{', '.join(shown[:-1])} and {shown[-1]}"
    else:
        listed = shown[0]
    verb, pronoun = ("forces", "it") if len(culprits) == 1 else ("force", "them")
    return (
        f"{listed} {verb} UCS-2: replacing {pronoun} gives GSM-7 "
        f"({GSM7.single} characters per SMS, {GSM7.per_part} per part)."
    )


def _limit_words(encoding: _Encoding, info: TextInfo) -> str:
    """The 4-part limit in the words that fit this text: pairs are explained only when present."""
    limit = encoding.per_part * MAX_PARTS  # the part limit always binds before MAX_CHARS does
    if info.units == info.chars:
        return f"{limit} {encoding.name} characters"
    if encoding is GSM7:
        return (
            f"{limit} GSM-7 septets, where € [ ] {{ }} \\ ~ ^ | count as 2 and are never split "
            f"between parts, so a part holds at most {encoding.per_part // 2} of them"
        )
    return (
        f"{limit} UCS-2 units, where emoji count as 2 and are never split between parts, "
        f"so a part holds at most {encoding.per_part // 2} emoji"
    )


def _cut_advice(text: str) -> str:
    clusters = _clusters(text)
    keep = _longest_fitting_prefix(clusters)
    tail = "".join(clusters[max(0, keep - 20) : keep]).replace("\n", " ")
    advice = f"Cut {plural(len(clusters) - keep, 'character')}"
    return f"{advice}: the text fits up to “…{tail}”." if tail.strip() else f"{advice}."


def _too_long_message(text: str, info: TextInfo) -> str:
    encoding = GSM7 if info.encoding == GSM7.name else UCS2
    message = (
        f"Too long: {len(_clusters(text))} {encoding.name} characters need {info.parts} SMS parts; "
        f"the limit is {MAX_PARTS} parts ({_limit_words(encoding, info)}). {_cut_advice(text)}"
    )
    if encoding is UCS2:
        message += " " + _ucs2_advice(text)
    return message


def check_text(text: str) -> TextInfo:
    """``analyse_text(text)`` if the gateway will take the text, else raise TextError."""
    if not text.strip():
        raise TextError(
            f"The message is empty: write the text after the numbers, e.g. `/sms send {EXAMPLE_NUMBER} Hello`."
        )
    info = analyse_text(text)
    if not _fits(info):
        raise TextError(_too_long_message(text, info))
    return info
