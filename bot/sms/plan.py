"""Send planning: recipients (numbers and groups) and text checked into a SendPlan. No I/O.

Shared by the slash command and the compose form, so both use the same rules and the same words.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Protocol

from bot.sms import rules as smsrules
from bot.storage.groups import GroupError, check_name

@dataclass(frozen=True)
class SendPlan:
    recipients: list[str]
    text: str
    info: smsrules.TextInfo
    groups: dict[str, list[str]] = field(default_factory=dict)  # each group used → its members

    @property
    def credits(self) -> int:
        return self.info.parts * len(self.recipients)

    def to_json(self) -> str:
        return json.dumps({"recipients": self.recipients, "text": self.text, "groups": self.groups})

    @classmethod
    def from_json(cls, data: str) -> "SendPlan":
        d = json.loads(data)
        return cls(d["recipients"], d["text"], smsrules.analyse_text(d["text"]), d.get("groups", {}))


class UsageError(ValueError):
    """The command cannot be carried out; str() tells the person how to fix it."""


class Groups(Protocol):
    def members(self, name: str) -> list[str] | None: ...
    def unknown(self, name: str) -> str: ...


def resolve_recipients(spec: str, default_region: str | None,
                       groups: Groups | None = None) -> tuple[list[str], dict[str, list[str]]]:
    """Numbers and group names → distinct numbers in first-seen order, and the groups used."""
    numbers: list[str] = []
    used: dict[str, list[str]] = {}
    for entry in smsrules.split_recipients(spec):
        name = _group_name(entry) if groups is not None else None
        if name is None:
            numbers.append(smsrules.normalise_number(entry, default_region))
            continue
        members = groups.members(name)
        if members is None:
            raise smsrules.RecipientError(groups.unknown(name), entry)
        if not members:
            raise smsrules.RecipientError(f"The group ‘{name}’ has no numbers yet: add some with "
                                          f"`/sms group add {name} NUMBERS`.", entry)
        used[name] = members
        numbers.extend(members)
    return list(dict.fromkeys(numbers)), used


def _group_name(entry: str) -> str | None:
    """The group an entry names, or None when it should be read as a number."""
    if smsrules.looks_like_number(entry):
        return None
    try:
        return check_name(entry)
    except GroupError:
        return None  # neither: the number check explains what is wrong


def plan_send(args: str, default_region: str | None, groups: Groups | None = None) -> SendPlan:
    """``<recipients> <message>`` → a checked SendPlan, or UsageError/SmsRuleError."""
    if not args.strip():
        raise UsageError("Say who to send to and what: `/sms send 27831234567 Your message`.")
    match = re.match(r"(\S+)\s+(.*)", args, re.S)
    if match is None:
        raise UsageError("The message is empty: write the text after the numbers, "
                         "e.g. `/sms send 27831234567 Hello`.")
    return build_plan(match.group(1), match.group(2), default_region, groups)


def build_plan(spec: str, text: str, default_region: str | None, groups: Groups | None = None) -> SendPlan:
    """Recipients and text checked by the same rules wherever they were typed."""
    recipients, used = resolve_recipients(spec, default_region, groups)
    info = smsrules.check_text(text)
    return SendPlan(recipients=recipients, text=text, info=info, groups=used)
