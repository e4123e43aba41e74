"""`smsbot simulator` as a black box: the lines it prints to paste, and its refusals."""

import json
import shutil
import signal
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from bot.runtime import ensure_callback_secret
from bot.simulator.embedded import START_BALANCE
from bot.storage.db import Database
from tests.process import CALLBACK_SECRET, free_port, smsbot


def _printed(proc) -> str:
    """Its set-up lines: everything up to the one about delivery reports."""
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "Delivery reports" in line:
            break
    return "".join(lines)


def _stop(proc) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(timeout=10)


def test_it_prints_every_line_to_paste_including_the_demo_login(tmp_path):
    port = free_port()
    proc = smsbot(["simulator", "--port", str(port)], {}, tmp_path)
    try:
        printed = _printed(proc)
        api_url = f"http://127.0.0.1:{port}/sms/api/"
        assert f"SMSOFFICE_API_URL={api_url}\n" in printed
        assert "SMSOFFICE_USERNAME=demo\n" in printed and "SMSOFFICE_PASSWORD=demo\n" in printed
        assert "start smsbot once in this folder, or set SMSBOT_CALLBACK_SECRET" in printed
        assert "the account starts with 1,000.00 simulated credits" in printed
        answer = requests.get(api_url + "balance.asp", params={"username": "demo", "password": "demo"}, timeout=5)
        assert answer.text == "1000.00"  # as the built-in one (SMSOFFICE_API_URL=simulator)
        assert _stop(proc) == 0
        assert not list(tmp_path.glob("*.db"))  # it reads smsbot's database, never creates one
    finally:
        proc.kill()


def test_it_reads_dotenv_for_the_login_and_the_callback_url(tmp_path):
    (tmp_path / ".env").write_text(
        f"SMSOFFICE_USERNAME=acme\nSMSOFFICE_PASSWORD=real-password-1\n"
        f"SMSBOT_CALLBACK_SECRET={CALLBACK_SECRET}\n"
        "SMSBOT_PUBLIC_URL=https://sms.example.com\n"
    )
    port = free_port()
    proc = smsbot(["simulator", "--port", str(port)], {}, tmp_path)
    try:
        printed = _printed(proc)
        assert f"Delivery reports go to https://sms.example.com/sms/dlr/{CALLBACK_SECRET}" in printed
        assert "keep the ones in your settings" in printed and "real-password-1" not in printed
        answer = requests.get(
            f"http://127.0.0.1:{port}/sms/api/balance.asp",
            params={"username": "acme", "password": "real-password-1"},
            timeout=5,
        )
        assert answer.text == "1000.00"  # as the built-in one (SMSOFFICE_API_URL=simulator)
        assert _stop(proc) == 0
        assert CALLBACK_SECRET not in proc.stderr.read()  # printed once, masked in its log
    finally:
        proc.kill()


def test_the_secret_smsbot_generated_is_read_from_its_database(tmp_path):
    db = Database(str(tmp_path / "bot.db"))
    db.migrate()
    secret = ensure_callback_secret(db, type("S", (), {"callback_secret": None})())
    db.close()
    (tmp_path / ".env").write_text(f"SMSBOT_DB={tmp_path / 'bot.db'}\nSMSBOT_PORT=3123\n")
    proc = smsbot(["simulator", "--port", str(free_port())], {}, tmp_path)
    try:
        assert f"Delivery reports go to http://127.0.0.1:3123/sms/dlr/{secret}" in _printed(proc)
        assert _stop(proc) == 0
    finally:
        proc.kill()


@pytest.mark.parametrize(
    "flags,expect",
    [
        (["--speed", "0"], "--speed: '0' is not valid: use a number above 0"),
        (["--speed", "fast"], "--speed: 'fast' is not valid"),
        (["--dlr-delay", "-1"], "--dlr-delay: '-1' is not valid: use a number at least 0"),
        (["--port", "99999"], "--port: '99999' is not a port"),
        (["--balance", "lots"], "--balance: 'lots' is not an amount"),
        (["--dlr-mode", "sometimes"], "--dlr-mode: invalid choice"),
    ],
)
def test_bad_flags_give_a_sentence_not_a_traceback(tmp_path, flags, expect):
    proc = smsbot(["simulator", *flags], {}, tmp_path)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "Traceback" not in err
    assert expect in err


def _serve_one_balance_call(tmp_path, env) -> tuple[str, str]:
    """Start it, ask for the balance once, stop it: (stdout, stderr)."""
    port = free_port()
    proc = smsbot(["simulator", "--port", str(port)], env, tmp_path)
    try:
        printed = _printed(proc)
        requests.get(
            f"http://127.0.0.1:{port}/sms/api/balance.asp", params={"username": "demo", "password": "demo"}, timeout=5
        )
        assert _stop(proc) == 0
        return printed, proc.stderr.read()
    finally:
        proc.kill()


def test_it_logs_in_the_bots_format(tmp_path):
    _, log = _serve_one_balance_call(tmp_path, {})
    lines = log.splitlines()
    assert lines and all(line.startswith("ts=") and " level=" in line and " logger=" in line for line in lines), log
    assert any("logger=bot.simulator.simulator event=sim_balance balance=1000.00" in line for line in lines)


def test_it_logs_json_with_smsbot_log_format(tmp_path):
    _, log = _serve_one_balance_call(tmp_path, {"SMSBOT_LOG_FORMAT": "json", "SMSBOT_LOG_LEVEL": "WARNING"})
    entries = [json.loads(line) for line in log.splitlines()]  # every line is one JSON object
    assert all(entry["level"] in ("WARNING", "ERROR") for entry in entries)  # the level applies too
    _, log = _serve_one_balance_call(tmp_path, {"SMSBOT_LOG_FORMAT": "json"})
    entries = [json.loads(line) for line in log.splitlines()]
    assert any(entry["logger"] == "bot.simulator.simulator" and entry["level"] == "INFO" for entry in entries)


def test_a_bad_log_setting_is_refused_as_smsbot_refuses_it(tmp_path):
    proc = smsbot(["simulator"], {"SMSBOT_LOG_LEVEL": "LOUD", "SMSBOT_LOG_FORMAT": "xml"}, tmp_path)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 2 and "Traceback" not in err
    assert "SMSBOT_LOG_LEVEL='LOUD' is not valid: use one of DEBUG, INFO, WARNING, ERROR." in err
    assert "SMSBOT_LOG_FORMAT='xml' is not valid: use kv or json." in err


def test_env_examples_placeholder_login_is_not_offered_as_yours(tmp_path):
    shutil.copy(Path(__file__).resolve().parents[2] / ".env.example", tmp_path / ".env")
    printed, _ = _serve_one_balance_call(tmp_path, {})
    assert "SMSOFFICE_USERNAME=demo\n" in printed and "SMSOFFICE_PASSWORD=demo\n" in printed
    assert "your-username" not in printed and "keep the ones in your settings" not in printed


def test_one_starting_balance_for_both_simulators_said_in_the_help(tmp_path):
    assert Decimal("1000") == START_BALANCE
    proc = smsbot(["simulator", "--help"], {"COLUMNS": "200"}, tmp_path)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "credits to start with (default 1,000, as with SMSOFFICE_API_URL=simulator)" in out
    flat = " ".join(out.split())  # each option followed by its help, however it was wrapped
    assert "--host HOST the address to listen on (default 127.0.0.1" in flat
    assert "--port PORT the port to listen on (default 8085)" in flat
    assert "--dlr-mode {delivered,failed,route,none,duplicate,out_of_order} the delivery reports each SMS gets" in flat
    assert "exit status:" in out and "  2  a flag, SMSBOT_LOG_LEVEL or SMSBOT_LOG_FORMAT is not valid" in out
