"""The compose form's routine parts: the template picker and the date and time picker."""
import json

from bot.slack.render import COMPOSE_VIEW, TEMPLATE_PICK_ACTION
from bot.testing.slack_requests import view_action_body
from tests.conftest import said, wait_for


def _view(call) -> dict:
    view = call.params["view"]
    return json.loads(view) if isinstance(view, str) else view


def test_picking_a_template_fills_the_message_field_with_its_placeholders(slack_driver, fake_slack, simulator):
    said(slack_driver.command("template add outage Outage at {site}: crews are on it."))
    slack_driver.command("send")
    assert wait_for(lambda: fake_slack.calls_to("views.open"))
    opened = _view(fake_slack.calls_to("views.open")[0])
    menu = [b for b in opened["blocks"] if b.get("block_id") == "template"][0]["elements"][0]
    assert [o["value"] for o in menu["options"]] == ["outage"]
    opened |= {"id": "V0000001", "state": {"values": {"recipients": {"value": {"type": "plain_text_input",
                                                                              "value": "27831234567"}}}}}
    assert slack_driver.post(view_action_body(TEMPLATE_PICK_ACTION, "outage", opened)).status_code == 200
    assert wait_for(lambda: fake_slack.calls_to("views.update"))
    updated = _view(fake_slack.calls_to("views.update")[0])
    fields = {b["block_id"]: b["element"].get("initial_value") for b in updated["blocks"] if b["type"] == "input"}
    assert fields["message-1"] == "Outage at {site}: crews are on it."  # placeholders visible, to edit
    assert fields["recipients"] == "27831234567"                       # what was typed is kept
    meta = opened["private_metadata"]
    response = slack_driver.submit(COMPOSE_VIEW, {"recipients": "27831234567",
                                                  "message-1": "Outage at Bellville: crews are on it."},
                                   private_metadata=meta)
    assert response.status_code == 200 and not response.content.strip()
    slack_driver.pump()
    assert [m.text for m in simulator.messages] == ["Outage at Bellville: crews are on it."]


def test_the_forms_date_and_time_schedules_the_send(slack_driver, bot, simulator):
    meta = json.dumps({"channel_id": "C0GENERAL"})
    at = int(bot.clock()) + 3600
    response = slack_driver.submit(COMPOSE_VIEW, {"recipients": "27831234567", "message": "Drill soon",
                                                  "when": {"type": "datetimepicker", "selected_date_time": at}},
                                   private_metadata=meta)
    assert response.status_code == 200
    slack_driver.pump()
    assert simulator.messages == [] and bot.queue.batch(1)["scheduled_for"] == at
    past = slack_driver.submit(COMPOSE_VIEW, {"recipients": "27831234567", "message": "Drill",
                                              "when": {"type": "datetimepicker", "selected_date_time": at - 7200}},
                               private_metadata=meta).json()
    assert past["response_action"] == "errors" and "in the past" in past["errors"]["when"]
