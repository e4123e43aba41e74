"""Template text: ``{placeholders}`` checked, listed and filled; ``key=value`` arguments read. No I/O.

A placeholder is ``{name}`` with lowercase letters, digits and ``_``; ``{{`` and ``}}`` are literal
braces. Every refusal is a TextError that names the position (1-based character) and the fix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.sms.errors import TextError

_NAME = re.compile(r"[a-z0-9_]+")
_KEY = re.compile(r"([a-z0-9_]+)=")
# Curly quotes that Slack clients put in place of straight ones count as quotes.
_OPEN_CLOSE = {'"': '"', "“": "”", "”": "”", "„": "“", "'": "'", "‘": "’", "’": "’"}


@dataclass(frozen=True)
class Piece:
    """A run of fixed text (``name`` None) or one placeholder."""

    text: str
    name: str | None = None


def parse(text: str) -> list[Piece]:
    """The template split into fixed text and placeholders, or TextError naming the first bad position."""
    pieces, fixed, i = [], [], 0
    while i < len(text):
        char = text[i]
        if text.startswith("{{", i) or text.startswith("}}", i):
            fixed.append(char)
            i += 2
        elif char == "{":
            end = text.find("}", i + 1)
            name = text[i + 1 : end] if end != -1 else ""
            if end == -1 or "{" in name:
                raise TextError(
                    f"There is a stray `{{` at position {i + 1}: close the placeholder with `}}`, "
                    "or write `{{` for a literal brace."
                )
            if not _NAME.fullmatch(name):
                raise TextError(
                    f"The placeholder `{{{name}}}` at position {i + 1} can't be used: placeholder names "
                    "use only lowercase letters, digits and `_` (e.g. `{first_name}`)."
                )
            if fixed:
                pieces.append(Piece("".join(fixed)))
                fixed = []
            pieces.append(Piece(text[i : end + 1], name))
            i = end + 1
        elif char == "}":
            raise TextError(
                f"There is a stray `}}` at position {i + 1}: write `}}}}` for a literal brace, "
                "or open the placeholder with `{`."
            )
        else:
            fixed.append(char)
            i += 1
    if fixed:
        pieces.append(Piece("".join(fixed)))
    return pieces


def keys(text: str) -> list[str]:
    """The template's placeholder names, each once, in order of first use."""
    return list(dict.fromkeys(p.name for p in parse(text) if p.name))


def fixed_text(text: str) -> str:
    """What the template says without any placeholder filled in (for its parts)."""
    return "".join(p.text for p in parse(text) if p.name is None)


def fill(text: str, values: dict[str, str]) -> str:
    """The template with every placeholder replaced; TextError lists what is missing or unknown."""
    pieces = parse(text)
    wanted = list(dict.fromkeys(p.name for p in pieces if p.name))
    unknown = [k for k in values if k not in wanted]
    if unknown:
        known = ", ".join(f"`{k}`" for k in wanted) or "none: it has no placeholders"
        raise TextError(f"The template has no {_names(unknown)}. Its keys are {known}.")
    missing = [k for k in wanted if k not in values]
    if missing:
        example = " ".join(f"{k}=…" for k in missing)
        raise TextError(f"Missing {_names(missing)}: add {example} after the template's name.")
    return "".join(values[p.name] if p.name else p.text for p in pieces)


def _names(names: list[str]) -> str:
    return ("key " if len(names) == 1 else "keys ") + ", ".join(f"`{k}`" for k in names)


def read_values(args: str) -> dict[str, str]:
    """``key=value key2="two words"`` (straight or curly quotes) → a dict, or TextError saying how to write it."""
    values: dict[str, str] = {}
    i, n = 0, len(args)
    while True:
        while i < n and args[i].isspace():
            i += 1
        if i >= n:
            return values
        match = _KEY.match(args, i)
        if match is None:
            word = args[i:].split(None, 1)[0]
            raise TextError(
                f"‘{word[:40]}’ is not a value for the template: write `key=value`, with quotes around "
                'a value with spaces (e.g. `site="Cape Town"`).'
            )
        key, i = match.group(1), match.end()
        if key in values:
            raise TextError(f"`{key}` is given twice: give each key once.")
        if i < n and args[i] in _OPEN_CLOSE:
            closing = _OPEN_CLOSE[args[i]]
            end = _find_close(args, i + 1, closing)
            if end == -1:
                raise TextError(f"The value of `{key}` opens a quote that is never closed: close it with {closing}.")
            values[key], i = args[i + 1 : end], end + 1
        else:
            end = i
            while end < n and not args[end].isspace():
                end += 1
            values[key], i = args[i:end], end


def _find_close(args: str, start: int, closing: str) -> int:
    """Where the quote opened before ``start`` closes: its own closing mark, or a straight one for a curly."""
    for at in range(start, len(args)):
        if args[at] == closing or (closing in "”“" and args[at] in '"”“') or (closing == "’" and args[at] in "'’"):
            return at
    return -1
