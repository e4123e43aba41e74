"""What smsbot shows in Slack, from plain data: status messages, previews, times, and nothing unsafe."""

import datetime as dt
import json
import re
import secrets
from decimal import Decimal

import pytest

from bot.redact import register_secret
from bot.slack import render
from bot.sms.plan import SendPlan
from bot.sms.rules import analyse_text
from tests.conftest import said

BATCH = {"id": 1, "user_id": "U0ANN", "text": "Generator running", "encoding": "GSM-7", "parts": 2}


def row(n, *, status="sent", dlr=None, error=None):
    return {
        "id": n,
        "recipient": f"2783100{n:04d}",
        "status": status,
        "dlr_status_id": dlr,
        "dlr_status": None,
        "last_error": error,
        "tracking_id": str(100000 + n) if status == "sent" else None,
    }


def shown(content: dict) -> str:
    return json.dumps(content["blocks"], ensure_ascii=False)


def within_limits(content: dict, max_blocks: int) -> list[str]:
    """Block Kit's limits, checked on a message or view: blocks, section/context text, plain_text
    fields, the fallback text, and every Slack token whole. Returns the blocks' texts."""
    blocks = content["blocks"]
    assert 0 < len(blocks) <= max_blocks
    texts = []
    for block in blocks:
        for text in (
            [block["text"]["text"]]
            if block["type"] == "section"
            else [e["text"] for e in block["elements"]]
            if block["type"] == "context"
            else []
        ):
            assert len(text) <= 3000
            outside = re.sub(r"<[^<>]*>", "", text)  # what is left once whole tokens are taken out
            assert not re.search(r"<|[^\n]>", outside), "a cut Slack token"  # (a ">" quote starts a line)
            assert text.count("<!date^") == len(re.findall(r"<!date\^\d+\^[^<>|]+\|[^<>]+>", text))
            texts.append(text)
        for button in block.get("elements", []) if block["type"] == "actions" else []:
            assert len(button["text"]["text"]) <= 75
    for key in ("title", "submit", "close"):
        assert len(content.get(key, {}).get("text", "")) <= 24
    assert len(content.get("text", "")) <= 4000
    return texts


def numbers_in(texts: list[str]) -> set[str]:
    """The test numbers (2783…) shown; a number cut in two would show as two shorter ones."""
    found = {n for text in texts for n in re.findall(r"(?<!\d)2783\d*", text)}
    assert all(len(n) == 11 for n in found), "a number cut in two"
    return found


def test_a_short_list_shows_each_recipient_with_its_own_status():
    rows = [row(1, dlr=200), row(2, status="failed", error="Invalid number"), row(3, status="queued")]
    content = render.status_message(BATCH, rows)
    for r in rows:
        assert f"`{r['recipient']}`" in shown(content)
    assert "#100001" in shown(content) and "Invalid number" in shown(content)
    assert f"{len(rows)} recipients" in content["text"] and f"{BATCH['parts'] * len(rows)} credits" in shown(content)


def test_a_long_list_shows_counts_and_names_only_the_problems():
    delivered = [row(n, dlr=200) for n in range(1, 7)]
    failed = [row(7, dlr=300), row(8, dlr=400), row(9, status="failed", error="Invalid number")]
    unconfirmed = [row(10, status="unconfirmed")]
    pending = [row(11, dlr=100), row(12, status="queued")]
    rows = delivered + failed + unconfirmed + pending
    content = render.status_message(BATCH, rows)
    counts = (
        f"{len(delivered)} delivered · {len(failed)} failed · {len(unconfirmed)} unconfirmed · {len(pending)} pending"
    )
    assert counts in shown(content) and counts in content["text"]
    assert "Failed: " + ", ".join(r["recipient"] for r in failed) in shown(content)
    assert "Unconfirmed: " + unconfirmed[0]["recipient"] in shown(content)
    for r in delivered + pending:
        assert r["recipient"] not in shown(content)


def test_a_status_message_of_1000_recipients_names_every_failed_and_unconfirmed_number_within_limits():
    rows = [row(n, status="failed", error="x") for n in range(600)] + [
        row(n, status="unconfirmed") for n in range(600, 1000)
    ]
    content = render.status_message(BATCH, rows)
    texts = within_limits(content, 50)
    assert "600 failed · 400 unconfirmed" in texts[2]
    assert numbers_in(texts) == {r["recipient"] for r in rows}  # each whole, none left out
    assert "Failed: " in shown(content) and "Unconfirmed: " in shown(content)


def test_a_status_message_too_long_for_50_blocks_counts_the_numbers_left_out():
    rows = [{**row(0, status="failed", error="x"), "recipient": f"2783{n:07d}"} for n in range(12_000)]
    texts = within_limits(render.status_message({**BATCH, "text": "x"}, rows), 50)
    named = numbers_in(texts)
    assert 0 < len(named) < len(rows) and named <= {r["recipient"] for r in rows}
    assert texts[-1].endswith(f"… and {len(rows) - len(named):,} more numbers")


def test_sms_text_cannot_ping_the_channel_or_fake_a_link():
    content = render.status_message({**BATCH, "text": "<!channel> see <https://evil.example|bank> & pay"}, [row(1)])
    assert "<!channel>" not in shown(content) and "&lt;!channel&gt;" in shown(content)
    assert "<https://evil.example|bank>" not in shown(content) and "&amp; pay" in shown(content)


def test_a_long_text_is_previewed_shortened_and_quoted_line_by_line():
    text = "first line\n" + "x" * 400
    lines = render.preview(text).split("\n")
    assert lines[0] == "> first line" and all(line.startswith("> ") for line in lines)
    assert len(render.preview(text)) < len(text) and render.preview(text).endswith("…")
    assert render.preview("short") == "> short"


def test_a_time_a_week_ago_shows_its_day_in_each_readers_zone_with_the_utc_date_in_the_fallback():
    week_ago = dt.datetime(2026, 11, 18, 14, 5, tzinfo=dt.timezone.utc).timestamp()
    assert render.when(week_ago) == f"<!date^{int(week_ago)}^{{date_short_pretty}} {{time}}|2026-11-18 14:05 UTC>"
    assert render.when(None) == "?"
    entry = ({"created_at": week_ago, "user_id": "U0ANN", "parts": 1}, [row(1)])
    assert render.when(week_ago) in render.history([entry])["text"]
    assert render.when(week_ago) in render.balance_after((Decimal("50"), week_ago), 1)


def test_the_balance_after_a_send_uses_the_last_check_or_says_there_is_none():
    assert "no balance check yet" in render.balance_after(None, 5)
    after = render.balance_after((Decimal("1000.50"), 1_700_000_000.0), 3)
    assert "about 997.50 credits" in after and "1,000.50" in after


def test_a_secret_in_an_error_never_reaches_slack():
    secret = "pw-" + secrets.token_hex(8)
    register_secret(secret)
    failed = row(1, status="failed", error=f"login refused for password={secret}")
    for content in (
        render.usage_error(f"bad {secret}"),
        render.failed_reply(BATCH, failed),
        render.status_message(BATCH, [failed]),
        render.unconfirmed_reply(BATCH, failed),
    ):
        assert secret not in json.dumps(content)


def big_plan(groups: int, size: int) -> SendPlan:
    members = {f"team-{g}": [f"2783{g}{n:06d}" for n in range(size)] for g in range(groups)}
    recipients = [n for m in members.values() for n in m]
    return SendPlan(recipients, "Generator running", analyse_text("Generator running"), members)


@pytest.mark.parametrize("view", ["message", "modal"])
def test_a_preview_of_five_300_number_groups_keeps_cost_balance_and_buttons_and_every_number(view):
    plan = big_plan(5, 300)
    after = render.balance_after((Decimal("2000"), 1_700_000_000.0), plan.credits)
    content = (
        render.confirm_preview(plan, "p1", after, 10)
        if view == "message"
        else render.confirm_modal(plan, "p1", after, 10)
    )
    texts = within_limits(content, 50 if view == "message" else 100)
    summary = "\n".join(texts[:2])
    assert "1500 recipients" in summary and "*Credits:* 1500" in summary
    assert "*Balance after:* about 500.00 credits" in summary
    assert numbers_in(texts) == set(plan.recipients)
    assert all(f"`team-{g}` (300 numbers): " in shown(content) for g in range(5))
    if view == "message":
        buttons = [e["action_id"] for b in content["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert buttons == [render.CONFIRM_ACTION, render.CANCEL_ACTION]
    else:
        assert content["submit"]["text"] == "Send"


@pytest.mark.parametrize("view,max_blocks", [("message", 50), ("modal", 100)])
def test_a_preview_too_big_for_its_blocks_counts_the_numbers_left_out(view, max_blocks):
    plan = big_plan(5, 6000)
    after = render.balance_after(None, plan.credits)
    content = (
        render.confirm_preview(plan, "p1", after, 10)
        if view == "message"
        else render.confirm_modal(plan, "p1", after, 10)
    )
    texts = within_limits(content, max_blocks)
    assert len(content["blocks"]) == max_blocks
    assert "*Credits:* 30000" in texts[1] and "*Balance after:*" in texts[1]
    named = numbers_in(texts)
    assert 0 < len(named) < len(plan.recipients)
    assert texts[-1].endswith(f"… and {len(plan.recipients) - len(named):,} more numbers")
    assert view == "modal" or any(b["type"] == "actions" for b in content["blocks"])


def test_history_of_50_sends_shows_all_50_with_whole_date_tokens():
    entries = [
        (
            {"created_at": 1_700_000_000.0 + 3600 * n, "user_id": f"U0USER{n:04d}", "parts": 4},
            [row(n, status="failed", error="Error: the gateway refused this number for reasons " * 2)],
        )
        for n in range(50)
    ]
    content = render.history(entries)
    texts = within_limits(content, 50)
    assert len(texts) > 1  # too long for one section, so split between entries
    assert all(f"<@U0USER{n:04d}>" in shown(content) for n in range(50))
    assert "\n".join(texts).count("{date_short_pretty} {time}") == 50
    capped = within_limits(render.history(entries, max_blocks=1), 1)
    assert capped[0].endswith(f"… and {50 - capped[0].count('<@U0USER')} more sends")


def test_a_300_number_group_is_shown_added_and_removed_in_full(driver_with):
    numbers = [f"278312{n:05d}" for n in range(300)]
    d = driver_with()
    added = d.command("group add oncall " + ",".join(numbers)).json()
    assert numbers_in(within_limits(added, 50)) == set(numbers)
    shown_group = d.command("group show oncall").json()
    assert numbers_in(within_limits(shown_group, 50)) == set(numbers)
    assert said(d.command("group show oncall")).startswith("*Group `oncall`* (300 numbers)\n27831200000\n")
    removed = d.command("group remove oncall " + ",".join(numbers[:299])).json()
    assert numbers_in(within_limits(removed, 50)) == set(numbers[:299])


def test_group_show_with_a_reason_on_every_number_splits_between_lines_and_counts_the_rest():
    members = [f"2783{n:07d}" for n in range(5000)]
    problems = {m: "a landline in South Africa, which cannot receive SMS" for m in members}
    texts = within_limits(render.group_members("big", members, problems), 50)
    named = numbers_in(texts)
    assert texts[-1].endswith(f"… and {len(members) - len(named):,} more numbers")
    assert all(
        line.split(" ")[0] in named or line.startswith(("*Group", "…")) for text in texts for line in text.split("\n")
    )


def test_app_home_stays_within_100_blocks_with_many_groups_and_old_sends():
    entries = [({"created_at": 1_700_000_000.0, "user_id": "U0ANN", "parts": 1}, [row(n)]) for n in range(10)]
    sizes = [(f"group-{n:05d}", n) for n in range(20_000)]
    usage = type("Usage", (), {"per_day": None, "days_left": None})()
    view = render.home((Decimal("5"), 1_700_000_000.0), usage, Decimal("1"), entries, sizes)
    texts = within_limits(view, 100)
    assert render.when(1_700_000_000.0) in texts[0]
    assert texts[-2].endswith(f"… and {len(sizes) - sum(t.count('`group-') for t in texts):,} more groups")


def test_a_long_fallback_text_is_cut_at_a_line_and_says_so():
    content = render.message("\n".join(f"line {n} " + "x" * 50 for n in range(1000)))
    within_limits(content, 50)
    assert content["text"].endswith("\n…") and content["text"].split("\n")[-2].endswith("x" * 50)


def test_plain_text_fields_stay_within_their_limits():
    assert len(render.button("Resend to " + "9" * 100, render.RESEND_ACTION, "1")["text"]["text"]) <= 75
    assert len(render.modal_notice("A title far longer than twenty-four", "x")["title"]["text"]) <= 24


def test_a_line_of_date_tokens_longer_than_a_section_is_split_between_tokens():
    line = " ".join(render.when(1_700_000_000.0 + 86400 * n) for n in range(200))
    texts = within_limits({"blocks": render.sections([line])}, 50)
    assert len(texts) > 1 and sum(t.count("<!date^") for t in texts) == 200


def test_lines_that_leave_no_room_for_the_count_give_it_a_block_of_its_own():
    lines = [f"{n}: " + "x" * 2990 for n in range(10)]
    texts = within_limits({"blocks": render.sections(lines, max_blocks=3, noun="lines")}, 3)
    assert texts[:2] == lines[:2] and texts[2] == "… and 8 more lines"
