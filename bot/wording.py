"""Small wording helpers shared by every message smsbot writes, in Slack or in a log or a refusal."""

from __future__ import annotations


def plural(count: int | float, noun: str, *, thousands: bool = False) -> str:
    """``1 part``, ``3 parts``, ``1.5 hours``; with ``thousands``, ``2,000 credits``."""
    shown = f"{count:,}" if thousands else f"{count:g}" if isinstance(count, float) else str(count)
    return f"{shown} {noun}" if count == 1 else f"{shown} {noun}s"
