"""Which failed sends a resend can cure: the account's state (credits, login) or the gateway's
reachability, once fixed; never the SMS itself (number, text) or a missed moment."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from bot.sms.gateway import GatewayError, LoginFailed, NotEnoughCredits

CREDITS, LOGIN, UNREACHABLE, FINAL = "credits", "login", "unreachable", "final"
OPTED_OUT = "opted_out"
OPTED_OUT_ERROR = (
    "opted out: the number was put on the do-not-contact list after this SMS was queued, so it was not sent"
)
CURABLE = frozenset({CREDITS, LOGIN, UNREACHABLE})

Row = sqlite3.Row | Mapping[str, Any]  # a message row, or a dict of its columns (a render test's)


def kind_of(error: GatewayError | None, last_error: str | None = None) -> str:
    """The failure kind stored with a failed SMS (``messages.failure``)."""
    if error is None and last_error == OPTED_OUT_ERROR:
        return OPTED_OUT
    if isinstance(error, NotEnoughCredits):
        return CREDITS
    if isinstance(error, LoginFailed):
        return LOGIN
    if error is not None and error.outcome == "not_sent":  # gave up while the gateway was unreachable
        return UNREACHABLE
    return FINAL


def curable(row: Row) -> bool:
    """A failed SMS whose failure a resend can cure (after the cause is fixed)."""
    return row["status"] == "failed" and _failure(row) in CURABLE


def _failure(row: Row) -> str | None:
    return row["failure"] if "failure" in row.keys() else None
