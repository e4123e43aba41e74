"""A team's routine sends: saved templates, scheduled sends (list, cancel) and the checks a queued
send gets again when the sender reaches it. Personalised lists are in ``bot/lists.py``.

Like ``bot/usecases/sending.py``, nothing here parses Slack payloads or renders messages.
"""

from __future__ import annotations

import logging
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace

from bot.config.settings import Settings
from bot.sms import lists, schedule, templates
from bot.sms import rules as smsrules
from bot.sms.errors import RecipientError, TextError
from bot.sms.names import GroupError, check_name
from bot.sms.numbers import read_number
from bot.sms.plan import Blocked, SendPlan, plan_send
from bot.storage.confirmations import PendingSends
from bot.storage.db import Database
from bot.storage.groups import GroupStore
from bot.storage.queue import SendQueue
from bot.storage.templates import TemplateStore
from bot.usecases.access import Viewer
from bot.usecases.ports import Notices, Posts

log = logging.getLogger(__name__)

NEAR_LIMIT_PARTS = 3  # a template whose fixed text alone takes this many parts is near the 4-part limit

# audit(user_id, action, args): records a change (the compliance issue's audit log connects here).
Audit = Callable[[str, str, dict], None]


def log_audit(user_id: str, action: str, args: dict) -> None:
    log.info("event=audit user=%s action=%s args=%s", user_id, action, args)


def allowed_countries_recheck(settings: Settings) -> Callable[[sqlite3.Row], str | None]:
    """The sender's check of each recipient when it is reached (SMSBOT_ALLOWED_COUNTRIES may have
    changed since it was queued). The do-not-contact list is checked beside it (``Sender.opted_out``);
    daily limits were checked, and counted, for the day the send goes out when it was queued."""

    def recheck(message: sqlite3.Row) -> str | None:
        if not settings.allowed_countries:
            return None
        try:
            read_number("+" + message["recipient"], None, settings.allowed_countries)
        except RecipientError as error:
            return f"not sent: {error.reason}"
        return None

    return recheck


@dataclass(frozen=True)
class Cancelled:
    """What ``/sms cancel`` did: verdict "ok", "unknown", "not_yours" or "nothing_waiting"."""

    verdict: str
    cancelled: int = 0
    went: int = 0
    requester: str | None = None


_TEMPLATE_USE = re.compile(r":([A-Za-z0-9_-]+)(?=\s|$)(.*)", re.S)
_RECIPIENTS_THEN_REST = re.compile(r"\s*([^ \t\r\n]+)[ \t\r\n]+(.*)", re.S)


class Routine:
    def __init__(
        self,
        *,
        settings: Settings,
        db: Database,
        queue: SendQueue,
        templates: TemplateStore,
        groups: GroupStore,
        pending: PendingSends,
        notices: Notices,
        posts: Posts,
        clock: Callable[[], float],
        audit: Audit = log_audit,
        blocked: Blocked | None = None,
    ) -> None:
        self.settings, self.db, self.queue, self.templates = settings, db, queue, templates
        self.blocked = blocked  # the do-not-contact list's check (OptOuts.blocked)
        self.pending = pending
        self._groups = groups
        self.notices, self.posts, self.clock, self.audit = notices, posts, clock, audit

    # -- templates -----------------------------------------------------------------------------
    def add_template(self, name: str, text: str, user_id: str) -> bool:
        """Save a template (True when new); GroupError for the name, TextError for the text."""
        name = check_name(name, "template")
        templates.parse(text)  # refuses a stray brace or a bad placeholder, naming its position
        if not text.strip():
            raise TextError(
                f"The template is empty: write its text after the name, e.g. "
                f"`/sms template add {name} Outage at {{site}}: we are on it.`"
            )
        fixed = templates.fixed_text(text)
        if fixed.strip():
            smsrules.check_text(fixed)  # already over 4 parts without any value
        created = self.templates.save(name, text, user_id, self.clock())
        self.audit(user_id, "template_add" if created else "template_replace", {"name": name})
        return created

    def remove_template(self, name: str, user_id: str) -> bool:
        name = check_name(name, "template")
        removed = self.templates.remove(name)
        if removed:
            self.audit(user_id, "template_remove", {"name": name})
        return removed

    def template(self, name: str) -> sqlite3.Row:
        """The template called ``name``, or GroupError that says which exist."""
        name = check_name(name, "template")
        row = self.templates.get(name)
        if row is None:
            raise GroupError(self.templates.unknown(name))
        return row

    @staticmethod
    def fixed_info(text: str) -> tuple[smsrules.TextInfo, bool]:
        """The parts of a template's fixed text, and whether that alone is near the limit."""
        info = smsrules.analyse_text(templates.fixed_text(text) or " ")
        return info, info.parts >= NEAR_LIMIT_PARTS

    # -- sending ---------------------------------------------------------------------------------
    def plan(self, args: str) -> SendPlan:
        """``[--at WHEN] RECIPIENTS [--at WHEN] (TEXT | :NAME key=value…)`` → a checked plan. Raises
        UsageError, SmsRuleError or ScheduleError, each with the sentence to show."""
        when, args = schedule.take_at(args)
        due = None if when is None else schedule.due_time(when, self.clock(), self.settings.timezone)
        template = not_template = None
        found = _RECIPIENTS_THEN_REST.match(args)
        use = _TEMPLATE_USE.fullmatch(found.group(2).strip()) if found else None
        if found and use:
            name, values = use.groups()
            row = self._called(name, values)
            if row is None:
                not_template = name  # ``:D see you at 5``: sent as typed, and the ack says so
            else:
                template = row["name"]
                args = f"{found.group(1)} {templates.fill(row['text'], templates.read_values(values))}"
        plan = plan_send(
            args, self.settings.sms_default_region, self._groups, self.settings.allowed_countries, blocked=self.blocked
        )
        return _with(plan, due=due, template=template, not_template=not_template)

    def _called(self, name: str, values: str) -> sqlite3.Row | None:
        """The saved template ``:name`` names, or None: then the text is words (``:D see you at 5``) and goes
        as typed. Only ``key=value`` pairs after it make it a template call for sure: GroupError naming the
        closest templates, rather than an SMS that reads ``:outage site=A``."""
        try:
            row = self.templates.get(check_name(name, "template"))
        except GroupError:
            row = None  # ``:30 minutes late``: no template could have that name
        if row is None and values.strip() and _only_values(values):
            raise GroupError(self.templates.unknown(name.lower()))
        return row

    def timed(self, plan: SendPlan, at: float | None) -> SendPlan:
        """The form's date and time picker: the plan due then (bounds as for ``--at``)."""
        if at is None:
            return plan
        now = self.clock()
        if at <= now:
            raise schedule.ScheduleError(
                "The chosen time is in the past: pick a time still to come, or clear it to send now."
            )
        if at - now > schedule.MAX_AHEAD_DAYS * 86400:
            raise schedule.ScheduleError(
                f"The chosen time is more than {schedule.MAX_AHEAD_DAYS} days ahead: pick an earlier one."
            )
        return _with(plan, due=at)

    # -- personalised lists ------------------------------------------------------------------------
    def read_list(self, data: bytes, text: str) -> lists.ListRead:
        """A CSV list and the message with its placeholders, checked row by row (ListError, TextError); rows
        that opted out are left out."""
        s = self.settings
        return lists.read_list(
            data, text, s.sms_default_region, s.allowed_countries, s.max_list_rows, blocked=self.blocked
        )

    def hold(self, plan: SendPlan, origin: dict) -> str:
        """Keep a checked list until its requester presses Send in the preview; nothing is queued yet."""
        return self.pending.create(plan, origin, self.clock())

    # -- scheduled sends ------------------------------------------------------------------------------
    def scheduled(self, viewer: Viewer) -> list[sqlite3.Row]:
        """The scheduled sends still waiting that the viewer may see (bot/slack/posts.py decides which)."""
        rows = self.queue.scheduled()
        seen = self.posts.visible(viewer, [row["id"] for row in rows])
        return [row for row in rows if row["id"] in seen]

    def cancel(self, batch_id: int, viewer: Viewer) -> Cancelled:
        """Cancel what of a send is still waiting: by its requester or an admin, whatever their access now
        (nobody is stopped from stopping spend). A send the viewer may not see is answered as unknown."""
        user_id = viewer.user_id
        with self.db.transaction() as conn:
            batch = self.queue.batch(batch_id, conn)
            if batch is None or not self.posts.visible(viewer, [batch_id]):
                return Cancelled("unknown")
            if batch["user_id"] != user_id and user_id not in self.settings.admin_users:
                return Cancelled("not_yours", requester=batch["user_id"])
            cancelled, went = self.queue.cancel(conn, batch_id, self.clock())
            if cancelled:
                self.notices.changed(conn, batch_id, self.clock())
        if not cancelled:
            return Cancelled("nothing_waiting", went=went, requester=batch["user_id"])
        log.info("event=send_cancelled batch=%d by=%s cancelled=%d went=%d", batch_id, user_id, cancelled, went)
        return Cancelled("ok", cancelled, went, batch["user_id"])


def _only_values(text: str) -> bool:
    try:
        templates.read_values(text)
    except TextError:
        return False
    return True


def _with(plan: SendPlan, **changes) -> SendPlan:
    return replace(plan, **{k: v for k, v in changes.items() if v is not None})
