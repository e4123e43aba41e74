"""All a Slack listener may use, built whole by the runtime: the settings, who may do what, groups and
opt-outs, each use-case family, usage, and the plumbing of an ack (``later`` for slow work after it,
``before_ack`` to bound database waits before it)."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass

from bot.config.settings import Settings
from bot.storage.groups import GroupStore
from bot.storage.optouts import OptOuts
from bot.storage.usage import UsageReport
from bot.usecases.access import Access
from bot.usecases.compliance import Compliance
from bot.usecases.reading import Reading
from bot.usecases.routine import Routine
from bot.usecases.sending import Sending


@dataclass(frozen=True)
class Services:
    settings: Settings
    access: Access
    groups: GroupStore
    optouts: OptOuts
    usage_report: UsageReport
    sending: Sending
    reading: Reading
    routine: Routine
    compliance: Compliance
    clock: Callable[[], float]
    later: Callable[..., None]  # slow work after a Slack ack (bot/slack/after_ack.py)
    before_ack: Callable[[], AbstractContextManager[None]]  # a write gives up rather than wait past Slack's 3 s
