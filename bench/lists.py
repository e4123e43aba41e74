"""One figure: planning and queueing a 5,000-row personalised list (in this process, a fresh
SQLite file or PostgreSQL database): every row read and checked, then the whole send written in one transaction."""

from __future__ import annotations

import statistics
import time

from bench.pg import scratch_database
from bot.slack.notices import SlackNotices
from bot.slack.posts import SlackPosts
from bot.sms.lists import read_list
from bot.storage.outbox import Outbox
from bot.storage.queue import SendQueue
from bot.usecases.sending import store_send

ROWS = 5000
TEMPLATE = "Hi {first_name}, your order {order} is ready for collection at {site}. Reply STOP to opt out."


def csv_bytes(rows: int = ROWS) -> bytes:
    lines = ["Mobile,First Name,Order,Site"]
    lines += [f"08{2 + i % 3}{i:07d},Name{i},{100000 + i},Site {i % 40}" for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


def plan_and_queue_ms(rows: int = ROWS, server: str | None = None) -> tuple[float, float]:
    """(planning ms, queueing ms) for one list (``server``: on a fresh database there, else on SQLite)."""
    data = csv_bytes(rows)
    with scratch_database(server) as db:
        started = time.perf_counter()
        read = read_list(data, TEMPLATE, "ZA", max_rows=rows)
        planned = time.perf_counter()
        notices = SlackNotices(Outbox(db), SlackPosts(db))
        with db.transaction() as conn:
            store_send(
                conn,
                SendQueue(db),
                notices,
                read.plan,
                {"user_id": "U0BENCH", "channel_id": "C0BENCH"},
                time.time(),
            )
        queued = time.perf_counter()
        assert db.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == rows
    return (planned - started) * 1000, (queued - planned) * 1000


def median_run(runs: int = 3, server: str | None = None) -> tuple[float, float]:
    results = [plan_and_queue_ms(server=server) for _ in range(runs)]
    return statistics.median(r[0] for r in results), statistics.median(r[1] for r in results)


if __name__ == "__main__":
    plan_ms, queue_ms = median_run()
    print(f"plan {plan_ms:.0f} ms + queue {queue_ms:.0f} ms = {plan_ms + queue_ms:.0f} ms for {ROWS} rows")
