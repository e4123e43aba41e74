"""The refusals of the SMS rules: each one's text tells the person what to change."""

from __future__ import annotations

EXAMPLE_NUMBER = "27831234567"


class SmsRuleError(ValueError):
    """A text or recipient the gateway would refuse; ``str(e)`` is the user-facing advice."""


class TextError(SmsRuleError):
    """The message text cannot be sent as it is."""


class RecipientError(SmsRuleError):
    """A recipient entry cannot be sent to; ``.entry`` is the raw entry at fault, ``.reason``
    a short why (e.g. "a landline in South Africa"), shown when a group member is skipped."""

    def __init__(self, message: str, entry: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.entry = entry
        self.reason = reason or message
