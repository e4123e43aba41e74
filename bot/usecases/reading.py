"""Reading: the sends a viewer may see (history, one SMS by its tracking number), the balance and its
forecast, and one's spend today against the limits."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from bot.sms.gateway import SmsOfficeClient
from bot.storage.queue import SendQueue
from bot.storage.reports import ReportIntake
from bot.usecases.access import Viewer
from bot.usecases.ports import Posts
from bot.usecases.spend import SpendLimits, SpendToday
from bot.workers.balancewatch import BalanceWatch
from bot.workers.forecast import Forecast


class Reading:
    def __init__(
        self,
        *,
        queue: SendQueue,
        posts: Posts,
        reports: ReportIntake,
        watch: BalanceWatch,
        gateway: SmsOfficeClient,
        limits: SpendLimits,
        clock: Callable[[], float],
    ) -> None:
        self.queue, self.posts, self.reports, self.watch = queue, posts, reports, watch
        self.gateway, self.limits, self.clock = gateway, limits, clock

    def history(self, viewer: Viewer, limit: int) -> list[tuple]:
        """The last sends the viewer may see, newest first, each with its messages."""
        return [(batch, self.queue.messages_of(batch["id"])) for batch in self.posts.recent(viewer, limit)]

    def tracking(self, viewer: Viewer, tracking_id: str) -> tuple | None:
        """(batch, message, reports) of the SMS with this tracking number, or None: also when the
        viewer may not see its send, so that a tracking number tells nothing of sends not theirs."""
        row = self.queue.by_tracking_id(tracking_id)
        if row is None or not self.posts.visible(viewer, [row["batch_id"]]):
            return None
        return self.queue.batch(row["batch_id"]), row, self.reports.history(row["id"])

    def last_balance(self) -> tuple[Decimal, float] | None:
        return self.watch.last_balance()

    def usage(self, balance: Decimal | None) -> Forecast:
        return self.watch.usage(balance=balance)

    def spend_today(self, user_id: str) -> SpendToday:
        """The requester's credits counted today against their limit (and the bot's)."""
        return self.limits.today(user_id, self.clock())

    def balance(self) -> tuple[Decimal, Forecast]:
        """Ask the gateway now (slow: only after the ack). Raises GatewayError."""
        credits = self.gateway.balance()
        return credits, self.watch.usage(balance=credits)
