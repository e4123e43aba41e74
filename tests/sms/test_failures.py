"""Which failed SMS a resend can cure (bot/sms/failures.py): the account or the gateway, once fixed;
never the number or the text."""

from bot.sms import failures
from bot.sms.gateway import GatewayUnavailable, InvalidRecipient, LoginFailed, NotEnoughCredits


def row(status, failure):
    return {"status": status, "failure": failure}


def test_credits_login_and_an_unreachable_gateway_can_be_cured_by_a_resend():
    for error in (NotEnoughCredits("Error: not enough credits"), LoginFailed("Error: login failed")):
        assert failures.curable(row("failed", failures.kind_of(error)))
    gave_up_unreachable = failures.kind_of(GatewayUnavailable("connection refused"))  # nothing was sent
    assert gave_up_unreachable == failures.UNREACHABLE and failures.curable(row("failed", gave_up_unreachable))


def test_a_refused_number_or_an_unknown_cause_would_fail_again():
    assert failures.kind_of(InvalidRecipient("Error: invalid number")) == failures.FINAL
    assert failures.kind_of(None) == failures.FINAL  # e.g. given up after the send window
    assert not failures.curable(row("failed", failures.FINAL))


def test_only_failed_sms_are_cured_and_rows_stored_before_failure_kinds_are_not():
    assert not failures.curable(row("sent", failures.CREDITS))
    assert not failures.curable({"status": "failed"})  # a row from before messages.failure existed
