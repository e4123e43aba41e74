"""Personalised lists through signed requests: a view_submission with a file_input value, the file
served by the fake Slack Web API, the preview by views.update, Send, and the texts at the simulator."""

import json
import time

from bot.slack.render import COMPOSE_VIEW, CONFIRM_VIEW
from tests.conftest import said, wait_for

META = json.dumps({"channel_id": "C0GENERAL", "channel_name": "general"})
TEMPLATE = "Hi {first_name}, order {order} is ready"


def _submit_list(driver, fake_slack, content: bytes, text: str = TEMPLATE, **values):
    file = fake_slack.upload(content)
    started = time.monotonic()
    response = driver.submit(
        COMPOSE_VIEW,
        {"recipients": "", "message": text, "list": {"type": "file_input", "files": [file]}, **values},
        private_metadata=META,
    )
    return response, time.monotonic() - started


def _shown(fake_slack, count: int = 1) -> dict:
    assert wait_for(lambda: len(fake_slack.calls_to("views.update")) >= count, timeout=20)
    view = fake_slack.calls_to("views.update")[count - 1].params["view"]
    return json.loads(view) if isinstance(view, str) else view


def test_each_recipient_gets_their_own_text_byte_for_byte(slack_driver, bot, fake_slack, simulator):
    rows = [
        ("27831234567", "Thandi", "1234"),
        ("+27821234567", "Zoë “Z” O’Neil", "A-9"),
        ("27841234567", "Siyabonga 🙂", "77"),
        ("27721234567", "Ann, Jr.", "5"),
    ]
    csv = "Mobile,First Name,Order\n" + "\n".join(f'{n},"{a}",{o}' for n, a, o in rows) + "\n"
    response, _ = _submit_list(slack_driver, fake_slack, csv.encode())
    body = response.json()
    assert body["response_action"] == "update" and "Checking your list" in json.dumps(body["view"])
    preview = _shown(fake_slack)
    shown = json.dumps(preview, ensure_ascii=False)
    # one part each (the curly quotes and the emoji need UCS-2, 70 units to a part): 4 credits
    assert "4 recipients" in shown and "*Parts:* 1 per SMS" in shown and "*Credits:* 4 in all" in shown
    assert "*Longest text:* UCS-2" in shown
    assert shown.count("*To ") == 3  # three samples
    assert bot.queue.depth() == 0  # nothing queued before Send
    assert slack_driver.submit(CONFIRM_VIEW, {}, private_metadata=preview["private_metadata"]).status_code == 200
    slack_driver.pump()
    expected = {f"27{n[-9:]}": f"Hi {a}, order {o} is ready" for n, a, o in rows}
    got = {m.to: m.text for m in simulator.messages}
    assert TEMPLATE in fake_slack.messages["C0GENERAL"][0]["blocks"][1]["text"]["text"]  # the template shown
    assert {to: t.encode("utf-8") for to, t in got.items()} == {to: t.encode("utf-8") for to, t in expected.items()}


def test_a_5000_row_list_is_acked_at_once_and_queued_in_one_transaction(slack_driver, bot, fake_slack):
    csv = "number,first_name,order\n" + "".join(f"2783{i:07d},Name{i},{i}\n" for i in range(5000))
    response, took = _submit_list(slack_driver, fake_slack, csv.encode())
    assert response.status_code == 200 and took < 3.0
    preview = _shown(fake_slack)
    assert "5000 recipients" in json.dumps(preview)
    started = time.monotonic()
    sent = slack_driver.submit(CONFIRM_VIEW, {}, private_metadata=preview["private_metadata"])
    assert sent.status_code == 200 and time.monotonic() - started < 3.0
    rows = bot.queue.messages_of(1)
    assert len(rows) == 5000 and len({r["queued_at"] for r in rows}) == 1  # one commit, one time
    assert rows[4999]["text"] == "Hi Name4999, order 4999 is ready"
    assert bot.queue.batch(1)["credits"] == 5000


def test_bad_rows_are_shown_by_number_and_nothing_is_queued(slack_driver, bot, fake_slack):
    csv = "number,first_name,order\n27831234567,A,1\n2.78E+10,B,2\nnope,C,3\n"
    _submit_list(slack_driver, fake_slack, csv.encode())
    shown = json.dumps(_shown(fake_slack), ensure_ascii=False)
    assert "2 of 3 rows can't be sent" in shown and "row 3:" in shown and "row 4:" in shown
    assert "format the number column as text" in shown
    assert bot.queue.depth() == 0 and bot.db.conn.execute("SELECT count(*) FROM pending_sends").fetchone()[0] == 0


def test_a_file_that_is_not_utf8_is_refused_with_a_sentence(slack_driver, fake_slack):
    _submit_list(slack_driver, fake_slack, "number,first_name,order\n27831234567,Zoë,1\n".encode("cp1252"))
    assert "save it as “CSV UTF-8”" in json.dumps(_shown(fake_slack), ensure_ascii=False)


def test_a_file_slack_will_not_serve_names_the_missing_scope(slack_driver, fake_slack):
    file = fake_slack.upload(b"number,first_name,order\n27831234567,A,1\n")
    file["url_private_download"] = file["url_private_download"].replace(file["id"], "F99999999")
    slack_driver.submit(
        COMPOSE_VIEW,
        {"recipients": "", "message": TEMPLATE, "list": {"type": "file_input", "files": [file]}},
        private_metadata=META,
    )
    assert "files:read" in json.dumps(_shown(fake_slack))


def test_the_bot_token_goes_to_slack_only(slack_driver, fake_slack):
    file = fake_slack.upload(b"number,first_name,order\n27831234567,A,1\n")
    file["url_private_download"] = "https://attacker.example/files/list.csv"
    slack_driver.submit(
        COMPOSE_VIEW,
        {"recipients": "", "message": TEMPLATE, "list": {"type": "file_input", "files": [file]}},
        private_metadata=META,
    )
    assert "not on Slack" in json.dumps(_shown(fake_slack))


def test_numbers_typed_and_a_list_together_are_refused_on_the_field(slack_driver, fake_slack):
    response, _ = _submit_list(
        slack_driver, fake_slack, b"number,first_name,order\n27831234567,A,1\n", recipients="27821234567"
    )
    body = response.json()
    assert body["response_action"] == "errors" and "not both" in body["errors"]["recipients"]


def test_status_shows_the_text_that_recipient_got(slack_driver, fake_slack, simulator):
    _submit_list(slack_driver, fake_slack, b"number,first_name,order\n27831234567,A,1\n27821234567,B,2\n")
    slack_driver.submit(CONFIRM_VIEW, {}, private_metadata=_shown(fake_slack)["private_metadata"])
    slack_driver.pump()
    second = [m for m in simulator.messages if m.to == "27821234567"][0]
    answer = slack_driver.command(f"status {second.id}").json()["text"]
    assert "Hi B, order 2 is ready" in answer and "Hi A" not in answer


def test_each_recipients_own_parts_are_what_the_spend_counts(slack_driver, bot, fake_slack, simulator):
    long_name = "B" * 200  # "Hi B…B, order 2 is ready": 223 GSM-7 characters, 2 parts of 153
    _submit_list(
        slack_driver, fake_slack, f"number,first_name,order\n27831234567,A,1\n27821234567,{long_name},2\n".encode()
    )
    preview = _shown(fake_slack)
    assert "*Parts:* 1–2 per SMS" in json.dumps(preview, ensure_ascii=False) and "*Credits:* 3" in json.dumps(preview)
    slack_driver.submit(CONFIRM_VIEW, {}, private_metadata=preview["private_metadata"])
    slack_driver.pump()
    assert sorted(m.parts for m in simulator.messages) == [1, 2]  # what the gateway charged
    assert bot.reading.usage(None).spent_today == 3  # what the balance watch counts
    assert "3 credits" in fake_slack.messages["C0GENERAL"][0]["blocks"][0]["text"]["text"]


def test_send_refused_by_a_daily_limit_keeps_the_preview_to_return_to(driver_with, fake_slack, simulator):
    d = driver_with(SMSBOT_DAILY_LIMIT_USER="2")
    csv = "number,first_name,order\n27831234567,A,1\n27821234567,B,2\n27841234567,C,3\n"
    _submit_list(d, fake_slack, csv.encode())
    preview = _shown(fake_slack)
    body = d.submit(CONFIRM_VIEW, {}, private_metadata=preview["private_metadata"]).json()
    assert body["response_action"] == "push"  # over the preview, not instead of it
    shown = json.dumps(body["view"], ensure_ascii=False)
    assert "Not sent" in shown and "SMSBOT_DAILY_LIMIT_USER" in shown and "preview is kept" in shown
    again = d.submit(CONFIRM_VIEW, {}, private_metadata=preview["private_metadata"]).json()
    assert again["response_action"] == "push" and "SMSBOT_DAILY_LIMIT_USER" in json.dumps(again["view"])
    d.pump()
    assert d.bot.queue.depth() == 0 and simulator.messages == []


def test_rows_that_opted_out_are_left_out_of_the_preview_and_the_cost(driver_with, fake_slack, simulator):
    d = driver_with(SMSBOT_ADMIN_USERS="U0BOSS")
    said(d.command("optout add 27821234567 asked by phone", user_id="U0BOSS"))
    csv = "number,first_name,order\n27831234567,A,1\n27821234567,B,2\n27841234567,C,3\n"
    _submit_list(d, fake_slack, csv.encode())
    preview = _shown(fake_slack)
    shown = json.dumps(preview, ensure_ascii=False)
    assert "2 recipients (from 3 rows)" in shown and "*Credits:* 2 in all" in shown
    assert "Left out, on the do-not-contact list (opted out): 1 row: row 3 (27821234567)." in shown
    assert "*To 27821234567:*" not in shown  # never among the samples
    d.submit(CONFIRM_VIEW, {}, private_metadata=preview["private_metadata"])
    d.pump()
    assert sorted(m.to for m in simulator.messages) == ["27831234567", "27841234567"]
    assert not any("do-not-contact list after" in str(m["last_error"]) for m in d.bot.queue.messages_of(1))


def test_a_list_whose_every_row_opted_out_is_refused_saying_so(driver_with, fake_slack):
    d = driver_with(SMSBOT_ADMIN_USERS="U0BOSS")
    said(d.command("optout add 27831234567", user_id="U0BOSS"))
    _submit_list(d, fake_slack, b"number,first_name,order\n27831234567,A,1\n")
    shown = json.dumps(_shown(fake_slack), ensure_ascii=False)
    assert "is on the do-not-contact list (opted out), so there is nobody to send to" in shown
    assert d.bot.db.conn.execute("SELECT count(*) FROM pending_sends").fetchone()[0] == 0
