#!/usr/bin/env python
"""smsbot benchmark: a real ``smsbot run`` process against a local SMS Office simulator and a
fake Slack, on 127.0.0.1 only, on SQLite and on PostgreSQL (a fresh database per run, created and
dropped here), then the take-over of a standby on PostgreSQL. Prints the figures of both backends
side by side (plain text, then Markdown), each with its goal, met/MISSED and the load while measured.

    .venv/bin/python bench/run.py                      # both backends when PostgreSQL is reachable
    .venv/bin/python bench/run.py --backend sqlite     # one backend
    .venv/bin/python bench/run.py --quick              # smoke run (smaller N; the table says so)

PostgreSQL: the server at SMSBOT_BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test),
whose user may create databases.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # bot, tests.fakes and bench all import from the repo root

from bench import claims, limits, lists, measures, pg, takeover  # noqa: E402
from bench.load import LoadMeter  # noqa: E402
from bench.report import (  # noqa: E402
    Row,
    missed,
    render_markdown,
    render_text,
    side_by_side_cells,
)
from bench.rig import BenchError, Rig  # noqa: E402

SQLITE, POSTGRESQL = "sqlite", "postgresql"
NAMES = {SQLITE: "SQLite", POSTGRESQL: "PostgreSQL"}
ACK_P99_GOAL_MS = {SQLITE: 10.0, POSTGRESQL: 20.0}  # PostgreSQL over loopback TCP (issue 21)
DRAIN_RATIO_GOAL = 1.10  # bot / bare keep-alive loop
# with the gateway on loopback, a goal on SQLite only (issue 20); issue 21 sets PostgreSQL's with the gateway away
LOOPBACK_DRAIN_GOAL = {SQLITE: True, POSTGRESQL: False}
FAR_LATENCY_MS = 10.0  # "the gateway 10 ms away" (issue 21): the simulator answers every call this much later
REPORTS_PER_SECOND_GOAL = 1000.0
FLATNESS_GOAL = 1.20  # per-SMS cost at N large / at N small
REPORT_RATIO_GOAL = 0.80
RSS_GOAL_MB = 64.0
LIST_GOAL_MS = 3000.0  # a 5,000-row list: planned and queued within Slack's 3 s
LIMITS_RATIO_GOAL = 2.0  # ack p99 with daily limits set and 1M SMS of history / without limits
CLAIM_FLAT_GOAL = 1.20  # ms per claim with 50,000 scheduled rows waiting / with none
WARNINGS_GOAL = 0  # lines at WARNING or above in the bot's log during a run where nothing goes wrong

FULL = {
    "n_acks": 500,
    "n_small": 10,
    "small_runs": 7,
    "n_large": 10_000,
    "n_far": 1000,
    "per_command": 100,
    "n_reports": 3000,
    "rounds": 3,
    "threads": 4,
}
QUICK = {
    "n_acks": 200,
    "n_small": 10,
    "small_runs": 5,
    "n_large": 2000,
    "n_far": 200,
    "per_command": 100,
    "n_reports": 800,
    "rounds": 3,
    "threads": 4,
}

_STARTED = time.monotonic()
_EVENT = re.compile(r"\bevent=(\S+)")


def progress(message: str) -> None:
    print(f"[{time.monotonic() - _STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--backend",
        choices=(SQLITE, POSTGRESQL, "both"),
        help=f"default: both when PostgreSQL is reachable at ${pg.URL_VARIABLE} ({pg.DEFAULT_URL}), else sqlite",
    )
    parser.add_argument("--quick", action="store_true", help="smaller loads for a smoke run")
    parser.add_argument("--no-takeover", action="store_true", help="skip the take-over figures (PostgreSQL)")
    parser.add_argument("--n-acks", type=int, help=f"/sms send commands timed (default {FULL['n_acks']})")
    parser.add_argument("--n-small", type=int, help=f"small drain N (default {FULL['n_small']})")
    parser.add_argument("--small-runs", type=int, help=f"small drains, median taken (default {FULL['small_runs']})")
    parser.add_argument(
        "--n-large", type=int, help=f"large drain N (default {FULL['n_large']}, {QUICK['n_large']} with --quick)"
    )
    parser.add_argument(
        "--n-far",
        type=int,
        help=f"drain N with the gateway {FAR_LATENCY_MS:g} ms away (default {FULL['n_far']}, "
        f"{QUICK['n_far']} with --quick)",
    )
    parser.add_argument("--per-command", type=int, help=f"recipients per /sms send (default {FULL['per_command']})")
    parser.add_argument(
        "--n-reports",
        type=int,
        help=f"delivery-report requests per round, and as many /healthz (default {FULL['n_reports']})",
    )
    parser.add_argument(
        "--rounds", type=int, help=f"alternating /healthz and report rounds, median taken (default {FULL['rounds']})"
    )
    parser.add_argument("--threads", type=int, help=f"client threads for the report load (default {FULL['threads']})")
    parser.add_argument(
        "--gateway-latency-ms",
        type=float,
        default=0.0,
        help="make the simulator answer every call this much later, for the bot and the "
        f"bare loop alike (default 0: loopback speed; the far drain always uses {FAR_LATENCY_MS:g} ms)",
    )
    parser.add_argument("--bot-cmd", help="command that starts the bot (default: this python -m bot run)")
    args = parser.parse_args(argv)
    for name, default in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.n_small < 2 or args.n_large < args.n_small or args.per_command < 1 or args.rounds < 1 or args.n_far < 1:
        parser.error("need 2 <= --n-small <= --n-large, --n-far >= 1, --per-command >= 1 and --rounds >= 1")
    return args


def choose_backends(asked: str | None, server: str) -> tuple[list[str], str | None]:
    """(backends to run, a line saying why PostgreSQL is left out, or None)."""
    if asked == SQLITE:
        return [SQLITE], None
    reason = pg.unreachable(server)
    if asked is None:
        if reason is None:
            return [SQLITE, POSTGRESQL], None
        return [SQLITE], (
            f"PostgreSQL left out: {reason}; set {pg.URL_VARIABLE} to a server whose user may create databases"
        )
    if reason is not None:
        raise BenchError(f"--backend {asked} needs PostgreSQL: {reason}")
    return ([SQLITE, POSTGRESQL] if asked == "both" else [POSTGRESQL]), None


# -- where and what ---------------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def commit() -> str:
    try:
        return (
            subprocess.run(
                ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, timeout=5
            ).stdout.strip()
            or "unknown"
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def environment_lines(args: argparse.Namespace, backends: list[str], server: str) -> list[str]:
    now = datetime.datetime.now(datetime.timezone.utc).astimezone()
    where = f" (PostgreSQL {postgres_version(server)} at {pg.shown(server)}, a fresh database per run)"
    return [
        f"date:     {now:%Y-%m-%d %H:%M:%S %Z}",
        f"python:   {platform.python_version()} ({platform.python_implementation()}, {sys.executable})",
        f"machine:  nproc={len(os.sched_getaffinity(0))}, {platform.machine()}, {cpu_model()}, "
        f"{platform.system()} {platform.release()}",
        f"smsbot:   commit {commit()} (working tree as found)",
        "mode:     "
        + ("QUICK smoke run (smaller loads, see the N in each figure)" if args.quick else "full run")
        + (f", gateway latency {args.gateway_latency_ms:g} ms" if args.gateway_latency_ms else ""),
        "backends: " + ", ".join(NAMES[b] for b in backends) + (where if POSTGRESQL in backends else ""),
        f"load:     1-minute load average {', '.join(f'{x:.2f}' for x in os.getloadavg())} at the start "
        "(the range seen while each figure was measured is in its row)",
    ]


def postgres_version(server: str) -> str:
    import psycopg

    try:
        with psycopg.connect(pg.libpq_url(server), autocommit=True, connect_timeout=3) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0]).split()[0]
    except psycopg.Error:
        return "?"


# -- the measurements, each returning table rows -----------------------------------------------
def ack_rows(rig: Rig, args, notes: list[str]) -> list[Row]:
    goal = ACK_P99_GOAL_MS[rig.backend]
    progress(f"ack latency: {args.n_acks} signed /sms send commands from a client process of its own")
    latencies = measures.ack_latencies_ms_own_process(rig, args.n_acks)
    p50, p90, p99 = (measures.percentile(latencies, p) for p in (50, 90, 99))
    progress(f"ack latency: {args.n_acks} more from the benchmark's own process (as measured before issue 20)")
    shared = measures.ack_latencies_ms(rig, args.n_acks)
    s50, s99 = (measures.percentile(shared, p) for p in (50, 99))
    notes.append(
        f"ack latency: p90 {p90:.1f} ms, max {max(latencies):.1f} ms, min {min(latencies):.1f} ms "
        f"(n={len(latencies)}, one recipient each, sent back to back while the bot sends)"
    )
    notes.append(
        f"ack latency with the client in the benchmark's process, which also runs the simulator and the fake Slack "
        f"(the method before issue 20): p50 {s50:.1f} ms, p99 {s99:.1f} ms, max {max(shared):.1f} ms"
    )
    return [
        Row(f"/sms send ack p50 (n={args.n_acks})", f"{p50:.1f} ms"),
        Row(
            f"/sms send ack p99 (n={args.n_acks})",
            f"{p99:.1f} ms",
            f"<= {goal:g} ms",
            p99 <= goal,
        ),
        Row(f"ack p50 / p99, client sharing the simulator's process (n={args.n_acks})", f"{s50:.1f} / {s99:.1f} ms"),
    ]


def drain_rows(rig: Rig, args, notes: list[str]) -> list[Row]:
    small, large = args.n_small, args.n_large
    progress(f"drain: N={small} x {args.small_runs}, bot")
    bot_small = measures.median_of(args.small_runs, lambda: measures.bot_drain_seconds(rig, small, args.per_command))
    progress(f"drain: N={small} x {args.small_runs}, bare loop")
    bare_small = measures.median_of(args.small_runs, lambda: measures.bare_drain_seconds(rig, small))
    progress(f"drain: N={large}, bare loop (1 of 2)")
    bare_before = measures.bare_drain_seconds(rig, large)
    progress(f"drain: N={large}, bot (queued through {-(-large // args.per_command)} commands)")
    bot_large = measures.bot_drain_seconds(rig, large, args.per_command)
    progress(f"drain: N={large}, bare loop (2 of 2)")
    bare_after = measures.bare_drain_seconds(rig, large)
    bare_large = (bare_before + bare_after) / 2
    ratio = bot_large / bare_large
    per_small, per_large = bot_small / small * 1000, bot_large / large * 1000
    flatness = per_large / per_small
    notes.append(
        f"bare loop per SMS: {bare_small / small * 1000:.3f} ms at N={small}, "
        f"{bare_large / large * 1000:.3f} ms at N={large} (runs before/after the bot: "
        f"{bare_before:.2f} s, {bare_after:.2f} s); bot/bare at N={small}: {bot_small / bare_small:.2f}x"
    )
    quick = " (quick: small N)" if args.quick else ""
    return [
        Row(f"drain {large} SMS: bot{quick}", f"{bot_large:.2f} s"),
        Row(f"drain {large} SMS: bare keep-alive loop (mean of 2)", f"{bare_large:.2f} s"),
        Row(
            f"drain ratio bot/bare (N={large}, gateway on loopback)",
            f"{ratio:.2f}x",
            *(
                (f"<= {DRAIN_RATIO_GOAL:.2f}x", ratio <= DRAIN_RATIO_GOAL)
                if LOOPBACK_DRAIN_GOAL[rig.backend]
                else ("(goal with the gateway away)", None)
            ),
        ),
        Row(f"per-SMS drain, N={small} (median of {args.small_runs})", f"{per_small:.3f} ms"),
        Row(f"per-SMS drain, N={large}{quick}", f"{per_large:.3f} ms"),
        Row(
            f"per-SMS ratio N={large} / N={small}",
            f"{flatness:.2f}x",
            f"flat: <= {FLATNESS_GOAL:.2f}x",
            flatness <= FLATNESS_GOAL,
        ),
    ]


def far_drain_rows(rig: Rig, args, notes: list[str]) -> list[Row]:
    """The drain again with the simulator answering every call FAR_LATENCY_MS later, as a gateway on
    another network does: what the bot adds per SMS compared with what the distance costs anyway."""
    n, base = args.n_far, rig.simulator.latency
    rig.simulator.latency = base + FAR_LATENCY_MS / 1000
    try:
        progress(f"drain, gateway {FAR_LATENCY_MS:g} ms away: N={n}, bare loop (1 of 2)")
        bare_before = measures.bare_drain_seconds(rig, n)
        progress(f"drain, gateway {FAR_LATENCY_MS:g} ms away: N={n}, bot")
        bot = measures.bot_drain_seconds(rig, n, args.per_command)
        progress(f"drain, gateway {FAR_LATENCY_MS:g} ms away: N={n}, bare loop (2 of 2)")
        bare_after = measures.bare_drain_seconds(rig, n)
    finally:
        rig.simulator.latency = base
    bare = (bare_before + bare_after) / 2
    ratio = bot / bare
    notes.append(
        f"gateway {FAR_LATENCY_MS:g} ms away, N={n}: bot {bot / n * 1000:.2f} ms per SMS, bare loop "
        f"{bare / n * 1000:.2f} ms (runs before/after the bot: {bare_before:.2f} s, {bare_after:.2f} s)"
    )
    far = f"gateway {FAR_LATENCY_MS:g} ms away"
    return [
        Row(f"drain {n} SMS, {far}: bot / bare loop (mean of 2)", f"{bot:.2f} / {bare:.2f} s"),
        Row(
            f"drain ratio bot/bare (N={n}, {far})",
            f"{ratio:.3f}x",
            f"<= {DRAIN_RATIO_GOAL:.2f}x",
            ratio <= DRAIN_RATIO_GOAL,
        ),
    ]


def intake_rows(rig: Rig, args, notes: list[str]) -> list[Row]:
    n, threads, rounds = args.n_reports, args.threads, args.rounds
    healths, intakes, ceilings = [], [], []
    for r in range(1, rounds + 1):
        progress(
            f"load round {r}/{rounds}: {n} GET /healthz, then {n} delivery reports, then {n} requests to an "
            f"empty app behind the same HTTP server, over {threads} keep-alive connections"
        )
        healths.append(measures.healthz_load(rig, n, threads))
        intakes.append(measures.report_intake(rig, n, threads))
        ceilings.append(measures.http_ceiling(n, threads))
    health = statistics.median(load.rate for load in healths)
    intake = statistics.median(item.load.rate for item in intakes)
    ceiling = statistics.median(load.rate for load in ceilings)
    ratio = intake / health
    stored, sent = sum(item.stored for item in intakes), n * rounds
    errors = sum(item.load.errors for item in intakes) + sum(load.errors for load in healths)
    notes.append(
        "rates per round: reports "
        + ", ".join(f"{item.load.rate:,.0f}" for item in intakes)
        + "; /healthz "
        + ", ".join(f"{load.rate:,.0f}" for load in healths)
        + "; the empty app "
        + ", ".join(f"{load.rate:,.0f}" for load in ceilings)
        + " per s"
    )
    notes.append(
        "bot CPU during the load (median, share of one core): "
        f"{statistics.median(item.load.bot_busy for item in intakes):.0%} for reports, "
        f"{statistics.median(load.bot_busy for load in healths):.0%} for /healthz; non-200 answers: {errors}"
    )
    notes.append(
        f"reports sent: {sum(item.known for item in intakes)} for sent SMS, "
        f"{sum(item.unknown for item in intakes)} for unknown tracking ids; all stored reports by outcome: "
        + ", ".join(f"{outcome} {count}" for outcome, count in measures.report_outcomes(rig).items())
    )
    per = f"{threads} threads, median of {rounds} x {n}"
    return [
        Row(
            f"delivery reports / s ({per})",
            f"{intake:,.0f}",
            f">= {REPORTS_PER_SECOND_GOAL:,.0f}",
            intake >= REPORTS_PER_SECOND_GOAL,
        ),
        Row(f"/healthz / s ({per})", f"{health:,.0f}"),
        Row(f"the HTTP server's own ceiling: an empty app, requests / s ({per})", f"{ceiling:,.0f}"),
        Row("report intake / that ceiling", f"{intake / ceiling:.2f}x"),
        Row("report intake / healthz", f"{ratio:.2f}x", f">= {REPORT_RATIO_GOAL:.2f}x", ratio >= REPORT_RATIO_GOAL),
        Row("reports stored (sent + unknown ids)", f"{stored} of {sent}", "all", stored == sent and errors == 0),
        Row(
            "reports applied by the leader: all, within … s of a round's end (max of rounds)",
            f"{max(item.applied_after for item in intakes):.2f} s",
        ),
    ]


def memory_rows(rig: Rig, notes: list[str]) -> list[Row]:
    rss, peak = rig.bot.status_kb("VmRSS") / 1024, rig.bot.status_kb("VmHWM") / 1024
    notes.append(f"bot peak RSS (VmHWM): {peak:.1f} MB")
    return [Row("bot RSS after the load (VmRSS)", f"{rss:.1f} MB", f"<= {RSS_GOAL_MB:g} MB", rss <= RSS_GOAL_MB)]


def stop_rows(rig: Rig) -> list[Row]:
    progress("SIGTERM")
    code, seconds = rig.bot.stop()
    shown = "killed (no exit)" if code is None else f"{code} after {seconds:.1f} s"
    return [Row("exit on SIGTERM", shown, "0 within 10 s", code == 0 and seconds <= 10)]


def warning_rows(rig: Rig, notes: list[str]) -> list[Row]:
    """After SIGTERM: every line the bot logged at WARNING or above over the whole run."""
    lines = rig.bot.warnings()
    if lines:
        events = Counter(match.group(1) if (match := _EVENT.search(line)) else line[:80] for line in lines)
        notes.append("bot log lines at WARNING or above: " + ", ".join(f"{e} x{n}" for e, n in events.most_common(8)))
    return [
        Row(
            "bot log lines at WARNING or above (clean run)",
            f"{len(lines):,}",
            f"{WARNINGS_GOAL} warnings",
            len(lines) <= WARNINGS_GOAL,
        )
    ]


def list_rows(notes: list[str], server: str | None) -> list[Row]:
    progress(f"personalised list: plan and queue {lists.ROWS} rows (median of 3)")
    plan_ms, queue_ms = lists.median_run(server=server)
    total = plan_ms + queue_ms
    notes.append(
        f"personalised list of {lists.ROWS} rows: planning (read, every number and text checked) "
        f"{plan_ms:.0f} ms, queueing (one transaction) {queue_ms:.0f} ms, in the benchmark's process"
    )
    return [
        Row(
            f"plan + queue a {lists.ROWS:,}-row personalised list",
            f"{total:,.0f} ms",
            f"<= {LIST_GOAL_MS:,.0f} ms",
            total <= LIST_GOAL_MS,
        )
    ]


def claim_rows(notes: list[str], server: str | None) -> list[Row]:
    progress(f"claims: {claims.CLAIMS:,} due SMS with 0 and with {claims.WAITING:,} scheduled rows waiting")
    none, many = claims.flat_ratio(server=server)
    ratio = many / none
    notes.append(
        f"claim (one transaction each, in the benchmark's process): {none:.3f} ms with no scheduled rows "
        f"waiting, {many:.3f} ms with {claims.WAITING:,} waiting ahead of the due ones (best of 5 runs each)"
    )
    return [
        Row(
            f"claim cost with {claims.WAITING:,} scheduled rows waiting / none",
            f"{ratio:.2f}x",
            f"flat: <= {CLAIM_FLAT_GOAL:.2f}x",
            ratio <= CLAIM_FLAT_GOAL,
        )
    ]


def limit_rows(args, notes: list[str]) -> list[Row]:
    history = limits.HISTORY // (10 if args.quick else 1)
    progress(f"daily limits: {history:,} SMS of history, then {args.n_acks} acks without and with limits")
    without, with_limits = limits.p99_without_and_with_limits(args.bot_cmd, args.n_acks, history)
    ratio = with_limits / without
    notes.append(
        f"ack p99 over {history:,} SMS of history: {without:.1f} ms without limits, {with_limits:.1f} ms "
        "with SMSBOT_DAILY_LIMIT_USER and SMSBOT_DAILY_LIMIT set (a fresh bot on the filled database each)"
    )
    return [
        Row(
            f"ack p99 with daily limits / without ({history:,} SMS of history)",
            f"{ratio:.2f}x",
            f"<= {LIMITS_RATIO_GOAL:g}x",
            ratio <= LIMITS_RATIO_GOAL,
        )
    ]


def run_benchmark(args, backend: str, server: str, meter: LoadMeter) -> tuple[list[Row], list[str]]:
    """Every figure on one backend; on PostgreSQL, the bot's database is created for this run and dropped."""
    if backend == POSTGRESQL:
        with pg.fresh_database(server) as url:
            progress(f"PostgreSQL: a fresh database {pg.database_name(url)}")
            return _run_benchmark(args, url, server, meter)
    return _run_benchmark(args, None, None, meter)


def _run_benchmark(args, url: str | None, server: str | None, meter: LoadMeter) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    notes: list[str] = []

    def measured(measure, *params) -> list[Row]:
        started = time.monotonic()
        return meter.stamp(measure(*params), started)

    progress("starting the simulator, the fake Slack and smsbot run")
    with Rig(args.bot_cmd, database_url=url) as rig:
        progress(f"smsbot pid {rig.bot.pid} listening on {rig.base_url} ({NAMES[rig.backend]})")
        rig.simulator.latency = args.gateway_latency_ms / 1000
        # A server without autovacuum (the shared test server runs so) keeps every old row version until a
        # VACUUM: each figure would then pay for the bursts of the figures before it, as no default server does.
        vacuumed = url is not None and pg.autovacuum_off(url)
        if vacuumed:
            notes.append(
                "the PostgreSQL server runs with autovacuum = off (its default is on): the benchmark ran VACUUM "
                "(ANALYZE) on the bot's database before each drain and the report intake, as autovacuum does "
                "between bursts; within a burst old row versions pile up, as they do until autovacuum's next pass"
            )

        def between_figures() -> None:
            if vacuumed:
                pg.vacuum(url)

        try:
            rows += measured(ack_rows, rig, args, notes)
            between_figures()
            rows += measured(drain_rows, rig, args, notes)
            between_figures()
            rows += measured(far_drain_rows, rig, args, notes)
            between_figures()
            rows += measured(intake_rows, rig, args, notes)
            rows += measured(memory_rows, rig, notes)
            rows += measured(list_rows, notes, server)
            rows += measured(claim_rows, notes, server)
        except BenchError:
            print(f"--- smsbot stderr (last lines) ---\n{rig.bot.log_tail()}", file=sys.stderr)
            raise
        rows += measured(stop_rows, rig)
        rows += measured(warning_rows, rig, notes)
    if url is None:  # its history is written with SQLite's SQL; not measured on PostgreSQL
        rows += measured(limit_rows, args, notes)
    return rows, notes


def takeover_rows(args, server: str, meter: LoadMeter, notes: list[str]) -> list[Row]:
    started = time.monotonic()
    progress(
        f"take-over: two smsbot run replicas on a fresh PostgreSQL database, bursts of {takeover.BURST} SMS "
        f"with the gateway {takeover.LATENCY * 1000:g} ms away"
    )
    results = takeover.measure(server, bot_command=args.bot_cmd, burst=takeover.BURST, progress=progress)
    notes.extend(takeover.notes(results))
    return meter.stamp(takeover.rows(results), started)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    server = pg.server_url()
    try:
        backends, left_out = choose_backends(args.backend, server)
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    if left_out:
        print(left_out, file=sys.stderr)
    header = environment_lines(args, backends, server)
    results: dict[str, list[Row]] = {}
    notes: dict[str, list[str]] = {}
    try:
        with LoadMeter() as meter:
            for backend in backends:
                progress(f"=== {NAMES[backend]} ===")
                results[NAMES[backend]], notes[NAMES[backend]] = run_benchmark(args, backend, server, meter)
            if POSTGRESQL in backends and not args.no_takeover:
                results[NAMES[POSTGRESQL]] += takeover_rows(args, server, meter, notes[NAMES[POSTGRESQL]])
    except BenchError as error:
        print(f"benchmark failed: {error}", file=sys.stderr)
        return 1
    table = side_by_side_cells(results)
    print("\n".join(["", "smsbot benchmark", *header, *([left_out] if left_out else []), ""]))
    print(render_text(*table))
    for name, lines in notes.items():
        print(f"\nnotes, {name}:\n" + "\n".join(f"  - {note}" for note in lines))
    print()
    for name, rows in results.items():
        failures = missed(rows)
        print(
            f"goals on {name}: {sum(r.met is True for r in rows)} met, {len(failures)} missed"
            + (": " + "; ".join(r.figure for r in failures) if failures else "")
        )
    print("\nMarkdown:\n")
    print("\n".join(f"{line}  " for line in header))
    print()
    print(render_markdown(*table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
