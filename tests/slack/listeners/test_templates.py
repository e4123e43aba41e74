"""/sms template … and sending one with `/sms send NUMBERS :NAME key=value`, through signed requests."""
from tests.conftest import said


def test_a_template_is_added_listed_shown_and_sent_with_its_values_filled(slack_driver, bot, simulator):
    added = said(slack_driver.command("template add outage Outage at {site} since {since}. We are on it."))
    assert "Saved the template `outage`" in added and "`{site}`, `{since}`" in added
    assert "`outage`" in said(slack_driver.command("template list"))
    shown = said(slack_driver.command("template show outage"))
    assert "1 part (GSM-7)" in shown and "near" not in shown
    ack = said(slack_driver.command('send 27831234567 :outage site="Cape Town" since=07:00'))
    assert "Queued 1 SMS to 27831234567" in ack and "Outage at Cape Town since 07:00. We are on it." in ack
    slack_driver.pump()
    assert [m.text for m in simulator.messages] == ["Outage at Cape Town since 07:00. We are on it."]
    assert bot.queue.batch(1)["template"] == "outage"


def test_curly_quotes_from_a_slack_client_count_as_quotes(slack_driver, simulator):
    said(slack_driver.command("template add ready Hi {name}, order {order} is ready"))
    said(slack_driver.command("send 27831234567 :ready name=“Thandi Mokoena” order=1234"))
    slack_driver.pump()
    assert simulator.messages[0].text == "Hi Thandi Mokoena, order 1234 is ready"


def test_a_missing_value_or_unknown_key_refuses_the_send_and_says_what_to_fix(slack_driver, bot):
    said(slack_driver.command("template add outage Outage at {site} since {since}"))
    missing = said(slack_driver.command("send 27831234567 :outage site=A"))
    assert "Missing key `since`" in missing
    unknown = said(slack_driver.command("send 27831234567 :outage site=A since=1 place=B"))
    assert "no key `place`" in unknown and "`site`, `since`" in unknown
    assert bot.queue.depth() == 0


def test_the_filled_text_is_checked_like_a_typed_one(slack_driver, bot):
    said(slack_driver.command("template add long Notice: {body}"))
    refused = said(slack_driver.command(f"send 27831234567 :long body={'x' * 700}"))
    assert "GSM-7" in refused and bot.queue.depth() == 0


def test_a_bad_placeholder_is_refused_when_added_naming_its_position(slack_driver):
    refused = said(slack_driver.command("template add ready Hi {Name}, your order is ready"))
    assert "`{Name}`" in refused and "position 4" in refused
    assert "No templates yet" in said(slack_driver.command("template list"))


def test_show_warns_when_the_fixed_text_alone_is_near_the_four_part_limit(slack_driver):
    said(slack_driver.command("template add essay " + "word " * 100 + "{x}"))
    shown = said(slack_driver.command("template show essay"))
    assert "4 parts" in shown  # 500 GSM-7 characters: 4 parts of 153
    assert "of the 4 allowed" in shown


def test_only_admins_change_templates_when_there_are_admins(driver_with):
    d = driver_with(SMSBOT_ADMIN_USERS="U0ADMIN")
    assert "Only smsbot admins" in said(d.command("template add a Hi", user_id="U0USER"))
    assert "Saved" in said(d.command("template add a Hi", user_id="U0ADMIN"))
    assert "Only smsbot admins" in said(d.command("template remove a", user_id="U0USER"))
    assert "Removed the template `a`" in said(d.command("template remove a", user_id="U0ADMIN"))


def test_an_unknown_template_names_the_closest(slack_driver, bot):
    said(slack_driver.command("template add outage Down at {site}"))
    text = said(slack_driver.command("send 27831234567 :outag site=A"))
    assert "no template ‘outag’" in text and "`outage`" in text
    assert bot.queue.depth() == 0


def test_each_template_change_goes_to_the_audit_hook(slack_driver, bot):
    changes = []
    bot.routine.audit = lambda user, action, args: changes.append((user, action, args))
    said(slack_driver.command("template add a Hi"))
    said(slack_driver.command("template add a Hello"))
    said(slack_driver.command("template remove a"))
    assert changes == [("U0USER", "template_add", {"name": "a"}), ("U0USER", "template_replace", {"name": "a"}),
                       ("U0USER", "template_remove", {"name": "a"})]
