"""One figure: what a claim costs with scheduled SMS waiting (in this process, a fresh SQLite file or
PostgreSQL database per run). A send scheduled for tomorrow to ``waiting`` recipients is queued first
(so its rows come first in id order), then CLAIMS SMS to go at once; the sender's claims of those are
timed, each in its own transaction as ``SendQueue.claim`` commits it. Claims must stay flat however many rows wait."""

from __future__ import annotations

import time

from bench.pg import scratch_database
from bot.storage.queue import SendQueue

WAITING = 50_000
CLAIMS = 2000
PER_BATCH = 100
DAY = 86400.0
BATCH = {"user_id": "U0BENCH", "origin": "bench", "text": "Benchmark", "encoding": "GSM-7", "parts": 1}


def numbers(start: int, n: int) -> list[str]:
    return [f"2783{i:07d}" for i in range(start, start + n)]


def per_claim_ms(waiting: int, claims: int = CLAIMS, server: str | None = None) -> float:
    """Mean milliseconds per claim of ``claims`` due SMS, with ``waiting`` scheduled rows ahead of them
    (``server``: on a fresh PostgreSQL database there, else on a fresh SQLite file)."""
    with scratch_database(server) as db:
        queue, now = SendQueue(db), time.time()
        with db.transaction() as conn:
            if waiting:
                queue.enqueue(conn, {**BATCH, "scheduled_for": now + DAY}, numbers(0, waiting), now)
            for start in range(0, claims, PER_BATCH):
                queue.enqueue(conn, BATCH, numbers(waiting + start, min(PER_BATCH, claims - start)), now)
        db.conn.execute("ANALYZE")
        # the set-up's large write is copied into the file now, not by the checkpoint thread while claims are timed
        db.checkpoint()
        started = time.perf_counter()
        for _ in range(claims):
            if queue.claim(now) is None:
                raise RuntimeError("a due SMS was not claimed")
        seconds = time.perf_counter() - started
    return seconds / claims * 1000


def flat_ratio(
    waiting: int = WAITING, rounds: int = 5, claims: int = CLAIMS, server: str | None = None
) -> tuple[float, float]:
    """(ms per claim with nothing waiting, with ``waiting`` scheduled rows): the best of alternating runs, since
    a commit's time on a shared machine varies far more than what the rows waiting could add to it."""
    without, with_waiting = [], []
    for _ in range(rounds):
        without.append(per_claim_ms(0, claims, server))
        with_waiting.append(per_claim_ms(waiting, claims, server))
    return min(without), min(with_waiting)


if __name__ == "__main__":
    none, many = flat_ratio()
    print(f"claim: {none:.3f} ms with none waiting, {many:.3f} ms with {WAITING:,} waiting ({many / none:.2f}x)")
