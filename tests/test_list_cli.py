"""`smsbot send-list`: a personalised list from a script, written beside the running bot."""
import argparse

from bot.list_cli import send_list
from tests.conftest import base_env
from tests.process import smsbot

CSV = "number,first_name,order\n27831234567,Thandi,1234\n27821234567,Sipho,77\n"


def _env(tmp_path, simulator, fake_slack, **more):
    return base_env(tmp_path, SMSOFFICE_API_URL=simulator.api_url, SLACK_API_URL=fake_slack.api_url, **more)


def test_send_list_with_yes_queues_beside_the_running_bot_which_sends_it(tmp_path, bot, fake_slack, simulator):
    (tmp_path / "orders.csv").write_text(CSV)
    proc = smsbot(["send-list", "orders.csv", "--text", "Hi {first_name}, order {order} is ready",
                   "--channel", "C0GENERAL", "--as", "U0USER", "--yes"], _env(tmp_path, simulator, fake_slack),
                  tmp_path)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, out + err
    assert "2 recipients" in out and "Credits: 2 in all" in out and "To 27831234567: Hi Thandi, order 1234" in out
    assert "Queued send #1" in out
    for _ in range(3):  # the bot's sender and notifier find it on their next poll
        bot.sender.run_once()
        bot.notifier._last_write.clear()
        bot.notifier.run_once()
    assert sorted((m.to, m.text) for m in simulator.messages) == [
        ("27821234567", "Hi Sipho, order 77 is ready"), ("27831234567", "Hi Thandi, order 1234 is ready")]
    assert "U0USER" in fake_slack.messages["C0GENERAL"][0]["text"]


def test_without_yes_and_without_a_terminal_nothing_is_sent(tmp_path, simulator, fake_slack):
    (tmp_path / "orders.csv").write_text(CSV)
    proc = smsbot(["send-list", "orders.csv", "--text", "Hi {first_name}, order {order}", "--channel", "C0GENERAL",
                   "--as", "U0USER"], _env(tmp_path, simulator, fake_slack), tmp_path)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1 and "pass --yes" in err and "Queued" not in out


def test_the_question_on_a_terminal_sends_only_on_yes(tmp_path, settings, db):
    (tmp_path / "orders.csv").write_text(CSV)
    args = argparse.Namespace(file=str(tmp_path / "orders.csv"), text="Hi {first_name}", channel="C0GENERAL",
                              user="U0USER", yes=False)
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
