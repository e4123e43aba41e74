"""Messages of the compliance commands as Slack would show them: every opted-out number shown within
Slack's block limits (50 blocks, 3,000 characters a section), typed text escaped, mentions kept as
links, usage sorted by spend with totals, and each export failure saying how to fix it."""

import datetime as dt
import re

from bot.slack.render import compliance as render
from bot.storage.audit import AuditEntry
from bot.storage.optouts import OptOut
from bot.storage.usage import UsageRow
from bot.usecases.compliance import AccessChange
from bot.usecases.spend import SpendToday

SLACK_BLOCKS, SLACK_SECTION_CHARS = 50, 3000
MAY_4 = dt.datetime(2026, 5, 4, 8, 30, tzinfo=dt.timezone.utc).timestamp()


def block_texts(answer: dict) -> list[str]:
    return [b["text"]["text"] for b in answer["blocks"] if b["type"] == "section"]


def test_a_long_opt_out_shows_every_number_within_slacks_limits():
    numbers = [f"2783{i:07d}" for i in range(400)]
    answer = render.optout_added(numbers, [], "bulk request")
    assert len(answer["blocks"]) <= SLACK_BLOCKS
    assert all(len(text) <= SLACK_SECTION_CHARS for text in block_texts(answer))
    shown = " ".join(block_texts(answer))
    assert all(number in shown for number in numbers) and "400 numbers" in shown and "already queued" in shown


def test_adding_and_removing_say_what_changed_and_what_did_not():
    added = render.optout_added(["27831234567"], ["27821234567"], None)["text"]
    assert "Added 1 number" in added and "reason" not in added and "Already on the list: 27821234567" in added
    removed = render.optout_removed([], ["27849999999"])["text"]
    assert removed == "Not on the list, so nothing changed for: 27849999999"


def test_the_list_escapes_reasons_and_points_to_the_export_past_50():
    entries = [OptOut(f"2783{i:07d}", "<!channel> & stop" if i == 0 else None, "U0BOSS", MAY_4) for i in range(53)]
    text = render.optout_list(entries)["text"]
    assert "53 numbers" in text and "&lt;!channel&gt; &amp; stop" in text and "<!channel>" not in text
    assert "…and 3 more (`smsbot optout export` lists them all)" in text
    assert "27830000000" in text and "27830000052" not in text and "2026-05-04 by <@U0BOSS>" in text
    assert "empty" in render.optout_list([])["text"]


def test_check_says_since_when_and_why():
    entry = OptOut("27831234567", "asked by phone", None, MAY_4)
    text = render.optout_check("27831234567", entry)["text"]
    assert "since 2026-05-04" in text and "Reason: asked by phone." in text and "<@" not in text
    assert "may get SMS" in render.optout_check("27831234567", None)["text"]


def test_access_answers_name_where_an_entry_comes_from():
    state = "SMS may be sent only from the 1 listed channel now (admins from anywhere)."
    env = render.access_changed(AccessChange("channel", "C0OPS", False, "environment", state), "deny")["text"]
    assert "<#C0OPS>" in env and "SMSBOT_ALLOWED_CHANNELS" in env and "restart smsbot" in env and state in env
    first = render.access_changed(AccessChange("channel", "C0NOC", True, "", state), "allow")["text"]
    assert first == f":white_check_mark: <#C0NOC> is now allowed. {state}"
    states = {
        "user": "Only the listed person and the admins may send now.",
        "channel": "SMS may be sent from any channel now.",
    }
    listed = render.access_list({"user": [("U0ANN", "SMSBOT_ALLOWED_USERS")], "channel": []}, frozenset(), states)[
        "text"
    ]
    assert "<@U0ANN> (U0ANN) — SMSBOT_ALLOWED_USERS\nOnly the listed person" in listed and "any channel" in listed
    assert "SMSBOT_ADMIN_USERS is empty" in listed


def test_the_audit_log_escapes_typed_text_but_keeps_mentions_as_links():
    entry = AuditEntry(MAY_4, "U0BOSS", "optout add", "27831234567 <b>&</b> <@U0ANN> <#C0NOC>")
    line = render.audit([entry])["text"].splitlines()[1]
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in line and "<@U0ANN>" in line and "<#C0NOC>" in line
    assert re.search(rf"<!date\^{int(MAY_4)}\^[^|]+\|2026-05-04 08:30 UTC>", line)
    assert "empty" in render.audit([])["text"]


def test_the_spend_line_never_shows_a_negative_balance():
    over = SpendToday(
        user_used=7, user_limit=5, bot_used=1200, bot_limit=1000, resets_at=0, timezone="Africa/Johannesburg"
    )
    line = render.spend_line(over)
    assert "You used 7 of your 5 credits today (0 left)" in line and "used 1,200 of 1,000" in line
    assert "no daily limit per user" in render.spend_line(SpendToday(3, None, 3, None, 0))


def test_usage_adds_up_by_user_and_channel_biggest_spend_first():
    rows = [
        UsageRow("U0ANN", "ann", "C0OPS", "ops", 2, 4),
        UsageRow("U0BEN", "ben", "C0OPS", "ops", 3, 9),
        UsageRow("", "", "", "", 1, 1),
    ]  # sent from the command line: no Slack user or channel
    text = render.usage_report("2026-05", rows, True, "UTC")["text"]
    assert text.index("<@U0BEN>: 3 SMS, 9 credits") < text.index("<@U0ANN>: 2 SMS, 4 credits")
    assert "<#C0OPS>: 5 SMS, 13 credits" in text and "(no Slack user): 1 SMS, 1 credit" in text
    assert "(outside Slack)" in text and "*Total:* 6 SMS, 14 credits" in text
    assert "No SMS were charged in 2026-04 (your sends" in render.usage_report("2026-04", [], False, "UTC")["text"]


def test_each_export_failure_says_how_to_fix_it():
    assert "files:write" in render.export_failed("missing_scope")["text"]
    odd = render.export_failed("<weird>")["text"]
    assert "`&lt;weird&gt;`" in odd and "smsbot export" in odd
    assert "could not be reached" in render.export_failed("")["text"]
