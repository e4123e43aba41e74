"""The test rig: a real ``smsbot run`` subprocess wired to an in-process SMS Office
simulator and fake Slack, all on 127.0.0.1, plus the helpers that drive and watch it.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import requests

from bench.pg import Reader
from bot.simulator.simulator import Simulator
from bot.testing.fake_slack import FakeSlack
from bot.testing.slack_requests import command_body, sign

SIGNING_SECRET = "bench-signing-secret-0123456789ab"
BOT_TOKEN = "xoxb-bench-token"
GATEWAY_USER = "bench"
GATEWAY_PASSWORD = "bench-gateway-password"
CALLBACK_SECRET = "bench-callback-secret-0123456789"
SENDER_ID = "BENCH"
CHANNEL = "C0BENCH"
SMS_TEXT = "Benchmark: generator running on backup power"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
OUR_VARIABLES = ("SLACK_", "SMSOFFICE_", "SMS_", "SMSBOT_")
_RUNNING = re.compile(r"running on [\d.]+:(\d+)")
_WARNING = re.compile(r" level=(WARNING|ERROR|CRITICAL) ")


class BenchError(RuntimeError):
    """The rig could not do what a measurement needed (not a missed goal)."""


def wait_until(predicate: Callable[[], bool], timeout: float, what: str, poll: float = 0.005) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise BenchError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(poll)


class Numbers:
    """Distinct valid South African mobile numbers: 2782…, 2783…, 2784… + 7 digits."""

    def __init__(self) -> None:
        self._next = itertools.count(1)

    def take(self, n: int) -> list[str]:
        numbers = []
        for _ in range(n):
            i = next(self._next)
            prefix = ("2782", "2783", "2784")[i // 10_000_000 % 3]
            numbers.append(f"{prefix}{i % 10_000_000:07d}")
        return numbers


class BotProcess:
    """``python -m bot run`` (or ``command``) as a subprocess; stdout parsed, stderr to a file."""

    def __init__(self, env: dict[str, str], workdir: Path, command: list[str] | None = None) -> None:
        inherited = {k: v for k, v in os.environ.items() if not k.startswith(OUR_VARIABLES)}
        self.log_path = workdir / "smsbot.stderr.log"
        self._log = open(self.log_path, "w")  # noqa: SIM115 (held for the process's life, closed in stop())
        self.proc = subprocess.Popen(
            command or [sys.executable, "-m", "bot", "run"],
            env={**inherited, **env},
            cwd=workdir,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.port = self._read_port()
        # Keep reading stdout so the bot can never block on a full pipe.
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def _read_port(self) -> int:
        found: list[int] = []

        def scan() -> None:
            for line in self.proc.stdout:
                if match := _RUNNING.search(line):
                    found.append(int(match.group(1)))
                    return

        reader = threading.Thread(target=scan, daemon=True)
        reader.start()
        reader.join(START_TIMEOUT)
        if not found:
            self.proc.kill()
            raise BenchError(f"smsbot did not start; its stderr:\n{self.log_tail()}")
        return found[0]

    @property
    def pid(self) -> int:
        return self.proc.pid

    def status_kb(self, field: str) -> int:
        """A ``kB`` field of /proc/<pid>/status, e.g. VmRSS or VmHWM."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
        raise BenchError(f"{field} not in /proc/{self.pid}/status")

    def cpu_seconds(self) -> float:
        """User + system CPU time the bot has used so far."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> tuple[int | None, float]:
        """SIGTERM; returns (exit code or None if it had to be killed, seconds to exit)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            code = None
        self._log.close()
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()

    def log_tail(self, lines: int = 20) -> str:
        self._log.flush()
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def log_lines(self) -> int:
        self._log.flush()
        return len(self.log_path.read_text(errors="replace").splitlines())

    def warnings(self) -> list[str]:
        """The lines logged at WARNING or above so far (the bot logs at WARNING: a clean run logs none)."""
        if not self._log.closed:
            self._log.flush()
        return [line for line in self.log_path.read_text(errors="replace").splitlines() if _WARNING.search(line)]


class SlackCommands:
    """Signed ``/sms`` slash commands over one keep-alive session."""

    def __init__(self, base_url: str, slack: FakeSlack) -> None:
        self.url = base_url + "/slack/events"
        self.slack = slack
        self.http = requests.Session()
        self._n = itertools.count(1)

    def prepare(self, text: str) -> tuple[bytes, dict]:
        body = command_body(
            text,
            channel_id=CHANNEL,
            channel_name="bench",
            response_url=self.slack.response_url(f"bench{next(self._n)}"),
        )
        return body, sign(SIGNING_SECRET, body)

    def post(self, body: bytes, headers: dict) -> requests.Response:
        return self.http.post(self.url, data=body, headers=headers, timeout=30)

    def send(self, recipients: list[str]) -> float:
        """``/sms send <recipients> <text>``; returns the round trip in seconds."""
        body, headers = self.prepare(f"send {','.join(recipients)} {SMS_TEXT}")
        started = time.perf_counter()
        response = self.post(body, headers)
        elapsed = time.perf_counter() - started
        text = response.json().get("text", "") if response.status_code == 200 else response.text
        if f"Queued {len(recipients)} SMS" not in text:
            raise BenchError(f"/sms send was not queued: HTTP {response.status_code} {text[:200]!r}")
        return elapsed

    def close(self) -> None:
        self.http.close()


def bot_env(
    simulator: Simulator, slack: FakeSlack, db_path: Path, database_url: str | None, extra: dict[str, str]
) -> dict[str, str]:
    """The settings of a benchmarked ``smsbot run``: the simulator and the fake Slack, on 127.0.0.1, logging
    at WARNING; the SQLite file ``db_path``, or PostgreSQL at ``database_url`` (``db_path``'s folder then keeps
    only this host's own files); ``extra`` besides."""
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.api_url,
        "SMSOFFICE_USERNAME": GATEWAY_USER,
        "SMSOFFICE_PASSWORD": GATEWAY_PASSWORD,
        "SMSOFFICE_API_URL": simulator.api_url,
        "SMS_SENDER_ID": SENDER_ID,
        "SMSBOT_DB": str(db_path),
        "SMSBOT_HOST": "127.0.0.1",
        "SMSBOT_PORT": "0",
        "SMSBOT_CALLBACK_SECRET": CALLBACK_SECRET,
        "SMSBOT_LOG_LEVEL": "WARNING",
        "SMSBOT_ALERT_CHANNEL": CHANNEL,  # as a production bot has it (without, the start-up warns)
        "SMSBOT_CONFIRM_ABOVE": "100000000",  # the benchmark measures sending, not confirming
        **({"SMSBOT_DATABASE_URL": database_url} if database_url else {}),
        **extra,
    }


class Rig:
    """Everything a measurement needs; use as a context manager."""

    def __init__(
        self, bot_command: str | None = None, env: dict[str, str] | None = None, database_url: str | None = None
    ) -> None:
        self.bot_command = shlex.split(bot_command) if bot_command else None
        self.env = env or {}  # settings besides the rig's own (e.g. daily limits)
        self.database_url = database_url  # PostgreSQL (SMSBOT_DATABASE_URL); None: the SQLite file at db_path
        self.numbers = Numbers()
        self._tmp = tempfile.TemporaryDirectory(prefix="smsbot-bench-")
        self.workdir = Path(self._tmp.name)
        self.simulator = Simulator(GATEWAY_USER, GATEWAY_PASSWORD, balance=10**7)
        self.slack = FakeSlack(token=BOT_TOKEN)
        self.bot: BotProcess | None = None
        self.commands: SlackCommands | None = None
        self._db: sqlite3.Connection | Reader | None = None

    def __enter__(self) -> Rig:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        self.simulator.start()
        self.slack.start()
        self.slack.add_channel(CHANNEL, "bench")
        self.bot = BotProcess(self._bot_env(), self.workdir, self.bot_command)
        self.commands = SlackCommands(self.base_url, self.slack)
        wait_until(lambda: self.get("/healthz").status_code == 200, 10, "/healthz to answer 200")

    def _bot_env(self) -> dict[str, str]:
        return bot_env(self.simulator, self.slack, self.db_path, self.database_url, self.env)

    def restart(self, env: dict[str, str]) -> None:
        """The bot again on the same database, with these settings besides the rig's own."""
        self.bot.stop()
        self.env = env
        self.bot = BotProcess(self._bot_env(), self.workdir, self.bot_command)
        self.commands.close()
        self.commands = SlackCommands(self.base_url, self.slack)
        wait_until(lambda: self.get("/healthz").status_code == 200, 10, "/healthz to answer 200")

    def close(self) -> None:
        if self.commands is not None:
            self.commands.close()
        if self._db is not None:
            self._db.close()
        if self.bot is not None:
            self.bot.kill()
        self.simulator.stop()
        self.slack.stop()
        self._tmp.cleanup()

    # -- the bot from outside --------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        """The SQLite file; on PostgreSQL only its folder is used (the sender's journal)."""
        return self.workdir / "smsbot.db"

    @property
    def backend(self) -> str:
        return "postgresql" if self.database_url else "sqlite"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.bot.port}"

    @property
    def report_path(self) -> str:
        return f"/sms/dlr/{CALLBACK_SECRET}"

    def get(self, path: str) -> requests.Response:
        return requests.get(self.base_url + path, timeout=10)

    def sql(self, query: str, *params) -> list[tuple]:
        """A read of the bot's database (a separate connection; on SQLite, WAL lets it read alongside)."""
        if isinstance(self._db, Reader):
            return self._db.sql(query, *params)
        if self._db is None and self.database_url:
            self._db = Reader(self.database_url)
            return self._db.sql(query, *params)
        if self._db is None:
            self._db = sqlite3.connect(self.db_path, timeout=5)
        return self._db.execute(query, params).fetchall()

    def count_messages(self, *statuses: str) -> int:
        marks = ",".join("?" * len(statuses))
        return self.sql(f"SELECT count(*) FROM messages WHERE status IN ({marks})", *statuses)[0][0]

    def wait_queue_empty(self, timeout: float = 120) -> None:
        wait_until(
            lambda: self.count_messages("queued", "sending") == 0, timeout, "the bot's send queue to empty", poll=0.05
        )

    def sent_count(self) -> int:
        """SMS the simulator has accepted so far."""
        return len(self.simulator.messages)
