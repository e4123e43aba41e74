"""Logging: one line per event, key=value or JSON, exceptions on the same line, libraries kept quiet."""

import io
import json
import logging

import pytest

from bot.logs import setup_logging

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
    assert (entry["level"], entry["logger"], entry["message"]) == ("ERROR", "bot.y", "event=failed id=abc")
    assert "KeyError: 'missing'" in entry["exc"]


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
