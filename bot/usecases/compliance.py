"""Admin use cases of issue 14: the do-not-contact list and the allow-lists changed from Slack, each
change recorded in the audit log in the same transaction. Listeners call these through
``Services.compliance``; nothing here parses Slack payloads or renders messages."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from bot.storage.access_list import CHANNEL, USER, AccessList
from bot.storage.audit import Audit
from bot.storage.db import Database
from bot.storage.optouts import OptOuts
from bot.usecases.access import Access

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccessChange:
    """The outcome of `/sms access allow|deny|open`: ``done`` False when nothing changed (``why`` says);
    ``state`` says what the list means now, for every reply."""

    kind: str
    entry_id: str
    done: bool
    why: str = ""  # "already", "absent", "environment"
    state: str = ""
    closed: bool = False  # a deny emptied the list: admins only, until `/sms access open`
    removed: int = 0  # an open: the entries added from Slack that it removed


class Compliance:
    def __init__(
        self,
        db: Database,
        optouts: OptOuts,
        stored: AccessList,
        access: Access,
        audit: Audit,
        clock: Callable[[], float],
    ) -> None:
        self.db, self.optouts, self.stored, self.access, self.audit = db, optouts, stored, access, audit
        self.clock = clock

    # -- the do-not-contact list -------------------------------------------------------------------------
    def opt_out(self, numbers: list[str], reason: str | None, by: str) -> tuple[list[str], list[str]]:
        now = self.clock()
        with self.db.transaction() as conn:
            added, already = self.optouts.add(conn, numbers, reason, by, now)
            self.audit.record(conn, by, "optout add", _args(numbers, reason), now)
        log.info("event=optout_added by=%s added=%d already=%d", by, len(added), len(already))
        return added, already

    def opt_in(self, numbers: list[str], by: str) -> tuple[list[str], list[str]]:
        now = self.clock()
        with self.db.transaction() as conn:
            removed, absent = self.optouts.remove(conn, numbers)
            self.audit.record(conn, by, "optout remove", _args(numbers), now)
        log.info("event=optout_removed by=%s removed=%d", by, len(removed))
        return removed, absent

    # -- the allow-lists ---------------------------------------------------------------------------------
    def allow(self, kind: str, entry_id: str, by: str) -> AccessChange:
        now = self.clock()
        with self.db.transaction() as conn:
            if entry_id in self._env(kind):
                return self._change(kind, entry_id, False, "environment")
            added = self.stored.allow(conn, kind, entry_id, by, now)
            if added:
                self.audit.record(conn, by, "access allow", _mention(kind, entry_id), now)
        log.info("event=access_allowed by=%s kind=%s id=%s added=%s", by, kind, entry_id, added)
        return self._change(kind, entry_id, added, "" if added else "already")

    def deny(self, kind: str, entry_id: str, by: str) -> AccessChange:
        """Take an entry off; the last one off leaves the list closed (admins only), never open to everyone."""
        if entry_id in self._env(kind):
            return self._change(kind, entry_id, False, "environment")
        now = self.clock()
        with self.db.transaction() as conn:
            removed = self.stored.deny(conn, kind, entry_id)
            closed = removed and not self._env(kind) and not self.stored.count(conn, kind)
            if removed:
                self.audit.record(conn, by, "access deny", _mention(kind, entry_id), now)
            if closed:
                self.stored.close(conn, kind, by, now)
        log.info("event=access_denied by=%s kind=%s id=%s removed=%s closed=%s", by, kind, entry_id, removed, closed)
        return self._change(kind, entry_id, removed, "" if removed else "absent", closed=closed)

    def open(self, kind: str, by: str) -> AccessChange:
        """`/sms access open users|channels`: everyone again; the entries added from Slack are removed. Refused
        (why "environment") while the environment lists entries, which only whoever runs smsbot can change."""
        if self._env(kind):
            return self._change(kind, "", False, "environment")
        now = self.clock()
        with self.db.transaction() as conn:
            removed = self.stored.open(conn, kind)
            self.audit.record(conn, by, "access open", "users" if kind == USER else "channels", now)
        log.info("event=access_opened by=%s kind=%s removed=%d", by, kind, removed)
        return self._change(kind, "", True, "", removed=removed)

    def _env(self, kind: str) -> frozenset[str]:
        return self.access.env_users if kind == USER else self.access.env_channels

    def _change(
        self, kind: str, entry_id: str, done: bool, why: str, *, closed: bool = False, removed: int = 0
    ) -> AccessChange:
        return AccessChange(kind, entry_id, done, why, self.access.state(kind), closed, removed)

    def access_entries(self) -> dict[str, list[tuple[str, str]]]:
        """Per kind ("user", "channel"): (id, where it comes from) — "environment" or "added by <@U…>"."""
        out: dict[str, list[tuple[str, str]]] = {USER: [], CHANNEL: []}
        for kind, env in ((USER, self.access.env_users), (CHANNEL, self.access.env_channels)):
            out[kind] += [
                (i, "SMSBOT_ALLOWED_USERS" if kind == USER else "SMSBOT_ALLOWED_CHANNELS") for i in sorted(env)
            ]
        for kind, entry_id, by, _ in self.stored.entries():
            if entry_id not in dict(out[kind]):
                out[kind].append((entry_id, f"added in Slack by <@{by}>" if by else "added in Slack"))
        return out

    def audit_action(self, by: str, action: str, args: dict) -> None:
        """An admin action made elsewhere (a template change, a CLI list): one audit row of its own."""
        with self.db.transaction() as conn:
            self.audit.record(conn, by, action.replace("_", " "), json.dumps(args, sort_keys=True), self.clock())

    def recorder(self, by: str, action: str, name: str) -> Callable[[sqlite3.Connection, list[str]], None]:
        """For a change made elsewhere (a group's): ``record(conn, numbers)`` in that change's transaction."""

        def record(conn: sqlite3.Connection, numbers: list[str]) -> None:
            self.audit.record(conn, by, action, f"{name} {','.join(numbers)}".strip(), self.clock())

        return record


def _mention(kind: str, entry_id: str) -> str:
    return f"<@{entry_id}>" if kind == USER else f"<#{entry_id}>"


def _args(numbers: list[str], reason: str | None = None) -> str:
    return ",".join(numbers) + (f" {reason}" if reason else "")
