"""What smsbot shows in Slack, from plain data: status messages, previews, times, and nothing unsafe."""
import json
import secrets
from decimal import Decimal

import pytest

from bot.redact import register_secret
from bot.slack import render

BATCH = {"id": 1, "user_id": "U0ANN", "text": "Generator running", "encoding": "GSM-7", "parts": 2}


def row(n, *, status="sent", dlr=None, error=None):
    return {"id": n, "recipient": f"2783100{n:04d}", "status": status, "dlr_status_id": dlr, "dlr_status": None,
            "last_error": error, "tracking_id": str(100000 + n) if status == "sent" else None}


def shown(content: dict) -> str:
    return json.dumps(content["blocks"], ensure_ascii=False)


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
    counts = (f"{len(delivered)} delivered · {len(failed)} failed · {len(unconfirmed)} unconfirmed · "
              f"{len(pending)} pending")
    assert counts in shown(content) and counts in content["text"]
    assert "Failed: " + ", ".join(r["recipient"] for r in failed) in shown(content)
    assert "Unconfirmed: " + unconfirmed[0]["recipient"] in shown(content)
    for r in delivered + pending:
        assert r["recipient"] not in shown(content)


def test_a_very_long_list_of_failures_is_cut_with_a_count_of_the_rest():
    rows = [row(n, status="failed", error="x") for n in range(1, 101)]
    text = shown(render.status_message(BATCH, rows))
    named = [r["recipient"] for r in rows if r["recipient"] in text]
    assert 0 < len(named) < len(rows) and f"and {len(rows) - len(named)} more" in text


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


def test_times_show_in_each_readers_zone_with_a_utc_fallback():
    ts = 1_700_000_000.0  # 2023-11-14 22:13:20 UTC
    assert render.when(ts) == "<!date^1700000000^{time}|22:13 UTC>"
    assert render.when(None) == "?"


@pytest.mark.parametrize("n,word,expected", [(0, "credit", "0 credits"), (1, "credit", "1 credit"),
                                             (2, "part", "2 parts")])
def test_counts_agree_with_their_nouns(n, word, expected):
    assert render.plural(n, word) == expected


def test_the_balance_after_a_send_uses_the_last_check_or_says_there_is_none():
    assert "no balance check yet" in render.balance_after(None, 5)
    after = render.balance_after((Decimal("1000.50"), 1_700_000_000.0), 3)
    assert "about 997.50 credits" in after and "1,000.50" in after


def test_a_secret_in_an_error_never_reaches_slack():
    secret = "pw-" + secrets.token_hex(8)
    register_secret(secret)
    failed = row(1, status="failed", error=f"login refused for password={secret}")
    for content in (render.usage_error(f"bad {secret}"), render.failed_reply(BATCH, failed),
                    render.status_message(BATCH, [failed]), render.unconfirmed_reply(BATCH, failed)):
        assert secret not in json.dumps(content)
