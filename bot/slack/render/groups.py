"""Groups of numbers, as listed and changed through ``/sms group``."""

from __future__ import annotations

from collections.abc import Mapping

from bot.slack.render.blocks import MESSAGE_BLOCKS, escape, message, sections
from bot.wording import plural


def _listed(head: str, numbers: list[str], end: str) -> list[str]:
    """A list line: head, the numbers comma-separated (wrapping between numbers), then end."""
    items = [f"{head}{numbers[0]}", *numbers[1:]]
    items[-1] += end
    return items


def _reply(lines: list) -> dict:
    """A reply whose number lists are split across blocks (the rest counted past the block limit)."""
    text = "\n".join(line if isinstance(line, str) else ", ".join(line) for line in lines)
    return message(text, blocks=sections(lines, max_blocks=MESSAGE_BLOCKS, noun="numbers"))


def group_changed(name: str, added: list[str], already: list[str], created: bool) -> dict:
    head = ":busts_in_silhouette: " + (f"Created group `{name}`." if created else f"Group `{name}`:")
    lines: list = [_listed(f"{head} added ", added, ".") if added else head]
    if already:
        lines.append(_listed("Already in it: ", already, "."))
    return _reply(lines)


def group_removed(name: str, removed: list[str], whole: bool) -> dict:
    if whole:
        return message(f":wastebasket: Deleted group `{name}` ({plural(len(removed), 'number')}).")
    if not removed:
        return message(f":information_source: None of those numbers is in `{name}`; nothing changed.")
    return _reply([_listed(":busts_in_silhouette: Removed ", removed, f" from `{name}`.")])


def group_list(sizes: list[tuple[str, int]], max_blocks: int = MESSAGE_BLOCKS) -> dict:
    if not sizes:
        return message("There are no groups yet. Create one with `/sms group add NAME NUMBERS`.")
    lines = ["*Groups*", *(f"`{name}` · {plural(size, 'number')}" for name, size in sizes)]
    return message("\n".join(lines), blocks=sections(lines, max_blocks=max_blocks, noun="groups"))


def group_members(name: str, members: list[str], problems: Mapping[str, str] | None = None) -> dict:
    """``/sms group show``: the numbers, each one a send would skip now marked with the reason."""
    if not members:
        return message(f"Group `{name}` has no numbers.")
    problems = problems or {}
    lines = [
        f"*Group `{name}`* ({plural(len(members), 'number')})",
        *(
            f"{m} — :no_entry_sign: skipped when sent to: {escape(problems[m])}" if m in problems else m
            for m in members
        ),
    ]
    return message("\n".join(lines), blocks=sections(lines, noun="numbers"))
