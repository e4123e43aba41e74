"""/sms usage and /sms export (a CSV uploaded to the requester's DM through files_upload_v2), and
`smsbot export`: the columns, UTF-8 with BOM, ISO times with offset, formula-safe cells, digits-only numbers."""

import csv
import datetime as dt
import io

import pytest

from bot.cli.main import main
from bot.config.settings import load_settings
from bot.runtime import Bot
from bot.slack.render import RESEND_ACTION
from bot.testing.fake_slack import dm_channel_id
from tests.conftest import Clock, Driver, base_env, said, wait_for

ADMIN = "U0BOSS"
MAY_4 = dt.datetime(2026, 5, 4, 8, 0, tzinfo=dt.timezone.utc).timestamp()  # 10:00 in Johannesburg


@pytest.fixture
def d(tmp_path, simulator, fake_slack):
    fake_slack.add_channel("C0OPS", "ops")
    settings = load_settings(
        base_env(
            tmp_path, SMSOFFICE_API_URL=simulator.api_url, SLACK_API_URL=fake_slack.api_url, SMSBOT_ADMIN_USERS=ADMIN
        )
    )
    bot = Bot(settings, clock=Clock(MAY_4))
    bot.server.start()
    yield Driver(bot, fake_slack)
    bot.stop()


@pytest.fixture
def sends(d, simulator):
    """May: ann sends 2 SMS of 2 parts in #general; =evil sends 2 in #ops, one refused by the gateway."""
    said(d.command("send 27831000001,+27831000002 " + "x" * 200, user_id="U0ANN", user_name="ann"))
    d.pump()
    simulator.balance = 1
    said(
        d.command(
            "send 27831000003,27831000004 Hello",
            user_id="U0EVIL",
            user_name="=cmd|' /C calc'!A0",
            channel_id="C0OPS",
            channel_name="@ops",
        )
    )
    d.pump()
    d.bot.clock.t = MAY_4 + 40 * 86400  # June: not in May's figures
    simulator.balance = 100
    said(d.command("send 27831000005 June", user_id="U0ANN", user_name="ann"))
    d.pump()
    return d


def test_an_admin_sees_everyones_usage_by_user_and_channel_with_totals(sends):
    text = said(sends.command("usage 2026-05", user_id=ADMIN))
    assert "*Usage in 2026-05* (everyone" in text
    assert "<@U0ANN>: 2 SMS, 4 credits" in text and "<@U0EVIL>: 1 SMS, 1 credit" in text
    assert "<#C0GENERAL>: 2 SMS, 4 credits" in text and "<#C0OPS>: 1 SMS, 1 credit" in text
    assert "*Total:* 3 SMS, 5 credits" in text
    assert "*Total:* 1 SMS, 1 credit" in said(sends.command("usage", user_id=ADMIN))  # this month: June


def test_others_see_only_their_own_usage(sends):
    text = said(sends.command("usage 2026-05", user_id="U0EVIL"))
    assert "your sends" in text and "<@U0ANN>" not in text and "*Total:* 1 SMS, 1 credit" in text
    assert "No SMS were charged in 2026-04" in said(sends.command("usage 2026-04", user_id="U0EVIL"))
    assert "YYYY-MM" in said(sends.command("usage May", user_id="U0EVIL"))


def rows_of(content: bytes) -> list[list[str]]:
    assert content.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM
    return list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))


def check_may_csv(rows: list[list[str]], tracking: list[str]) -> None:
    assert rows[0] == [
        "queued_at",
        "requester_id",
        "requester_name",
        "channel_id",
        "channel_name",
        "recipient",
        "country",
        "parts",
        "credits",
        "status",
        "status_at",
        "tracking_number",
    ]
    assert len(rows) == 4  # June's SMS is not in May, nor the SMS the gateway refused: it cost nothing
    first, _, sent = rows[1:]
    assert first[:9] == [
        "2026-05-04T10:00:00+02:00",
        "U0ANN",
        "ann",
        "C0GENERAL",
        "general",
        "27831000001",
        "ZA",
        "2",
        "2",
    ]
    assert first[9] == "sent" and first[10] == "2026-05-04T10:00:00+02:00" and first[11] == tracking[0]
    assert sent[2] == "'=cmd|' /C calc'!A0" and sent[4] == "'@ops"  # never run as a formula
    assert sent[5:10] == ["27831000003", "ZA", "1", "1", "sent"]
    assert "27831000004" not in {row[5] for row in rows}


def test_export_uploads_the_csv_to_the_requesters_dm(sends, fake_slack, simulator):
    text = said(sends.command("export 2026-05", user_id=ADMIN))
    assert "Preparing the CSV" in text and "DM" in text
    assert fake_slack.wait_for(lambda: len(fake_slack.files) == 1)
    (shared,) = fake_slack.files
    assert shared["channel"] == dm_channel_id(ADMIN)
    assert shared["filename"] == "smsbot-2026-05.csv" and "3 rows" in shared["initial_comment"]
    check_may_csv(rows_of(shared["content"]), [m.id for m in simulator.messages])


def test_export_of_two_days_and_bad_periods(sends, fake_slack):
    said(sends.command("export 2026-05-05 2026-06-30", user_id=ADMIN))
    assert fake_slack.wait_for(lambda: len(fake_slack.files) == 1)
    rows = rows_of(fake_slack.files[0]["content"])
    assert len(rows) == 2 and rows[1][5] == "27831000005"
    for bad in ("2026-13", "2026-05-09 2026-05-01", "last month"):
        assert "YYYY-MM" in said(sends.command(f"export {bad}", user_id=ADMIN))


def test_export_is_refused_to_people_who_are_not_admins(sends, fake_slack, driver_with):
    text = said(sends.command("export 2026-05", user_id="U0ANN"))
    assert "Only smsbot admins" in text and f"<@{ADMIN}>" in text
    assert fake_slack.calls_to("files.getUploadURLExternal") == []


def test_with_no_admins_export_is_refused_naming_the_setting(slack_driver, fake_slack):
    assert "SMSBOT_ADMIN_USERS" in said(slack_driver.command("export 2026-05"))
    assert fake_slack.calls_to("files.getUploadURLExternal") == []


def test_a_missing_upload_scope_is_explained(sends, fake_slack):
    fake_slack.fail("files.getUploadURLExternal", "missing_scope")
    said(sends.command("export 2026-05", user_id=ADMIN))
    assert fake_slack.wait_for(lambda: len(fake_slack.responses) == 1)
    assert "files:write" in fake_slack.responses[0][1]["text"]


def test_smsbot_export_writes_the_same_csv(sends, simulator, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SMSBOT_DB", str(tmp_path / "smsbot.db"))
    assert main(["export", "--from", "2026-05-01", "--to", "2026-05-31", "--out", "may.csv"]) == 0
    assert "Wrote 3 SMS" in capsys.readouterr().out
    check_may_csv(rows_of((tmp_path / "may.csv").read_bytes()), [m.id for m in simulator.messages])
    assert main(["export", "--from", "2026-05-31", "--to", "2026-05-01", "--out", "x.csv"]) == 2
    assert "YYYY-MM-DD" in capsys.readouterr().err


def test_a_mixed_day_costs_the_same_in_usage_export_and_at_the_gateway(tmp_path, simulator, fake_slack):
    """Sent, failed for lack of credits (given back), resent, cancelled, missed and opted out at send time:
    once the queue has drained and nothing is unconfirmed, /sms usage, /sms export and what the simulator
    charged agree, and cancelled credits are free again for the daily limit."""
    settings = load_settings(
        base_env(
            tmp_path,
            SMSOFFICE_API_URL=simulator.api_url,
            SLACK_API_URL=fake_slack.api_url,
            SMSBOT_ADMIN_USERS=ADMIN,
            SMSBOT_DAILY_LIMIT_USER="10",
        )
    )
    bot = Bot(settings, clock=Clock(MAY_4))
    bot.server.start()
    d = Driver(bot, fake_slack)
    try:
        eight = ",".join(f"278310000{i:02d}" for i in range(8))
        said(d.command(f"send --at in 1h {eight} Shift change", user_id="U0ANN"))  # 1: 8 credits
        assert "8 SMS will not go" in said(d.command("cancel 1", user_id="U0ANN"))  # given back
        assert "Queued 5 SMS" in said(
            d.command("send " + ",".join(f"278320000{i:02d}" for i in range(5)) + " Hi", user_id="U0ANN")
        )  # 2: fits again
        said(d.command("send --at in 1h 27833000001 Late", user_id="U0ANN"))  # 3: will be missed
        said(d.command("send --at in 3h 27833000002 Later", user_id="U0ANN"))  # 4: opted out by then
        d.pump()
        simulator.balance = 1
        said(d.command("send 27834000001,27834000002 Hello", user_id="U0BOB"))  # 5: one sent, one fails
        d.pump()
        simulator.balance = 100
        failed = [m for m in bot.queue.messages_of(5) if m["status"] == "failed"]
        assert len(failed) == 1
        d.click(RESEND_ACTION, str(failed[0]["id"]), user_id="U0BOB")  # resent, bob's credit
        assert wait_for(lambda: bot.queue.message(failed[0]["id"])["status"] == "queued")
        said(d.command("optout add 27833000002", user_id=ADMIN))
        bot.clock.t = MAY_4 + 3 * 3600 + 60  # 3 is past its grace, 4 is due
        d.pump()
        statuses = bot.db.conn.execute("SELECT status, count(*) FROM messages GROUP BY status").fetchall()
        assert dict(statuses) == {"cancelled": 8, "sent": 7, "missed": 1, "failed": 1}  # nothing unconfirmed
        charged = sum(m.parts for m in simulator.messages)
        usage = said(d.command("usage 2026-05", user_id=ADMIN))
        said(d.command("export 2026-05", user_id=ADMIN))
        assert fake_slack.wait_for(lambda: len(fake_slack.files) == 1)
        exported = rows_of(fake_slack.files[0]["content"])[1:]
        assert charged == 7 and f"*Total:* 7 SMS, {charged} credits" in usage
        assert sum(int(row[8]) for row in exported) == charged and {row[9] for row in exported} == {"sent"}
        assert "<@U0ANN>: 5 SMS, 5 credits" in usage and "<@U0BOB>: 2 SMS, 2 credits" in usage
        assert bot.reading.spend_today("U0ANN").user_used == 5
    finally:
        bot.stop()
