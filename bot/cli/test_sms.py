"""``smsbot check --test-sms NUMBER --as U… --channel C… [--yes] [--wait SECONDS]``: the first real SMS,
checked end to end.

No test environment has a real SMS Office account, so three things can only be seen on a real one:
whether the gateway's web server takes our longest request (a 4-part Unicode text URL-encodes to over
2 kB, past IIS's default 2,048-byte query string), which character set it decodes the text with, and
whether its delivery reports reach this bot. So this sends two SMS to NUMBER:

1. a 4-part GSM-7 text where ``€``, ``[`` and ``~`` each fall on a part boundary: an escape pair
   (2 septets) never straddles two parts, so each moves whole to the next part, and ``£ é ñ ü @ …``
   check the decoding of GSM-7's own non-ASCII letters;
2. the longest Unicode text the gateway takes (4 parts, 268 UCS-2 units), with an emoji, Afrikaans
   letters (ŉ ê ë ô û), isiZulu words and circled numbers (3 UTF-8 bytes each, for the long request).

They are queued through the running ``smsbot run`` exactly as ``smsbot send-list`` queues
(bot/cli/send_list.py: the same gate, opt-outs, allowed countries, limits, and an audit entry naming
the OS user), never over a second gateway connection: the account allows one, and the running bot
owns it. Without a running bot it sends nothing and says so. It then follows the rows in the
database until their delivery reports come in, or the wait ends.

On SQLite the running bot is the one holding the file's lock (bot/storage/lock.py). On PostgreSQL
(SMSBOT_DATABASE_URL) several replicas share the database by design and there is no file to ask: the
SMS are queued into it and whichever replica leads sends them; if none picks them up in time, they are
cancelled and nothing is sent.
"""

from __future__ import annotations

import re
import sqlite3
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from bot.cli.database import open_migrated, refused_write, target_of
from bot.cli.environment import EXIT_CONFIG, EXIT_FAILED, EXIT_OK, settings_or_exit
from bot.cli.send_list import check_ids, confirmed, gate_for, queue_sends
from bot.config.settings import Settings
from bot.slack.notices import SlackNotices
from bot.slack.posts import SlackPosts
from bot.sms import dlr
from bot.sms.errors import SmsRuleError
from bot.sms.plan import build_plan
from bot.sms.rules import GSM7, MAX_PARTS, UCS2, TextInfo, analyse_text
from bot.storage.db import Database
from bot.storage.errors import DatabaseError
from bot.storage.lock import is_held
from bot.storage.optouts import OptOuts
from bot.storage.outbox import Outbox
from bot.storage.queue import SendQueue, Status
from bot.wording import plural

PROG = "smsbot check --test-sms"
REPORT_WAIT_SECONDS = 120.0  # how long to wait for the delivery reports
CLAIM_SECONDS = 20.0  # a running bot's sender looks for due SMS every second
POLL_SECONDS = 0.2
LONG_QUERY_BYTES = 2048  # IIS's default maxQueryString

# -- the two texts ------------------------------------------------------------------------------
_WORDS = ["The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog."]
_GSM_BOUNDARIES = (  # (escape character, what follows it), one per part boundary
    ("€", " euro ends part 1. Part 2: "),
    ("[", "] bracket ends part 2. Part 3: "),
    ("~", " tilde ends part 3. Part 4: £ é ñ ü à ß Ø @ $ ¥ § ¿ ¡ Ä Ö Ü. "),
)
_GSM_START = "smsbot test 1 of 2, GSM-7 in 4 parts: € [ ~ each end a part and must arrive whole. Part 1: "
_GSM_END = " End of test 1."
_UNICODE_START = "📱 Môre! Dis ŉ toets: ê ë ô û. Sawubona! Unjani? "
_CIRCLED = "".join(chr(0x2460 + i) for i in range(20))  # ① … ⑳: easy to compare, 3 UTF-8 bytes each


def _padded(text: str, units: int) -> str:
    """``text`` and words of a pangram (then dots) up to exactly ``units`` GSM-7 septets."""
    words = iter(_WORDS * 20)
    while (room := units - analyse_text(text).units) > 0:
        word = next(words) + " "
        text += word if len(word) <= room else "." * room
    return text


def gsm_text() -> str:
    """4 parts of GSM-7 where each boundary falls inside an escape pair, so the pair moves whole to the
    next part (TS 23.038: a part then ends one septet short); the last part filled to the end."""
    text = _GSM_START
    for boundary, (escaped, after) in enumerate(_GSM_BOUNDARIES, 1):
        # one septet left in this part: the pair cannot fit, so the part ends here
        text = _padded(text, boundary * (GSM7.per_part - 1)) + escaped + after
    return _padded(text, (MAX_PARTS - 1) * (GSM7.per_part - 1) + GSM7.per_part - len(_GSM_END)) + _GSM_END


def unicode_text() -> str:
    """The longest Unicode text the gateway takes: 4 parts of 67 UCS-2 units, 268 in all."""
    text = _UNICODE_START
    filler = (_CIRCLED * 20)[: UCS2.per_part * MAX_PARTS - analyse_text(text).units]  # 1 unit each
    return text + filler


@dataclass(frozen=True)
class TestText:
    number: int  # 1 or 2
    text: str
    info: TextInfo
    what: str  # what it tests, for the operator

    def describe(self, query_bytes: int) -> str:
        unit = "septets" if self.info.encoding == GSM7.name else "UCS-2 units"
        return (
            f"SMS {self.number} of 2: {self.info.encoding}, {self.info.units} {unit} in "
            f"{plural(self.info.parts, 'part')} ({plural(self.info.parts, 'credit')}); {self.what}; "
            f"the request's query string is {query_bytes:,} bytes. Exactly this text:"
        )


def test_texts() -> list[TestText]:
    gsm, unicode = gsm_text(), unicode_text()
    return [
        TestText(
            1,
            gsm,
            analyse_text(gsm),
            "€ [ ~ each fall where a part ends (an escape pair is never split, so each starts the next part), "
            "and £ é ñ ü @ are GSM-7's own letters",
        ),
        TestText(
            2,
            unicode,
            analyse_text(unicode),
            "the longest text the gateway takes, with an emoji, Afrikaans ŉ ê ë ô û and isiZulu",
        ),
    ]


def query_bytes(settings: Settings, number: str, text: str) -> int:
    """The length of the sendsms query string as the gateway receives it (credentials included; only
    the length is shown)."""
    return len(
        urlencode(
            {
                "username": settings.smsoffice_username,
                "password": settings.smsoffice_password,
                "from": settings.sms_sender_id,
                "to": number,
                "message": text,
            }
        )
    )


# -- is a bot running? ---------------------------------------------------------------------------
def _leader_now(db, settings: Settings, now: float) -> bool:
    """On PostgreSQL: whether a replica leads now (holds the live lease of this SMS Office account)."""
    from bot.storage.leases import Leases
    from bot.workers.leadership import lease_name

    lease = Leases(db).current(lease_name(settings.smsoffice_username))
    return lease is not None and lease.live(now)


def _needs_bot(where: str) -> str:
    return (
        f"no `smsbot run` is running on the database {where}: the test SMS go through it, since it owns the "
        "gateway's one connection (the account allows one). Start `smsbot run` with the same settings, "
        "then run this again."
    )


# -- the command ----------------------------------------------------------------------------------
def test_sms(
    args,
    settings: Settings,
    *,
    ask=input,
    out=print,
    clock=time.time,
    monotonic=time.monotonic,
    sleep=time.sleep,
) -> int:
    """0 when both SMS were delivered; 1 when refused, not confirmed, failed or unreported in time."""
    if not args.user or not args.channel:
        return _refuse(
            "--test-sms needs --as U… (the Slack user it is sent for, held to their limits) and --channel C… "
            "(where its status is posted).",
            EXIT_CONFIG,
        )
    problem = check_ids(args.channel, args.user)
    if problem is not None:
        return _refuse(problem)
    target = target_of(settings)
    path = target.shown
    if not target.postgres and (not Path(path).exists() or is_held(settings.db_path) is False):
        return _refuse(_needs_bot(path))  # the lock sits beside SMSBOT_DB as given; PostgreSQL has none to ask
    db = open_migrated(target, PROG)
    try:
        if target.postgres and not _leader_now(db, settings, clock()):
            return _refuse(_needs_bot(path) + " (no replica holds the sender's lease now)")
        return _run(db, args, settings, path, ask, out, clock, monotonic, sleep)
    except DatabaseError as error:
        return _refuse(refused_write(target, error))
    finally:
        db.close()


def _run(db: Database, args, settings: Settings, path: str, ask, out, clock, monotonic, sleep) -> int:
    gate = gate_for(db, settings)
    refusal = gate.access.may_send(args.user, args.channel)
    if refusal is not None:
        return _refuse(refusal)
    texts = test_texts()
    try:
        plans = [
            build_plan(
                args.test_sms,
                t.text,
                settings.sms_default_region,
                allowed=settings.allowed_countries,
                blocked=OptOuts(db).blocked,
            )
            for t in texts
        ]
    except SmsRuleError as error:
        return _refuse(str(error))
    credits = sum(plan.credits for plan in plans)
    refusal = gate.may_spend(args.user, args.channel, credits, clock())
    if refusal is not None:
        return _refuse(refusal)
    number = plans[0].recipients[0]
    out(f"Two test SMS to {number}, {plural(credits, 'credit')}, for <@{args.user}>, status in {args.channel}:")
    for t in texts:
        out("")
        out(t.describe(query_bytes(settings, number, t.text)))
        out(t.text)
    out("")
    if not args.yes and not confirmed(ask, PROG):
        return _refuse("nothing was sent (answer yes to send, or pass --yes).")
    queued = queue_sends(
        db,
        gate,
        plans,
        args.user,
        args.channel,
        "test-sms",
        lambda ids: f"#{ids[0]} and #{ids[1]}: 2 test SMS, {plural(credits, 'credit')}, <#{args.channel}>",
        clock(),
    )
    if isinstance(queued, str):
        return _refuse(queued)
    out(
        f"Queued as sends #{queued[0]} and #{queued[1]} through the running smsbot"
        f"{' (whichever replica leads sends them)' if db.dialect == 'postgresql' else ''}; waiting up to "
        f"{_duration(args.wait)} for their delivery reports (Ctrl-C stops waiting, not the SMS)."
    )
    watch = _Watch(db, dict(zip(queued, texts, strict=True)), settings, number, out)
    try:
        return watch.follow(args.wait, path, clock, monotonic, sleep)
    except KeyboardInterrupt:
        out("Stopped waiting. The SMS go on as any send does: their status is in Slack.")
        return EXIT_FAILED


class _Watch:
    """The test SMS's rows, followed in the database: each change and delivery report printed once."""

    def __init__(self, db: Database, batches: dict[int, TestText], settings: Settings, number: str, out) -> None:
        self.db, self.batches, self.settings, self.number, self.out = db, batches, settings, number, out
        self.seen_reports: set[int] = set()
        self.shown: dict[int, tuple] = {}

    def rows(self) -> list[sqlite3.Row]:
        marks = ", ".join("?" * len(self.batches))
        return self.db.conn.execute(
            f"SELECT * FROM messages WHERE batch_id IN ({marks}) ORDER BY batch_id", tuple(self.batches)
        ).fetchall()

    def follow(self, wait: float, path: str, clock, monotonic, sleep) -> int:
        started = monotonic()
        claimed = False
        while True:
            rows = self.rows()
            self._print_changes(rows)
            claimed = claimed or any(_claimed(row) for row in rows)
            if all(_settled(row) for row in rows):
                break
            waited = monotonic() - started
            if not claimed and waited >= min(CLAIM_SECONDS, wait):
                return self._unclaimed(path, waited, clock)
            if waited >= wait:
                break
            sleep(POLL_SECONDS)
        return self._verdict(self.rows(), wait, clock)

    def _print_changes(self, rows: list[sqlite3.Row]) -> None:
        ids = [row["id"] for row in rows]
        sms = {row["id"]: self.batches[row["batch_id"]].number for row in rows}
        for row in rows:
            state = (row["status"], row["tracking_id"], row["last_error"])
            if self.shown.get(row["id"]) == state:
                continue
            self.shown[row["id"]] = state
            line = _state_line(row)
            if line:
                self.out(f"SMS {sms[row['id']]}: {line}")
        marks = ", ".join("?" * len(ids))
        for report in self.db.conn.execute(
            f"SELECT id, message_id, status_id, status_message FROM reports WHERE message_id IN ({marks}) ORDER BY id",
            ids,
        ):
            if report["id"] in self.seen_reports:
                continue
            self.seen_reports.add(report["id"])
            self.out(
                f"SMS {sms[report['message_id']]}: delivery report {report['status_id']} "
                f"{report['status_message'] or dlr.MESSAGES.get(report['status_id'], '')}".rstrip()
            )

    def _unclaimed(self, path: str, waited: float, clock) -> int:
        """Nobody took them: cancel them, so they do not go out whenever a bot starts."""
        cancelled = self._cancel_waiting(clock)
        return _refuse(
            f"{_needs_bot(path)} (No smsbot picked the test SMS up within {_duration(waited)}: either none runs "
            f"on this database, or its sender is waiting for the gateway: see its /healthz and log. "
            f"{cancelled} test SMS cancelled, nothing sent.)"
        )

    def _cancel_waiting(self, clock) -> int:
        queue = SendQueue(self.db)
        notices = SlackNotices(Outbox(self.db), SlackPosts(self.db))
        cancelled = 0
        with self.db.transaction() as conn:
            for batch_id in self.batches:
                count, _ = queue.cancel(conn, batch_id, clock())
                if count:
                    notices.changed(conn, batch_id, clock())
                cancelled += count
        return cancelled

    def _verdict(self, rows: list[sqlite3.Row], wait: float, clock) -> int:
        ok = True
        unreported = []
        for row in rows:
            t = self.batches[row["batch_id"]]
            http = _http_status(row["last_error"])
            if http is not None and row["status"] != Status.SENT:
                ok = False
                self.out(self._http_sentence(t, http, row["last_error"], any(r["status"] == Status.SENT for r in rows)))
            elif row["status"] in (Status.FAILED, Status.CANCELLED, Status.MISSED):
                ok = False
            elif row["dlr_status_id"] in dlr.FAILURES:
                ok = False
                self.out(
                    f"SMS {t.number}: the gateway took it but reports it was not delivered "
                    f"({row['dlr_status_id']} {row['dlr_status']}): check the number and that the phone is on."
                )
            elif row["dlr_status_id"] != dlr.DELIVERED:
                ok = False
                unreported.append(t.number)
        if unreported:
            which = " and ".join(str(n) for n in unreported)
            self.out(
                f"No delivery report came within {_duration(wait)} for SMS {which}. Check: the callback URL in "
                "the API section of the SMS Office account is the one `smsbot check` prints; SMSBOT_PUBLIC_URL is "
                "this server's address as the internet sees it (https, through any proxy); and the firewall lets "
                "SMS Office reach it. A report that comes later still updates the status in Slack."
            )
        left = self._cancel_waiting(clock)  # a test SMS still retrying: not sent later, unattended
        if left:
            self.out(f"{left} test SMS still waiting to be sent: cancelled.")
        self._credits(rows)
        went = [self.batches[row["batch_id"]].number for row in rows if row["status"] == Status.SENT]
        looks = {
            1: "the 1st with € [ ~ whole where its parts join and £ é ñ ü @ as printed",
            2: "the 2nd with 📱 ŉ ê ë ô û and ① to ⑳ in order",
        }
        if went:
            self.out(
                f"Now compare {'both SMS' if len(went) == 2 else 'the SMS'} on the phone with the text"
                f"{'s' if len(went) == 2 else ''} printed above, character by character: each must arrive as one "
                f"message, {' and '.join(looks[n] for n in went)}. A wrong or missing character means the gateway "
                "decodes the text in another character set: avoid those characters and tell SMS Office."
            )
        return EXIT_OK if ok else EXIT_FAILED

    def _http_sentence(self, t: TestText, status: int, error: str, short_went: bool) -> str:
        """An HTTP error is the web server refusing the request, before any SMS: for our longest request,
        most likely its length (when a shorter one went through, certainly)."""
        size = query_bytes(self.settings, self.number, t.text)
        head = (
            f"SMS {t.number}: SMS Office answered HTTP {status} to a request of {size:,} bytes (query string), "
            "so it was not sent: this is not “unconfirmed”, its web server refused the request before any SMS"
        )
        if size <= LONG_QUERY_BYTES:
            return f"{head}. At this length that is not a length limit: check SMSOFFICE_API_URL. ({error})"
        cause = "" if short_went else " (if SMSOFFICE_API_URL is right: the shorter SMS failed too)"
        return (
            f"{head}. Its web server refuses requests this long{cause}: IIS refuses a query string over "
            f"{LONG_QUERY_BYTES:,} bytes by default. Send shorter texts: fewer parts, or GSM-7 characters only "
            f"(a Unicode character takes up to 9 bytes of the request, a GSM-7 one 1 to 3). ({error})"
        )

    def _credits(self, rows: list[sqlite3.Row]) -> None:
        charged = {}
        for row in rows:
            got = self.db.conn.execute(
                "SELECT coalesce(sum(credits), 0) FROM charges WHERE message_id = ? AND released_at IS NULL",
                (row["id"],),
            ).fetchone()[0]
            charged[self.batches[row["batch_id"]].number] = got
        self.out(
            f"Credits charged: {plural(sum(charged.values()), 'credit')} "
            f"({', '.join(f'SMS {n}: {c}' for n, c in sorted(charged.items()))}), counted by smsbot as the spec "
            f"does ({GSM7.per_part} GSM-7 septets or {UCS2.per_part} UCS-2 units per part); SMS Office's "
            "sent items show what it charged."
        )


def _claimed(row: sqlite3.Row) -> bool:
    return row["status"] != Status.QUEUED or bool(row["attempts"]) or row["last_error"] is not None


def _settled(row: sqlite3.Row) -> bool:
    """Nothing more will happen to it that this command waits for."""
    if row["status"] in (Status.FAILED, Status.CANCELLED, Status.MISSED):
        return True
    return row["dlr_status_id"] in dlr.FINAL


def _state_line(row: sqlite3.Row) -> str | None:
    status = row["status"]
    if status == Status.SENT:
        return f"SMS Office took it, tracking number {row['tracking_id']}"
    if status == Status.FAILED:
        return f"not sent: {row['last_error']}"
    if status == Status.UNCONFIRMED:
        return f"unconfirmed, it may have gone: {row['last_error']}"
    if status == Status.QUEUED and row["last_error"]:
        return f"not sent yet, the bot retries: {row['last_error']}"
    if status == Status.SENDING:
        return "the bot is handing it to SMS Office"
    return None


_HTTP = re.compile(r"answered HTTP (\d{3})")


def _http_status(error: str | None) -> int | None:
    match = _HTTP.search(error or "")
    return int(match.group(1)) if match else None


def _duration(seconds: float) -> str:
    if seconds >= 60 and seconds % 60 == 0:
        return plural(int(seconds // 60), "minute")
    return plural(round(seconds), "second") if seconds >= 1 else f"{seconds:g} seconds"


def _refuse(sentence: str, code: int = EXIT_FAILED) -> int:
    print(f"{PROG}: {sentence}", file=sys.stderr)
    return code


def command(args) -> int:
    """``smsbot check --test-sms``, with the settings of the environment and ``.env``."""
    if hasattr(sys.stdout, "reconfigure"):  # a terminal that cannot show 📱 gets \U0001f4f1, not a traceback
        sys.stdout.reconfigure(errors="backslashreplace")
    return test_sms(args, settings_or_exit())
