"""Names of groups and templates: the one rule for both (lowercase letters, digits, - and _, up to
32, not like a phone number), and the error that says how to fix one. No I/O."""

from __future__ import annotations

import re

from bot.sms.errors import SmsRuleError
from bot.sms.numbers import looks_like_number

_NAME_RE = re.compile(r"^[a-z0-9_-]{1,32}$")


class GroupError(SmsRuleError):
    """A group name or change that cannot be made; str() says how to fix it."""


_EXAMPLES = {"group": ("`oncall` or `site-a`", "`team-2`"), "template": ("`outage` or `site-down`", "`reminder-2`")}


def check_name(raw: str, kind: str = "group") -> str:
    """A valid name (lowercased) for a group or, with ``kind="template"``, a template (same rules),
    or GroupError that says which kind of name it can't be."""
    name = raw.strip().lower()
    examples, with_digit = _EXAMPLES[kind]
    if not _NAME_RE.match(name):
        raise GroupError(
            f"‘{raw[:40]}’ can't be a {kind} name: use up to 32 lowercase letters, digits, - and _ (e.g. {examples})."
        )
    if looks_like_number(name):
        raise GroupError(
            f"‘{raw[:40]}’ looks like a phone number, so it can't be a {kind} name: "
            f"include at least one letter (e.g. {with_digit})."
        )
    return name
