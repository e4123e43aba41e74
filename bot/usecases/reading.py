"""Reading: the sends a viewer may see (history, one SMS by its tracking number), the balance and its
forecast, and one's spend today against the limits."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from bot.sms.gateway import GatewayError, SmsOfficeClient
from bot.storage.queue import SendQueue
from bot.storage.reports import ReportIntake
from bot.usecases.access import Viewer
from bot.usecases.ports import Posts
from bot.usecases.spend import SpendLimits, SpendToday
from bot.workers.balancewatch import BalanceWatch
from bot.workers.forecast import Forecast


class NoStoredBalance(GatewayError):
    """A standby was asked for the balance before any check was recorded."""

    outcome = "not_sent"


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
        leading: Callable[[], bool] = lambda: True,
    ) -> None:
        self.queue, self.posts, self.reports, self.watch = queue, posts, reports, watch
        self.gateway, self.limits, self.clock = gateway, limits, clock
        self.leading = leading  # only the leader talks to the gateway (bot/workers/leadership.py)

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

    def balance(self) -> tuple[Decimal, Forecast, float | None]:
        """(credits, forecast, None) from the gateway now, on the leader (slow: only after the ack); on a
        standby, which never talks to the gateway, (credits, forecast, its age in seconds) from the last
        check the leader recorded. Raises GatewayError (NoStoredBalance: a standby with no check yet)."""
        if not self.leading():
            last = self.watch.last_balance()
            if last is None:
                raise NoStoredBalance(
                    "this smsbot is a standby, which does not ask SMS Office itself, and the leader has not "
                    "recorded a balance yet",
                    "Try again in a minute.",
                )
            credits, at = last
            return credits, self.watch.usage(balance=credits), max(0.0, self.clock() - at)
        credits = self.gateway.balance()
        return credits, self.watch.usage(balance=credits), None
