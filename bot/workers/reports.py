"""The leader's applier of delivery reports: the callback (on any replica) only takes a report in as
``pending``; this worker applies the pending ones in batches, oldest first (bot/storage/reports.py).

Woken after each report taken in (in this process, or by a NOTIFY from a standby's callback); it also
looks every second, for reports taken in while no process led.
"""

from __future__ import annotations

from bot.storage.reports import ReportIntake
from bot.workers.loop import Worker


class ReportApplier(Worker):
    name = "reports"
    idle_poll = 1.0

    def __init__(self, intake: ReportIntake, **kwargs) -> None:
        super().__init__(**kwargs)
        self.intake = intake

    def run_once(self, now: float | None = None) -> bool:
        """Apply one batch of pending reports; True if there were any (the loop then looks again at once)."""
        return self.intake.apply_pending(self.clock() if now is None else now) > 0
