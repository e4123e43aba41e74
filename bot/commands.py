"""The ``/sms`` command line: parsing and send planning, with no Slack or gateway I/O.

Shared by the slash command and (later) the compose modal, so both use the same
rules and the same words.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from bot import smsrules

SUBCOMMANDS = ("send", "balance", "status", "help")

_LINK = re.compile(r"<([^<>|]*)(?:\|([^<>]*))?>")


def unescape_slack(text: str) -> str:
    """Undo Slack's escaping of command text: ``<link|label>`` markup and &amp; &lt; &gt;."""
    def label(match: re.Match) -> str:
        target, shown = match.group(1), match.group(2)
        if shown is not None:
            return shown
        return re.sub(r"^(tel:|mailto:)", "", target)
    text = _LINK.sub(label, text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@dataclass(frozen=True)
class Command:
    name: str           # one of SUBCOMMANDS
    args: str           # the rest, unescaped, leading whitespace removed
    unknown: str = ""   # the word typed when it was not a known subcommand


def parse_command(text: str) -> Command:
    text = unescape_slack(text or "").strip()
    if not text:
        return Command("help", "")
    word, rest = re.match(r"(\S+)\s*(.*)", text, re.S).groups()
    word = word.lower()
    if word not in SUBCOMMANDS:
        return Command("help", "", unknown=word)
    return Command(word, rest)


@dataclass(frozen=True)
class SendPlan:
    recipients: list[str]
    text: str
    info: smsrules.TextInfo

    @property
    def credits(self) -> int:
        return self.info.parts * len(self.recipients)


class UsageError(ValueError):
    """The command cannot be carried out; str() tells the person how to fix it."""


def plan_send(args: str, default_region: str | None) -> SendPlan:
    """``<recipients> <message>`` → a checked SendPlan, or UsageError/SmsRuleError."""
    match = re.match(r"(\S+)\s+(.*)", args, re.S)
    if not args.strip():
        raise UsageError("Say who to send to and what: `/sms send 27831234567 Your message`.")
    if match is None:
        raise UsageError("The message is empty: write the text after the numbers, "
                         "e.g. `/sms send 27831234567 Hello`.")
    spec, text = match.group(1), match.group(2)
    recipients = smsrules.parse_recipients(spec, default_region)
    info = smsrules.check_text(text)
    return SendPlan(recipients=recipients, text=text, info=info)
