"""The ``/sms`` command line as Slack sends it: split into subcommand, recipients and message first,
then Slack's markup undone in each part, so a label's spaces never break the recipients."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

SUBCOMMANDS = (
    "send",
    "balance",
    "status",
    "history",
    "group",
    "help",
    "template",
    "scheduled",
    "cancel",
    "optout",
    "access",
    "audit",
    "usage",
    "export",
)

_MARKUP = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")
# A word: non-space characters, where a whole <…> markup counts as one character (labels may hold spaces).
_WORD = re.compile(r"(?:<[^<>]*>|[^\s<])+")
_AT = re.compile(r"--at\s+(?:(?:in|tomorrow)\s+\S+|[0-9]{4}-[0-9]{2}-[0-9]{2}\s+\S+|\S+)\s*", re.I)
_SPECIAL = {"here": "@here", "channel": "@channel", "everyone": "@everyone"}


class MarkupError(ValueError):
    """Markup that cannot be turned back into text without asking Slack; str() says what to write."""


def _unescape(text: str) -> str:
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _same_link(url: str, label: str) -> bool:
    """The label is the URL itself, or what the person typed before Slack added the scheme."""
    bare = re.sub(r"^[a-z][a-z0-9+.-]*://", "", url, flags=re.I)
    return label in (url, bare, bare.rstrip("/"))


def _one(target: str, label: str | None) -> str:
    """One ``<target|label>`` as the person typed it (``target`` and ``label`` already unescaped)."""
    if target.startswith("@"):
        if not label:
            raise MarkupError(
                f"I can't show the mention `<{target}>` as a name without asking Slack: write the "
                "person's name as text instead (e.g. “Bob”), not as an @-mention."
            )
        return label if label.startswith("@") else "@" + label
    if target.startswith("#"):
        if not label:
            raise MarkupError(
                "I can't show a channel link without its name: write the channel's name as text instead (e.g. “#ops”)."
            )
        return label if label.startswith("#") else "#" + label
    if target.startswith("!"):
        keyword = re.split(r"[\^|]", target[1:], maxsplit=1)[0].lower()
        if keyword in _SPECIAL:
            return _SPECIAL[keyword]
        if not label:
            raise MarkupError(f"I can't turn `<{target}>` into text: write what it should say as plain text.")
        return label  # <!subteam^…|@team>, <!date^…|fallback>
    scheme = target.split(":", 1)[0].lower()
    if scheme in ("tel", "mailto"):
        return label if label else unquote(target.split(":", 1)[1])
    if not label or _same_link(target, label):
        return label or target
    return f"{label} ({target})"


def _convert(text: str, markup) -> str:
    """Each ``<…>`` through ``markup(target, label)``, the text between unescaped once."""
    out, at = [], 0
    for match in _MARKUP.finditer(text):
        label = match.group(2)
        out += [
            _unescape(text[at : match.start()]),
            markup(_unescape(match.group(1)), None if label is None else _unescape(label)),
        ]
        at = match.end()
    return "".join(out) + _unescape(text[at:])


def undo_markup(text: str) -> str:
    """Message text: Slack markup and &amp; &lt; &gt; back to what was typed (MarkupError if it can't be)."""
    return _convert(text, _one)


def undo_recipients(text: str) -> str:
    """The recipients position: a ``tel:`` link is the number in its target, other markup its label,
    with spaces taken out so the list stays one word."""

    def markup(target: str, label: str | None) -> str:
        if target.lower().startswith("tel:"):
            return re.sub(r"\s+", "", unquote(target[4:]))
        return re.sub(r"\s+", "", _one(target, label))

    return _convert(text, markup)


def unescape_slack(text: str) -> str:
    """Undo Slack's escaping of free text (kept for callers that only need the message rules)."""
    return undo_markup(text)


@dataclass(frozen=True)
class Command:
    name: str  # one of SUBCOMMANDS
    args: str  # the rest, markup undone, leading whitespace removed
    unknown: str = ""  # the word typed when it was not a known subcommand
    problem: str = ""  # markup that cannot be undone: the sentence to show instead of acting


def _split_word(text: str) -> tuple[str, str, str]:
    """(first word, the whitespace after it, the rest), a <…> markup counting as part of a word."""
    match = _WORD.match(text)
    if match is None:
        return "", "", text
    rest = text[match.end() :]
    spaces = re.match(r"\s*", rest)
    assert spaces is not None  # \s* matches the empty string, so it matches any text
    gap = spaces.group(0)
    return match.group(0), gap, rest[len(gap) :]


def _args(name: str, raw: str) -> str:
    if name == "send":
        at = _AT.match(raw)  # --at WHEN comes before the recipients
        head, raw = (at.group(0), raw[at.end() :]) if at else ("", raw)
        recipients, gap, message = _split_word(raw)
        return head + undo_recipients(recipients) + gap + undo_markup(message)
    if name == "group":
        return " ".join(undo_recipients(word) for word in _WORD.findall(raw))
    if name == "optout":  # ACTION NUMBERS [reason]
        action, gap, rest = _split_word(raw)
        numbers, gap2, reason = _split_word(rest)
        return undo_markup(action) + gap + undo_recipients(numbers) + gap2 + undo_markup(reason)
    if name == "access":  # mentions keep their IDs: <@U…|bob>, <#C…|ops>
        return raw
    return undo_markup(raw)


def parse_command(text: str) -> Command:
    word, _, rest = _split_word((text or "").strip())
    if not word:
        return Command("help", "")
    try:
        word = undo_markup(word).lower()
        if word not in SUBCOMMANDS:
            return Command("help", "", unknown=word)
        return Command(word, _args(word, rest))
    except MarkupError as error:
        return Command(word if word in SUBCOMMANDS else "help", "", problem=str(error))
