"""PostgreSQL (bot/storage/postgres.py): the SQL text both backends read, rows like sqlite3.Row, the one
writers' lock that keeps every rule exact across replicas, busy waits bounded, broken connections healed,
migrations that two processes starting together run once."""

import threading

import pytest

from bot.config.settings import load_settings
from bot.runtime import Bot
from bot.slack.render import CONFIRM_ACTION
from bot.storage.errors import OperationalError
from bot.storage.faults import WriteTimeout, is_busy, needs_reopen
from bot.storage.migrations import BASELINE
from bot.storage.postgres import PostgresDatabase, shown_url, to_psycopg
from tests.conftest import (
    Driver,
    another_connection,
    base_env,
    create_database,
    drop_database,
    said,
    wait_for,
    writes_held,
)


# -- the SQL text (no server needed) ----------------------------------------------------------------------
def test_question_marks_become_psycopg_placeholders_but_not_inside_quotes():
    assert to_psycopg("SELECT ? WHERE a = '?' AND b = \"x?\" AND c LIKE '5%' AND d % 2 = ?") == (
        "SELECT %s WHERE a = '?' AND b = \"x?\" AND c LIKE '5%%' AND d %% 2 = %s"
    )
    assert to_psycopg("UPDATE t SET a = :a WHERE b = :b_2 AND c::text = 'x:y'", named=True) == (
        "UPDATE t SET a = %(a)s WHERE b = %(b_2)s AND c::text = 'x:y'"
    )


def test_a_url_shown_in_a_message_has_no_password():
    assert shown_url("postgresql://smsbot:s3cr%40t@db.example:5432/smsbot") == (
        "postgresql://smsbot:***@db.example:5432/smsbot"
    )
    assert "s3cr" not in repr(PostgresDatabase("postgresql://smsbot:s3cr%40t@db.example:5432/smsbot", "x.db"))


# -- against a real server -------------------------------------------------------------------------------
@pytest.fixture
def pg(pg_url, tmp_path):
    database = PostgresDatabase(pg_url, str(tmp_path / "smsbot.db"))
    database.migrate()
    yield database
    database.close()


def test_rows_read_as_sqlite_rows_do(pg):
    with pg.transaction() as conn:
        batch = conn.execute(
            "INSERT INTO batches (created_at, text, parts) VALUES (?, ?, ?) RETURNING id, text, parts", (1.5, "50%?", 2)
        ).fetchone()
    assert (batch[0], batch["text"], batch[1:], batch.keys()) == (1, "50%?", ("50%?", 2), ["id", "text", "parts"])
    assert dict(batch) == {"id": 1, "text": "50%?", "parts": 2}
    total = pg.conn.execute("SELECT sum(id), sum(parts), count(*) FROM batches").fetchone()
    assert [type(v) for v in total] == [int, int, int]  # a sum of BIGINT is numeric there: read as an int
    assert pg.conn.execute("UPDATE batches SET parts = 3").rowcount == 1
    assert pg.conn.execute("DELETE FROM kv").fetchall() == []  # no rows, no error, as in SQLite


def replicas(pg_url, tmp_path, simulator, fake_slack, **env):
    """Two whole Bots on one PostgreSQL database (two pools: two replicas), each with its own folder."""
    bots = []
    for name in ("a", "b"):
        folder = tmp_path / name
        folder.mkdir()
        settings = load_settings(
            base_env(
                folder,
                SMSOFFICE_API_URL=simulator.api_url,
                SLACK_API_URL=fake_slack.api_url,
                SMSBOT_DATABASE_URL=pg_url,
                **env,
            )
        )
        bot = Bot(settings)
        bot.server.start()
        bots.append(bot)
    return bots


@pytest.fixture
def two(pg_url, tmp_path, simulator, fake_slack):
    made = []

    def make(**env):
        made.extend(replicas(pg_url, tmp_path, simulator, fake_slack, **env))
        return made[-2:]

    make.made = made  # type: ignore[attr-defined]
    yield make
    for bot in made:
        bot.stop()


def test_twenty_sends_racing_over_two_replicas_queue_exactly_what_the_daily_limit_allows(two, fake_slack):
    a, b = two(SMSBOT_DAILY_LIMIT="7")
    start = threading.Barrier(20)
    answers: dict[int, str] = {}

    def send(i: int) -> None:
        driver = Driver((a, b)[i % 2], fake_slack)  # its own HTTP session: one per thread
        start.wait(10)
        answers[i] = said(driver.command(f"send 2783100{i:04d} Drill", user_id=f"U0{i:04d}"))

    threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(answers) == 20
    queued = [i for i, text in answers.items() if "Queued 1 SMS" in text]
    assert len(queued) == 7 and {i % 2 for i in queued} <= {0, 1}
    assert all("daily limit" in text for i, text in answers.items() if i not in queued)
    assert a.queue.depth() == b.queue.depth() == 7


def test_a_confirmation_clicked_on_both_replicas_queues_once(two, fake_slack):
    a, b = two(SMSBOT_CONFIRM_ABOVE="2")
    preview = Driver(a, fake_slack).command("send 27831234567,27821234567,27841234567 Drill").json()
    pending_id = next(
        e["value"]
        for blk in preview["blocks"]
        if blk["type"] == "actions"
        for e in blk["elements"]
        if e["action_id"] == CONFIRM_ACTION
    )
    start = threading.Barrier(2)

    def click(bot):
        driver = Driver(bot, fake_slack)
        start.wait(10)
        assert driver.click(CONFIRM_ACTION, pending_id).status_code == 200

    threads = [threading.Thread(target=click, args=(bot,)) for bot in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert wait_for(lambda: any("Queued" in body.get("text", "") for _, body in fake_slack.responses))
    url = a.db.url  # type: ignore[attr-defined]
    while two.made:
        two.made.pop().stop()  # ends each click's work (the after-ack pool) before counting
    check = PostgresDatabase(url, "unused.db")
    try:
        assert check.conn.execute("SELECT count(*) FROM batches").fetchone()[0] == 1
        assert check.conn.execute("SELECT count(*) FROM messages WHERE status = 'queued'").fetchone()[0] == 3
    finally:
        check.close()


def test_a_write_waits_for_another_replica_and_gives_up_after_its_patience(pg):
    with writes_held(pg), pg.patience(0.2), pytest.raises(WriteTimeout) as raised, pg.transaction() as conn:
        conn.execute("INSERT INTO kv (key, value) VALUES ('lost', 'x')")
    assert is_busy(raised.value) and "database is locked" in str(raised.value)
    assert pg.get_kv("lost") is None
    with pg.transaction() as conn:  # released: writes go again, on the same connection
        pg.set_kv(conn, "after", "y")
    assert pg.get_kv("after") == "y"


def test_readers_do_not_wait_for_writers(pg):
    with writes_held(pg):
        assert pg.get_kv("anything") is None and pg.ping()


def test_a_connection_cut_under_the_bot_is_replaced_at_its_next_use(pg):
    with pg.transaction() as conn:
        pg.set_kv(conn, "before", "1")
    pid = pg.conn.execute("SELECT pg_backend_pid()").fetchone()[0]
    killer = another_connection(pg)
    try:
        killer.execute("SELECT pg_terminate_backend(%s)", (pid,))  # as a server restart or a network cut would
    finally:
        killer.close()
    with pytest.raises(OperationalError) as raised:
        pg.conn.execute("SELECT 1")
    assert needs_reopen(raised.value)
    assert pg.conn.execute("SELECT pg_backend_pid()").fetchone()[0] != pid  # a new connection
    with pg.transaction() as conn:
        pg.set_kv(conn, "after", "2")
    assert (pg.get_kv("before"), pg.get_kv("after")) == ("1", "2")


@pytest.mark.postgres
def test_two_processes_starting_together_migrate_once_and_a_newer_schema_is_refused(tmp_path):
    url = create_database("smsbot_migrate")
    try:
        starting = [PostgresDatabase(url, str(tmp_path / f"{n}.db")) for n in range(4)]
        versions: list[int] = []
        start = threading.Barrier(4)

        def migrate(database):
            start.wait(10)
            versions.append(database.migrate())

        threads = [threading.Thread(target=migrate, args=(d,)) for d in starting]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert len(versions) == 4 and len(set(versions)) == 1 and versions[0] >= BASELINE
        db = starting[0]
        assert db.conn.execute("SELECT count(*), max(version) FROM smsbot_schema").fetchone()[:] == (1, versions[0])
        with db.transaction() as conn:
            conn.execute("UPDATE smsbot_schema SET version = 999")
        with pytest.raises(RuntimeError) as refused:
            db.migrate()
        assert f"was written by a newer smsbot (schema 999, this one knows {versions[0]}): upgrade smsbot" in str(
            refused.value
        )
        for d in starting:
            d.close()
    finally:
        drop_database(url)


def test_a_url_keeps_its_own_network_settings_and_gets_ours_for_the_rest():
    from bot.storage.postgres import NETWORK_DEFAULTS, network_defaults

    assert network_defaults("postgresql://u@db/smsbot") == NETWORK_DEFAULTS
    mine = network_defaults("postgresql://u@db/smsbot?connect_timeout=30&sslmode=require")
    assert "connect_timeout" not in mine and mine["keepalives_idle"] == 5


def test_a_server_that_accepts_and_never_answers_is_given_up_in_seconds_not_minutes():
    """A black-holed database (the TCP connection opens, nothing ever comes back): the bot is told within
    its connect timeout, so a leader's renewal fails in time and a request gets its sentence."""
    import socket
    import time

    with socket.create_server(("127.0.0.1", 0)) as silent:  # the kernel accepts; nobody ever answers
        db = PostgresDatabase(f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/smsbot", "unused.db")
        try:
            started = time.monotonic()
            assert db.ping() is False
            assert time.monotonic() - started < 15  # connect_timeout is 5 s; libpq may try twice
        finally:
            db.close()


@pytest.mark.parametrize("repeats", range(3))
def test_the_same_signed_request_reaching_both_replicas_at_once_runs_once(two, fake_slack, repeats):
    """A retrying proxy or load balancer delivers one /sms send to both replicas: one SMS is queued, and both
    answers are the first one's (or say it was already received), never an error."""
    from bot.testing.slack_requests import command_body, sign
    from tests.conftest import SIGNING_SECRET

    a, b = two()
    body = command_body("send 27831234567 Generator running", response_url=fake_slack.response_url("twice"))
    headers = sign(SIGNING_SECRET, body, int(a.clock()))
    start = threading.Barrier(2)
    answers: dict[str, str] = {}

    def post(bot) -> None:
        import requests

        start.wait(10)
        response = requests.post(bot.server.url + "/slack/events", data=body, headers=headers, timeout=10)
        answers[bot.server.url] = said(response)

    threads = [threading.Thread(target=post, args=(bot,)) for bot in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert a.queue.depth() == 1 and len(a.queue.recent_batches(5)) == 1  # ran once, on one replica
    assert len(answers) == 2
    for text in answers.values():
        assert "Queued 1 SMS" in text or "already received this exact command" in text, text


def test_an_opt_out_added_on_the_standby_mid_batch_stops_the_rest_on_the_leader(two, fake_slack, simulator):
    """The leader checks each SMS against the do-not-contact list as it sends: an opt-out committed by the
    other replica in the middle of a batch keeps the rest of that batch from that number."""
    a, b = two(SMSBOT_ADMIN_USERS="U0BOSS", SMSBOT_CONFIRM_ABOVE="100")  # b took the lease last: it leads
    leader, standby = Driver(b, fake_slack), Driver(a, fake_slack)
    said(standby.command("send 27831234567,27821234567,27841234567 Evacuate", user_id="U0BOSS"))
    assert a.sender.run_once() is False  # the standby's sender claims nothing (fenced by the lease)
    assert b.sender.run_once() is True  # the first SMS goes out from the leader
    said(standby.command("optout add 27841234567", user_id="U0BOSS"))  # taken by the other replica
    leader.pump()
    assert sorted(m.to for m in simulator.messages) == ["27821234567", "27831234567"]
    last = b.queue.messages_of(1)[2]
    assert (last["recipient"], last["status"]) == ("27841234567", "failed")
