"""The SMS rules' refusals (bot/sms/errors.py): the text is the advice, a recipient refusal names its entry."""

import pytest

from bot.sms.errors import RecipientError, SmsRuleError, TextError
from bot.sms.rules import check_text


def test_an_empty_text_is_refused_with_advice_on_what_to_write():
    with pytest.raises(TextError) as refused:
        check_text("")
    assert isinstance(refused.value, SmsRuleError) and isinstance(refused.value, ValueError)
    assert "write the text" in str(refused.value)


def test_a_recipient_refusal_keeps_the_entry_and_a_short_reason():
    error = RecipientError(
        "0211234567 is a landline: SMS cannot reach it.", entry="0211234567", reason="a landline in South Africa"
    )
    assert (error.entry, error.reason) == ("0211234567", "a landline in South Africa")
    assert str(error) == "0211234567 is a landline: SMS cannot reach it."
    plain = RecipientError("Not a phone number: abc", entry="abc")
    assert plain.reason == "Not a phone number: abc"  # without a short reason, the sentence itself
