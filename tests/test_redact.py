"""Secrets never reach a log line, a repr or a logged URL: every form they take there is masked."""

import logging
import secrets
from urllib.parse import urlencode

import pytest
import requests

from bot.logs import JsonFormatter, KeyValueFormatter
from bot.redact import MASK, Redactor, redact, register_secret

PASSWORD = "s3cr3t&Pa ss/+="  # characters a URL encodes, in both of its encodings


def fresh_secret() -> str:
    """A secret no other test registered, so each test sees only its own."""
    secret = "tok-" + secrets.token_hex(8) + "&x y"
    register_secret(secret)
    return secret


def test_the_raw_and_both_url_encoded_forms_are_masked():
    mask = Redactor([PASSWORD])
    query = urlencode({"username": "acme", "password": PASSWORD})  # password=s3cr3t%26Pa+ss%2F%2B%3D
    url = (
        requests.Request(
            "GET", "http://gw.example/sms/api/balance.asp", params={"username": "acme", "password": PASSWORD}
        )
        .prepare()
        .url
    )
    for shown in (mask(f"login acme with {PASSWORD}"), mask(query), mask(url)):
        assert PASSWORD not in shown and MASK in shown and "acme" in shown
        assert "s3cr3t" not in shown


def test_a_secret_that_contains_another_is_masked_whole():
    mask = Redactor(["abc-short", "abc-short-and-longer"])
    assert mask("x abc-short-and-longer y") == f"x {MASK} y"
    assert mask("x abc-short y") == f"x {MASK} y"


def test_empty_and_tiny_values_do_not_mangle_every_line():
    mask = Redactor(["", None, "ab"])
    assert mask("a plain log line about 'ab'") == "a plain log line about 'ab'"


def test_anything_shown_is_turned_into_text_first():
    secret = fresh_secret()
    error = RuntimeError(f"gateway refused {secret}")
    assert redact(error) == f"gateway refused {MASK}"
    assert secret not in redact(repr({"password": secret})) and secret not in redact([secret])


def record(message, *args, exc_info=None):
    return logging.LogRecord("bot.test", logging.INFO, __file__, 1, message, args, exc_info)


@pytest.mark.parametrize("formatter", [KeyValueFormatter(), JsonFormatter()], ids=["kv", "json"])
def test_log_lines_mask_secrets_in_messages_arguments_reprs_and_tracebacks(formatter):
    secret = fresh_secret()
    try:
        raise ValueError(f"bad token {secret}")
    except ValueError as error:
        lines = [
            formatter.format(record("event=call url=%s", f"http://gw.example/?password={secret}")),
            formatter.format(record("event=settings value=%r", {"password": secret})),
            formatter.format(record("a free-form message with %s", secret)),
            formatter.format(record("event=crash", exc_info=(type(error), error, error.__traceback__))),
        ]
    for line in lines:
        assert secret not in line and MASK in line
        assert "tok-" not in line  # no part of it, URL-encoded or not


def test_the_process_wide_register_masks_from_then_on():
    secret = "late-" + secrets.token_hex(8)
    assert redact(secret) == secret
    register_secret(secret)
    assert redact(f"[{secret}]") == f"[{MASK}]"
