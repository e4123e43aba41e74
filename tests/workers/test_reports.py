"""The leader's report applier (bot/workers/reports.py) on its own thread, on both backends: a report the
callback took in is applied because the applier was woken, not because it polled."""

import requests

from bot.web.routes import CALLBACK_PREFIX
from tests.conftest import wait_for


def outcomes(bot):
    return [r["outcome"] for r in bot.db.conn.execute("SELECT outcome FROM reports ORDER BY id")]


def test_a_report_taken_in_wakes_the_applier_which_applies_it(slack_driver, bot, simulator):
    slack_driver.command("send 27831234567 Generator running")
    slack_driver.pump()
    bot.applier.idle_poll = 3600.0  # only a wake-up can make it look again in this test
    bot.applier.start()
    try:
        assert wait_for(lambda: bot.applier.is_alive())
        url = bot.server.url + CALLBACK_PREFIX + bot.callback_secret
        sent = simulator.messages[0].id
        for status in ("100", "200"):
            assert requests.get(url, params={"messageid": sent, "StatusID": status}, timeout=5).status_code == 200
        assert wait_for(lambda: outcomes(bot) == ["applied", "applied"])
        assert bot.queue.messages_of(1)[0]["dlr_status_id"] == 200
    finally:
        assert bot.applier.stop(5.0)
