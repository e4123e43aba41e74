"""Block Kit building blocks and the small messages every other render module uses."""

from __future__ import annotations

import datetime as dt
import re
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from bot.redact import redact

# A stored row (sqlite3.Row: read by column name and keys(), not a Mapping), or a dict of its columns.
Row = sqlite3.Row | Mapping[str, Any]

PREVIEW_CHARS = 280


LIST_EACH_UP_TO = 10  # recipients listed one per line up to this many; counts beyond


SECTION_CHARS = 3000  # Block Kit: a section's (or a context element's) mrkdwn text


MESSAGE_BLOCKS = 50  # Block Kit: blocks in one message


MODAL_BLOCKS = 100  # Block Kit: blocks in a modal or the App Home tab


TEXT_CHARS = 4000  # a message's plain-text fallback (longer ones risk msg_too_long)


TITLE_CHARS, BUTTON_CHARS, HEADER_CHARS = 24, 75, 150  # plain_text limits: modal title/submit/close, ...


RESEND_ACTION = "resend_message"


CONFIRM_ACTION = "confirm_send"


CANCEL_ACTION = "cancel_send"


COMPOSE_VIEW = "sms_compose"


CONFIRM_VIEW = "sms_confirm"


def escape(text: str) -> str:
    """Escape text for Slack mrkdwn (only &, < and > are special)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def escape_but_mentions(text: str) -> str:
    """Escaped, but with mentions of users and channels (``<@U…>``, ``<#C…>``) kept as links: for stored
    text that names people (the audit log, a refusal's "ask <@U…>")."""
    return re.sub(r"&lt;([@#][UWCGD][A-Z0-9]{2,})&gt;", r"<\1>", escape(text))


# A word is a run of non-space characters, where a Slack token <…> (which may hold spaces, as a
# date token does) or an entity &…; counts as one character: no split ever falls inside one.
_WORD = re.compile(r"(?:<[^<>]*>|&#?\w+;|[^\s<&]|[<&])+")


def _pieces(line: str, limit: int) -> list[str]:
    """A line cut at spaces into pieces of at most limit characters, never inside a word or token
    (a single word longer than limit, which only pasted junk makes, is cut before its last token)."""
    pieces: list[str] = []
    current = ""
    for word in _WORD.findall(line):
        while len(word) > limit:
            cut = _safe_cut(word, limit)
            pieces, current, word = pieces + [p for p in (current, word[:cut]) if p], "", word[cut:]
        if current and len(current) + 1 + len(word) > limit:
            pieces.append(current)
            current = ""
        current = f"{current} {word}" if current else word
    return pieces + [current] if current else pieces or [""]


def _safe_cut(word: str, limit: int) -> int:
    """Where to cut an over-long word: at limit, or before a token or entity that would straddle it."""
    cut = limit
    for match in re.finditer(r"<[^<>]*>|&#?\w+;", word):
        if match.start() < cut < match.end():
            cut = match.start()
    return cut or limit


def clip(text: str, limit: int, *, at: str = "\n") -> str:
    """text shortened to at most limit characters at a line (or word) boundary, marked with "…"."""
    if len(text) <= limit:
        return text
    head = text[: limit - 1]
    cut = head.rfind(at)
    if cut <= 0 or (at == "\n" and cut < limit // 2):
        return _pieces(text, limit - 1)[0] + "…"
    return head[:cut] + ("\n…" if at == "\n" and cut + 2 <= limit else "…")


def plain(text: str, limit: int) -> dict:
    """A plain_text object within its field's limit (modal title 24, button 75, header 150, ...)."""
    return {"type": "plain_text", "text": clip(text, limit, at=" ")}


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, SECTION_CHARS)}}


def context(text: str) -> dict:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(text, SECTION_CHARS)}]}


def sections(
    lines: Sequence[str | Sequence[str]],
    *,
    max_blocks: int = MESSAGE_BLOCKS,
    noun: str = "lines",
    make: Callable[[str], dict] = section,
    limit: int = SECTION_CHARS,
) -> list[dict]:
    """Whole lines packed into as few blocks of at most limit characters as they need. A list line
    (a list of items: numbers, say) wraps between items; a line too long for one block wraps at a
    space outside any token. Past max_blocks, the rest is left out and counted: "… and N more {noun}",
    where each str line counts one and each item of a list line counts one."""
    units = _units(lines, limit)
    if max_blocks < 1 or not units:
        return []
    packed = _pack(units, limit, max_blocks, 0)
    if len(packed) > max_blocks:
        total = sum(count for _, _, count in units)
        packed = _pack(units, limit, max_blocks, len(f"\n… and {total:,} more {noun}"))
        left = total - sum(count for _, counts in packed for count in counts)
        tail = f"… and {left:,} more {noun}" if left else "…"
        if len(packed) < max_blocks:  # the last block would not have had room for its first line
            packed.append(([tail], [0]))
        else:
            packed[-1][0].append("\n" + tail)
    return [make("".join(parts)) for parts, _ in packed]


def _units(lines, limit: int) -> list[tuple[str, str, int]]:
    """(joiner, text, count) pieces: the joiner goes before the text when it shares a block."""
    units = []
    for line in lines:
        if isinstance(line, str):
            pieces = _pieces(line, limit) if len(line) > limit else [line]
            units += [("\n" if i == 0 else " ", piece, 1 if i == 0 else 0) for i, piece in enumerate(pieces)]
        else:
            for i, item in enumerate(line):
                units += [
                    ("\n" if i == 0 and j == 0 else ", " if j == 0 else " ", piece, 1 if j == 0 else 0)
                    for j, piece in enumerate(_pieces(item, limit - 2) if len(item) > limit - 2 else [item])
                ]
    return units


def _pack(units, limit: int, max_blocks: int, reserve: int) -> list[tuple[list[str], list[int]]]:
    """Greedy packing; with reserve > 0, stops once the last allowed block (less reserve) is full."""
    blocks: list[tuple[list[str], list[int]]] = []
    size = 0
    for joiner, text, count in units:
        room = limit - (reserve if len(blocks) == max_blocks else 0)
        if blocks and size + len(joiner) + len(text) <= room:
            blocks[-1][0].append(joiner + text)
            blocks[-1][1].append(count)
            size += len(joiner) + len(text)
            continue
        if reserve and (len(blocks) == max_blocks or (len(blocks) == max_blocks - 1 and len(text) + reserve > limit)):
            break
        blocks.append(([text], [count]))
        size = len(text)
    return blocks


def fallback(text: str) -> str:
    """A message's plain-text fallback, cut at a line within Slack's limit."""
    return clip(text, TEXT_CHARS)


def message(text: str, *, blocks: list[dict] | None = None, ephemeral: bool = True) -> dict:
    out = {"text": fallback(text), "blocks": blocks or sections(text.split("\n"))}
    if ephemeral:
        out["response_type"] = "ephemeral"
    return out


def button(text: str, action_id: str, value: str, style: str | None = None) -> dict:
    button = {"type": "button", "action_id": action_id, "value": value, "text": plain(text, BUTTON_CHARS)}
    if style:
        button["style"] = style
    return button


def input_block(block_id: str, label: str, placeholder: str, *, multiline: bool, initial: str = "") -> dict:
    element = {
        "type": "plain_text_input",
        "action_id": "value",
        "multiline": multiline,
        "placeholder": {"type": "plain_text", "text": placeholder},
    }
    if initial:
        element["initial_value"] = initial
    return {"type": "input", "block_id": block_id, "label": {"type": "plain_text", "text": label}, "element": element}


def when(ts: float | None) -> str:
    """A time Slack shows in each reader's own time zone, with its day unless that is today
    ("yesterday", "Nov 18"); the fallback (clients that cannot render it) has the date in UTC."""
    if ts is None:
        return "?"
    utc = dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(ts)}^{{date_short_pretty}} {{time}}|{utc}>"


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    short = text if len(text) <= limit else text[: limit - 1] + "…"
    return "\n".join("> " + escape(line) for line in short.split("\n"))


def usage_error(sentence: str) -> dict:
    return message(f":warning: {escape(redact(sentence))}\nType `/sms help` for examples.")


def refused(sentence: str) -> dict:
    return message(f":no_entry_sign: {sentence}")


def modal_notice(title: str, text: str) -> dict:
    return {
        "type": "modal",
        "title": plain(title, TITLE_CHARS),
        "close": plain("Close", TITLE_CHARS),
        "blocks": sections(text.split("\n"), max_blocks=MODAL_BLOCKS),
    }


def gateway_problem(what: str, error: object) -> dict:
    return message(f":warning: {what}: {escape(redact(error))}")
