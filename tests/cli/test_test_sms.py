"""`smsbot check --test-sms NUMBER`: two real SMS queued through a running `smsbot run` (the simulator as the
gateway, its delivery reports sent to the bot's callback), followed to their reports.

The part counts expected here come from the spec's own numbers (GSM 03.38/03.40: 160 septets alone, 153 per
part of a long SMS, an escape pair never split; UCS-2: 70 alone, 67 per part, a surrogate pair never split),
counted by this file, not by bot/sms/rules.py."""

import fcntl
import getpass
import os
import re
import sqlite3
from urllib.parse import quote_plus

import psycopg
import pytest
import requests

from bot.storage.db import Database
from tests.conftest import base_env, wait_for
from tests.process import CALLBACK_SECRET, smsbot, start_bot

NUMBER = "27831234567"
BASE = ["check", "--test-sms", NUMBER, "--as", "U0USER", "--channel", "C0GENERAL"]

# GSM 03.38's default alphabet and its extension table (each extension character is ESC + code: 2 septets)
GSM_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§"
    "¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM_EXTENSION = set("€[]{}\\~^|\f")


def spec_parts(units: list[tuple[str, int]], alone: int, per_part: int) -> list[str]:
    """The parts of a text as (character, units) pairs: one part up to ``alone`` units, else ``per_part``
    units each, a character never split across two parts."""
    if sum(n for _, n in units) <= alone:
        return ["".join(c for c, _ in units)]
    parts, room = [""], per_part
    for char, n in units:
        if n > room:
            parts.append("")
            room = per_part
        parts[-1] += char
        room -= n
    return parts


def gsm_parts(text: str) -> list[str]:
    assert set(text) <= GSM_BASIC | GSM_EXTENSION, set(text) - GSM_BASIC - GSM_EXTENSION
    return spec_parts([(c, 2 if c in GSM_EXTENSION else 1) for c in text], 160, 153)


def ucs2_parts(text: str) -> list[str]:
    return spec_parts([(c, 2 if ord(c) > 0xFFFF else 1) for c in text], 70, 67)


def septets(text: str) -> int:
    return sum(2 if c in GSM_EXTENSION else 1 for c in text)


def env(tmp_path, simulator, fake_slack, **more) -> dict:
    return base_env(tmp_path, SMSOFFICE_API_URL=simulator.api_url, SLACK_API_URL=fake_slack.api_url, **more)


def start(tmp_path, simulator, fake_slack, **settings):
    bot = start_bot(tmp_path, simulator, fake_slack, **settings)
    simulator.callback_url = f"{bot.url}/sms/dlr/{CALLBACK_SECRET}"
    simulator.dlr_delay = 0.05
    return bot


@pytest.fixture
def running(tmp_path, simulator, fake_slack):
    bot = start(tmp_path, simulator, fake_slack)
    yield bot
    bot.stop()


def run_test_sms(tmp_path, simulator, fake_slack, *args, env_more=None, timeout=60) -> tuple[int, str, str]:
    proc = smsbot([*BASE, *args], env(tmp_path, simulator, fake_slack, **(env_more or {})), tmp_path)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def printed_texts(out: str) -> list[str]:
    """The texts the command printed, each on the line after its description."""
    lines = out.splitlines()
    return [lines[i + 1] for i, line in enumerate(lines) if line.endswith("Exactly this text:")]


def rows(tmp_path, sql: str) -> list[tuple]:
    conn = sqlite3.connect(tmp_path / "smsbot.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def test_two_sms_arrive_byte_for_byte_in_the_spec_parts_and_their_reports_and_credits_are_printed(
    running, tmp_path, simulator, fake_slack
):
    code, out, err = run_test_sms(tmp_path, simulator, fake_slack, "--yes", "--wait", "30")
    assert code == 0, out + err
    gsm, unicode = printed_texts(out)
    # what arrived at the gateway is exactly what was printed, through the bot's one connection
    assert [m.text.encode() for m in simulator.messages] == [gsm.encode(), unicode.encode()]
    assert [m.to for m in simulator.messages] == [NUMBER, NUMBER]
    assert [name for name, _ in simulator.calls].count("sendsms.asp") == 2 and simulator.max_concurrent == 1
    # 1: GSM-7 in 4 parts, and each of € [ ~ starts a part: the part before ends one septet short
    parts = gsm_parts(gsm)
    assert len(parts) == 4 and [p[0] for p in parts[1:]] == ["€", "[", "~"]
    assert [septets(p) for p in parts[:3]] == [152, 152, 152] and "]" in gsm
    assert "GSM-7, 609 septets in 4 parts (4 credits)" in out
    # 2: the longest Unicode text the gateway takes: 4 × 67 UCS-2 units, with an emoji, Afrikaans and isiZulu
    assert len(unicode.encode("utf-16-le")) // 2 == 268 and len(ucs2_parts(unicode)) == 4
    assert any(ord(c) > 0xFFFF for c in unicode) and set("ŉêëôû") <= set(unicode) and "Sawubona" in unicode
    assert len("message=" + quote_plus(unicode)) > 2048  # past IIS's default query string limit
    assert "UCS-2, 268 UCS-2 units in 4 parts (4 credits)" in out
    assert [m.parts for m in simulator.messages] == [len(parts), len(ucs2_parts(unicode))]
    query = re.findall(r"the request's query string is ([\d,]+) bytes", out)
    assert int(query[1].replace(",", "")) > 2048
    # the reports came back through the bot's callback and were printed; the credits too
    for n in (1, 2):
        assert re.search(rf"SMS {n}: SMS Office took it, tracking number \d+", out)
        assert f"SMS {n}: delivery report 100 Submitted to gateway" in out
        assert f"SMS {n}: delivery report 200 Delivered to Mobile" in out
    assert "Credits charged: 8 credits (SMS 1: 4, SMS 2: 4)" in out
    assert "compare both SMS on the phone" in out and "No delivery report" not in out
    # sent as anyone's send: audited with the OS user, its status posted in the channel
    (audit,) = rows(tmp_path, "SELECT user_id, action, args FROM audit_log")
    assert audit[:2] == ("U0USER", "test-sms") and f"by OS user {getpass.getuser()}" in audit[2]
    assert fake_slack.wait_for(lambda: len(fake_slack.messages.get("C0GENERAL", [])) == 2, timeout=10)


def test_no_report_within_the_wait_says_what_to_check(running, tmp_path, simulator, fake_slack):
    simulator.dlr_mode = "none"
    code, out, err = run_test_sms(tmp_path, simulator, fake_slack, "--yes", "--wait", "2")
    assert code == 1, out + err
    assert len(simulator.messages) == 2
    sentence = out[out.index("No delivery report came within 2 seconds for SMS 1 and 2.") :]
    for what in ("callback URL in the API section of the SMS Office account", "SMSBOT_PUBLIC_URL", "firewall"):
        assert what in sentence
    assert "Credits charged: 8 credits" in out


def test_an_http_error_from_the_gateway_is_named_with_what_it_means_not_unconfirmed(
    running, tmp_path, simulator, fake_slack
):
    simulator.outage = 404  # what IIS answers (404.15) to a query string over its limit
    code, out, err = run_test_sms(tmp_path, simulator, fake_slack, "--yes", "--wait", "10")
    assert code == 1, out + err
    assert "SMS 2: SMS Office answered HTTP 404 to a request of 2," in out
    assert "so it was not sent: this is not “unconfirmed”, its web server refused the request" in out
    assert "Its web server refuses requests this long" in out and "Send shorter texts" in out
    assert "unconfirmed, it may have gone" not in out and simulator.messages == []


def test_an_opted_out_number_is_refused_with_the_gates_sentence(running, tmp_path, simulator, fake_slack):
    (tmp_path / "stop.csv").write_text(f"number,reason\n{NUMBER},asked\n")
    proc = smsbot(["optout", "import", "stop.csv"], env(tmp_path, simulator, fake_slack), tmp_path)
    assert proc.wait(timeout=30) == 0
    code, out, err = run_test_sms(tmp_path, simulator, fake_slack, "--yes", "--wait", "5")
    assert code == 1 and f"{NUMBER} is on the do-not-contact list (opted out), so nothing was sent" in err
    assert rows(tmp_path, "SELECT count(*) FROM batches") == [(0,)] and simulator.messages == []


def test_a_user_over_the_daily_limit_is_refused_with_the_gates_sentence(tmp_path, simulator, fake_slack):
    bot = start(tmp_path, simulator, fake_slack, SMSBOT_DAILY_LIMIT_USER="5")
    try:
        code, out, err = run_test_sms(
            tmp_path, simulator, fake_slack, "--yes", "--wait", "5", env_more={"SMSBOT_DAILY_LIMIT_USER": "5"}
        )
    finally:
        bot.stop()
    assert code == 1
    assert "This send needs 8 credits, but you have 5 of your daily limit of 5 left today" in err
    assert rows(tmp_path, "SELECT count(*) FROM batches") == [(0,)] and simulator.messages == []


def test_without_yes_and_without_a_terminal_nothing_is_sent(running, tmp_path, simulator, fake_slack):
    code, out, err = run_test_sms(tmp_path, simulator, fake_slack, "--wait", "5")
    assert code == 1 and "not on a terminal, so I can't ask: pass --yes to send." in err
    assert len(printed_texts(out)) == 2  # shown, so the operator sees what would go
    assert rows(tmp_path, "SELECT count(*) FROM batches") == [(0,)] and simulator.messages == []


def test_without_a_running_bot_nothing_is_sent(tmp_path, simulator, fake_slack):
    # a database no bot ever ran on: refused before anything is written
    code, _, err = run_test_sms(tmp_path, simulator, fake_slack, "--yes", "--wait", "5")
    assert code == 1 and "no `smsbot run` is running on the database" in err
    assert "owns the gateway's one connection" in err and not (tmp_path / "smsbot.db").exists()
    # a bot ran, and stopped: its run lock beside the database is free
    db = Database(str(tmp_path / "smsbot.db"))
    db.migrate()
    db.close()
    lock = tmp_path / "smsbot.db.lock"
    lock.touch()
    code, _, err = run_test_sms(tmp_path, simulator, fake_slack, "--yes", "--wait", "5")
    assert code == 1 and "no `smsbot run` is running on the database" in err
    assert rows(tmp_path, "SELECT count(*) FROM batches") == [(0,)]
    # a bot that takes no run lock: queued, but nobody picks them up, so they are cancelled
    lock.unlink()
    code, _, err = run_test_sms(tmp_path, simulator, fake_slack, "--yes", "--wait", "2")
    assert code == 1 and "No smsbot picked the test SMS up within 2 seconds" in err and "2 test SMS cancelled" in err
    assert rows(tmp_path, "SELECT DISTINCT status FROM messages") == [("cancelled",)] and simulator.messages == []


def test_a_held_run_lock_means_a_running_bot(running, tmp_path, simulator, fake_slack):
    """What `smsbot run` keeps while it runs (an flock on <db>.lock): the test SMS go through it."""
    fd = os.open(tmp_path / "smsbot.db.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # the bot holds it itself
        code, out, err = run_test_sms(tmp_path, simulator, fake_slack, "--yes", "--wait", "30")
    finally:
        os.close(fd)
    assert code == 0, out + err
    assert len(simulator.messages) == 2


def test_test_sms_needs_as_and_channel(tmp_path, simulator, fake_slack):
    proc = smsbot(["check", "--test-sms", NUMBER, "--yes"], env(tmp_path, simulator, fake_slack), tmp_path)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "--test-sms needs --as U…" in err and "--channel C…" in err
    proc = smsbot(["check", "--as", "U0USER"], env(tmp_path, simulator, fake_slack), tmp_path)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "--as, --channel and --yes go with --test-sms NUMBER" in err


# -- on PostgreSQL: no file lock to ask; queued into the shared database, sent by the running leader ------------


def test_on_postgres_the_test_sms_go_through_the_running_bot_sharing_the_database(
    tmp_path, simulator, fake_slack, pg_url
):
    bot = start(tmp_path, simulator, fake_slack, SMSBOT_DATABASE_URL=pg_url)
    try:
        assert wait_for(lambda: requests.get(bot.url + "/healthz", timeout=5).json().get("role") == "leader")
        code, out, err = run_test_sms(
            tmp_path, simulator, fake_slack, "--yes", "--wait", "30", env_more={"SMSBOT_DATABASE_URL": pg_url}
        )
    finally:
        bot.stop()
    assert code == 0, out + err
    assert "through the running smsbot (whichever replica leads sends them)" in out
    assert [m.text for m in simulator.messages] == printed_texts(out) and simulator.max_concurrent == 1
    assert "SMS 2: delivery report 200 Delivered to Mobile" in out
    assert not (tmp_path / "smsbot.db").exists()  # SMSBOT_DB's folder keeps only this host's own files


def test_on_postgres_without_a_leader_the_test_sms_are_refused_up_front(tmp_path, simulator, fake_slack, pg_url):
    code, _, err = run_test_sms(
        tmp_path, simulator, fake_slack, "--yes", "--wait", "1", env_more={"SMSBOT_DATABASE_URL": pg_url}
    )
    assert code == 1 and "no `smsbot run` is running on the database postgresql://" in err
    assert "no replica holds the sender's lease now" in err and simulator.messages == []
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (0,)  # nothing queued
