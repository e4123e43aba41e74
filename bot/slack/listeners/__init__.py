"""Slack listeners; each module exposes ``register(app, services)``.

``Services`` is all a listener may use: the settings, who may do what, groups, the use cases
and ``later`` for slow work after the ack. ``bot.usecases.UseCases`` provides it.
"""
from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Callable, ContextManager, Protocol

from bot.usecases.access import Access, Viewer
from bot.usecases.compliance import Compliance
from bot.config.settings import Settings
from bot.sms.plan import SendPlan
from bot.storage.confirmations import Decision
from bot.storage.groups import GroupStore
from bot.storage.optouts import OptOuts
from bot.storage.usage import UsageReport

if TYPE_CHECKING:
    from bot.usecases.routine import Routine


class Services(Protocol):
    settings: Settings
    access: Access
    groups: GroupStore
    routine: "Routine"   # templates, scheduled sends and their cancelling (bot/usecases/routine.py)
    optouts: OptOuts
    compliance: Compliance
    usage_report: UsageReport

    def submit(self, plan: SendPlan, origin: dict): ...          # -> Queued | NeedsConfirmation | Refused
    def confirm(self, pending_id: str, user_id: str, send: bool) -> Decision: ...
    def resend(self, message_id: int, user_id: str): ...         # -> Resent | Refused | None
    def history(self, viewer: Viewer, limit: int) -> list[tuple]: ...          # only sends the viewer may see
    def tracking(self, viewer: Viewer, tracking_id: str) -> tuple | None: ...  # None also when not theirs
    def last_balance(self) -> tuple[Decimal, float] | None: ...
    def usage(self, balance: Decimal | None): ...
    def spend_today(self, user_id: str): ...                      # -> bot.spend.SpendToday
    def balance(self) -> tuple: ...                                # slow: only after the ack
    def clock(self) -> float: ...
    def later(self, fn: Callable, *args) -> None: ...
    def before_ack(self) -> ContextManager[None]: ...              # bounds database waits before the ack
