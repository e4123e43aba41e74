"""The leader's settler (PostgreSQL): the sender records a sent SMS and claims the next one in one statement
before its next gateway call; this thread then does what follows from the sent SMS (delivery reports that came
first, the Slack notice, the counters) while that call is on the wire (``Sender.settle``).

Woken by the sender after each such statement; it also looks every second, for SMS a leader that stopped or died
left unsettled (the next leader's recovery settles them too). On SQLite nothing is left to settle.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.workers.loop import Worker


class Settler(Worker):
    name = "settler"
    idle_poll = 1.0

    def __init__(self, settle: Callable[[], int], **kwargs) -> None:
        super().__init__(**kwargs)
        self.settle = settle

    def run_once(self, now: float | None = None) -> bool:
        """Settle one batch; True if there was any (the loop then looks again at once). No clock: settling
        writes what the sent SMS already hold."""
        return self.settle() > 0
