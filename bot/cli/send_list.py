"""``smsbot send-list FILE --text TEMPLATE --channel C… --as U… [--yes]``: a personalised list from a
script, under the rules of the compose form: the same gate as Slack (access as granted or removed from
Slack, the daily limits), rows that opted out left out, and an audit entry naming the operator's OS
user. It writes the send in one transaction into the database the running bot uses (SMSBOT_DATABASE_URL,
else SMSBOT_DB): the writers' lock (SQLite's file lock, PostgreSQL's advisory lock) makes that safe beside
it, and its sender and notifier find it on their next poll. On PostgreSQL, whichever replica leads sends it."""

from __future__ import annotations

import getpass
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bot.cli.database import open_migrated, refused_write, target_of
from bot.cli.environment import settings_or_exit
from bot.config.settings import Settings
from bot.slack.notices import SlackNotices
from bot.slack.posts import SlackPosts
from bot.slack.render import list_lines
from bot.sms.errors import SmsRuleError
from bot.sms.lists import MAX_BYTES, ListError, ListRead, read_list
from bot.sms.plan import SendPlan
from bot.storage.access_list import AccessList
from bot.storage.audit import Audit
from bot.storage.db import Database
from bot.storage.errors import DatabaseError
from bot.storage.optouts import OptOuts
from bot.storage.outbox import Outbox
from bot.storage.queue import SendQueue
from bot.usecases.access import Access
from bot.usecases.gate import Gate
from bot.usecases.sending import store_send
from bot.usecases.spend import SpendLimits
from bot.wording import plural

SAMPLES = 3
PROG = "smsbot send-list"


def send_list(args, settings: Settings, *, ask=input, out=print, clock=time.time) -> int:
    """0 queued, 1 refused or not confirmed (a sentence on stderr says why)."""
    problem = check_ids(args.channel, args.user)
    if problem is not None:
        return _refuse(problem)
    target = target_of(settings)
    db = open_migrated(target, PROG)
    try:
        gate = gate_for(db, settings)
        read = _checked(args, settings, gate, OptOuts(db), clock())
        if isinstance(read, str):
            return _refuse(read)
        for line in list_lines(read, markdown=False):
            out(line)
        for to, text in list(zip(read.plan.recipients, read.plan.texts or [], strict=True))[:SAMPLES]:
            out(f"To {to}: {text}")
        if not args.yes and not confirmed(ask, PROG):
            return _refuse("nothing was sent (answer yes to send, or pass --yes).")
        return _queue(db, gate, read, args, out, clock)
    except DatabaseError as error:
        return _refuse(f"nothing was sent: {refused_write(target, error)}")
    finally:
        db.close()


def gate_for(db: Database, settings: Settings) -> Gate:
    """The gate the running bot uses, with the access granted or removed from Slack."""
    access = Access(settings, AccessList(db))
    return Gate(
        access,
        SpendLimits(
            db,
            user_limit=settings.daily_limit_user,
            bot_limit=settings.daily_limit,
            timezone=settings.timezone,
            ask=access.ask,
        ),
    )


def _checked(args, settings: Settings, gate: Gate, optouts: OptOuts, now: float) -> ListRead | str:
    """The list read and checked, or the sentence refusing it (the gate's first: no file is read for a
    person who may not send)."""
    refusal = gate.access.may_send(args.user, args.channel)
    if refusal is not None:
        return refusal
    try:
        read = read_list(
            _read(Path(args.file)),
            args.text,
            settings.sms_default_region,
            settings.allowed_countries,
            settings.max_list_rows,
            blocked=optouts.blocked,
        )
    except (OSError, ListError, SmsRuleError) as error:
        return str(error)
    return gate.may_spend(args.user, args.channel, read.plan.credits, now) or read


def check_ids(channel: str, user: str) -> str | None:
    """None, or the sentence refusing a ``--channel`` or ``--as`` that is not a Slack ID."""
    if not re.fullmatch(r"[CGD][A-Z0-9]{2,}", channel):
        return f"--channel {channel!r} is not a channel ID: use the channel's ID (C…), shown in its details in Slack."
    if not re.fullmatch(r"[UW][A-Z0-9]{2,}", user):
        return f"--as {user!r} is not a Slack user ID: use the member ID (U…) from the person's profile."
    return None


def _refuse(sentence: str) -> int:
    print(f"{PROG}: {sentence}", file=sys.stderr)
    return 1


def _read(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(MAX_BYTES + 1)  # one byte more tells a file over the limit
    except FileNotFoundError:
        raise OSError(f"there is no file {str(path)!r}: check the path.") from None
    except IsADirectoryError:
        raise OSError(f"{str(path)!r} is a folder: give the CSV file.") from None


def confirmed(ask, prog: str) -> bool:
    """The operator typed yes; never asked (False) where no terminal could answer."""
    if not sys.stdin.isatty() and ask is input:
        print(f"{prog}: not on a terminal, so I can't ask: pass --yes to send.", file=sys.stderr)
        return False
    try:
        return ask("Send? Type yes to send: ").strip().lower() in ("y", "yes")
    except EOFError:
        return False


def _queue(db: Database, gate: Gate, read: ListRead, args, out, clock) -> int:
    plan = read.plan
    cost = f"{len(plan.recipients)} SMS, {plural(plan.credits, 'credit')}"
    queued = queue_sends(
        db,
        gate,
        [plan],
        args.user,
        args.channel,
        "send-list",
        lambda ids: f"#{ids[0]}: {cost}, <#{args.channel}>, file {Path(args.file).name}",
        clock(),
    )
    if isinstance(queued, str):
        return _refuse(queued)
    sender = "The running smsbot (the leader, on PostgreSQL)" if db.dialect == "postgresql" else "The running smsbot"
    out(f"Queued send #{queued[0]}: {cost}. {sender} sends it and posts its status in {args.channel}.")
    return 0


def queue_sends(
    db: Database,
    gate: Gate,
    plans: list[SendPlan],
    user: str,
    channel: str,
    action: str,
    what: Callable[[list[int]], str],
    now: float,
) -> list[int] | str:
    """Checked plans queued as sends for ``user`` in one transaction: the gate asked again for all
    their credits (exact, beside the running bot), each with its Slack status message in ``channel``,
    and one audit entry ``action`` saying ``what(batch ids)`` and the operator's OS user. The batch
    ids, or the gate's sentence (nothing queued)."""
    notices = SlackNotices(Outbox(db), SlackPosts(db))
    with db.transaction() as conn:
        refusal = gate.may_spend(user, channel, sum(plan.credits for plan in plans), now, conn)
        if refusal is not None:
            return refusal
        origin = {"user_id": user, "channel_id": channel}
        ids = [store_send(conn, SendQueue(db), notices, plan, origin, now) for plan in plans]
        Audit.record(conn, user, action, f"{what(ids)}, by OS user {operator()}", now)
    return ids


def operator() -> str:
    """The OS user running this command, for the audit log."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's bare uid)
        return f"uid {os.getuid()}"


def command(args) -> int:
    """``smsbot send-list``, with the settings of the environment and ``.env``."""
    return send_list(args, settings_or_exit())
