"""Events: the App Home tab."""

import json

from tests.conftest import wait_for


def test_app_home_shows_balance_sends_and_groups(slack_driver, bot, fake_slack):
    bot.watch.check()
    slack_driver.command("group add oncall 27831234567")
    slack_driver.command("send oncall Generator running")
    slack_driver.pump()
    assert (
        slack_driver.event(
            {"type": "app_home_opened", "user": "U0USER", "channel": "D0USER", "tab": "home"}
        ).status_code
        == 200
    )
    assert wait_for(lambda: fake_slack.calls_to("views.publish"))
    call = fake_slack.calls_to("views.publish")[0].params
    view = json.loads(call["view"]) if isinstance(call["view"], str) else call["view"]
    shown = json.dumps(view, ensure_ascii=False)
    assert call["user_id"] == "U0USER" and view["type"] == "home"
    assert "1,000.00" in shown and "`oncall` · 1 number" in shown and "27831234567" in shown


def test_app_home_shows_nothing_private_to_someone_not_allowed(driver_with, fake_slack):
    d = driver_with(SMSBOT_ALLOWED_USERS="U0BOSS")
    d.command("group add oncall 27831234567", user_id="U0BOSS")
    d.event({"type": "app_home_opened", "user": "U0STRANGER", "channel": "D0STRANGER", "tab": "home"})
    assert wait_for(lambda: fake_slack.calls_to("views.publish"))
    view = fake_slack.calls_to("views.publish")[0].params["view"]
    shown = view if isinstance(view, str) else json.dumps(view)
    assert "not allowed" in shown and "27831234567" not in shown and "oncall" not in shown


def test_app_home_shows_ones_own_sends_and_an_admin_all(driver_with, fake_slack):
    fake_slack.add_channel("C0ONE", "one")
    d = driver_with(SMSBOT_ADMIN_USERS="U0BOSS")
    d.command("send 27831234567 Payroll code 4471", user_id="U0ANN", channel_id="C0ONE")
    d.command("send 27821234567 Bob's own", user_id="U0BOB", channel_id="C0GENERAL")
    d.pump()

    def home(user_id):
        before = len(fake_slack.calls_to("views.publish"))
        d.event({"type": "app_home_opened", "user": user_id, "channel": f"D{user_id}", "tab": "home"})
        assert wait_for(lambda: len(fake_slack.calls_to("views.publish")) > before)
        view = fake_slack.calls_to("views.publish")[-1].params["view"]
        return view if isinstance(view, str) else json.dumps(view)

    # no channel on the App Home tab: bob sees his own send only, though he could ask in C0ONE
    assert "27821234567" in home("U0BOB") and "27831234567" not in home("U0BOB")
    assert "27831234567" in home("U0ANN") and "27821234567" not in home("U0ANN")
    assert "27831234567" in home("U0BOSS") and "27821234567" in home("U0BOSS")
