"""Thread replies for what a delivery report meant (bot/slack/report_replies.py)."""

from bot.slack.report_replies import reply
from bot.sms import dlr
from bot.storage.reports import Notice

BATCH = {"user_id": "U0ANN"}
AT = 1_700_000_000.0


def sms(status="sent", tracking_id="T2"):
    return {"recipient": "27831234567", "status": status, "tracking_id": tracking_id}


def report(status_id=dlr.DELIVERED, recipient="27831234567", tracking_id="T2"):
    return {
        "status_id": status_id,
        "recipient": recipient,
        "tracking_id": tracking_id,
        "received_at": AT,
        "status_message": dlr.MESSAGES[status_id],
    }


def test_an_unconfirmed_sms_proved_sent_says_there_is_no_need_to_resend():
    text = reply(Notice.ADOPTED, BATCH, sms(), report(), [])["text"]
    assert "did go out" in text and "no need to resend" in text and "Delivered to 27831234567" in text


def test_a_report_for_another_number_names_both_and_says_whom_to_ask():
    text = reply(Notice.OTHER_NUMBER, BATCH, sms(), report(recipient="27821234567"), [])["text"]
    assert "27821234567" in text and "27831234567" in text and "Ask SMS Office" in text


def test_a_report_that_may_be_this_sms_marks_nothing_and_asks_not_to_resend():
    content = reply(Notice.MAYBE_THIS, BATCH, sms("unconfirmed", None), report(tracking_id="X9"), [])
    assert "<@U0ANN>" in content["text"] and "#X9" in content["text"]
    assert "I marked nothing" in content["text"] and "don't resend it" in content["text"]
    assert "response_type" not in content  # in the thread, for everyone


def test_two_delivered_attempts_say_the_person_got_it_twice():
    attempts = [
        {"tracking_id": "T1", "dlr_status_id": dlr.DELIVERED},
        {"tracking_id": "T2", "dlr_status_id": dlr.DELIVERED},
    ]
    text = reply(Notice.TWICE, BATCH, sms(), report(), attempts)["text"]
    assert "got this SMS twice" in text and "#T1 and #T2" in text


def test_the_attempt_before_a_resend_delivered_after_all_warns_the_resend_will_arrive_again():
    attempts = [{"tracking_id": "T1", "dlr_status_id": dlr.DELIVERED}, {"tracking_id": None, "dlr_status_id": None}]
    text = reply(Notice.TWICE, BATCH, sms("queued", None), report(tracking_id="T1"), attempts)["text"]
    assert "#T1, was delivered" in text and "still queued" in text and "a second time" in text
