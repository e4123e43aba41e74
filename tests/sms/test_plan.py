"""Send planning: recipients (numbers and groups) and text checked into one plan, by the same rules for
the slash command and the form; the cost is parts × recipients (spec: each part costs a credit)."""
import pytest

from bot.sms.plan import SendPlan, UsageError, build_plan, plan_send
from bot.sms.rules import RecipientError, SmsRuleError, TextError


class Groups:
    """Just enough of the group store: names → members."""

    def __init__(self, **groups):
        self.groups = groups

    def members(self, name):
        return self.groups.get(name)

    def unknown(self, name):
        return f"There is no group called ‘{name}’."


def test_numbers_and_text_become_a_plan_with_its_cost():
    plan = plan_send("27831234567,+27821234567 Generator running\nsecond line", None)
    assert plan.recipients == ["27831234567", "27821234567"]
    assert plan.text == "Generator running\nsecond line"
    assert plan.credits == plan.info.parts * 2 and plan.info.parts == 1


def test_a_two_part_text_costs_two_credits_per_recipient():
    text = "x" * 161  # one more than one GSM-7 SMS holds (spec: 160)
    plan = build_plan("27831234567,27821234567,27841234567", text, None)
    assert plan.info.parts == 2 and plan.credits == 6


def test_groups_expand_in_place_and_duplicates_fold_keeping_first_seen_order():
    groups = Groups(oncall=["27821234567", "27831234567"])
    plan = build_plan("27831234567,oncall,27841234567", "Drill", None, groups)
    assert plan.recipients == ["27831234567", "27821234567", "27841234567"]
    assert plan.groups == {"oncall": ["27821234567", "27831234567"]}  # shown in the preview


def test_an_unknown_or_empty_group_refuses_the_whole_send():
    groups = Groups(empty=[])
    with pytest.raises(RecipientError, match="no group called ‘nope’"):
        build_plan("27831234567,nope", "Hi", None, groups)
    with pytest.raises(RecipientError, match="has no numbers yet.*/sms group add empty NUMBERS"):
        build_plan("empty", "Hi", None, groups)


def test_without_a_group_store_every_entry_is_a_number():
    with pytest.raises(RecipientError):
        build_plan("oncall", "Hi", None)


def test_local_numbers_use_the_default_region_when_there_is_one():
    assert plan_send("0831234567 Hi", "ZA").recipients == ["27831234567"]
    with pytest.raises(SmsRuleError, match="SMS_DEFAULT_REGION"):
        plan_send("0831234567 Hi", None)


@pytest.mark.parametrize("args,words", [
    ("", "Say who to send to and what"),
    ("   ", "Say who to send to and what"),
    ("27831234567", "The message is empty"),
])
def test_a_missing_part_is_explained_with_an_example(args, words):
    with pytest.raises(UsageError, match=words) as caught:
        plan_send(args, None)
    assert "/sms send 27831234567" in str(caught.value)


def test_a_text_that_is_too_long_is_a_text_error_so_the_form_shows_it_on_the_message():
    with pytest.raises(TextError):
        build_plan("27831234567", "x" * 1000, None)


def test_a_plan_held_for_confirmation_comes_back_the_same():
    plan = build_plan("27831234567,oncall", "Tom & Jerry €5", None, Groups(oncall=["27821234567"]))
    back = SendPlan.from_json(plan.to_json())
    assert back == plan and back.credits == plan.credits and back.info.encoding == plan.info.encoding
