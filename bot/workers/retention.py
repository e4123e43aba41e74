"""The retention thread: the daily pass of bot/storage/retention.py, one small transaction per
``run_once``, so the bot never pauses; an owed checkpoint is tried again between passes. On PostgreSQL
the pass ends with a VACUUM of the tables it erased from."""

from __future__ import annotations

import logging

from bot.storage.retention import CHECKPOINT_RETRY_SECONDS, DAY, Retention
from bot.workers.loop import Worker

log = logging.getLogger(__name__)


class RetentionWorker(Worker):
    """The daily pass, one small transaction per ``run_once``, on a thread of its own."""

    name = "retention"
    idle_poll = 60.0

    def __init__(self, retention: Retention, **kwargs) -> None:
        super().__init__(**kwargs)
        self.retention = retention
        self.next_pass_at = 0.0  # due at start, then daily
        self._erased = 0
        self._in_pass = False
        self.checkpoint_at = 0.0  # when an owed checkpoint is tried again between passes

    def wait_time(self, now: float) -> float:
        if self._in_pass:
            return 0.0
        due = min(self.next_pass_at, self.checkpoint_at) if self.retention.wal_owed else self.next_pass_at
        return max(0.0, due - now)

    def run_once(self, now: float | None = None) -> bool:
        now = self.clock() if now is None else now
        if not self._in_pass and now < self.next_pass_at:
            if self.retention.wal_owed and now >= self.checkpoint_at:
                if not self.retention.empty_wal():
                    self.checkpoint_at = now + CHECKPOINT_RETRY_SECONDS
                return True
            return False
        self._in_pass = True
        erased = self.retention.erase_some(now)
        if erased:
            self._erased += erased
            return True
        if self.retention.give_back_space():
            return True
        rest = self.retention.purge_rest(now)
        self.retention.vacuum_erased()  # PostgreSQL: erased rows leave their dead tuples (logged)
        log.info(
            "event=retention_pass days=%d sends_erased=%d reports=%d previews=%d answers=%d outbox=%d",
            self.retention.days,
            self._erased,
            rest["reports"],
            rest["previews"],
            rest["answers"],
            rest["outbox"],
        )
        self._in_pass, self._erased, self.next_pass_at = False, 0, now + DAY
        self.checkpoint_at = now + CHECKPOINT_RETRY_SECONDS
        return True
