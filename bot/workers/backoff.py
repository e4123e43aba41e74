"""Capped exponential backoff, shared by the sender, the notifier and the Socket Mode connector."""

from __future__ import annotations

FIRST_RETRY_SECONDS = 2.0
MAX_RETRY_SECONDS = 300.0


def backoff_delay(failures: int, first: float = FIRST_RETRY_SECONDS, cap: float = MAX_RETRY_SECONDS) -> float:
    """Seconds to wait after the n-th consecutive failure: first, 2×first, 4×first … up to cap."""
    return min(cap, first * 2 ** max(0, failures - 1))
