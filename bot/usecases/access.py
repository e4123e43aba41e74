"""Who may do what: SMSBOT_ALLOWED_USERS, SMSBOT_ALLOWED_CHANNELS, SMSBOT_ADMIN_USERS, plus the
entries admins add from Slack (bot/storage/access_list.py).

The effective lists are the environment's entries plus the database's. An empty list means everyone,
unless an admin emptied it from Slack (`/sms access deny` of its last entry): then it means "admins
only" until an admin types `/sms access open users|channels`. Admins (only from the environment: the
root of trust) may always use smsbot and send. Each check returns None when allowed, or the sentence
to show: what is not allowed and whom to ask. Knows nothing of Slack's API.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.config.settings import Settings
from bot.storage.access_list import CHANNEL, USER, AccessList
from bot.wording import plural

NO_ADMINS = (
    "Only smsbot admins can do that, and none are set: whoever runs smsbot must list admins' Slack IDs in "
    "SMSBOT_ADMIN_USERS (e.g. SMSBOT_ADMIN_USERS=U012AB3CD) and restart it."
)


@dataclass(frozen=True)
class Viewer:
    """Who asks to see sends, and where: ``channel_id`` is None where there is no channel (the App Home
    tab). Which sends a viewer sees is decided in one place, ``SlackPosts.seen_by`` (bot/slack/posts.py)."""

    user_id: str
    channel_id: str | None
    admin: bool


class Access:
    def __init__(self, settings: Settings, stored: AccessList | None = None) -> None:
        self.env_users = settings.allowed_users
        self.env_channels = settings.allowed_channels
        self.admins = settings.admin_users
        self.stored = stored

    @property
    def users(self) -> frozenset[str]:
        return self.env_users | (self.stored.ids(USER) if self.stored else frozenset())

    @property
    def channels(self) -> frozenset[str]:
        return self.env_channels | (self.stored.ids(CHANNEL) if self.stored else frozenset())

    def _lists(self) -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
        """(users, channels, the kinds emptied from Slack), with what admins added from Slack: one read."""
        if self.stored is None:
            return self.env_users, self.env_channels, frozenset()
        stored, closed = self.stored.lists()
        return self.env_users | stored[USER], self.env_channels | stored[CHANNEL], closed

    def closed(self, kind: str, listed: frozenset[str] | None = None) -> bool:
        """The list (``listed``, if already read) is empty because an admin emptied it from Slack: nobody
        but admins is let in."""
        users, channels, emptied = self._lists()
        if listed is None:
            listed = users if kind == USER else channels
        return _emptied(kind, listed, emptied)

    def state(self, kind: str) -> str:
        """What the list means now, as a sentence for every access reply."""
        listed = self.users if kind == USER else self.channels
        if kind == USER:
            if listed:
                who = "the listed person" if len(listed) == 1 else f"the {len(listed)} listed people"
                return f"Only {who} and the admins may send now."
            if self.closed(kind, listed):
                return "Only admins may send now."
            return "Everyone in the workspace may send now."
        if listed:
            return f"SMS may be sent only from the {plural(len(listed), 'listed channel')} now (admins from anywhere)."
        return (
            "SMS may be sent from no channel now, except by admins."
            if self.closed(kind, listed)
            else "SMS may be sent from any channel now."
        )

    def ask(self) -> str:
        """Whom to ask, as a phrase: "ask <@U1> or <@U2>"."""
        if self.admins:
            return "ask " + " or ".join(f"<@{a}>" for a in sorted(self.admins))
        return "ask whoever runs smsbot"

    _ask = ask

    def _how(self, setting: str) -> str:
        return f"with `/sms access allow` or to {setting}" if self.admins else f"to {setting}"

    def may_use(self, user_id: str) -> str | None:
        if user_id in self.admins:
            return None
        users, _, closed = self._lists()
        return self._may_use(user_id, users, closed)

    def _may_use(self, user_id: str, users: frozenset[str], closed: frozenset[str]) -> str | None:
        if (users and user_id not in users) or _emptied(USER, users, closed):
            return (
                f"You are not allowed to use smsbot. To get access, {self._ask()} to add your Slack ID "
                f"({user_id}) {self._how('SMSBOT_ALLOWED_USERS')}."
            )
        return None

    def may_send(self, user_id: str, channel_id: str) -> str | None:
        if user_id in self.admins:
            return None
        users, channels, closed = self._lists()
        refusal = self._may_use(user_id, users, closed)
        if refusal is not None:
            return refusal
        if channels and channel_id not in channels:
            where = ", ".join(f"<#{c}>" for c in sorted(channels))
            return (
                f"SMS can't be sent from this channel. Use {where}, or {self._ask()} to add this "
                f"channel ({channel_id}) {self._how('SMSBOT_ALLOWED_CHANNELS')}."
            )
        if _emptied(CHANNEL, channels, closed):
            return (
                f"SMS can't be sent from any channel now: an admin emptied the list of channels. "
                f"A{self._ask()[1:]} to add this channel ({channel_id}) with `/sms access allow`."
            )
        return None

    def may_change_templates(self, user_id: str) -> str | None:
        if self.admins and user_id not in self.admins:
            return f"Only smsbot admins can change templates: {self._ask()}."
        return self.may_use(user_id)

    def may_change_groups(self, user_id: str) -> str | None:
        if self.admins:
            if user_id not in self.admins:
                return f"Only smsbot admins can change groups: {self._ask()}."
            return None
        return self.may_use(user_id)

    def may_admin(self, user_id: str, what: str) -> str | None:
        """Admin-only commands (access, opt-out changes, audit, export): refused with no admins set."""
        if not self.admins:
            return NO_ADMINS
        if user_id not in self.admins:
            return f"Only smsbot admins can {what}: {self._ask()}."
        return None

    def is_admin(self, user_id: str) -> bool:
        return user_id in self.admins

    def viewer(self, user_id: str, channel_id: str | None = None) -> Viewer:
        """The person asking to see sends (history, status, scheduled, App Home), where they ask."""
        return Viewer(user_id, channel_id or None, self.is_admin(user_id))


def _emptied(kind: str, listed: frozenset[str], emptied_kinds: frozenset[str]) -> bool:
    """The one rule for an empty list: emptied by an admin from Slack (and not opened since) means admins
    only; never set means everyone."""
    return not listed and kind in emptied_kinds
