"""The measurements, each a function of a running :class:`bench.rig.Rig`."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

from bench.rig import (
    GATEWAY_PASSWORD,
    GATEWAY_USER,
    SENDER_ID,
    SIGNING_SECRET,
    SMS_TEXT,
    BenchError,
    Rig,
    wait_until,
)

BARE_LOOP = Path(__file__).with_name("bareloop.py")
ACK_CLIENT = Path(__file__).with_name("ackclient.py")
ACK_WARMUP = 20
UNKNOWN_EVERY = 4  # one delivery report in four is for a tracking id the bot never saw
UNKNOWN_BASE = 10**15  # simulator ids are epoch milliseconds (~1.7e12): these never clash
_unknown_ids = itertools.count(UNKNOWN_BASE)


# -- 1. ack latency ------------------------------------------------------------------------------
def ack_latencies_ms(rig: Rig, n: int) -> list[float]:
    """Round trips of ``n`` one-recipient ``/sms send`` commands, sent back to back."""
    for _ in range(ACK_WARMUP):
        rig.commands.send(rig.numbers.take(1))
    latencies = [rig.commands.send(rig.numbers.take(1)) * 1000 for _ in range(n)]
    rig.wait_queue_empty()
    return latencies


def ack_latencies_ms_own_process(rig: Rig, n: int) -> list[float]:
    """The same commands from ``bench/ackclient.py`` in its own process, as Slack is: the simulator and the
    fake Slack, busy with the bot's sends of the earlier commands, do not share the client's GIL."""
    numbers = rig.numbers.take(ACK_WARMUP + n)
    if int(numbers[-1]) - int(numbers[0]) != len(numbers) - 1:
        raise BenchError("the ack client needs a contiguous range of numbers")
    command = [
        sys.executable,
        str(ACK_CLIENT),
        "--url",
        rig.base_url + "/slack/events",
        "--secret",
        SIGNING_SECRET,
        "--response-url",
        rig.slack.response_url("bench-"),
        "--n",
        str(n),
        "--warmup",
        str(ACK_WARMUP),
        "--first",
        numbers[0],
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=max(60.0, n * 0.2))
    if done.returncode != 0:
        raise BenchError(f"the ack client failed: {done.stderr.strip()[-500:]}")
    rig.wait_queue_empty()
    return json.loads(done.stdout)["ms"]


def percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


# -- 2./3. drain time ------------------------------------------------------------------------------
def drain_timeout(rig: Rig, n: int) -> float:
    """Generous: 50 ms per SMS plus the simulator's added latency, at least a minute."""
    return max(60.0, n * (0.05 + rig.simulator.latency))


def bot_drain_seconds(rig: Rig, n: int, per_command: int) -> float:
    """Queue ``n`` SMS (``per_command`` recipients per ``/sms send``) while the gateway holds
    the bot's first request, then time from release until the simulator has all ``n``."""
    rig.wait_queue_empty()
    numbers = rig.numbers.take(n)
    before = rig.sent_count()
    rig.simulator.hold()
    try:
        for start in range(0, n, per_command):
            rig.commands.send(numbers[start : start + per_command])
        wait_until(
            lambda: rig.count_messages("sending") == 1 and rig.count_messages("queued") == n - 1,
            30,
            f"{n} SMS queued with one held at the gateway",
        )
        started = time.perf_counter()
        rig.simulator.release()
        wait_until(
            lambda: rig.sent_count() >= before + n,
            drain_timeout(rig, n),
            f"the bot to send {n} SMS",
            poll=min(0.01, max(0.0005, n * 1e-6)),
        )
        return time.perf_counter() - started
    finally:
        rig.simulator.release()


def bare_drain_seconds(rig: Rig, n: int) -> float:
    """The same ``n`` sendsms calls from a plain keep-alive requests loop in its own process."""
    numbers = rig.numbers.take(n)
    if int(numbers[-1]) - int(numbers[0]) != n - 1:
        raise BenchError("the bare loop needs a contiguous range of numbers")
    command = [
        sys.executable,
        str(BARE_LOOP),
        "--api-url",
        rig.simulator.api_url,
        "--n",
        str(n),
        "--username",
        GATEWAY_USER,
        "--password",
        GATEWAY_PASSWORD,
        "--sender",
        SENDER_ID,
        "--text",
        SMS_TEXT,
        "--first",
        numbers[0],
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=drain_timeout(rig, n))
    if done.returncode != 0:
        raise BenchError(f"the bare loop failed: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout)["seconds"]


def median_of(runs: int, measure) -> float:
    return statistics.median(measure() for _ in range(runs))


# -- 4. delivery-report intake vs /healthz -----------------------------------------------------------
@dataclass
class Load:
    requests: int
    seconds: float
    errors: int
    bot_cpu: float  # CPU seconds the bot used during the load

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    @property
    def bot_busy(self) -> float:
        """The bot's CPU use as a share of one core (1.0 = one core flat out)."""
        return self.bot_cpu / self.seconds


def hammer(rig: Rig, paths: list[str], threads: int) -> Load:
    """GET every path once from the bot, spread over ``threads`` keep-alive connections; count non-200s."""
    return _hammer(rig.bot.port, rig.bot.cpu_seconds, paths, threads)


def _hammer(port: int, cpu_seconds, paths: list[str], threads: int) -> Load:
    shares = [paths[i::threads] for i in range(threads)]
    errors = [0] * threads
    gate = threading.Barrier(threads + 1)

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.connect()
        gate.wait()
        for path in shares[k]:
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            errors[k] += response.status != 200
        conn.close()

    workers = [threading.Thread(target=client, args=(k,), daemon=True) for k in range(threads)]
    for worker in workers:
        worker.start()
    gate.wait()
    cpu_before, started = cpu_seconds(), time.perf_counter()
    for worker in workers:
        worker.join()
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu_before
    return Load(len(paths), seconds, sum(errors), cpu)


@dataclass
class ReportLoad:
    load: Load
    known: int
    unknown: int
    stored: int  # rows added to the reports table
    applied_after: float  # seconds from the burst's end until the leader had applied every one of them


APPLY_WAIT_SECONDS = 120.0


def report_paths(rig: Rig, n: int) -> tuple[list[str], int]:
    """``n`` callback URLs (StatusID 200): sent messages' tracking ids, one in UNKNOWN_EVERY unknown.

    Each sent message gets one report, so every known one is applied (falls back to unknown
    ids if the bot has sent too few). Returns the paths and how many are for sent messages.
    """
    n_known = n - n // UNKNOWN_EVERY
    known = rig.sql(
        "SELECT tracking_id, recipient FROM messages WHERE status = 'sent' "
        "AND dlr_status_id IS NULL ORDER BY id LIMIT ?",
        n_known,
    )
    paths = []
    for i in range(n):
        if i % UNKNOWN_EVERY != 0 and known:
            tracking, to = known.pop()
        else:
            tracking, to = str(next(_unknown_ids)), "27829999999"
        query = urlencode(
            {
                "messageid": tracking,
                "to": to,
                "from": SENDER_ID,
                "StatusID": 200,
                "statusMessage": "Delivered to Mobile",
            }
        )
        paths.append(f"{rig.report_path}?{query}")
    return paths, n_known - len(known)


def report_intake(rig: Rig, n: int, threads: int) -> ReportLoad:
    paths, known = report_paths(rig, n)
    stored_before = rig.sql("SELECT count(*) FROM reports")[0][0]
    load = hammer(rig, paths, threads)
    ended = time.perf_counter()
    stored = rig.sql("SELECT count(*) FROM reports")[0][0] - stored_before
    # The callback stores each report pending; the leader applies them behind (before the next round picks
    # sent SMS without a status again). Waited for here, and timed.
    deadline = ended + APPLY_WAIT_SECONDS
    while rig.sql("SELECT count(*) FROM reports WHERE outcome = 'pending'")[0][0] and time.perf_counter() < deadline:
        time.sleep(0.02)
    return ReportLoad(load, known, n - known, stored, time.perf_counter() - ended)


def report_outcomes(rig: Rig) -> dict[str, int]:
    """Every stored report, counted by what it did (applied, unmatched, ...)."""
    return dict(rig.sql("SELECT outcome, count(*) FROM reports GROUP BY outcome ORDER BY outcome"))


def http_ceiling(n: int, threads: int) -> Load:
    """The same load against smsbot's HTTP server serving an app that does nothing (bench/httpfloor.py), in a
    process of its own: what the server and the machine allow, whatever the bot does per request."""
    server = subprocess.Popen(
        [sys.executable, "-m", "bench.httpfloor"],
        cwd=Path(__file__).resolve().parent.parent,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdin is not None
        port = int(server.stdout.readline())

        def cpu_seconds() -> float:
            fields = Path(f"/proc/{server.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

        return _hammer(port, cpu_seconds, ["/"] * n, threads)
    finally:
        if server.stdin is not None:
            server.stdin.close()
        server.wait(10)


def healthz_load(rig: Rig, n: int, threads: int) -> Load:
    return hammer(rig, ["/healthz"] * n, threads)
