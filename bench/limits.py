"""One figure: what the daily limits cost a `/sms send` ack with a long history. The bot's database
is filled first with a year of sends (1,000,000 SMS by default, most by the very user who then types
`/sms send`), then acks are timed without limits and with SMSBOT_DAILY_LIMIT_USER and
SMSBOT_DAILY_LIMIT set high enough never to refuse: the check must read only the day's rows."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from bench import measures
from bench.rig import Rig

HISTORY = 1_000_000
PER_BATCH = 10
DAY = 86400.0
LIMITS = {"SMSBOT_DAILY_LIMIT_USER": "1000000000", "SMSBOT_DAILY_LIMIT": "1000000000"}
USER = "U0USER"  # the benchmark's slash commands come from this user


def fill_history(db_path: Path, sms: int = HISTORY) -> None:
    """A year of sent SMS before now: batches of 10, each SMS with its charge, as the bot writes them."""
    from bot.storage.db import Database

    db = Database(str(db_path))
    try:
        db.migrate()
    finally:
        db.close()
    batches, now = sms // PER_BATCH, time.time()
    conn = sqlite3.connect(db_path)
    try:
        with conn:
            conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                "INSERT INTO batches (id, created_at, recipients, user_id, user_name, text, encoding, parts, origin) "
                "SELECT i, ? - 365 * 86400.0 * (? - i) / ?, ?, CASE WHEN i % 5 THEN ? ELSE 'U0OTHER' END, 'bench', "
                "'history', 'GSM-7', 1, 'slack' FROM n",
                (batches, now - DAY, batches, batches, PER_BATCH, USER),
            )
            conn.execute(
                "INSERT INTO messages (batch_id, recipient, country, status, attempts, next_attempt_at, queued_at, "
                "updated_at, sent_at) SELECT b.id, '2783' || printf('%07d', b.id * 10 + k.k), 'ZA', 'sent', 1, "
                "b.created_at, b.created_at, b.created_at, b.created_at FROM batches b, "
                "(WITH RECURSIVE k(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM k WHERE k < ?) SELECT k FROM k) k",
                (PER_BATCH - 1,),
            )
            conn.execute(
                "INSERT INTO charges (message_id, batch_id, user_id, counted_at, credits) "
                "SELECT m.id, m.batch_id, b.user_id, b.created_at, 1 FROM messages m "
                "JOIN batches b ON b.id = m.batch_id"
            )
        conn.execute("ANALYZE")
    finally:
        conn.close()


def p99_without_and_with_limits(bot_command: str | None, n: int, history: int = HISTORY) -> tuple[float, float]:
    """(ack p99 ms without limits, with limits), both over ``history`` SMS of history."""
    rig = Rig(bot_command)
    fill_history(rig.db_path, history)
    with rig:
        without = measures.percentile(measures.ack_latencies_ms(rig, n), 99)
        rig.restart(LIMITS)
        with_limits = measures.percentile(measures.ack_latencies_ms(rig, n), 99)
    return without, with_limits
