"""Faults, proven end to end: a real `smsbot run` against the simulator and the fake Slack."""

import json
import signal

import requests

from bot.simulator.simulator import Simulator
from bot.testing.slack_requests import command_body, sign
from tests.conftest import GATEWAY_PASSWORD, SIGNING_SECRET
from tests.process import free_port, start_bot


def send(bot, fake_slack, text):
    body = command_body(text, response_url=fake_slack.response_url("faults"))
    response = requests.post(bot.url + "/slack/events", data=body, headers=sign(SIGNING_SECRET, body), timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["text"]


def status_text(fake_slack, channel="C0GENERAL"):
    messages = fake_slack.messages.get(channel, [])
    return json.dumps(messages[0]["blocks"]) if messages else ""


def thread(fake_slack, channel="C0GENERAL"):
    messages = fake_slack.messages.get(channel, [])
    return [r["text"] for r in fake_slack.thread(channel, messages[0]["ts"])] if messages else []


def test_kill_9_mid_queue_sends_the_rest_once_and_never_blindly_resends(tmp_path, simulator, fake_slack):
    simulator.hold()  # the first SMS is in flight when the process dies
    bot = start_bot(tmp_path, simulator, fake_slack)
    send(bot, fake_slack, "send 27831234567,27821234567,27841234567 Generator running")
    assert fake_slack.wait_for(lambda: simulator.max_concurrent == 1)
    # (a kill between Slack's answer to the status post and our commit would post it twice)
    assert fake_slack.wait_for(lambda: "event=slack_done job=1 kind=post" in bot.log())
    bot.proc.send_signal(signal.SIGKILL)
    bot.proc.wait(timeout=10)
    simulator.release()  # the gateway did take the in-flight one
    again = start_bot(tmp_path, simulator, fake_slack)
    try:
        assert fake_slack.wait_for(lambda: len(simulator.messages) == 3, timeout=10)
        assert sorted(m.to for m in simulator.messages) == ["27821234567", "27831234567", "27841234567"]
        assert fake_slack.wait_for(
            lambda: any("can't tell whether the SMS to 27831234567" in t for t in thread(fake_slack)), timeout=10
        )
        assert fake_slack.wait_for(lambda: "unconfirmed" in status_text(fake_slack), timeout=10)
        assert len(simulator.messages) == 3  # nothing resent on its own
    finally:
        again.stop()


def test_connection_refused_waits_and_sends_once_when_the_gateway_is_back(tmp_path, fake_slack):
    port = free_port()
    gateway = Simulator(username="acme", password=GATEWAY_PASSWORD, balance=100)
    bot = start_bot(tmp_path, gateway, fake_slack, SMSOFFICE_API_URL=f"http://127.0.0.1:{port}/sms/api/")
    try:
        send(bot, fake_slack, "send 27831234567 Generator running")
        assert fake_slack.wait_for(lambda: "retrying: gateway unreachable" in status_text(fake_slack), timeout=10)
        gateway.start(port=port)
        assert fake_slack.wait_for(lambda: len(gateway.messages) == 1, timeout=15)
        assert fake_slack.wait_for(
            lambda: "sent" in status_text(fake_slack) and "retrying" not in status_text(fake_slack), timeout=10
        )
        assert len(gateway.messages) == 1
        assert "Connection refused" in bot.log() and GATEWAY_PASSWORD not in bot.log()
    finally:
        bot.stop()
        gateway.stop()


def test_http_503_waits_and_sends_each_sms_once_when_the_gateway_is_back(tmp_path, simulator, fake_slack):
    simulator.outage = 503
    bot = start_bot(tmp_path, simulator, fake_slack)
    try:
        send(bot, fake_slack, "send 27831234567,27821234567 Generator running")
        assert fake_slack.wait_for(lambda: "retrying: gateway unreachable" in status_text(fake_slack), timeout=10)
        simulator.outage = None
        assert fake_slack.wait_for(lambda: len(simulator.messages) == 2, timeout=15)
        assert sorted(m.to for m in simulator.messages) == ["27821234567", "27831234567"]
        # the gateway records an SMS before it answers: the sender stores that answer a moment later
        assert fake_slack.wait_for(
            lambda: requests.get(bot.url + "/healthz", timeout=5).json()["queue_depth"] == 0, timeout=10
        )
        assert len(simulator.messages) == 2  # each sent once
    finally:
        bot.stop()


def test_a_send_that_outlives_the_give_up_time_fails_and_the_user_is_told(tmp_path, simulator, fake_slack):
    simulator.outage = 503
    bot = start_bot(tmp_path, simulator, fake_slack, SMSBOT_SEND_GIVE_UP_HOURS="0.0003")  # about 1 s
    try:
        send(bot, fake_slack, "send 27831234567 Generator running")
        assert fake_slack.wait_for(
            lambda: any("failed" in t and "could not be reached" in t for t in thread(fake_slack)), timeout=15
        )
        assert "<@U0USER>" in thread(fake_slack)[0]
        simulator.outage = None
        assert simulator.messages == []
    finally:
        bot.stop()


def test_a_slack_outage_loses_nothing(tmp_path, simulator, fake_slack):
    fake_slack.down = True
    bot = start_bot(tmp_path, simulator, fake_slack)
    try:
        send(bot, fake_slack, "send 27831234567,27821234567 Generator running")
        assert fake_slack.wait_for(lambda: len(simulator.messages) == 2, timeout=10)  # the sender never waits
        assert fake_slack.wait_for(lambda: len(fake_slack.calls_to("chat.postMessage")) >= 2, timeout=10)
        assert fake_slack.messages.get("C0GENERAL", []) == []
        fake_slack.down = False
        assert fake_slack.wait_for(
            lambda: "2 pending" in (fake_slack.messages.get("C0GENERAL") or [{}])[0].get("text", ""), timeout=20
        )
        assert len(fake_slack.messages["C0GENERAL"]) == 1
        assert bot.stop(signal.SIGTERM) == 0
    finally:
        bot.stop()


def test_a_refused_socket_mode_token_keeps_the_bot_up_and_secrets_stay_out_of_the_log(tmp_path, simulator, fake_slack):
    app_token = "xapp-1-A0TEST-1234567890-abcdefabcdef"
    bot = start_bot(tmp_path, simulator, fake_slack, SLACK_APP_TOKEN=app_token, SMSBOT_LOG_FORMAT="json")
    try:
        assert fake_slack.wait_for(lambda: "socket_mode_refused" in bot.log(), timeout=10)
        assert requests.get(bot.url + "/healthz", timeout=5).json()["status"] == "ok"
        assert fake_slack.calls_to("apps.connections.open")  # it did try, with the app token
        assert bot.stop(signal.SIGTERM) == 0
        log = bot.log()
        assert "Logging error" not in log
        assert all(json.loads(line)["level"] for line in log.splitlines())  # one JSON object per line
        assert "SLACK_APP_TOKEN" in log and app_token not in log
    finally:
        bot.stop()
