"""bot/usecases/gate.py: one decision at every door. A person who was denied, or who is over the daily limit, and
is not an admin, is refused with the same sentence at the slash command, the compose form, Send on a
preview, Send on a list's preview, Resend, Socket Mode, `smsbot send-list` and (denied) a scheduled send
at its time; Cancel stays open to them. Nothing is queued and the gateway is never called."""

import datetime as dt
import json
import time

import pytest

from bot.config.settings import load_settings
from bot.runtime import Bot
from bot.slack.render import (
    CANCEL_ACTION,
    CANCEL_SCHEDULED_ACTION,
    COMPOSE_VIEW,
    CONFIRM_ACTION,
    CONFIRM_VIEW,
    RESEND_ACTION,
)
from bot.slack.socketmode import SocketMode
from tests.conftest import Clock, Driver, base_env, said, wait_for
from tests.process import smsbot
from tests.slack.socket_peer import SocketModePeer

ADMIN, ANN, BOB = "U0BOSS", "U0ANN", "U0BOB"
META = json.dumps({"channel_id": "C0GENERAL", "channel_name": "general"})
DENIED = (
    "You are not allowed to use smsbot. To get access, ask <@U0BOSS> to add your Slack ID (U0ANN) with "
    "`/sms access allow` or to SMSBOT_ALLOWED_USERS."
)
OVER = "of your daily limit of 4 left today (SMSBOT_DAILY_LIMIT_USER)"


def midday_zone() -> str:
    """A fixed-offset zone where it is about noon now: `smsbot send-list` runs on the real clock, and the
    day it counts on must be the bot's, wherever the test runs."""
    offset = 12 - dt.datetime.now(dt.timezone.utc).hour
    return f"Etc/GMT{-offset:+d}" if offset else "Etc/GMT"


@pytest.fixture
def env(tmp_path, simulator, fake_slack, database_env):
    return base_env(
        tmp_path,
        SMSOFFICE_API_URL=simulator.api_url,
        SLACK_API_URL=fake_slack.api_url,
        SMSBOT_ADMIN_USERS=ADMIN,
        SMSBOT_DAILY_LIMIT_USER="4",
        SMSBOT_CONFIRM_ABOVE="2",
        SMSBOT_TIMEZONE=midday_zone(),
        SMSBOT_CALLBACK_SECRET="cb-secret-0123456789abcdef",
        **database_env,
    )


@pytest.fixture
def d(env):
    bot = Bot(load_settings(env), clock=Clock(time.time()))
    bot.server.start()
    yield Driver(bot, None)
    bot.stop()


@pytest.fixture
def peer():
    server = SocketModePeer()
    yield server
    server.stop()


def _responses_with(fake_slack, text: str) -> list[str]:
    return [body.get("text", "") for _, body in fake_slack.responses if text in body.get("text", "")]


class Doors:
    """Everything ann made while she was allowed and within her limit, to try again once she is not."""

    def __init__(self, d: Driver, fake_slack, simulator, tmp_path):
        self.d, self.slack, self.simulator, self.tmp_path = d, fake_slack, simulator, tmp_path
        d.slack = fake_slack
        said(d.command(f"access allow <@{ANN}|ann>", user_id=ADMIN))
        # a preview held for Send (3 credits, above SMSBOT_CONFIRM_ABOVE=2)
        preview = d.command("send 27831000001,27831000002,27831000003 Generator running", user_id=ANN).json()
        self.pending = [b for b in preview["blocks"] if b["type"] == "actions"][0]["elements"][0]["value"]
        # a personalised list's preview, held for Send
        file = fake_slack.upload(b"number,name\n27831000004,Thandi\n")
        d.submit(
            COMPOSE_VIEW,
            {"recipients": "", "message": "Hi {name}", "list": {"type": "file_input", "files": [file]}},
            private_metadata=META,
            user_id=ANN,
        )
        assert wait_for(lambda: fake_slack.calls_to("views.update"), timeout=10)
        view = fake_slack.calls_to("views.update")[0].params["view"]
        self.list_pending = (json.loads(view) if isinstance(view, str) else view)["private_metadata"]
        # an SMS that failed for lack of credits, with its Resend button
        simulator.balance = 0
        said(d.command("send 27831000005 Generator running", user_id=ANN))
        d.pump()
        simulator.balance = 100
        self.failed = d.bot.queue.messages_of(1)[0]
        assert self.failed["status"] == "failed"
        # two sends scheduled for an hour from now (1 credit each): one to go out, one to cancel
        said(d.command("send --at in 1h 27831000006 Shift starts", user_id=ANN))
        said(d.command("send --at in 1h 27831000007 Shift starts", user_id=ANN))
        self.queued = self._queued()

    def _queued(self) -> int:
        return self.d.bot.db.conn.execute("SELECT count(*) FROM messages WHERE status = 'queued'").fetchone()[0]

    def walk(self, peer, env) -> dict[str, str]:
        """Ann at every door; what each answered."""
        d, slack, answers = self.d, self.slack, {}
        answers["slash command"] = said(d.command("send 27831000008 Hello", user_id=ANN))
        form = d.submit(
            COMPOSE_VIEW, {"recipients": "27831000008", "message": "Hello"}, private_metadata=META, user_id=ANN
        ).json()
        answers["form"] = form["errors"]["recipients"]
        d.click(CONFIRM_ACTION, self.pending, user_id=ANN)
        assert wait_for(lambda: _responses_with(slack, "Not sent"))
        answers["Send on a preview"] = _responses_with(slack, "Not sent")[0]
        answers["Send on a list's preview"] = json.dumps(
            d.submit(CONFIRM_VIEW, {}, private_metadata=self.list_pending, user_id=ANN).json()
        )
        before = len(slack.responses)
        d.click(RESEND_ACTION, str(self.failed["id"]), user_id=ANN)
        assert wait_for(lambda: len(slack.responses) > before)
        answers["Resend"] = slack.responses[-1][1]["text"]
        mode = SocketMode(d.bot.app, "xapp-1-A0TEST-test", peer.api_url)
        mode.start()
        try:
            envelope = peer.send_command(peer.wait_for_connections(1), "send 27831000008 Hello", user_id=ANN)
            assert peer.ack_seconds(envelope) < 3.0
            answers["Socket Mode"] = peer.answers[envelope]["text"]
        finally:
            mode.stop()
        (self.tmp_path / "list.csv").write_text("number,name\n27831000009,Sipho\n")
        proc = smsbot(
            ["send-list", "list.csv", "--text", "Hi {name}", "--channel", "C0GENERAL", "--as", ANN, "--yes"],
            env,
            self.tmp_path,
        )
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 1, out + err
        answers["smsbot send-list"] = err
        return answers

    def cancel_still_works(self) -> None:
        """Nobody is stopped from stopping spend: ann cancels her second scheduled send with its button, and
        the preview she no longer wants with /sms cancel's sibling, the preview's Cancel."""
        self.d.click(CANCEL_SCHEDULED_ACTION, "3", user_id=ANN)
        assert wait_for(lambda: self.d.bot.queue.messages_of(3)[0]["status"] == "cancelled")
        self.d.click(CANCEL_ACTION, self.pending, user_id=ANN)
        assert wait_for(lambda: _responses_with(self.slack, "Cancelled: nothing was sent."))

    def nothing_got_through(self) -> None:
        assert [m.to for m in self.simulator.messages] == []
        assert self.d.bot.db.conn.execute("SELECT count(*) FROM batches").fetchone()[0] == 3


@pytest.fixture
def doors(d, fake_slack, simulator, tmp_path):
    return Doors(d, fake_slack, simulator, tmp_path)


def test_a_denied_person_is_refused_with_the_same_sentence_at_every_door(doors, peer, env, fake_slack, simulator):
    assert "Only admins may send now" in said(doors.d.command(f"access deny <@{ANN}|ann>", user_id=ADMIN))
    answers = doors.walk(peer, env)
    assert {door: DENIED in answer for door, answer in answers.items()} == dict.fromkeys(answers, True), answers
    doors.cancel_still_works()
    # the scheduled send reaches its time: it fails whole, with one reply that says why
    doors.d.bot.clock.t += 3600
    doors.d.pump()
    doors.nothing_got_through()
    batch = doors.d.bot.posts.batch(2)
    (reply,) = fake_slack.thread("C0GENERAL", batch["status_ts"])
    assert "no longer send" in reply["text"] and DENIED in reply["text"]
    assert doors.d.bot.queue.messages_of(2)[0]["status"] == "failed"


def test_a_denied_requester_may_still_type_cancel(doors):
    said(doors.d.command(f"access deny <@{ANN}|ann>", user_id=ADMIN))
    assert "Cancelled send #2" in said(doors.d.command("cancel 2", user_id=ANN))
    assert DENIED in said(doors.d.command("scheduled", user_id=ANN))  # only cancel stays open
    doors.d.bot.clock.t += 3600
    doors.d.pump()
    doors.nothing_got_through()


def test_a_person_over_the_limit_is_refused_with_the_same_sentence_at_every_door(doors, peer, env):
    assert "Queued" in said(doors.d.command("send 27831000010,27831000011 Hi", user_id=ANN))  # 2 + 2 scheduled
    doors.queued = doors._queued()
    answers = doors.walk(peer, env)
    assert {door: OVER in answer for door, answer in answers.items()} == dict.fromkeys(answers, True), answers
    assert all("you have 0 of your daily limit of 4 left today" in answer for answer in answers.values())
    doors.cancel_still_works()
    assert doors._queued() == doors.queued - 1


def test_an_admin_passes_every_door_that_a_limit_does_not_close(d, fake_slack, simulator):
    d.slack = fake_slack
    said(d.command(f"access allow <@{ANN}|ann>", user_id=ADMIN))
    said(d.command(f"access deny <@{ANN}|ann>", user_id=ADMIN))  # admins only now
    assert "Queued" in said(d.command("send 27831000001 Hi", user_id=ADMIN))
    d.pump()
    assert [m.to for m in simulator.messages] == ["27831000001"]


# -- Resend counts against whoever presses it, on the day pressed (item 1) --------------------------------
@pytest.fixture
def limited(tmp_path, simulator, fake_slack, database_env):
    env = base_env(
        tmp_path,
        SMSOFFICE_API_URL=simulator.api_url,
        SLACK_API_URL=fake_slack.api_url,
        SMSBOT_ADMIN_USERS=ADMIN,
        SMSBOT_DAILY_LIMIT_USER="4",
        **database_env,
    )
    bot = Bot(load_settings(env), clock=Clock(dt.datetime(2026, 5, 4, 8, tzinfo=dt.timezone.utc).timestamp()))
    bot.server.start()
    yield Driver(bot, fake_slack)
    bot.stop()


def _click_and_wait(d: Driver, fake_slack, action: str, value: str, user_id: str) -> None:
    before = len(fake_slack.responses)
    d.click(action, value, user_id=user_id)
    assert wait_for(lambda: len(fake_slack.responses) > before or d.bot.queue.depth())


def test_resend_counts_against_whoever_presses_it_on_the_day_pressed(limited, fake_slack, simulator):
    d = limited
    simulator.balance = 0
    said(d.command("send 27831000001,27831000002,27831000003,27831000004 Generator running", user_id=ANN))
    d.pump()
    failed = [m["id"] for m in d.bot.queue.messages_of(1)]
    assert [m["status"] for m in d.bot.queue.messages_of(1)] == ["failed"] * 4  # never charged: given back
    simulator.balance = 100
    assert "Queued 4 SMS" in said(d.command("send 27831000005,27831000006,27831000007,27831000008 Hi", user_id=ANN))
    d.pump()
    _click_and_wait(d, fake_slack, RESEND_ACTION, str(failed[0]), ANN)
    refusal = fake_slack.responses[-1][1]["text"]
    assert "This send needs 1 credit, but you have 0 of your daily limit of 4 left today" in refusal
    assert d.bot.queue.message(failed[0])["status"] == "failed"
    _click_and_wait(d, fake_slack, RESEND_ACTION, str(failed[1]), BOB)  # bob spends his own budget on it
    d.pump()
    assert d.bot.reading.spend_today(BOB).user_used == 1 and d.bot.reading.spend_today(ANN).user_used == 4
    d.bot.clock.t += 86400  # yesterday's failures count today when resent today
    _click_and_wait(d, fake_slack, RESEND_ACTION, str(failed[2]), ANN)
    d.pump()
    assert d.bot.reading.spend_today(ANN).user_used == 1
    assert len(simulator.messages) == 6  # 4 + bob's resend + ann's resend the next day: never 8 in one day


# -- an allow-list emptied from Slack is closed, not open (item 6) -----------------------------------------
def test_denying_the_last_user_leaves_only_admins_until_the_list_is_opened(d, fake_slack):
    d.slack = fake_slack
    assert "Everyone in the workspace may send now." in said(d.command("access list", user_id=ADMIN))
    text = said(d.command(f"access allow <@{ANN}|ann>", user_id=ADMIN))
    assert text.endswith("Only the listed person and the admins may send now.")
    text = said(d.command(f"access deny <@{ANN}|ann>", user_id=ADMIN))
    assert "is no longer allowed" in text and "`/sms access open users`" in text
    assert text.endswith("Only admins may send now.")
    for person in (ANN, BOB):
        assert DENIED.replace(ANN, person) in said(d.command("send 27831000001 Hi", user_id=person))
    assert "Queued" in said(d.command("send 27831000001 Hi", user_id=ADMIN))
    assert "Only admins may send now." in said(d.command("access list", user_id=ADMIN))
    assert "not allowed to use smsbot" in said(d.command("access open users", user_id=BOB))
    text = said(d.command("access open users", user_id=ADMIN))
    assert "is open" in text and text.endswith("Everyone in the workspace may send now.")
    assert "Queued" in said(d.command("send 27831000001 Hi", user_id=BOB))
    assert "`/sms access open users|channels`" in said(d.command("help", user_id=BOB))


def test_denying_the_last_channel_closes_sending_from_every_channel_but_for_admins(d, fake_slack):
    d.slack = fake_slack
    said(d.command("access allow <#C0OPS|ops>", user_id=ADMIN))
    assert "Queued" in said(d.command("send 27831000001 Hi", user_id=ANN, channel_id="C0OPS"))
    text = said(d.command("access deny <#C0OPS|ops>", user_id=ADMIN))
    assert text.endswith("SMS may be sent from no channel now, except by admins.")
    for channel in ("C0OPS", "C0GENERAL"):
        assert "SMS can't be sent from any channel now" in said(
            d.command("send 27831000001 Hi", user_id=ANN, channel_id=channel)
        )
    assert "Queued" in said(d.command("send 27831000001 Hi", user_id=ADMIN, channel_id="C0GENERAL"))
    assert said(d.command("access open channels", user_id=ADMIN)).endswith("SMS may be sent from any channel now.")
    assert "Queued" in said(d.command("send 27831000001 Hi", user_id=ANN))


def test_a_list_never_set_still_means_everyone_and_an_environment_list_cannot_be_opened_from_slack(driver_with):
    d = driver_with(SMSBOT_ADMIN_USERS=ADMIN, SMSBOT_ALLOWED_USERS=BOB)
    text = said(d.command("access open users", user_id=ADMIN))
    assert "SMSBOT_ALLOWED_USERS" in text and "restart smsbot" in text
    assert text.endswith("Only the listed person and the admins may send now.")
    assert "not allowed" in said(d.command("send 27831000001 Hi", user_id=ANN))


# -- a button acts for the send it belongs to (item 8) -------------------------------------------------------
def test_resend_in_the_dm_the_status_moved_to_is_judged_by_where_the_send_was_requested(
    driver_with, fake_slack, simulator
):
    fake_slack.add_channel("C0PRIV", "private-ops", private=True, bot_member=False)
    d = driver_with(SMSBOT_ALLOWED_CHANNELS="C0PRIV")
    simulator.balance = 0
    said(d.command("send 27831000001 Generator running", user_id=ANN, channel_id="C0PRIV"))
    d.pump()
    batch = d.bot.posts.batch(1)
    assert batch["posted_where"] == "dm" and batch["status_channel"].startswith("D")
    simulator.balance = 10
    message = d.bot.queue.messages_of(1)[0]
    d.click(
        RESEND_ACTION,
        str(message["id"]),
        user_id=ANN,
        channel_id=batch["status_channel"],
        message_ts=batch["status_ts"],
    )
    assert wait_for(lambda: d.bot.queue.message(message["id"])["status"] == "queued")
    d.pump()
    assert [m.to for m in simulator.messages] == ["27831000001"]
    assert not any("can't be sent from this channel" in body.get("text", "") for _, body in fake_slack.responses)
