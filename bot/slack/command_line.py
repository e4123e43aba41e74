"""The ``/sms`` command line as Slack sends it: markup undone, the subcommand split from its arguments."""
from __future__ import annotations

import re
from dataclasses import dataclass

SUBCOMMANDS = ("send", "balance", "status", "history", "group", "help")

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
