"""Messages of routine sends as Slack would show them: the template menu within Slack's limits
(100 options, 75-character labels), typed text escaped, a Cancel button only while SMS still wait,
every cancel verdict naming the send, and a personalised list's preview from a real CSV."""

import datetime as dt

from bot.slack.render import routine as render
from bot.sms.lists import read_list
from bot.sms.plan import plan_send
from bot.storage.groups import GroupStore

SLACK_SELECT_OPTIONS, SLACK_OPTION_CHARS, SLACK_MODAL_TITLE_CHARS = 100, 75, 24
DUE = dt.datetime(2026, 5, 4, 7, 0, tzinfo=dt.timezone.utc).timestamp()


def test_the_template_menu_stays_within_slacks_limits_and_keeps_full_names():
    assert render.template_picker([]) == []
    rows = [{"name": f"t{i:03d}" + "x" * 80} for i in range(120)]
    menu, _ = render.template_picker(rows)
    options = menu["elements"][0]["options"]
    assert len(options) == SLACK_SELECT_OPTIONS
    assert all(len(o["text"]["text"]) <= SLACK_OPTION_CHARS for o in options)
    assert options[0]["value"] == rows[0]["name"]


def test_the_template_list_escapes_and_shortens_long_texts():
    rows = [{"name": "outage", "text": "<!here> Outage at {site} & more " + "z" * 60}, {"name": "ok", "text": "Up"}]
    text = render.template_list(rows)["text"]
    assert "2 templates" in text and "&lt;!here&gt; Outage at {site} &amp; more" in text and "<!here>" not in text
    assert "…" in text and "`ok` — Up" in text
    assert "/sms template add" in render.template_list([])["text"]


def test_a_cancel_button_is_offered_only_while_sms_still_wait():
    batch = {"id": 7, "scheduled_for": DUE}
    waiting = render.schedule_blocks(batch, [{"status": "sent"}, {"status": "queued"}])
    (button,) = waiting[1]["elements"]
    assert button["action_id"] == render.CANCEL_SCHEDULED_ACTION and button["value"] == "7"
    assert "confirm" in button and "/sms cancel 7" in waiting[0]["text"]["text"]
    gone = render.schedule_blocks(batch, [{"status": "sent"}, {"status": "cancelled"}])
    assert len(gone) == 1 and gone[0]["type"] == "context" and "Send #7" in gone[0]["elements"][0]["text"]
    assert render.schedule_blocks({"id": 8, "scheduled_for": None}, [{"status": "queued"}]) == []


def test_every_cancel_verdict_names_the_send():
    assert (
        "Cancelled send #4: 2 SMS will not go; 1 had already gone or was going."
        in render.cancel_outcome("ok", 4, 2, 1)["text"]
    )
    assert "3 had already gone or were going." in render.cancel_outcome("ok", 4, 1, 3)["text"]
    assert "Cancelled send #4: 2 SMS will not go; none had gone." in render.cancel_outcome("ok", 4, 2, 0)["text"]
    assert "Only <@U0ANN> or an smsbot admin" in render.cancel_outcome("not_yours", 4, requester="U0ANN")["text"]
    assert "no send #4" in render.cancel_outcome("unknown", 4)["text"]
    assert (
        "#4 has nothing left to cancel: its 3 SMS already went"
        in render.cancel_outcome("nothing_waiting", 4, went=3)["text"]
    )


def test_the_scheduled_list_shows_who_when_and_what_is_left():
    rows = [
        {
            "id": 3,
            "scheduled_for": DUE,
            "user_id": "U0ANN",
            "recipients": 5,
            "waiting": 2,
            "parts": 1,
            "text": "Drill <at> 3",
        }
    ]
    text = render.scheduled_list(rows)["text"]
    assert "*#3*" in text and "<@U0ANN>" in text and "to 5 recipients (2 still to go)" in text
    assert "Drill &lt;at&gt; 3" in text and f"<!date^{int(DUE)}^" in text and "|2026-05-04 07:00 UTC>" in text
    assert render.scheduled_list([])["text"] == "No scheduled sends are waiting."


def test_a_scheduled_ack_gives_the_time_in_both_zones_and_the_credits(db):
    plan = plan_send("27831234567,27821234567 Drill at 3", "ZA", GroupStore(db))
    plan = type(plan)(**{**plan.__dict__, "due": DUE})
    text = render.scheduled_ack(plan, "Africa/Johannesburg", "2026-05-04 09:00")["text"]
    assert "Scheduled 2 SMS to 2 recipients for 2026-05-04 09:00 (Africa/Johannesburg" in text
    assert "2 credits in all" in text and "/sms cancel ID" in text


def test_a_missed_send_tells_the_requester_why_escaped():
    text = render.missed_reply({"user_id": "U0ANN"}, {"recipient": "27831234567", "last_error": "late <2 h>"}, 1)
    assert text["text"].startswith(":alarm_clock: <@U0ANN>") and "27831234567" in text["text"]
    assert "late &lt;2 h&gt;" in text["text"]


def test_a_list_preview_shows_three_samples_duplicates_and_no_markdown_for_the_terminal():
    csv = b"number,name\n27831000001,Ann\n27831000002,Ben\n27831000001,Ann again\n27831000003,Cy\n27831000004,Di\n"
    read = read_list(csv, "Hi {name}, drill at 3", "ZA")
    view = render.list_preview(read, "p1", 10)
    assert len(view["title"]["text"]) <= SLACK_MODAL_TITLE_CHARS and view["private_metadata"] == "p1"
    samples = [b for b in view["blocks"] if b["type"] == "section"][1:]
    assert len(samples) == render.SAMPLES and "Hi Ann, drill at 3" in samples[0]["text"]["text"]
    summary = "\n".join(render.list_lines(read))
    assert "4 recipients (from 5 rows)" in summary and "Duplicates left out" in summary
    assert "*" not in "\n".join(render.list_lines(read, markdown=False))
    assert "Expires in 10 minutes" in view["blocks"][-1]["elements"][0]["text"]
