"""Operating smsbot: refused settings and their exit codes, the built-in simulator, backups, the
start-up summary and `smsbot check`, all through the real `smsbot` command."""

import signal
import socket
import sqlite3
import threading

import requests

from bot.storage.db import MIGRATIONS, Database
from bot.testing.slack_requests import command_body, sign
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, base_env
from tests.process import CALLBACK_SECRET, smsbot, start_bot


def _exit(args, env, cwd):
    proc = smsbot(args, env, cwd)
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


def _problem_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("  - ")]


def test_an_unresolvable_host_exits_2_with_one_line(tmp_path):
    code, out, err = _exit(["run"], base_env(tmp_path, SMSBOT_HOST="localhostt"), tmp_path)
    assert code == 2 and "Traceback" not in err
    assert len(_problem_lines(err)) == 1 and "SMSBOT_HOST='localhostt'" in err


def test_a_typo_exits_2_naming_the_known_name_and_check_does_not_say_ok(tmp_path):
    env = base_env(tmp_path, SMSBOT_ALLOWED_USER="U0ADMIN")
    for command in ("run", "check"):
        code, out, err = _exit([command], env, tmp_path)
        assert code == 2 and "OK" not in out
        assert "did you mean SMSBOT_ALLOWED_USERS?" in err


def test_a_quoted_value_from_an_env_file_exits_2(tmp_path):
    code, out, err = _exit(["run"], base_env(tmp_path, SMS_SENDER_ID='"ACMEOPS"'), tmp_path)
    assert code == 2 and "--env-file" in err and len(_problem_lines(err)) == 1


def test_a_port_in_use_exits_1_with_a_sentence(tmp_path, simulator, fake_slack):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = base_env(
            tmp_path, SMSBOT_PORT=str(port), SMSOFFICE_API_URL=simulator.api_url, SLACK_API_URL=fake_slack.api_url
        )
        code, out, err = _exit(["run"], env, tmp_path)
    assert code == 1 and "Traceback" not in err
    assert "already in use" in err and f"SMSBOT_PORT={port}" in err


def test_a_database_from_a_newer_smsbot_gets_a_sentence(tmp_path, simulator, fake_slack):
    db = tmp_path / "smsbot.db"
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    env = base_env(tmp_path, SMSOFFICE_API_URL=simulator.api_url, SLACK_API_URL=fake_slack.api_url)
    for command in ("run", "check"):
        code, out, err = _exit([command], env, tmp_path)
        assert code == 2 and "Traceback" not in err
        assert "written by a newer smsbot" in err and "restore the backup" in err


def test_unknown_names_are_a_warning_and_the_bot_starts(tmp_path, simulator, fake_slack):
    bot = start_bot(
        tmp_path,
        simulator,
        fake_slack,
        SMSBOT_FUTURE_FEATURE="on",
        SMSBOT_SERVICE_HOST="10.0.0.7",
        SMSBOT_PORT_3000_TCP="tcp://10.0.0.7:3000",
    )
    try:
        assert bot.stop(signal.SIGTERM) == 0
        log = bot.log()
        assert "SMSBOT_FUTURE_FEATURE is not a setting smsbot knows" in log
        assert "SMSBOT_SERVICE_HOST" not in log and "SMSBOT_PORT_3000_TCP" not in log
    finally:
        bot.stop()


def test_the_builtin_simulator_end_to_end_without_gateway_credentials(tmp_path, fake_slack):
    env = {
        "SMSOFFICE_API_URL": "simulator",
        "SMSOFFICE_USERNAME": None,
        "SMSOFFICE_PASSWORD": None,
        "SMS_SENDER_ID": None,
    }
    bot = start_bot(tmp_path, None, fake_slack, **env)
    try:
        assert "No real SMS is sent" in bot.printed and "SIMULATOR" in bot.printed
        body = command_body("send 27831234567 Trying smsbot", response_url=fake_slack.response_url("sim"))
        ack = requests.post(bot.url + "/slack/events", data=body, headers=sign(SIGNING_SECRET, body), timeout=5)
        assert ack.status_code == 200 and "Queued" in ack.json()["text"]
        # the in-process simulator accepts it and its delivery reports reach the bot's own callback
        assert fake_slack.wait_for(
            lambda: "delivered" in fake_slack.messages.get("C0GENERAL", [{}])[0].get("text", ""), timeout=15
        )
        assert bot.stop(signal.SIGTERM) == 0
        log = bot.log()
        assert "event=sim_send to=+27...567" in log and "event=report_applied" in log
    finally:
        bot.stop()


def test_start_up_summary_masks_the_callback_and_names_what_matters(tmp_path, simulator, fake_slack):
    fake_slack.add_channel("C0ALERTS", "sms-alerts")
    bot = start_bot(
        tmp_path,
        simulator,
        fake_slack,
        SMSBOT_PUBLIC_URL="https://sms.example.com",
        SMSBOT_ALERT_CHANNEL="C0ALERTS",
        SMSBOT_ALLOWED_USERS="U0A,U0B",
        SMSBOT_ADMIN_USERS="U0A",
    )
    try:
        summary = bot.printed.split("smsbot started:")[1]
        assert "@smsbot (UBOT) in Test Team" in summary
        assert "balance 1,000.00 credits" in summary and "C0ALERTS" in summary
        assert "users 2" in summary and "channels 0 (everyone)" in summary and "admins 1" in summary
        assert "https://sms.example.com/sms/dlr/***" in summary and CALLBACK_SECRET not in summary
        assert str(tmp_path / "smsbot.db") in summary
        assert bot.stop(signal.SIGTERM) == 0
        assert "will be unused" not in bot.log()
    finally:
        bot.stop()


def test_backup_while_sends_run_holds_them_and_opens(tmp_path, simulator, fake_slack):
    bot = start_bot(tmp_path, simulator, fake_slack)
    sent = threading.Event()

    def keep_sending():
        for n in range(40):
            body = command_body(f"send 2783123{n:04d} Load {n}", response_url=fake_slack.response_url(f"b{n}"))
            requests.post(bot.url + "/slack/events", data=body, headers=sign(SIGNING_SECRET, body), timeout=5)
        sent.set()

    sender = threading.Thread(target=keep_sending)
    sender.start()
    try:
        copies = []
        while not sent.is_set() or not copies:
            target = tmp_path / "backups" / f"nested{len(copies)}" / "smsbot.db"  # folders are created
            code, out, err = _exit(["backup", str(target)], {"SMSBOT_DB": str(tmp_path / "smsbot.db")}, tmp_path)
            assert code == 0, err
            copies.append(target)
        sender.join()
        code, out, err = _exit(
            ["backup", str(tmp_path / "final") + "/"], {"SMSBOT_DB": str(tmp_path / "smsbot.db")}, tmp_path
        )
        assert code == 0 and "Backed up" in out
        final = next((tmp_path / "final").glob("smsbot-*.db"))
        for copy in copies + [final]:
            conn = sqlite3.connect(copy)
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            assert (
                conn.execute("SELECT count(*) FROM batches").fetchone()[0]
                == conn.execute("SELECT count(DISTINCT batch_id) FROM messages").fetchone()[0]
            )
            conn.close()
        # the last copy, taken after every send was acknowledged, holds all 40 of them
        restored = Database(str(final))
        assert restored.migrate() == len(MIGRATIONS)
        texts = {row[0] for row in restored.conn.execute("SELECT text FROM batches")}
        assert texts == {f"Load {n}" for n in range(40)}
        restored.close()
    finally:
        sender.join()
        assert bot.stop(signal.SIGTERM) == 0


def test_backup_of_a_missing_database_says_so(tmp_path):
    code, out, err = _exit(["backup", str(tmp_path / "b.db")], {"SMSBOT_DB": str(tmp_path / "none.db")}, tmp_path)
    assert code == 1 and "there is no database" in err and "SMSBOT_DB" in err


def test_check_asks_slack_for_a_socket_mode_url_and_checks_the_alert_channel(tmp_path, simulator, fake_slack):
    fake_slack.app_token = "xapp-1-good"
    fake_slack.add_channel("C0ALERTS", "sms-alerts")
    env = base_env(
        tmp_path,
        SMSOFFICE_API_URL=simulator.api_url,
        SLACK_API_URL=fake_slack.api_url,
        SLACK_APP_TOKEN="xapp-1-good",
        SMSBOT_ALERT_CHANNEL="C0ALERTS",
        SMSBOT_ALLOWED_USERS="U0A",
    )
    code, out, err = _exit(["check"], env, tmp_path)
    assert code == 0, out + err
    assert "Slack app token: OK" in out and "#sms-alerts (C0ALERTS)" in out and "users 1 (U0A)" in out
    assert len(fake_slack.calls_to("apps.connections.open")) == 1

    fake_slack.fail("conversations.info", "missing_scope")
    code, out, err = _exit(["check"], env, tmp_path)
    assert code == 0 and "could not be checked" in out

    env.update(SLACK_APP_TOKEN="xapp-1-revoked", SMSBOT_ALERT_CHANNEL="C0GONE")
    code, out, err = _exit(["check"], env, tmp_path)
    assert code == 1
    assert "Slack app token: FAILED: invalid_auth" in out and "Alert channel: FAILED: channel_not_found" in out
    assert BOT_TOKEN not in out + err and "xapp-1-revoked" not in out + err


def test_a_channel_name_as_alert_channel_is_refused(tmp_path):
    code, out, err = _exit(["check"], base_env(tmp_path, SMSBOT_ALERT_CHANNEL="general"), tmp_path)
    assert code == 2 and "SMSBOT_ALERT_CHANNEL" in err and "not its name" in err


def test_an_address_this_machine_does_not_have_exits_2(tmp_path, simulator, fake_slack):
    env = base_env(
        tmp_path, SMSBOT_HOST="192.0.2.1", SMSOFFICE_API_URL=simulator.api_url, SLACK_API_URL=fake_slack.api_url
    )  # TEST-NET-1: never a local address
    code, out, err = _exit(["run"], env, tmp_path)
    assert code == 2 and "Traceback" not in err and "not one of this machine's" in err
