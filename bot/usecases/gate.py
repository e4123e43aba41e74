"""The one decision at every door: may this person, from this place, spend N credits now?

Every way a send gets in asks ``Gate.may_spend``, inside the transaction that queues it, so two
sends racing for the last credits of a limit stay exact:
- the slash command and the compose form (``UseCases.submit``), over HTTP or Socket Mode alike;
- Send on a preview, and on a personalised list's preview (``UseCases.confirm``);
- Resend (``UseCases.resend``): the presser, judged from where the send was requested, counted today;
- ``smsbot send-list`` (bot/cli/send_list.py), for the Slack user it acts as;
- and a scheduled send asks ``may_go`` when it goes out (the sender), as its requester.

Cancel is never gated: nobody is stopped from stopping spend. To whom a send may go (numbers,
SMSBOT_ALLOWED_COUNTRIES, the do-not-contact list) is checked when it is planned and again by the
sender just before each SMS. Knows nothing of Slack's API.
"""

from __future__ import annotations

import sqlite3

from bot.usecases.access import Access
from bot.usecases.spend import SpendLimits


class Gate:
    def __init__(self, access: Access, limits: SpendLimits) -> None:
        self.access, self.limits = access, limits

    def may_spend(
        self,
        user_id: str,
        channel_id: str,
        credits: int,
        at: float,
        conn: sqlite3.Connection | None = None,
        *,
        scheduled: bool = False,
    ) -> str | None:
        """None when ``user_id`` may send from ``channel_id`` and ``credits`` more fit the daily limits of
        the day of ``at`` (a scheduled send's own day when ``scheduled``); else the sentence refusing it."""
        return self.access.may_send(user_id, channel_id) or self.limits.check(
            user_id, credits, at, conn, scheduled=scheduled
        )

    def may_go(self, user_id: str, channel_id: str, at: float, conn: sqlite3.Connection | None = None) -> str | None:
        """A scheduled send reaching its time, already counted on its day: None, or why it may not go now
        (its requester's access was removed since, or a limit was lowered below that day's spend)."""
        refusal = self.access.may_send(user_id, channel_id)
        if refusal is not None:
            return f"not sent: its requester <@{user_id}> may no longer send from there ({refusal})"
        return self.limits.exceeded(user_id, at, conn)
