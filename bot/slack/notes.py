"""Lines about who a send reaches, for its ack, preview and status message: numbers read in the
default region, numbers abroad, VoIP numbers, and group members skipped (and why); and a text that
starts like a template call (``:name``) but went as typed, since no template has that name."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from bot.wording import plural

if TYPE_CHECKING:  # render imports this module: a type only, no cycle
    from bot.slack.render.blocks import Row

NUMBERS_SHOWN = 30  # numbers named on one line at most


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:NUMBERS_SHOWN])
    return shown + (f" and {len(items) - NUMBERS_SHOWN} more" if len(items) > NUMBERS_SHOWN else "")


def _skipped_line(skipped: list) -> str:
    by_reason: dict[str, list[str]] = {}
    for number, group, reason in skipped:
        by_reason.setdefault(reason, []).append(f"{number} (`{group}`)")
    count = len(skipped)
    why = "; ".join(f"{_escape(reason)}: {_listed(numbers)}" for reason, numbers in by_reason.items())
    return (
        f":no_entry_sign: Skipped {plural(count, 'group member')}, not charged — {why}. "
        "Remove them with `/sms group remove GROUP NUMBERS`."
    )


def plan_notes(notes: Mapping | None) -> list[str]:
    """One line per kind of note; none when there is nothing to say."""
    if not notes:
        return []
    lines = []
    if notes.get("read_as"):
        read = ", ".join(f"‘{_escape(entry)}’ as {number}" for entry, number in notes["read_as"].items())
        lines.append(f":mag_right: Read {read} (in SMS_DEFAULT_REGION).")
    if notes.get("abroad"):
        lines.append(":earth_africa: Abroad: " + _listed([f"{n} ({c})" for n, c in notes["abroad"].items()]))
    voip = notes.get("voip") or []
    if voip:
        what = "is a VoIP number; it" if len(voip) == 1 else "are VoIP numbers; they"
        lines.append(f":warning: {_listed(voip)} {what} may not receive SMS.")
    if notes.get("skipped"):
        lines.append(_skipped_line(notes["skipped"]))
    if notes.get("not_template"):
        lines.append(
            f":information_source: No template is called ‘{_escape(notes['not_template'])}’, so the text "
            "went as typed. To send a template, check its name with `/sms template list`."
        )
    return lines


def batch_notes(batch: Row) -> dict | None:
    """The notes stored with a send (None for sends stored before notes existed)."""
    try:
        raw = batch["notes"]
    except (KeyError, IndexError):
        return None
    return json.loads(raw) if raw else None
