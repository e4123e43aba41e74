"""`smsbot send-list`: a personalised list from a script, written beside the running bot."""

import argparse
import getpass

from bot.cli.send_list import send_list
from tests.conftest import base_env, said
from tests.process import smsbot

CSV = "number,first_name,order\n27831234567,Thandi,1234\n27821234567,Sipho,77\n"


def _env(tmp_path, simulator, fake_slack, **more):
    return base_env(tmp_path, SMSOFFICE_API_URL=simulator.api_url, SLACK_API_URL=fake_slack.api_url, **more)


def test_send_list_with_yes_queues_beside_the_running_bot_which_sends_it(tmp_path, bot, fake_slack, simulator):
    (tmp_path / "orders.csv").write_text(CSV)
    proc = smsbot(
        [
            "send-list",
            "orders.csv",
            "--text",
            "Hi {first_name}, order {order} is ready",
            "--channel",
            "C0GENERAL",
            "--as",
            "U0USER",
            "--yes",
        ],
        _env(tmp_path, simulator, fake_slack),
        tmp_path,
    )
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, out + err
    assert "2 recipients" in out and "Credits: 2 in all" in out and "To 27831234567: Hi Thandi, order 1234" in out
    assert "Queued send #1" in out
    for _ in range(3):  # the bot's sender and notifier find it on their next poll
        bot.sender.run_once()
        bot.notifier._last_write.clear()
        bot.notifier.run_once()
    assert sorted((m.to, m.text) for m in simulator.messages) == [
        ("27821234567", "Hi Sipho, order 77 is ready"),
        ("27831234567", "Hi Thandi, order 1234 is ready"),
    ]
    assert "U0USER" in fake_slack.messages["C0GENERAL"][0]["text"]


def test_without_yes_and_without_a_terminal_nothing_is_sent(tmp_path, simulator, fake_slack):
    (tmp_path / "orders.csv").write_text(CSV)
    proc = smsbot(
        [
            "send-list",
            "orders.csv",
            "--text",
            "Hi {first_name}, order {order}",
            "--channel",
            "C0GENERAL",
            "--as",
            "U0USER",
        ],
        _env(tmp_path, simulator, fake_slack),
        tmp_path,
    )
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "pass --yes" in err and "Queued" not in out


def test_the_question_on_a_terminal_sends_only_on_yes(tmp_path, settings, db):
    (tmp_path / "orders.csv").write_text(CSV)
    args = argparse.Namespace(
        file=str(tmp_path / "orders.csv"), text="Hi {first_name}", channel="C0GENERAL", user="U0USER", yes=False
    )
    printed = []
    assert send_list(args, settings, ask=lambda question: "no", out=printed.append) == 1
    assert db.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 0
    assert send_list(args, settings, ask=lambda question: "yes", out=printed.append) == 0
    assert db.conn.execute("SELECT count(*) FROM messages").fetchone()[0] == 2


def test_as_must_name_an_allowed_user_and_bad_rows_are_refused(tmp_path, simulator, fake_slack):
    (tmp_path / "orders.csv").write_text(CSV + "12ab,X,1\n")
    env = _env(tmp_path, simulator, fake_slack, SMSBOT_ALLOWED_USERS="U0BOSS")
    base = ["send-list", "orders.csv", "--text", "Hi {first_name}", "--channel", "C0GENERAL", "--yes"]
    proc = smsbot([*base, "--as", "U0USER"], env, tmp_path)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "not allowed to use smsbot" in err
    proc = smsbot([*base, "--as", "U0BOSS"], env, tmp_path)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "row 4:" in err and "nothing was sent" in err


def _send_list_as(user: str, tmp_path, env, rows: int = 2) -> tuple[int, str, str]:
    (tmp_path / "list.csv").write_text("number,first_name\n" + "".join(f"2783{i:07d},N{i}\n" for i in range(rows)))
    proc = smsbot(
        ["send-list", "list.csv", "--text", "Hi {first_name}", "--channel", "C0GENERAL", "--as", user, "--yes"],
        env,
        tmp_path,
    )
    out, err = proc.communicate(timeout=30)
    return proc.returncode, out, err


def test_send_list_is_held_to_the_daily_limit_like_slack_with_the_same_sentence(
    tmp_path, driver_with, simulator, fake_slack
):
    env = _env(tmp_path, simulator, fake_slack, SMSBOT_DAILY_LIMIT_USER="10")
    d = driver_with(SMSBOT_DAILY_LIMIT_USER="10")
    said(d.command("send " + ",".join(f"2782{i:07d}" for i in range(8)) + " Hi", user_id="U0ANN"))  # 8 used
    code, out, err = _send_list_as("U0ANN", tmp_path, env, rows=20)
    slack = said(d.command("send " + ",".join(f"2784{i:07d}" for i in range(20)) + " Hi", user_id="U0ANN"))
    sentence = "This send needs 20 credits, but you have 2 of your daily limit of 10 left today"
    assert code == 1 and sentence in err and "Queued" not in out and sentence in slack
    assert d.bot.db.conn.execute("SELECT count(*) FROM batches").fetchone()[0] == 1  # nothing more queued


def test_send_list_follows_access_granted_and_removed_from_slack(tmp_path, driver_with, simulator, fake_slack):
    env = _env(tmp_path, simulator, fake_slack, SMSBOT_ADMIN_USERS="U0BOSS")
    d = driver_with(SMSBOT_ADMIN_USERS="U0BOSS")
    said(d.command("access allow <@U0BOB|bob>", user_id="U0BOSS"))  # only bob (and the admins) now
    code, _, err = _send_list_as("U0ANN", tmp_path, env)
    assert code == 1 and "You are not allowed to use smsbot" in err and "(U0ANN)" in err
    assert _send_list_as("U0BOB", tmp_path, env)[0] == 0
    said(d.command("access deny <@U0BOB|bob>", user_id="U0BOSS"))  # the last entry: admins only
    code, _, err = _send_list_as("U0BOB", tmp_path, env)
    assert code == 1 and "You are not allowed to use smsbot" in err
    assert d.bot.db.conn.execute("SELECT count(*) FROM batches").fetchone()[0] == 1


def test_send_list_is_in_the_audit_log_with_the_operators_os_user(tmp_path, driver_with, simulator, fake_slack):
    env = _env(tmp_path, simulator, fake_slack, SMSBOT_ADMIN_USERS="U0BOSS")
    d = driver_with(SMSBOT_ADMIN_USERS="U0BOSS")
    assert _send_list_as("U0ANN", tmp_path, env)[0] == 0
    audit = said(d.command("audit", user_id="U0BOSS"))
    assert "<@U0ANN> `send-list` #1: 2 SMS, 2 credits, <#C0GENERAL>, file list.csv, by OS user " in audit
    assert f"by OS user {getpass.getuser()}" in audit


def test_send_list_leaves_out_rows_that_opted_out_and_says_so(tmp_path, driver_with, simulator, fake_slack):
    env = _env(tmp_path, simulator, fake_slack, SMSBOT_ADMIN_USERS="U0BOSS")
    d = driver_with(SMSBOT_ADMIN_USERS="U0BOSS")
    said(d.command("optout add 27830000001", user_id="U0BOSS"))
    code, out, err = _send_list_as("U0ANN", tmp_path, env, rows=3)
    assert code == 0, err
    assert "2 recipients (from 3 rows)" in out and "Credits: 2 in all" in out
    assert "Left out, on the do-not-contact list (opted out): 1 row: row 3 (27830000001)." in out
    d.pump()
    assert sorted(m.to for m in simulator.messages) == ["27830000000", "27830000002"]
