"""The retention thread (bot/workers/retention.py) on PostgreSQL: a pass spread over small transactions
ends with one VACUUM of the tables it erased from, and a pass that erased nothing vacuums none of them."""

import logging

import pytest

from bot.config.settings import load_settings
from bot.runtime import Bot
from bot.storage import retention as retention_module
from tests.conftest import Clock, Driver, another_connection, base_env, said

DAY = 86400.0
T0 = 1_780_000_000.0


@pytest.fixture
def pg(tmp_path, simulator, fake_slack, pg_url):
    settings = load_settings(
        base_env(
            tmp_path,
            SMSOFFICE_API_URL=simulator.api_url,
            SLACK_API_URL=fake_slack.api_url,
            SMSBOT_RETENTION_DAYS="30",
            SMSBOT_DATABASE_URL=pg_url,
        )
    )
    bot = Bot(settings, clock=Clock(T0))
    bot.server.start()
    yield Driver(bot, fake_slack)
    bot.stop()


def vacuum_counts(d, tables) -> dict[str, int]:
    """How many times each table was VACUUMed (not counting autovacuum), as the server counts."""
    with another_connection(d.bot.db) as conn:
        return dict(
            conn.execute(
                "SELECT relname, vacuum_count FROM pg_stat_user_tables WHERE relname = ANY(%s)", (list(tables),)
            ).fetchall()
        )


def test_a_pass_in_small_transactions_ends_with_one_vacuum_of_what_it_erased(pg, monkeypatch, caplog):
    monkeypatch.setattr(retention_module, "CHUNK", 1)  # one send per transaction: three transactions
    caplog.set_level(logging.INFO)
    for n in range(3):
        said(pg.command(f"send 2782123456{n} Secret {n}"))
    pg.pump()
    tables = ("batches", "messages", "reports")
    before = vacuum_counts(pg, tables)
    worker, now = pg.bot.retention_worker, T0 + 60 * DAY
    steps = 0
    while worker.run_once(now):
        steps += 1
        assert steps < 10
    assert [r[0] for r in pg.bot.db.conn.execute("SELECT recipient FROM messages")] == ["", "", ""]
    after = vacuum_counts(pg, tables)
    assert {t: after[t] - before[t] for t in tables} == {"batches": 1, "messages": 1, "reports": 1}
    assert caplog.text.count("event=retention_vacuumed") == 1
    # the pass's log line comes after the VACUUM: the pass is over when its erased rows are gone
    assert caplog.text.index("event=retention_vacuumed") < caplog.text.index("event=retention_pass")

    # the next day's pass finds nothing to erase: no VACUUM of those tables
    while worker.run_once(now + DAY):
        pass
    assert vacuum_counts(pg, tables) == after
