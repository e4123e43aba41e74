"""Logging: one line per event, key=value or JSON, exceptions on the same line, libraries kept quiet."""

import io
import json
import logging
import signal

import pytest

from bot.logs import setup_logging
from tests.conftest import GATEWAY_PASSWORD
from tests.process import start_bot

LIBRARIES = ("urllib3", "slack_bolt", "slack_sdk", "waitress", "apscheduler")


@pytest.fixture
def logged():
    """setup_logging into a buffer; the root logger and the libraries' levels are put back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    libraries = {name: logging.getLogger(name).level for name in LIBRARIES}
    stream = io.StringIO()

    def setup(**kwargs) -> io.StringIO:
        setup_logging(stream=stream, **kwargs)
        return stream

    yield setup
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, was in libraries.items():
        logging.getLogger(name).setLevel(was)


def test_key_value_lines_carry_time_level_logger_and_the_event(logged):
    out = logged(level="INFO")
    logging.getLogger("bot.sender").info("event=sms_sent message=%d", 7)
    logging.getLogger("bot.sender").debug("event=too_chatty")
    [line] = out.getvalue().splitlines()
    assert line.startswith("ts=") and " level=INFO logger=bot.sender event=sms_sent message=7" in line


def test_free_text_and_exceptions_stay_on_one_line(logged):
    out = logged(level="INFO")
    log = logging.getLogger("bot.x")
    log.warning('a "quoted"\nmessage')
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("event=crashed")
    first, second = out.getvalue().splitlines()
    assert 'msg="a \\"quoted\\"\\nmessage"' in first
    assert "event=crashed exc=" in second and "ValueError: boom" in second


def test_json_lines_parse_and_keep_the_traceback(logged):
    out = logged(level="DEBUG", fmt="json")
    try:
        raise KeyError("missing")
    except KeyError:
        logging.getLogger("bot.y").error("event=failed id=%s", "abc", exc_info=True)
    [entry] = [json.loads(line) for line in out.getvalue().splitlines()]
    assert (entry["level"], entry["logger"], entry["event"], entry["id"]) == ("ERROR", "bot.y", "failed", "abc")
    assert "KeyError: 'missing'" in entry["exc"]


def test_json_lines_carry_every_key_value_as_a_field_and_quoted_values_read_back(logged):
    out = logged(level="INFO", fmt="json")
    log = logging.getLogger("bot.z")
    log.info("event=db_migrated version=%d", 1)
    log.warning("event=balance_alerts_off reason=%s note=%s", json.dumps('not "set"'), json.dumps("a b\nc"))
    log.warning("event=send_store_failed message=3 event=sent level=x error=OperationalError: database is locked")
    log.warning("free text, not an event")
    migrated, alerts, failed, free = [json.loads(line) for line in out.getvalue().splitlines()]
    assert {k: migrated[k] for k in ("level", "logger", "event", "version")} == {
        "level": "INFO",
        "logger": "bot.z",
        "event": "db_migrated",
        "version": "1",
    }
    assert (alerts["reason"], alerts["note"]) == ('not "set"', "a b\nc")
    assert (failed["message"], failed["event"], failed["event_2"]) == ("3", "send_store_failed", "sent")
    assert failed["level"] == "WARNING" and failed["level_2"] == "x"  # ours are never overwritten
    assert failed["error"] == "OperationalError: database is locked"
    assert free["msg"] == "free text, not an event" and "event" not in free


def test_libraries_only_warn_unless_we_debug(logged):
    out = logged(level="INFO")
    for name in LIBRARIES:
        logging.getLogger(name).info("chatter from %s", name)
        logging.getLogger(name).warning("trouble in %s", name)
    assert [f"trouble in {name}" in out.getvalue() for name in LIBRARIES] == [True] * len(LIBRARIES)
    assert "chatter" not in out.getvalue()
    logged(level="DEBUG")
    logging.getLogger("waitress").debug("details")
    assert "details" in out.getvalue()


def test_smsbot_run_with_json_logs_writes_each_key_value_as_a_field(tmp_path, simulator, fake_slack):
    bot = start_bot(tmp_path, simulator, fake_slack, SMSBOT_LOG_FORMAT="json")
    try:
        assert bot.stop(signal.SIGTERM) == 0
    finally:
        bot.stop()
    log = bot.log()
    entries = [json.loads(line) for line in log.splitlines()]  # one JSON object per line, nothing else
    migrated = [e["version"] for e in entries if e.get("event") == "db_migrated"]
    assert migrated == [str(n) for n in range(1, len(migrated) + 1)] and len(migrated) > 5
    [alerts_off] = [e for e in entries if e.get("event") == "balance_alerts_off"]
    assert alerts_off["level"] == "WARNING" and alerts_off["reason"] == "SMSBOT_ALERT_CHANNEL is not set"
    assert [e.get("event") for e in entries][-1] == "stopped"
    assert all(e["logger"].startswith(("bot", "waitress", "slack", "urllib3", "apscheduler")) for e in entries)
    assert GATEWAY_PASSWORD not in log
