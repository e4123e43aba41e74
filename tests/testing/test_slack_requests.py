"""Signed Slack requests for tests: the signature verifies with the signing secret (checked by
slack_sdk's own verifier and by the bot over loopback), a stale timestamp is visible and refused, and
each body carries the fields Slack sends."""

import json
import time
from urllib.parse import parse_qs

import requests
from slack_sdk.signature import SignatureVerifier

from bot.testing.slack_requests import (
    block_actions_body,
    command_body,
    event_body,
    new_trigger_id,
    sign,
    view_submission_body,
)
from tests.conftest import SIGNING_SECRET, said

STALE = 6 * 60  # Slack's rule: a request more than 5 minutes old is a replay


class At:
    def __init__(self, t: float) -> None:
        self.t = t

    def now(self) -> float:
        return self.t


def form(body: bytes) -> dict:
    return {k: v[0] for k, v in parse_qs(body.decode()).items()}


def test_a_signed_body_verifies_with_the_secret_and_not_with_another_or_when_changed():
    body = command_body("send 27831234567 Hi", response_url="http://127.0.0.1:9/response/r1")
    headers = sign(SIGNING_SECRET, body, 1_780_000_000)
    verifier = SignatureVerifier(SIGNING_SECRET, clock=At(1_780_000_000))
    assert verifier.is_valid(body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"])
    assert not SignatureVerifier("another-secret", clock=At(1_780_000_000)).is_valid(
        body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
    assert not verifier.is_valid(
        body.replace(b"Hi", b"Ho"), headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )


def test_a_stale_timestamp_is_in_the_headers_and_refused(bot):
    body = command_body("history", response_url="http://127.0.0.1:9/response/r1")
    old = int(time.time()) - STALE
    headers = sign(SIGNING_SECRET, body, old)
    assert headers["X-Slack-Request-Timestamp"] == str(old)
    assert not SignatureVerifier(SIGNING_SECRET).is_valid(
        body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )
    url = bot.server.url + "/slack/events"
    with requests.Session() as http:
        assert http.post(url, data=body, headers=headers, timeout=10).status_code == 401
        fresh = http.post(url, data=body, headers=sign(SIGNING_SECRET, body), timeout=10)
    assert fresh.status_code == 200 and said(fresh).startswith("No sends to show.")


def test_a_command_body_has_slacks_fields_and_a_new_trigger_each_time():
    fields = form(command_body("balance", user_id="U0ANN", channel_id="C0OPS", response_url="http://x/r"))
    assert (fields["command"], fields["text"], fields["user_id"], fields["channel_id"]) == (
        "/sms",
        "balance",
        "U0ANN",
        "C0OPS",
    )
    assert fields["response_url"] == "http://x/r" and fields["trigger_id"]
    assert new_trigger_id() != new_trigger_id()


def test_a_click_sits_in_a_channel_message_or_an_ephemeral_one():
    in_message = json.loads(
        form(block_actions_body("confirm_send", "p1", message_ts="1.000100", response_url="http://x/r"))["payload"]
    )
    assert in_message["container"]["is_ephemeral"] is False and in_message["message"]["ts"] == "1.000100"
    assert in_message["actions"][0]["action_id"] == "confirm_send" and in_message["actions"][0]["value"] == "p1"
    ephemeral = json.loads(form(block_actions_body("confirm_send", "p1", response_url="http://x/r"))["payload"])
    assert ephemeral["container"]["is_ephemeral"] is True and "message" not in ephemeral


def test_a_submission_carries_the_typed_values_and_an_event_its_payload():
    payload = json.loads(
        form(view_submission_body("sms_compose", {"message": "Drill"}, private_metadata="{}"))["payload"]
    )
    assert payload["view"]["callback_id"] == "sms_compose"
    assert payload["view"]["state"]["values"]["message"]["value"]["value"] == "Drill"
    event = json.loads(event_body({"type": "app_mention", "text": "hi"}))
    assert event["type"] == "event_callback" and event["event"] == {"type": "app_mention", "text": "hi"}
