"""The compose form (`/sms send` with no arguments): opening it, its errors, its send, its confirmation."""

import json

import pytest

from bot.slack.render import COMPOSE_VIEW, CONFIRM_VIEW
from tests.conftest import wait_for


def test_send_without_arguments_opens_the_form(slack_driver, fake_slack):
    assert slack_driver.command("send").status_code == 200
    assert wait_for(lambda: fake_slack.calls_to("views.open"))
    view = fake_slack.calls_to("views.open")[0].params["view"]
    view = json.loads(view) if isinstance(view, str) else view
    assert view["callback_id"] == COMPOSE_VIEW
    assert json.loads(view["private_metadata"])["channel_id"] == "C0GENERAL"


def test_a_form_that_cannot_open_in_time_says_what_to_type_instead(slack_driver, fake_slack):
    fake_slack.fail("views.open", "expired_trigger_id")
    slack_driver.command("send")
    assert wait_for(lambda: any("/sms send 27831234567" in body.get("text", "") for _, body in fake_slack.responses))


@pytest.mark.parametrize(
    "values,field,words",
    [
        ({"recipients": "0831234567", "message": "Hi"}, "recipients", "SMS_DEFAULT_REGION"),
        ({"recipients": "oncal", "message": "Hi"}, "recipients", "no group called ‘oncal’"),
        ({"recipients": "27831234567", "message": "x" * 613}, "message", "Cut 1"),
        ({"recipients": "27831234567", "message": "   "}, "message", "empty"),
    ],
)
def test_form_errors_are_shown_on_the_field_at_fault(slack_driver, bot, values, field, words):
    meta = json.dumps({"channel_id": "C0GENERAL"})
    response = slack_driver.submit(COMPOSE_VIEW, values, private_metadata=meta)
    assert response.status_code == 200
    body = response.json()
    assert body["response_action"] == "errors" and list(body["errors"]) == [field]
    assert words in body["errors"][field]
    assert bot.queue.depth() == 0


def test_a_valid_form_queues_the_send_into_the_channel_it_came_from(slack_driver, bot, fake_slack, simulator):
    meta = json.dumps({"channel_id": "C0GENERAL", "channel_name": "general"})
    response = slack_driver.submit(
        COMPOSE_VIEW, {"recipients": "27831234567", "message": "From the form"}, private_metadata=meta
    )
    assert response.status_code == 200 and response.text == ""  # closes the modal
    slack_driver.pump()
    assert [m.text for m in simulator.messages] == ["From the form"]
    assert fake_slack.messages["C0GENERAL"][0]["text"].startswith("SMS from <@U0USER>")


def test_a_costly_form_asks_for_confirmation_first(driver_with, simulator):
    d = driver_with(SMSBOT_CONFIRM_ABOVE="1")
    meta = json.dumps({"channel_id": "C0GENERAL"})
    body = d.submit(
        COMPOSE_VIEW, {"recipients": "27831234567,27821234567", "message": "Drill"}, private_metadata=meta
    ).json()
    assert body["response_action"] == "update" and body["view"]["callback_id"] == CONFIRM_VIEW
    assert d.bot.queue.depth() == 0
    for _ in range(2):  # a double submit queues once
        d.submit(CONFIRM_VIEW, {}, private_metadata=body["view"]["private_metadata"])
    assert d.bot.queue.depth() == 2
