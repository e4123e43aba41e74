"""Slow work after a Slack ack (bot/slack/after_ack.py): a failing task tells the person once, through
respond; shutdown drops work not yet started."""

import threading

from slack_bolt.context.respond import Respond

from bot.slack.after_ack import AfterAck
from tests.conftest import wait_for


def test_a_failing_task_tells_the_person_once_through_respond(fake_slack, caplog):
    respond = Respond(response_url=fake_slack.response_url("balance"))

    def ask_gateway(respond):
        raise RuntimeError("the gateway client broke")

    pool = AfterAck()
    try:
        pool.later(ask_gateway, respond)
        assert wait_for(lambda: fake_slack.responses)
    finally:
        assert pool.close(timeout=5)
    [(key, body)] = fake_slack.responses
    assert key == "balance" and "Something went wrong on my side" in body["text"]
    assert body["response_type"] == "ephemeral" and body["replace_original"] is False
    assert "event=after_ack_failed task=ask_gateway" in caplog.text


def test_an_apology_that_cannot_be_delivered_is_only_logged_never_retried(caplog):
    pool = AfterAck()
    try:
        pool.later(lambda respond: 1 / 0, Respond(response_url="http://127.0.0.1:9/nobody-listens"))
        assert wait_for(lambda: caplog.text.count("event=after_ack_failed") == 2)
    finally:
        assert pool.close(timeout=5)
    assert caplog.text.count("event=after_ack_failed") == 2  # the task, then its apology: no loop


def test_close_drops_work_not_yet_started_and_says_whether_work_still_runs():
    release, ran = threading.Event(), []
    pool = AfterAck(workers=1)
    pool.later(lambda: (release.wait(5), ran.append("first")))
    pool.later(lambda: ran.append("second"))
    assert pool.close(timeout=0.05) is False  # the first still runs
    release.set()
    assert pool.close(timeout=5) is True
    assert ran == ["first"]
