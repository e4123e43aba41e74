"""Retention (SMSBOT_RETENTION_DAYS): the text of an SMS and the numbers of its recipients and reports
are erased in place once the send's final status is that old; counts, parts, credits, statuses, times
and each recipient's country stay, so usage, export and forecasts still work. Expired previews of
held sends (their plan holds numbers and text), Slack answers kept for replays past their 6 minutes
and old finished Slack outbox rows are purged too.
The do-not-contact list, the audit log and groups are never touched here.

``erase_some`` does one small transaction of work (``CHUNK`` sends), so the bot never pauses; the
daily pass of bot/workers/retention.py repeats it until nothing is left. Erased means gone from the
file: every connection has ``secure_delete`` on (bot/storage/db.py), so the old bytes are zeroed
rather than left in free space, and after each batch a TRUNCATE checkpoint empties the WAL that
still held them. A reader can block that checkpoint: it is then owed, tried again after the next
batch (or a minute later), logged once. With ``auto_vacuum=INCREMENTAL`` (``smsbot vacuum``) the
freed pages are given back to the disk a few at a time.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable

from bot.storage.db import Database
from bot.storage.errors import DatabaseError
from bot.storage.queue import Status
from bot.storage.replays import Replays

log = logging.getLogger(__name__)

DAY = 86400.0
CHUNK = 200  # sends erased per transaction
PREVIEW_GRACE_SECONDS = DAY  # an expired preview is kept a day (a late click still gets its answer)
OUTBOX_KEEP_SECONDS = 7 * DAY  # as the notifier's own purge
VACUUM_PAGES = 1000  # pages given back per transaction, with auto_vacuum=INCREMENTAL
CHECKPOINT_RETRY_SECONDS = 60.0  # a checkpoint blocked by a reader is tried again this soon
_LONG_DIGITS = re.compile(r"\+?\d[\d ]{5,}\d")


def erased_note(days: int) -> str:
    return f"erased after {days} days"


class Retention:
    def __init__(self, db: Database, days: int, *, purge_outbox: Callable[[float], int] | None = None) -> None:
        self.db, self.days, self.purge_outbox = db, days, purge_outbox
        self.wal_owed = False  # erased bytes may still be in the WAL: the last checkpoint was blocked
        # PostgreSQL: the tables erased from since their last VACUUM. An erased or deleted row stays in the
        # table's data as a dead tuple (its old text and number with it) until VACUUM clears it.
        self.vacuum_owed: set[str] = set()

    def erase_some(self, now: float, chunk: int | None = None) -> int:
        """Erase up to ``chunk`` sends whose final status is older than the retention; how many were."""
        cutoff, chunk = now - self.days * DAY, chunk or CHUNK
        with self.db.transaction() as conn:
            ids = [
                r[0]
                for r in conn.execute(
                    "SELECT b.id FROM batches b WHERE b.erased_at IS NULL AND NOT EXISTS (SELECT 1 FROM messages m "
                    f"  WHERE m.batch_id = b.id AND (m.status IN ('{Status.QUEUED}', '{Status.SENDING}') "
                    "  OR m.updated_at >= ? OR m.dlr_at >= ?)) "
                    "ORDER BY b.id LIMIT ?",
                    (cutoff, cutoff, chunk),
                )
            ]
            if not ids:
                return 0
            marks = ", ".join("?" * len(ids))
            conn.execute(
                f"UPDATE batches SET text = '', notes = NULL, erased_at = ? WHERE id IN ({marks})", (now, *ids)
            )
            for message_id, error in conn.execute(
                f"SELECT id, last_error FROM messages WHERE batch_id IN ({marks})", ids
            ).fetchall():
                conn.execute(
                    "UPDATE messages SET recipient = '', text = NULL, last_error = ? WHERE id = ?",
                    (_scrub(error), message_id),
                )
            conn.execute(
                "UPDATE reports SET recipient = NULL, raw = NULL WHERE message_id IN "
                f"(SELECT id FROM messages WHERE batch_id IN ({marks}))",
                ids,
            )
        self._erased_from("batches", "messages", "reports")
        self.empty_wal()
        return len(ids)

    def purge_rest(self, now: float) -> dict[str, int]:
        """Unmatched reports past the retention, expired previews, Slack answers kept for replays past their
        window, old finished outbox rows."""
        with self.db.transaction() as conn:
            reports = conn.execute(
                "UPDATE reports SET recipient = NULL, raw = NULL WHERE message_id IS NULL "
                "AND received_at < ? AND (recipient IS NOT NULL OR raw IS NOT NULL)",
                (now - self.days * DAY,),
            ).rowcount
            reports += conn.execute(  # a late report for a send already erased
                "UPDATE reports SET recipient = NULL, raw = NULL WHERE (recipient IS NOT NULL OR raw IS NOT NULL) "
                "AND message_id IN (SELECT m.id FROM messages m JOIN batches b ON b.id = m.batch_id "
                "WHERE b.erased_at IS NOT NULL)"
            ).rowcount
            previews = conn.execute(
                "DELETE FROM pending_sends WHERE expires_at < ?", (now - PREVIEW_GRACE_SECONDS,)
            ).rowcount
            answers = Replays.forget_expired(conn, now)
        outbox = self.purge_outbox(now - OUTBOX_KEEP_SECONDS) if self.purge_outbox else 0
        counts = {"reports": reports, "pending_sends": previews, "slack_requests": answers, "outbox": outbox}
        self._erased_from(*(table for table, n in counts.items() if n))
        if reports or previews or answers or outbox or self.wal_owed:
            self.empty_wal()
        return {"reports": reports, "previews": previews, "answers": answers, "outbox": outbox}

    def empty_wal(self) -> bool:
        """After erasing: checkpoint (TRUNCATE), so the erased bytes leave the WAL as well. True when
        done; when a reader blocks it (or it fails), it is owed and logged once, and never raises."""
        try:
            done = self.db.checkpoint()
            why = "a reader or writer kept it from finishing"
        except DatabaseError as error:
            done, why = False, str(error)
        if done and self.wal_owed:
            log.info('event=retention_checkpoint_done note="the WAL no longer holds erased data"')
        elif not done and not self.wal_owed:
            log.warning(
                "event=retention_checkpoint_blocked why=%s note=%s",
                json.dumps(why),
                json.dumps("erased data stays in the WAL file until a checkpoint succeeds; retried after each batch"),
            )
        self.wal_owed = not done
        return done

    def give_back_space(self) -> bool:
        """With auto_vacuum=INCREMENTAL, return some free pages to the disk; True if any were left to return.
        (PostgreSQL: nothing here; :meth:`vacuum_erased` ends its pass.)"""
        if self.db.dialect == "postgresql":
            return False
        conn = self.db.conn
        if (
            conn.execute("PRAGMA auto_vacuum").fetchone()[0] != 2
            or not conn.execute("PRAGMA freelist_count").fetchone()[0]
        ):
            return False
        with self.db.transaction() as conn:
            conn.execute(f"PRAGMA incremental_vacuum({VACUUM_PAGES})").fetchall()
        return True

    def run_all(self, now: float) -> dict[str, int]:
        """A whole pass (used by tests and the CLI); the worker spreads it over small transactions."""
        erased = 0
        while n := self.erase_some(now):
            erased += n
        done = {"sends": erased, **self.purge_rest(now)}
        for _ in range(100_000):  # bounded: each step returns up to VACUUM_PAGES pages
            if not self.give_back_space():
                break
        self.vacuum_erased()
        return done

    def _erased_from(self, *tables: str) -> None:
        if self.db.dialect == "postgresql":
            self.vacuum_owed.update(tables)

    def vacuum_erased(self) -> list[str]:
        """PostgreSQL, at the end of a pass: VACUUM the tables rows were erased from (outside any
        transaction), so the erased texts and numbers leave their dead tuples now rather than whenever
        autovacuum comes by. Logged; a failure is logged and owed to the next pass, never raised. The
        tables vacuumed (none on SQLite, whose erasing overwrites in place: secure_delete, checkpoint)."""
        if not self.vacuum_owed:
            return []
        tables = sorted(self.vacuum_owed)
        started = time.monotonic()
        try:
            self.db.vacuum(tables)  # type: ignore[attr-defined]
        except DatabaseError as error:
            log.warning(
                "event=retention_vacuum_failed tables=%s error=%s note=%s",
                ",".join(tables),
                json.dumps(str(error)),
                json.dumps("erased rows stay in dead tuples until a VACUUM; tried again after the next pass"),
            )
            return []
        self.vacuum_owed.difference_update(tables)
        log.info(
            "event=retention_vacuumed tables=%s seconds=%.3f note=%s",
            ",".join(tables),
            time.monotonic() - started,
            json.dumps("erased rows no longer in the tables' data"),
        )
        return tables


def _scrub(text: str | None) -> str | None:
    """An error text with any phone number in it cut to its last 3 digits."""
    return None if text is None else _LONG_DIGITS.sub(lambda m: "…" + re.sub(r"\D", "", m.group(0))[-3:], text)
