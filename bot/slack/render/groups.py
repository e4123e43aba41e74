"""Groups of numbers, as listed and changed through ``/sms group``."""
from __future__ import annotations

from typing import Mapping

from bot.slack.render.blocks import escape, message, plural


def group_changed(name: str, added: list[str], already: list[str], created: bool) -> dict:
    parts = [f"Created group `{name}`." if created else f"Group `{name}`:"]
    if added:
        parts.append(f"added {', '.join(added)}.")
    if already:
        parts.append(f"Already in it: {', '.join(already)}.")
    return message(":busts_in_silhouette: " + " ".join(parts))


def group_removed(name: str, removed: list[str], whole: bool) -> dict:
    if whole:
        return message(f":wastebasket: Deleted group `{name}` ({plural(len(removed), 'number')}).")
    if not removed:
        return message(f":information_source: None of those numbers is in `{name}`; nothing changed.")
    return message(f":busts_in_silhouette: Removed {', '.join(removed)} from `{name}`.")


def group_list(sizes: list[tuple[str, int]]) -> dict:
    if not sizes:
        return message("There are no groups yet. Create one with `/sms group add NAME NUMBERS`.")
    return message("*Groups*\n" + "\n".join(f"`{name}` · {plural(size, 'number')}" for name, size in sizes))


def group_members(name: str, members: list[str], problems: Mapping[str, str] | None = None) -> dict:
    """``/sms group show``: the numbers, each one a send would skip now marked with the reason."""
    if not members:
        return message(f"Group `{name}` has no numbers.")
    problems = problems or {}
    lines = [f"{m} — :no_entry_sign: skipped when sent to: {escape(problems[m])}" if m in problems else m
             for m in members]
    return message(f"*Group `{name}`* ({plural(len(members), 'number')})\n" + "\n".join(lines))
