"""`smsbot simulator` as a black box: the lines it prints to paste, and its refusals."""

import signal

import pytest
import requests

from bot.runtime import ensure_callback_secret
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
        answer = requests.get(api_url + "balance.asp", params={"username": "demo", "password": "demo"}, timeout=5)
        assert answer.text == "100.00"
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
        assert answer.text == "100.00"
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
