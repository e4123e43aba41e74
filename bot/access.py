"""Who may do what: SMSBOT_ALLOWED_USERS, SMSBOT_ALLOWED_CHANNELS, SMSBOT_ADMIN_USERS.

Empty lists mean everyone. Each check returns None when allowed, or the sentence
to show: what is not allowed and whom to ask. Knows nothing of Slack's API.
"""
from __future__ import annotations

from bot.config import Settings


class Access:
    def __init__(self, settings: Settings) -> None:
        self.users = settings.allowed_users
        self.channels = settings.allowed_channels
        self.admins = settings.admin_users

    def _ask(self) -> str:
        if self.admins:
            return "ask " + " or ".join(f"<@{a}>" for a in sorted(self.admins))
        return "ask whoever runs smsbot"

    def may_use(self, user_id: str) -> str | None:
        if self.users and user_id not in self.users:
            return (f"You are not allowed to use smsbot. To get access, {self._ask()} to add your Slack ID "
                    f"({user_id}) to SMSBOT_ALLOWED_USERS.")
        return None

    def may_send(self, user_id: str, channel_id: str) -> str | None:
        refusal = self.may_use(user_id)
        if refusal is None and self.channels and channel_id not in self.channels:
            where = ", ".join(f"<#{c}>" for c in sorted(self.channels))
            refusal = (f"SMS can't be sent from this channel. Use {where}, or {self._ask()} to add this "
                       f"channel ({channel_id}) to SMSBOT_ALLOWED_CHANNELS.")
        return refusal

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
