"""The balance watch: a scheduled balance check that warns a channel before the credits run out.

One daemon thread (``balance-watch``) runs ``check()`` at start-up and then every ``interval``
seconds, timed on the monotonic clock: a step of the system clock (an NTP correction, an
operator's ``date -s``) neither stops the checks nor bunches them up. Runs missed while a check was
slow are not made up (one check, then the interval again). ``overdue()`` says, for /healthz, how long
ago the last check ran and whether that is far past the interval. Each check asks the gateway for the balance,
records the answer in ``balance_history`` and decides which alerts are due. The alert
state lives in the ``kv`` table (key ``balance_watch``) and is read and written inside the
same transaction as the history row and the ``alert(conn, kind, data)`` calls, so an
alert and the state that says "it was raised" are committed together: a restart neither
repeats an alert nor forgets one. No alert state is kept in memory, so the check thread
and the sender thread (``not_enough_credits``) never disagree.

Alerts (kind → data, all JSON-serialisable; amounts are strings, ``days_left`` a float):

- ``low_balance`` (balance, threshold, per_day, days_left): the balance is below the
  threshold. Once per drop; re-armed by a check that sees the balance above the threshold
  and above zero, which raises ``topped_up`` (balance, threshold).
- ``login_failed`` (error, settings): the gateway refused the credentials. Once; re-armed
  by a successful login, which raises ``login_ok``.
- ``unreachable`` (error, checks): the third check in a row that could not use the
  gateway (``GatewayUnavailable`` → outcome "unreachable", any other non-login
  ``GatewayError`` or unexpected exception → outcome "error"). Once; re-armed by any
  answer from the gateway (a balance or a login refusal), which raises ``reachable``.
- ``out_of_credits`` (balance: the last balance seen, or None; at): a send was refused
  with "Not enough credits". Once per episode. The episode ends at a successful check
  that sees a top-up: the balance above the threshold and zero, or higher than the previous
  successful check (an increase between two checks is a top-up, as in the forecast).

Without an alert channel the watch still records every check, but emits no alerts and
leaves the alert state untouched (so a channel configured later hears about a drop that
is still going on); ``start()`` logs one WARNING saying so.
The forecast is in ``bot/workers/forecast.py``.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from decimal import Decimal

from bot.redact import redact
from bot.sms.gateway import GatewayError, GatewayUnavailable, LoginFailed, SmsOfficeClient
from bot.storage.db import Database, is_busy
from bot.storage.errors import DatabaseError
from bot.storage.usage import charged_between
from bot.workers.forecast import DAY, WINDOW_DAYS, Forecast, forecast, local_midnight

log = logging.getLogger(__name__)

Alert = Callable[[sqlite3.Connection, str, dict], None]
Alerts = list[tuple[str, dict]]  # (kind, data) due after one check

THREAD_NAME = "balance-watch"
# A check is far overdue (and /healthz 503) once this many intervals, plus the longest a check may
# take (the gateway's timeouts, a busy database), have passed since the last one began.
OVERDUE_INTERVALS = 3
CHECK_ALLOWANCE_SECONDS = 60.0
UNREACHABLE_CHECKS = 3  # consecutive failed checks before the "unreachable" alert
STATE_KEY = "balance_watch"
BALANCE_MEMO_SECONDS = 2.0  # recent_balance(): how old a balance read from the database may be reused
CREDENTIAL_SETTINGS = ("SMSOFFICE_USERNAME", "SMSOFFICE_PASSWORD")

OK, LOGIN_FAILED, UNREACHABLE, ERROR = "ok", "login_failed", "unreachable", "error"


# -- one check's reading ------------------------------------------------------------------------
@dataclass(frozen=True)
class Reading:
    outcome: str  # ok, login_failed, unreachable, error
    balance: Decimal | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        """The gateway could not be used (counts toward the "unreachable" alert)."""
        return self.outcome in (UNREACHABLE, ERROR)


def read_balance(gateway: SmsOfficeClient) -> Reading:
    """Ask the gateway; never raises. Gateway errors are already redacted."""
    try:
        return Reading(OK, balance=gateway.balance())
    except LoginFailed as error:
        return Reading(LOGIN_FAILED, error=str(error))
    except GatewayUnavailable as error:
        return Reading(UNREACHABLE, error=str(error))
    except GatewayError as error:
        return Reading(ERROR, error=str(error))
    except Exception as error:
        log.exception("event=balance_check_crashed stage=gateway")
        return Reading(ERROR, error=_describe(error))


# -- the alert state and the decisions (pure) -----------------------------------------------------
@dataclass(frozen=True)
class WatchState:
    low: bool = False  # a low_balance alert is out for the current drop
    login_failed: bool = False  # a login_failed alert is out
    failures: int = 0  # consecutive checks that could not use the gateway
    unreachable: bool = False  # an unreachable alert is out
    out_of_credits: bool = False  # an out_of_credits alert is out for the current episode

    @classmethod
    def load(cls, conn: sqlite3.Connection) -> WatchState:
        row = conn.execute("SELECT value FROM kv WHERE key = ?", (STATE_KEY,)).fetchone()
        stored = json.loads(row[0]) if row else {}
        known = {f.name for f in fields(cls)}
        return cls(**{name: value for name, value in stored.items() if name in known})

    def save(self, db: Database, conn: sqlite3.Connection) -> None:
        db.set_kv(conn, STATE_KEY, json.dumps(asdict(self)))


def decide(
    state: WatchState, reading: Reading, *, threshold: Decimal, previous: Decimal | None, outlook: Forecast | None
) -> tuple[WatchState, Alerts]:
    """The new state and the alerts due after ``reading``. ``previous`` is the balance of the
    last successful check before this one; ``outlook`` the forecast (for a balance)."""
    state, reach = _reachability(state, reading)
    state, login = _login(state, reading)
    money: Alerts = []
    if reading.outcome == OK:
        assert reading.balance is not None  # an OK reading carries its balance (read_balance)
        state, money = _balance(state, reading.balance, threshold, previous, outlook)
    return state, reach + login + money


def _reachability(state: WatchState, reading: Reading) -> tuple[WatchState, Alerts]:
    if reading.failed:
        failures = state.failures + 1
        if failures >= UNREACHABLE_CHECKS and not state.unreachable:
            return (
                replace(state, failures=failures, unreachable=True),
                [("unreachable", {"error": reading.error, "checks": failures})],
            )
        return replace(state, failures=failures), []
    alerts: Alerts = [("reachable", {})] if state.unreachable else []
    return replace(state, failures=0, unreachable=False), alerts


def _login(state: WatchState, reading: Reading) -> tuple[WatchState, Alerts]:
    if reading.outcome == LOGIN_FAILED and not state.login_failed:
        return (
            replace(state, login_failed=True),
            [("login_failed", {"error": reading.error, "settings": list(CREDENTIAL_SETTINGS)})],
        )
    if reading.outcome == OK and state.login_failed:
        return replace(state, login_failed=False), [("login_ok", {})]
    return state, []


def _balance(
    state: WatchState, balance: Decimal, threshold: Decimal, previous: Decimal | None, outlook: Forecast | None
) -> tuple[WatchState, Alerts]:
    low = balance < threshold
    # A top-up is announced only above the threshold and above zero: with SMSBOT_LOW_BALANCE=0, a
    # balance moving from -5 to 0 is no top-up, and neither is one sitting exactly on the threshold.
    recovered = balance > threshold and balance > 0
    alerts: Alerts = []
    if low and not state.low:
        alerts.append(
            (
                "low_balance",
                {
                    "balance": str(balance),
                    "threshold": str(threshold),
                    "per_day": _text(outlook.per_day if outlook else None),
                    "days_left": outlook.days_left if outlook else None,
                },
            )
        )
    elif recovered and state.low:
        alerts.append(("topped_up", {"balance": str(balance), "threshold": str(threshold)}))
    still_low = low or (state.low and not recovered)
    topped_up = recovered or (previous is not None and balance > previous and balance > 0)
    return replace(state, low=still_low, out_of_credits=state.out_of_credits and not topped_up), alerts


# -- the watch --------------------------------------------------------------------------------------
class BalanceWatch:
    def __init__(
        self,
        db: Database,
        gateway: SmsOfficeClient,
        *,
        threshold: Decimal,
        interval: int,
        alert_channel: str | None,
        alert: Alert,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.db = db
        self.gateway = gateway
        self.threshold = threshold
        self.interval = interval
        self.alert_channel = alert_channel
        self.alert = alert
        self.clock = clock
        self.monotonic = monotonic  # schedules the checks and ages them; the wall clock only dates them
        self._thread: threading.Thread | None = None
        self.last_reading: Reading | None = None  # what the gateway said at the last check
        self._checked = threading.Event()
        self._started_at: float | None = None  # monotonic
        self._last_check_at: float | None = None  # monotonic: when the last check began
        self.sleeping_until: float | None = None  # monotonic: when the thread, asleep, checks next
        self._stopping = threading.Event()
        self._idle = threading.Event()  # no check is running
        self._idle.set()
        self._memo: tuple[float, tuple[Decimal, float] | None] | None = None  # (monotonic, last_balance())

    @property
    def alerts_on(self) -> bool:
        return self.alert_channel is not None

    # -- the job ------------------------------------------------------------------------------------
    def check(self, now: float | None = None) -> None:
        """One run of the job: ask the gateway, record, decide alerts. Never raises. A check cut
        off by stop() records nothing (its failure was ours, not the gateway's)."""
        if self._stopping.is_set():
            return
        now = self.clock() if now is None else now
        self._last_check_at = self.monotonic()
        self._idle.clear()
        try:
            reading = read_balance(self.gateway)  # never raises: the handler below always has it
            if self._stopping.is_set():
                log.info("event=balance_check_abandoned reason=stopping")
                return
            self.last_reading = reading
            self._checked.set()
            outlook, kinds = self._settle(reading, now)
        except DatabaseError as error:  # the database is busy or failing: one line, not a traceback
            log.warning(
                "event=balance_check_not_recorded outcome=%s balance=%s error=%s note=%s",
                reading.outcome,
                _text(reading.balance) or "-",
                json.dumps(str(error)),
                '"busy: the next check records again"' if is_busy(error) else "-",
            )
        except Exception as error:
            log.exception("event=balance_check_crashed stage=record")
            self._record_only(replace(reading, outcome=ERROR, error=_describe(error)), now)
        else:
            _log_check(reading, outlook, kinds)
        finally:
            self._memo = None  # this process's own check is seen at once
            self._idle.set()

    def _settle(self, reading: Reading, now: float) -> tuple[Forecast | None, list[str]]:
        """Record the reading and raise the alerts it calls for, in one transaction."""
        with self.db.transaction() as conn:
            last = _last_balance(conn)
            previous = None if last is None else last[0]
            _record(conn, reading, now)
            outlook = None if reading.balance is None else _outlook(conn, reading.balance, now)
            if not self.alerts_on:
                return outlook, []
            state, alerts = decide(
                WatchState.load(conn), reading, threshold=self.threshold, previous=previous, outlook=outlook
            )
            for kind, data in alerts:
                self.alert(conn, kind, data)
            state.save(self.db, conn)
        return outlook, [kind for kind, _ in alerts]

    def _record_only(self, reading: Reading, now: float) -> None:
        try:
            with self.db.transaction() as conn:
                _record(conn, reading, now)
        except Exception:
            log.exception("event=balance_history_failed")

    # -- what others call ----------------------------------------------------------------------------
    def usage(self, now: float | None = None, balance: Decimal | None = None) -> Forecast:
        """Spent today (since local midnight), in the last 7 days, and the forecast for ``balance``."""
        now = self.clock() if now is None else now
        return _outlook(self.db.conn, balance, now)

    def last_balance(self) -> tuple[Decimal, float] | None:
        """The balance seen by the last successful check, and when; no gateway call."""
        return _last_balance(self.db.conn)

    def recent_balance(self) -> tuple[Decimal, float] | None:
        """:meth:`last_balance`, read from the database at most every BALANCE_MEMO_SECONDS (a check by this
        process is seen at once; one by the leader, from a standby, within that): for the hold a send may
        need, decided before each ``/sms send`` is acknowledged, where every round trip counts."""
        now, memo = self.monotonic(), self._memo
        if memo is not None and 0 <= now - memo[0] < BALANCE_MEMO_SECONDS:
            return memo[1]
        last = self.last_balance()
        self._memo = (now, last)
        return last

    def not_enough_credits(self, conn: sqlite3.Connection, now: float) -> None:
        """A send was refused for lack of credits: alert once per episode. Runs inside the
        caller's transaction."""
        if not self.alerts_on:
            return
        state = WatchState.load(conn)
        if state.out_of_credits:
            return
        last = _last_balance(conn)
        balance = _text(None if last is None else last[0])
        self.alert(conn, "out_of_credits", {"balance": balance, "at": now})
        replace(state, out_of_credits=True).save(self.db, conn)
        log.warning("event=balance_out_of_credits last_balance=%s", balance or "-")

    def alert_lost(self, conn: sqlite3.Connection, kind: str) -> None:
        """An alert reached nobody: it does not count as raised, so the next check raises it again.
        Runs inside the caller's transaction."""
        flag = {
            "low_balance": "low",
            "login_failed": "login_failed",
            "unreachable": "unreachable",
            "out_of_credits": "out_of_credits",
        }.get(kind)
        if flag is not None:
            replace(WatchState.load(conn), **{flag: False}).save(self.db, conn)
            log.error('event=alert_lost kind=%s note="it will be raised again at the next check"', kind)

    # -- lifecycle -------------------------------------------------------------------------------------
    def start(self) -> None:
        """Run ``check`` now and then every ``interval`` seconds on a daemon thread (again after ``stop()``,
        once its thread has ended: a process that leads again)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stopping.clear()
        if not self.alerts_on:
            log.warning(
                'event=balance_alerts_off reason="SMSBOT_ALERT_CHANNEL is not set" '
                'note="the balance is still checked and recorded"'
            )
        self._started_at = self.monotonic()
        self._thread = threading.Thread(target=self._loop, name=THREAD_NAME, daemon=True)
        self._thread.start()
        log.info(
            "event=balance_watch_started interval=%d threshold=%s alerts=%s",
            self.interval,
            self.threshold,
            "on" if self.alerts_on else "off",
        )

    def _loop(self) -> None:
        due = self.monotonic()
        while not self._stopping.is_set():
            wait = due - self.monotonic()
            if wait > 0:
                self.sleeping_until = due  # monotonic; set once this wait is decided (what a test waits for)
                self._stopping.wait(min(wait, self.interval))  # Event.wait is timed on the monotonic clock
                continue
            self.check()
            due = max(due + self.interval, self.monotonic())  # a slow check is not made up for

    def overdue(self) -> tuple[float | None, bool]:
        """(seconds since the last check began, or since start before the first; whether that is far
        past the interval). (None, False) when the watch is not running."""
        since = self._last_check_at if self._last_check_at is not None else self._started_at
        if since is None or self._thread is None:
            return None, False
        age = max(0.0, self.monotonic() - since)
        return round(age, 3), age > OVERDUE_INTERVALS * self.interval + CHECK_ALLOWANCE_SECONDS

    def first_reading(self, timeout: float) -> Reading | None:
        """The reading of the first check since start (it runs at once), waiting at most ``timeout``."""
        self._checked.wait(timeout)
        return self.last_reading

    def is_alive(self) -> bool:
        """The watch's thread is running (for /healthz)."""
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        """Stop the checks without waiting, and cut a balance query on the wire so a check in
        flight ends at once (see ``wait_idle``)."""
        self._stopping.set()
        self.gateway.interrupt("balance")

    def wait_idle(self, timeout: float | None) -> bool:
        """Wait until no check is running (after stop(), none starts), and the scheduler's thread
        has finished with it; True if so."""
        started = time.monotonic()
        if not self._idle.wait(timeout):
            return False
        thread = self._thread
        if self._stopping.is_set() and thread is not None and thread is not threading.current_thread():
            thread.join(None if timeout is None else max(0.0, timeout - (time.monotonic() - started)))
            return not thread.is_alive()
        return True


# -- storage -------------------------------------------------------------------------------------------
def _record(conn: sqlite3.Connection, reading: Reading, now: float) -> None:
    conn.execute(
        "INSERT INTO balance_history (checked_at, balance, outcome, error) VALUES (?, ?, ?, ?)",
        (now, None if reading.balance is None else float(reading.balance), reading.outcome, reading.error),
    )


def _last_balance(conn: sqlite3.Connection) -> tuple[Decimal, float] | None:
    """The balance of the last successful check, and when it was taken."""
    row = conn.execute(
        "SELECT balance, checked_at FROM balance_history WHERE outcome = 'ok' ORDER BY checked_at DESC, id DESC LIMIT 1"
    ).fetchone()
    return None if row is None else (_credits(row[0]), row[1])


def _outlook(conn: sqlite3.Connection, balance: Decimal | None, now: float) -> Forecast:
    """The forecast from the send log and the balance history in the database."""
    since = now - WINDOW_DAYS * DAY
    sends = charged_between(conn, since, now)  # the one ledger of credits spent
    checks = conn.execute(
        "SELECT checked_at, balance FROM balance_history WHERE outcome = 'ok' AND checked_at >= ? "
        "AND checked_at <= ? ORDER BY checked_at, id",
        (since, now),
    ).fetchall()
    observed_since = conn.execute(
        "SELECT min(t) FROM (SELECT min(checked_at) AS t FROM balance_history "
        "UNION ALL SELECT min(created_at) FROM batches) AS firsts"
    ).fetchone()[0]
    return forecast(
        balance,
        sends,
        [(at, _credits(credits)) for at, credits in checks],
        now=now,
        day_start=local_midnight(now),
        observed_since=observed_since,
    )


# -- small helpers -------------------------------------------------------------------------------------
def _credits(value: float) -> Decimal:
    """A stored balance (REAL) back to the gateway's two decimals."""
    return Decimal(f"{value:.2f}")


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount)


def _describe(error: BaseException) -> str:
    return redact(f"{type(error).__name__}: {error}")


def _log_check(reading: Reading, outlook: Forecast | None, kinds: list[str]) -> None:
    level = logging.INFO if reading.outcome == OK else logging.WARNING
    per_day = outlook.per_day if outlook else None
    days_left = outlook.days_left if outlook else None
    log.log(
        level,
        "event=balance_check outcome=%s balance=%s per_day=%s days_left=%s alerts=%s error=%s",
        reading.outcome,
        _text(reading.balance) or "-",
        _text(per_day) or "-",
        "-" if days_left is None else f"{days_left:.1f}",
        ",".join(kinds) or "-",
        json.dumps(reading.error) if reading.error else "-",
    )
