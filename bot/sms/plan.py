"""Send planning: recipients (numbers and groups) and text checked into a SendPlan. No I/O.

Shared by the slash command and the compose form, so both use the same rules and the same words.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from bot.sms import numbers as smsnumbers
from bot.sms import rules as smsrules
from bot.sms.errors import RecipientError
from bot.sms.names import GroupError, check_name
from bot.wording import plural


@dataclass(frozen=True)
class Skipped:
    """A group member left out of a send because it fails a rule now."""

    number: str
    group: str
    reason: str  # short, e.g. "a landline in South Africa, which cannot receive SMS"


@dataclass(frozen=True)
class SendPlan:
    recipients: list[str]
    text: str
    info: smsrules.TextInfo
    groups: dict[str, list[str]] = field(default_factory=dict)  # each group used → its members sent to
    skipped: list[Skipped] = field(default_factory=list)
    abroad: dict[str, str] = field(default_factory=dict)  # number → country, outside the home region
    voip: list[str] = field(default_factory=list)  # accepted, but may not receive SMS
    read_as: dict[str, str] = field(default_factory=dict)  # bare digits as typed → the number they became
    due: float | None = None  # a scheduled send: when it is due (epoch seconds); None: now
    template: str | None = None  # the saved template it was filled from, if any
    texts: list[str] | None = None  # a personalised list: each recipient's own text (``text``: the template)
    part_counts: list[int] | None = None  # with ``texts``: each one's parts (``info``: the longest text's)
    not_template: str | None = None  # the text starts with ``:name`` and no template has that name

    @property
    def credits(self) -> int:
        if self.part_counts is not None:
            return sum(self.part_counts)
        return self.info.parts * len(self.recipients)

    @property
    def parts_range(self) -> tuple[int, int]:
        if self.part_counts:
            return min(self.part_counts), max(self.part_counts)
        return self.info.parts, self.info.parts

    def notes(self) -> dict:
        """What the ack, the preview and the status message say besides the count (JSON-ready)."""
        return {
            "skipped": [[s.number, s.group, s.reason] for s in self.skipped],
            "abroad": self.abroad,
            "voip": self.voip,
            "read_as": self.read_as,
            "not_template": self.not_template,
            "group_sizes": {name: len(kept) for name, kept in self.groups.items()},
        }  # for `/sms scheduled`

    def to_json(self) -> str:
        return json.dumps(
            {
                "recipients": self.recipients,
                "text": self.text,
                "groups": self.groups,
                "due": self.due,
                "template": self.template,
                "texts": self.texts,
                **self.notes(),
            }
        )

    @classmethod
    def from_json(cls, data: str) -> SendPlan:
        d = json.loads(data)
        texts = d.get("texts")
        infos = None if texts is None else [smsrules.analyse_text(t) for t in texts]
        info = smsrules.analyse_text(d["text"]) if infos is None else max(infos, key=lambda i: (i.parts, i.units))
        return cls(
            d["recipients"],
            d["text"],
            info,
            d.get("groups", {}),
            [Skipped(*s) for s in d.get("skipped", [])],
            d.get("abroad", {}),
            d.get("voip", []),
            d.get("read_as", {}),
            d.get("due"),
            d.get("template"),
            texts,
            None if infos is None else [i.parts for i in infos],
            d.get("not_template"),
        )


class UsageError(ValueError):
    """The command cannot be carried out; str() tells the person how to fix it."""


class Groups(Protocol):
    def members(self, name: str) -> list[str] | None: ...
    def unknown(self, name: str) -> str: ...


@dataclass
class _Resolved:
    recipients: dict[str, smsnumbers.Recipient] = field(default_factory=dict)  # number → first reading
    used: dict[str, list[str]] = field(default_factory=dict)
    skipped: dict[str, Skipped] = field(default_factory=dict)
    read_as: dict[str, str] = field(default_factory=dict)
    typed: dict[str, str] = field(default_factory=dict)  # number typed directly → the entry

    def add(self, recipient: smsnumbers.Recipient) -> None:
        self.recipients.setdefault(recipient.number, recipient)
        if recipient.guessed:
            self.read_as[smsnumbers.clean_entry(recipient.entry)] = recipient.number


def _expand_group(name: str, entry: str, groups: Groups, allowed: frozenset[str], out: _Resolved) -> None:
    """A group's members, each checked now (the rules or SMSBOT_ALLOWED_COUNTRIES may have changed
    since it was added): one that fails is skipped, not a reason to refuse the send."""
    members = groups.members(name)
    if members is None:
        raise RecipientError(groups.unknown(name), entry)
    if not members:
        raise RecipientError(
            f"The group ‘{name}’ has no numbers yet: add some with `/sms group add {name} NUMBERS`.", entry
        )
    kept = []
    for member in members:
        try:
            recipient = smsnumbers.read_number("+" + member, None, allowed)
        except RecipientError as error:
            out.skipped.setdefault(member, Skipped(member, name, error.reason))
            continue
        out.add(recipient)
        kept.append(recipient.number)
    out.used[name] = kept


def member_problems(members: list[str], allowed: frozenset[str] = frozenset()) -> dict[str, str]:
    """The members a send would skip now, each with its short reason (for `/sms group show`)."""
    problems = {}
    for member in members:
        try:
            smsnumbers.read_number("+" + member, None, allowed)
        except RecipientError as error:
            problems[member] = error.reason
    return problems


Blocked = Callable[[Iterable[str]], set]  # numbers → those on the do-not-contact list (OptOuts.blocked)
OPTED_OUT = "opted out (on the do-not-contact list)"


def _leave_out_opted_out(out: _Resolved, stopped: set) -> None:
    """A number typed directly that opted out refuses the send, naming it; a group member is skipped."""
    typed = [n for n in out.typed if n in stopped]
    if typed:
        shown = ", ".join(typed[:10]) + (f" and {len(typed) - 10} more" if len(typed) > 10 else "")
        many = len(typed) > 1
        raise RecipientError(
            f"{shown} {'are' if many else 'is'} on the do-not-contact list (opted out), so nothing was sent: "
            f"take {'them' if many else 'it'} out of the send. Check an entry with `/sms optout check NUMBER`.",
            out.typed[typed[0]],
        )
    for number in [n for n in out.recipients if n in stopped]:
        del out.recipients[number]
        group = next((g for g, kept in out.used.items() if number in kept), "")
        out.skipped[number] = Skipped(number, group, OPTED_OUT)
    for name, kept in out.used.items():
        out.used[name] = [n for n in kept if n not in stopped]


def resolve_recipients(
    entries: list[str],
    default_region: str | None,
    groups: Groups | None = None,
    allowed: frozenset[str] = frozenset(),
    blocked: Blocked | None = None,
) -> _Resolved:
    """Numbers and group names → distinct recipients in first-seen order, the groups used, and the
    members skipped. A number typed directly that fails a rule refuses the whole send."""
    out = _Resolved()
    for entry in entries:
        name = _group_name(entry) if groups is not None else None
        if groups is None or name is None:  # without groups, name is None
            recipient = smsnumbers.read_number(entry, default_region, allowed)
            out.add(recipient)
            out.typed.setdefault(recipient.number, entry)
        else:
            _expand_group(name, entry, groups, allowed, out)
    for number in out.recipients:  # also typed directly, or in another group: it is sent to
        out.skipped.pop(number, None)
    if blocked is not None:
        _leave_out_opted_out(out, blocked(list(out.recipients)))
    if not out.recipients:
        raise RecipientError(_nobody_left(list(out.skipped.values())), entries[0])
    return out


def _nobody_left(skipped: list[Skipped]) -> str:
    why = "; ".join(f"{s.number} in ‘{s.group}’: {s.reason}" for s in skipped[:5])
    more = f"; and {len(skipped) - 5} more" if len(skipped) > 5 else ""
    return (
        f"Nobody to send to: every group member fails a rule ({why}{more}). Fix the group with "
        f"`/sms group remove {skipped[0].group} NUMBERS` and `/sms group add`, or type numbers that can get SMS."
    )


def _group_name(entry: str) -> str | None:
    """The group an entry names, or None when it should be read as a number."""
    if smsnumbers.looks_like_number(entry):
        return None
    try:
        return check_name(entry)
    except GroupError:
        return None  # neither: the number check explains what is wrong


_COMMAND = re.compile(r"([^ \t\r\n]+)[ \t\r\n]+(.*)", re.S)  # ASCII spaces: a pasted no-break space
# inside a number is a separator, not the end


def plan_send(
    args: str,
    default_region: str | None,
    groups: Groups | None = None,
    allowed: frozenset[str] = frozenset(),
    *,
    blocked: Blocked | None = None,
) -> SendPlan:
    """``<recipients> <message>`` → a checked SendPlan, or UsageError/SmsRuleError."""
    if not args.strip():
        raise UsageError("Say who to send to and what: `/sms send 27831234567 Your message`.")
    match = _COMMAND.match(args.lstrip(" \t\r\n"))
    if match is None:
        raise UsageError("The message is empty: write the text after the numbers, e.g. `/sms send 27831234567 Hello`.")
    spec, text = match.groups()
    try:
        return build_plan(spec, text, default_region, groups, allowed, blocked=blocked)
    except RecipientError as error:
        last = spec.rsplit(",", 1)[-1]
        raise (error.entry == last and _spaced_number(last, text, default_region)) or error from None


def _spaced_number(last: str, text: str, default_region: str | None) -> RecipientError | None:
    """'083 123 4567 Hello': the number was typed with spaces, which end the recipients here."""
    spaced = re.match(r"(?:[0-9()\-]+ )*", text + " ")
    assert spaced is not None  # the pattern matches the empty string
    groups = spaced.group(0).split()[:4]  # digit groups that follow
    for count in range(len(groups), 0, -1):
        whole = " ".join([last, *groups[:count]])
        try:
            number = smsnumbers.read_number(whole, default_region).number
        except RecipientError:
            continue
        return RecipientError(
            f"‘{whole}’ looks like one number typed with spaces, but in `/sms send` a space ends the numbers: "
            f"write it as {number}, or use the form (`/sms send` alone), where spaces inside a number are fine.",
            whole,
        )
    return None


def build_plan(
    spec: str,
    text: str,
    default_region: str | None,
    groups: Groups | None = None,
    allowed: frozenset[str] = frozenset(),
    split: Callable[[str], list[str]] = smsnumbers.split_recipients,
    *,
    blocked: Blocked | None = None,
) -> SendPlan:
    """Recipients and text checked by the same rules wherever they were typed.

    ``split`` reads the recipients field: commas (the slash command) or lines (the compose form).
    """
    resolved = resolve_recipients(split(spec), default_region, groups, allowed, blocked)
    info = smsrules.check_text(text)
    home = smsnumbers.home_region(default_region)
    chosen = list(resolved.recipients.values())
    return SendPlan(
        recipients=[r.number for r in chosen],
        text=text,
        info=info,
        groups=resolved.used,
        skipped=list(resolved.skipped.values()),
        abroad={r.number: smsnumbers.country_name(r.region) for r in chosen if r.region != home},
        voip=[r.number for r in chosen if r.voip],
        read_as=resolved.read_as,
    )


# -- when a send must be confirmed first -------------------------------------------------------
@dataclass(frozen=True)
class Hold:
    """Why a send waits for its requester's click: ``sentence`` says so in words; ``short`` is True
    when the last known balance does not cover it (the button then reads "Send anyway")."""

    sentence: str
    short: bool = False


def confirmation_reason(
    plan: SendPlan, confirm_above: int, last_balance: tuple[Decimal, float] | None, now: float
) -> Hold | None:
    """The one rule for holding a send: None when it may be queued at once.

    A send the last known balance cannot cover is held even below SMSBOT_CONFIRM_ABOVE; the gateway
    still decides, since the account may have been topped up since that check.
    """
    if last_balance is not None and last_balance[0] < plan.credits:
        amount, at = last_balance
        return Hold(
            f"The last balance check ({_age(now - at)}) showed {amount:,.2f} credits, less than the "
            f"{plan.credits} this send needs: unless the account was topped up since, some of these "
            "SMS will fail with “Not enough credits”.",
            short=True,
        )
    if plan.credits > confirm_above:
        return Hold(
            f"This send costs {plural(plan.credits, 'credit')}, more than SMSBOT_CONFIRM_ABOVE ({confirm_above})."
        )
    return None


def _age(seconds: float) -> str:
    minutes = max(0, int(seconds // 60))
    if minutes < 1:
        return "just now"
    if minutes < 120:
        return f"{plural(minutes, 'minute')} ago"
    hours = minutes // 60
    return f"{hours} hours ago" if hours < 48 else f"{hours // 24} days ago"
