"""`smsbot` as a black box: a real subprocess against the simulator and a fake Slack."""

import importlib.metadata
import re
import signal
import time

import pytest
import requests

import bot
from bot.testing.slack_requests import command_body, sign
from tests.conftest import BOT_TOKEN, GATEWAY_PASSWORD, SIGNING_SECRET, base_env
from tests.process import CALLBACK_SECRET, free_port, smsbot, start_bot


def test_run_with_missing_settings_lists_each_problem_without_a_traceback(tmp_path):
    proc = smsbot(["run"], {"SMSBOT_DB": str(tmp_path / "x.db"), "SLACK_BOT_TOKEN": ""}, tmp_path)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2
    assert "Traceback" not in err
    for name in (
        "SLACK_BOT_TOKEN",
        "SLACK_SIGNING_SECRET",
        "SMSOFFICE_USERNAME",
        "SMSOFFICE_PASSWORD",
        "SMS_SENDER_ID",
    ):
        assert sum(name in line for line in err.splitlines()) == 1


def test_dotenv_in_the_working_directory_is_read(tmp_path, simulator, fake_slack):
    env = base_env(
        tmp_path,
        SMSOFFICE_API_URL=simulator.api_url,
        SLACK_API_URL=fake_slack.api_url,
        SMSBOT_PUBLIC_URL="https://sms.example.com",
    )
    (tmp_path / ".env").write_text("".join(f'{k}="{v}"\n' for k, v in env.items()))
    # an empty variable in the environment counts as unset, so .env fills it
    proc = smsbot(["check"], {"SLACK_BOT_TOKEN": ""}, tmp_path)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, out + err
    assert "balance 1,000.00 credits" in out and "Slack: OK" in out
    assert "callback URL: not created yet" in out  # no database here yet: the first `smsbot run` makes the secret


def test_check_reports_a_refused_gateway_login_and_fails(tmp_path, simulator, fake_slack):
    env = base_env(
        tmp_path,
        SMSOFFICE_API_URL=simulator.api_url,
        SLACK_API_URL=fake_slack.api_url,
        SMSOFFICE_PASSWORD="wrong-password",
    )
    proc = smsbot(["check"], env, tmp_path)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1
    assert "SMS Office: FAILED" in out and "SMSOFFICE_PASSWORD" in out and "wrong-password" not in out + err


@pytest.fixture
def running(tmp_path, simulator, fake_slack):
    bot = start_bot(tmp_path, simulator, fake_slack)
    simulator.callback_url = f"{bot.url}/sms/dlr/{CALLBACK_SECRET}"
    simulator.dlr_delay = 0.05
    yield bot
    bot.stop()


def test_run_end_to_end_send_then_sigterm(running, simulator, fake_slack):
    base = running.url
    assert requests.get(base + "/healthz", timeout=5).json()["status"] == "ok"
    body = command_body(
        "send 27831234567,27821234567 Generator running & 50% fuel", response_url=fake_slack.response_url("e2e")
    )
    ack = requests.post(base + "/slack/events", data=body, headers=sign(SIGNING_SECRET, body), timeout=5)
    assert ack.status_code == 200 and "Queued 2 SMS" in ack.json()["text"]
    # sent, then the simulator's delivery reports (100, 200) come back through the callback
    assert fake_slack.wait_for(
        lambda: "2 delivered" in fake_slack.messages.get("C0GENERAL", [{}])[0].get("text", ""), timeout=10
    )
    status = fake_slack.messages["C0GENERAL"][0]
    # one reply per status change (submitted, delivered), paced to Slack's ~1 post/s per channel
    assert fake_slack.wait_for(lambda: len(fake_slack.thread("C0GENERAL", status["ts"])) == 4, timeout=15)
    thread = [reply["text"] for reply in fake_slack.thread("C0GENERAL", status["ts"])]
    assert sum("Delivered to" in text for text in thread) == 2 and sum("Submitted" in t for t in thread) == 2
    assert sorted(m.to for m in simulator.messages) == ["27821234567", "27831234567"]
    assert {m.text for m in simulator.messages} == {"Generator running & 50% fuel"}
    started = time.monotonic()
    assert running.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 10
    log = running.log()
    assert "event=send_sent" in log and "event=stopped" in log and "event=report_applied" in log
    assert "Logging error" not in log and "Traceback" not in log
    for secret in (GATEWAY_PASSWORD, BOT_TOKEN, SIGNING_SECRET, CALLBACK_SECRET):
        assert secret not in log


def test_sigterm_while_the_gateway_hangs_exits_in_time_and_the_send_is_unconfirmed_later(
    running, simulator, fake_slack, tmp_path
):
    simulator.hold()
    body = command_body("send 27831234567 Hello", response_url=fake_slack.response_url("hang"))
    requests.post(running.url + "/slack/events", data=body, headers=sign(SIGNING_SECRET, body), timeout=5)
    assert fake_slack.wait_for(lambda: simulator.max_concurrent == 1, timeout=5)
    started = time.monotonic()
    assert running.stop(signal.SIGTERM) == 0 and time.monotonic() - started < 10
    simulator.release()
    from bot.storage.db import Database

    db = Database(str(tmp_path / "smsbot.db"))
    row = db.conn.execute("SELECT status FROM messages").fetchone()
    db.close()
    assert row["status"] == "unconfirmed"  # cut off on the wire: a person decides, never resent blindly


def test_run_watches_the_balance_and_alerts_the_channel(tmp_path, simulator, fake_slack):
    fake_slack.add_channel("C0ALERTS", "sms-alerts")
    simulator.balance = 50
    bot = start_bot(
        tmp_path,
        simulator,
        fake_slack,
        SMSBOT_ALERT_CHANNEL="C0ALERTS",
        SMSBOT_BALANCE_CHECK_SECONDS="1",
        SMSBOT_LOW_BALANCE="100",
    )
    try:
        texts = lambda: [m["text"] for m in fake_slack.messages.get("C0ALERTS", [])]  # noqa: E731
        assert fake_slack.wait_for(lambda: len(texts()) == 1, timeout=10)
        assert "50.00 left" in texts()[0]
        simulator.balance = 400
        assert fake_slack.wait_for(lambda: len(texts()) == 2, timeout=10)
        assert "topped up" in texts()[1]
        assert bot.stop(signal.SIGTERM) == 0
        assert bot.log().count("event=balance_check") >= 2
        assert len(texts()) == 2  # one alert per drop, not one per check
    finally:
        bot.stop()


def test_simulator_command_serves_the_gateway_api(tmp_path):
    port = free_port()
    proc = smsbot(
        ["simulator", "--port", str(port), "--username", "demo", "--password", "demo", "--balance", "42"], {}, tmp_path
    )
    try:
        line = proc.stdout.readline()
        assert f"SMSOFFICE_API_URL=http://127.0.0.1:{port}/sms/api/" in line
        answer = requests.get(
            f"http://127.0.0.1:{port}/sms/api/balance.asp", params={"username": "demo", "password": "demo"}, timeout=5
        )
        assert answer.text.strip() == "42.00"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_check_names_the_default_region_and_warns_that_sa_is_saudi_arabia(tmp_path, simulator, fake_slack):
    env = base_env(
        tmp_path,
        SMSOFFICE_API_URL=simulator.api_url,
        SLACK_API_URL=fake_slack.api_url,
        SMS_DEFAULT_REGION="SA",
        SMSBOT_ALLOWED_COUNTRIES="ZA,SA",
    )
    proc = smsbot(["check"], env, tmp_path)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, out + err
    assert "SMS_DEFAULT_REGION: SA = Saudi Arabia (+966)" in out
    assert "SMSBOT_ALLOWED_COUNTRIES: SA = Saudi Arabia (+966), ZA = South Africa (+27)" in out
    assert "Warning: SA is Saudi Arabia (+966). For South Africa (+27) use ZA." in out


def start_and_read_banner(tmp_path, env) -> str:
    """`smsbot run` until it says it is running; its stdout so far. Then SIGTERM."""
    proc = smsbot(["run"], env, tmp_path, stderr=(tmp_path / "run.log").open("a"))
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            if "is running on" in line:
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=15)
    return "".join(lines)


def test_start_up_prints_the_whole_callback_url_only_when_the_secret_is_new(tmp_path, simulator, fake_slack):
    env = base_env(
        tmp_path,
        SMSOFFICE_API_URL=simulator.api_url,
        SLACK_API_URL=fake_slack.api_url,
        SMSBOT_PUBLIC_URL="https://sms.example.com",
    )
    first = start_and_read_banner(tmp_path, env)
    url = re.search(r"https://sms\.example\.com/sms/dlr/[A-Za-z0-9_-]{40,}", first)
    assert url, first  # generated on this start: it has to be pasted into SMS Office
    assert first.count("/sms/dlr/") == 1, first  # printed once, whole; the summary points at it
    assert "callback URL:   new, printed whole above" in first
    again = start_and_read_banner(tmp_path, env)
    assert url.group(0) not in again and "https://sms.example.com/sms/dlr/***" in again
    assert again.count("/sms/dlr/") == 1, again  # once, masked, in the summary
    assert "smsbot check" in again
    secret = url.group(0).rsplit("/", 1)[1]
    assert secret not in (tmp_path / "run.log").read_text()
    checked = smsbot(["check"], env, tmp_path).communicate(timeout=30)[0]
    assert url.group(0) in checked  # `smsbot check` shows it whole


def test_a_configured_secret_is_never_printed_at_start_up(tmp_path, simulator, fake_slack):
    env = base_env(
        tmp_path,
        SMSOFFICE_API_URL=simulator.api_url,
        SLACK_API_URL=fake_slack.api_url,
        SMSBOT_CALLBACK_SECRET=CALLBACK_SECRET,
    )
    shown = start_and_read_banner(tmp_path, env)
    assert CALLBACK_SECRET not in shown and "/sms/dlr/***" in shown
    assert shown.count("/sms/dlr/") == 1, shown  # the summary's one line, not a second one above it


def test_one_version_everywhere_an_operator_looks(running, tmp_path):
    """The version lives in bot/__init__.py; the installed package, `smsbot --version`, the start-up
    summary, /healthz and the smsbot_build_info metric all say it."""
    installed = importlib.metadata.version("smsbot")
    assert re.fullmatch(r"[0-9]+\.[0-9]+\.[0-9]+", installed) and installed == bot.__version__
    proc = smsbot(["--version"], {}, tmp_path)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0 and out.strip() == f"smsbot {installed}"
    assert f"version:        smsbot {installed}" in running.printed
    assert requests.get(running.url + "/healthz", timeout=5).json()["version"] == installed
    metrics = requests.get(running.url + "/metrics", timeout=5).text
    assert re.search(rf'smsbot_build_info\{{python="[0-9.]+",version="{re.escape(installed)}"\}} 1\.0', metrics)


@pytest.mark.parametrize("command", ["run", "check"])
def test_help_describes_the_command_and_its_exit_codes(tmp_path, command):
    proc = smsbot([command, "--help"], {"COLUMNS": "100"}, tmp_path)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    flat = " ".join(out.split())
    assert (
        "Run the bot until SIGTERM or SIGINT" if command == "run" else "Check every setting, then SMS Office"
    ) in flat
    assert "Settings come from the environment, then from .env in this folder" in flat
    codes = out[out.index("exit status:") :].splitlines()[1:]
    assert [line.split()[0] for line in codes if line.startswith("  ") and line.split()[0].isdigit()] == ["0", "1", "2"]
    if command == "check":
        assert "no database is created or upgraded" in flat
    else:
        assert "RestartPreventExitStatus=2" in out


def test_start_up_warns_about_a_public_url_on_plain_http(tmp_path, simulator, fake_slack):
    running = start_bot(tmp_path, simulator, fake_slack, SMSBOT_PUBLIC_URL="http://sms.example.com")
    try:
        assert "smsbot: warning: SMSBOT_PUBLIC_URL=http://sms.example.com starts with http://" in running.log()
        assert CALLBACK_SECRET not in running.log()
    finally:
        running.stop()
