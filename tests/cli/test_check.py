"""What `smsbot check` verifies beyond the settings (bot/cli/check.py), against a real file and the fake
Slack Web API: each line says OK or what to fix."""

import random
import shutil
import sqlite3
import ssl
import threading
from pathlib import Path
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import trustme
import yaml

from bot.cli import check as checks
from bot.cli.environment import database_problem
from bot.config.settings import EXAMPLE_PLACEHOLDERS, load_settings, public_url_warning
from bot.runtime import ensure_callback_secret
from bot.simulator.simulator import Simulator
from bot.storage.db import Database
from tests.conftest import BOT_TOKEN, GATEWAY_PASSWORD, SIGNING_SECRET, base_env
from tests.process import smsbot

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / ".env.example"


def settings_for(tmp_path, fake_slack, **env):
    return load_settings(base_env(tmp_path, SLACK_API_URL=fake_slack.api_url, **env))


def test_a_missing_or_current_database_is_fine(tmp_path):
    path = tmp_path / "smsbot.db"
    assert database_problem(str(path)) is None  # created at the first start
    db = Database(str(path))
    db.migrate()
    db.close()
    assert database_problem(str(path)) is None


def test_a_file_that_is_not_sqlite_is_named_with_how_to_fix_it(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("shopping list\n" * 200)
    problem = database_problem(str(path))
    assert "cannot be read as an SQLite database" in problem and "point SMSBOT_DB at" in problem


def test_a_database_from_a_newer_smsbot_is_refused_and_left_untouched(tmp_path):
    path = tmp_path / "smsbot.db"
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.close()
    before = path.read_bytes()
    problem = database_problem(str(path))
    assert "newer smsbot (schema 999" in problem and "restore the backup" in problem
    assert path.read_bytes() == before


def test_the_alert_channel_is_found_and_membership_said(tmp_path, fake_slack):
    fake_slack.add_channel("C0ALERTS", "sms-alerts", bot_member=False)
    ok, line = checks.alert_channel(settings_for(tmp_path, fake_slack, SMSBOT_ALERT_CHANNEL="C0ALERTS"))
    assert ok and "#sms-alerts (C0ALERTS)" in line and "/invite @smsbot" in line


def test_an_unknown_alert_channel_fails_saying_where_to_copy_the_id(tmp_path, fake_slack):
    ok, line = checks.alert_channel(settings_for(tmp_path, fake_slack, SMSBOT_ALERT_CHANNEL="C0NOWHERE"))
    assert not ok and "C0NOWHERE" in line and "Copy the ID" in line


def test_without_an_alert_channel_or_app_token_the_check_says_what_is_off(tmp_path, fake_slack):
    settings = settings_for(tmp_path, fake_slack)
    ok, line = checks.alert_channel(settings)
    assert ok and "SMSBOT_ALERT_CHANNEL is not set" in line
    ok, line = checks.app_token(settings)
    assert ok and "not set" in line


def test_a_refused_app_token_fails_naming_the_setting(tmp_path, fake_slack):
    fake_slack.app_token = "xapp-1-the-right-one"
    ok, line = checks.app_token(settings_for(tmp_path, fake_slack, SLACK_APP_TOKEN="xapp-1-a-wrong-one"))
    assert not ok and "invalid_auth" in line and "SLACK_APP_TOKEN" in line
    assert "xapp-1-a-wrong-one" not in line  # a secret never shown


def test_allow_lists_name_who_may_send(tmp_path, fake_slack):
    ok, line = checks.allow_lists(settings_for(tmp_path, fake_slack, SMSBOT_ALLOWED_USERS="U0ANN,U0BOB"))
    assert ok and "users 2 (U0ANN, U0BOB)" in line and "channels none (everyone)" in line


# -- `smsbot check` as a process: set-up that cannot mislead (issue 20, items 1, 2, 6, 7 and 8) -------------------


def _check(env, cwd, args=()):
    proc = smsbot(["check", *args], env, cwd)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def _reachable(tmp_path, simulator, fake_slack, **env):
    """Settings for a check that reaches the simulator and the fake Slack."""
    return base_env(tmp_path, SMSOFFICE_API_URL=simulator.api_url, SLACK_API_URL=fake_slack.api_url, **env)


@pytest.mark.parametrize(
    "name,value,said",
    [
        ("SLACK_APP_TOKEN", "xapp-…", "SLACK_APP_TOKEN still holds the README's placeholder (xapp-…)"),
        ("SLACK_BOT_TOKEN", "xoxb-…", "SLACK_BOT_TOKEN still holds the README's placeholder (xoxb-…)"),
        ("SLACK_SIGNING_SECRET", "…", "SLACK_SIGNING_SECRET still holds the README's placeholder (…)"),
    ],
)
def test_the_readmes_placeholders_get_a_sentence_and_exit_2_from_check_and_run(
    tmp_path, simulator, fake_slack, name, value, said
):
    env = _reachable(tmp_path, simulator, fake_slack, **{name: value})
    for command in ("check", "run"):
        proc = smsbot([command], env, tmp_path)
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 2, out + err
        assert "Traceback" not in err and "Error" not in err and "OK" not in out
        assert said in err and "Slack app" in err  # where to copy the real one
    assert not fake_slack.calls  # nothing was sent to Slack with it


def test_a_copied_env_example_is_refused_by_name_and_leaves_no_database(tmp_path):
    shutil.copy(EXAMPLE, tmp_path / ".env")
    code, out, err = _check({}, tmp_path)
    assert code == 2 and "Configuration: OK" not in out
    for name, value in EXAMPLE_PLACEHOLDERS.items():
        assert f"{name} is still the example value from .env.example ({value})" in err
    assert not list(tmp_path.glob("smsbot.db*"))


def test_with_the_simulator_a_copied_env_example_needs_only_the_slack_values(tmp_path, fake_slack):
    shutil.copy(EXAMPLE, tmp_path / ".env")
    env = {
        "SMSOFFICE_API_URL": "simulator",
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": fake_slack.api_url,
    }
    code, out, err = _check(env, tmp_path)
    assert code == 0, out + err
    assert "your-username" not in out + err and "SMS Office: the built-in simulator" in out
    assert not list(tmp_path.glob("smsbot.db*"))  # check creates no database where there is none
    assert f"Database: none yet at {tmp_path / 'smsbot.db'}; the first `smsbot run` creates it" in out
    assert "callback URL: not created yet. The first `smsbot run` generates its secret" in out


def test_check_reads_an_existing_database_without_changing_it(tmp_path, simulator, fake_slack):
    env = _reachable(tmp_path, simulator, fake_slack, SMSBOT_PUBLIC_URL="https://sms.example.com")
    db = Database(env["SMSBOT_DB"])
    db.migrate()
    secret = ensure_callback_secret(db, load_settings(env))
    db.close()
    files = {path.name: path.read_bytes() for path in tmp_path.glob("smsbot.db*")}
    code, out, err = _check(env, tmp_path)
    assert code == 0, out + err
    assert f"https://sms.example.com/sms/dlr/{secret}" in out  # the stored secret, shown whole
    assert {path.name: path.read_bytes() for path in tmp_path.glob("smsbot.db*")} == files


def test_a_number_out_of_range_names_the_range(tmp_path):
    code, out, err = _check(base_env(tmp_path, SMSBOT_RETENTION_DAYS="0"), tmp_path)
    assert code == 2 and "SMSBOT_RETENTION_DAYS='0' is not valid: use a whole number of days, at least 1" in err


def test_a_public_url_on_plain_http_is_warned_about(tmp_path, simulator, fake_slack):
    env = _reachable(tmp_path, simulator, fake_slack, SMSBOT_PUBLIC_URL="http://sms.example.com")
    code, out, err = _check(env, tmp_path)
    assert code == 0, out + err  # a warning, not a failure
    warning = public_url_warning(load_settings(env))
    assert warning and f"  Warning: {warning}" in out
    assert "Slack sends slash commands and button clicks only to https request URLs" in out


@pytest.fixture
def https_gateway(tmp_path):
    """The simulator behind TLS on port 443 of a loopback address of its own, as a gateway that also answers
    over https would be, with a certificate from a CA made for the test (the client is told to trust it)."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    sim = Simulator(username="acme", password=GATEWAY_PASSWORD, balance=1000)
    for _ in range(20):
        host = f"127.0.{random.randint(1, 254)}.{random.randint(2, 254)}"
        try:
            server = make_server(host, 443, sim.app, handler_class=_QuietHandler)
            break
        except PermissionError:
            pytest.fail("listening on port 443 needs root (or net.ipv4.ip_unprivileged_port_start=0)")
        except OSError:
            continue  # taken: another address
    ca.issue_cert(host).configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    served = []
    app = server.get_app()
    server.set_app(lambda environ, start: served.append(environ["PATH_INFO"]) or app(environ, start))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ca_file = tmp_path / "test-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    yield host, str(ca_file), served
    server.shutdown()
    server.server_close()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def test_an_http_gateway_that_answers_over_https_too_is_told_to_use_it(tmp_path, fake_slack, https_gateway):
    host, ca_file, served = https_gateway
    plain = Simulator(username="acme", password=GATEWAY_PASSWORD, balance=1000).start(host)
    try:
        env = base_env(tmp_path, SMSOFFICE_API_URL=plain.api_url, SLACK_API_URL=fake_slack.api_url)
        code, out, err = _check({**env, "REQUESTS_CA_BUNDLE": ca_file}, tmp_path)
    finally:
        plain.stop()
    assert code == 0, out + err
    assert "SMS Office: OK, balance 1,000.00 credits" in out
    assert "the SMS Office username and password (in the query string of every request)" in out
    assert f"SMS Office answers over https too (checked just now): set SMSOFFICE_API_URL=https://{host}/sms/api/" in out
    assert served == ["/sms/api/balance.asp"]  # asked over https, once
    assert GATEWAY_PASSWORD not in out + err


def test_an_http_gateway_without_https_is_warned_about_what_travels_in_clear(tmp_path, simulator, fake_slack):
    code, out, err = _check(_reachable(tmp_path, simulator, fake_slack), tmp_path)
    assert code == 0, out + err
    assert "SMSOFFICE_API_URL uses http://, so the SMS Office username and password" in out
    assert "The same host gave no balance over https (could not connect to the SMS gateway at 127.0.0.1" in out
    assert "set SMSOFFICE_API_URL=https" not in out


def test_an_https_gateway_is_not_warned_about(tmp_path, fake_slack, https_gateway):
    host, ca_file, served = https_gateway
    env = base_env(tmp_path, SMSOFFICE_API_URL=f"https://{host}/sms/api/", SLACK_API_URL=fake_slack.api_url)
    code, out, err = _check({**env, "REQUESTS_CA_BUNDLE": ca_file}, tmp_path)
    assert code == 0, out + err
    assert "SMS Office: OK, balance 1,000.00 credits" in out and "clear text" not in out


def test_https_twin_is_the_same_host_and_path_on_https_port():
    assert checks.https_twin("http://www.smsoffice.co.za/sms/api/") == "https://www.smsoffice.co.za/sms/api/"
    assert checks.https_twin("http://gw.example:8080/sms/api/") == "https://gw.example/sms/api/"
    assert checks.https_twin("http://[::1]:8085/sms/api/") == "https://[::1]/sms/api/"


def test_the_manifest_lets_check_see_the_alert_channel_and_the_readme_says_why():
    manifest = yaml.safe_load((ROOT / "manifest.yml").read_text())
    scopes = manifest["oauth_config"]["scopes"]["bot"]
    assert "channels:read" in scopes and "groups:read" in scopes
    readme = (ROOT / "README.md").read_text()
    assert "`channels:read` and `groups:read`" in readme


def test_check_says_which_scopes_to_add_when_the_alert_channel_cannot_be_looked_up(tmp_path, simulator, fake_slack):
    fake_slack.add_channel("C0ALERTS", "sms-alerts", private=True)
    env = _reachable(tmp_path, simulator, fake_slack, SMSBOT_ALERT_CHANNEL="C0ALERTS")
    code, out, err = _check(env, tmp_path)
    assert code == 0 and "Alert channel: OK, #sms-alerts (C0ALERTS); the bot is a member" in out
    fake_slack.fail("conversations.info", "missing_scope")
    code, out, err = _check(env, tmp_path)
    assert code == 0 and "could not be checked" in out
    assert "channels:read (public channels) or groups:read (private ones)" in out and "reinstall" in out


def _stored_balance(db: Database, balance: float, at: float) -> None:
    with db.transaction() as conn:
        conn.execute(
            "INSERT INTO balance_history (checked_at, balance, outcome, error) VALUES (?, ?, 'ok', NULL)", (at, balance)
        )


def test_while_a_bot_runs_check_leaves_the_gateway_to_it_and_shows_its_last_balance_check(
    tmp_path, simulator, fake_slack
):
    """The account allows one gateway connection: the running bot's. check must not open a second."""
    import os
    import time

    from bot.storage.lock import hold_database

    env = _reachable(tmp_path, simulator, fake_slack)
    db = Database(env["SMSBOT_DB"])
    db.migrate()
    _stored_balance(db, 321.0, time.time() - 300)
    db.close()
    running = hold_database(env["SMSBOT_DB"])  # as `smsbot run` holds it
    try:
        code, out, err = _check(env, tmp_path)
    finally:
        running.release()
    assert code == 0, out + err
    assert f"SMS Office: not asked from here: the smsbot running on this database (PID {os.getpid()})" in out
    assert "its last balance check, 5 min ago: OK, 321.00 credits" in out
    assert simulator.calls == []  # not even the https probe
    code, out, _ = _check(env, tmp_path)  # no bot running: check asks the gateway itself
    assert "SMS Office: OK, balance" in out and [op for op, _ in simulator.calls] == ["balance.asp"]


@pytest.mark.postgres
def test_on_postgresql_check_leaves_the_gateway_to_the_leader(tmp_path, simulator, fake_slack):
    import time

    from bot.storage.leases import Leases
    from bot.storage.postgres import PostgresDatabase
    from bot.workers.leadership import lease_name
    from tests.conftest import create_database, drop_database

    url = create_database("smsbot_check_leader")
    try:
        db = PostgresDatabase(url, str(tmp_path / "smsbot.db"))
        db.migrate()
        _stored_balance(db, 80.0, time.time() - 30)
        Leases(db).acquire(lease_name("acme"), "host-a:123:beef", time.time(), 60.0)
        db.close()
        code, out, err = _check(_reachable(tmp_path, simulator, fake_slack, SMSBOT_DATABASE_URL=url), tmp_path)
        assert code == 0, out + err
        assert "SMS Office: not asked from here: the leader host-a:123:beef (epoch 1)" in out
        assert "OK, 80.00 credits" in out and simulator.calls == []
    finally:
        drop_database(url)
