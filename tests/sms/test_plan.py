"""Send plans: group members checked when used, notes for the ack, and when a send is held."""

from decimal import Decimal

import pytest

from bot.sms.errors import RecipientError, SmsRuleError, TextError
from bot.sms.numbers import split_lines
from bot.sms.plan import SendPlan, Skipped, UsageError, build_plan, confirmation_reason, plan_send
from bot.storage.groups import GroupStore


@pytest.fixture
def groups(db):
    store = GroupStore(db)
    # Stored before the rules: a landline, a New Caledonian mobile, and two good mobiles.
    store.add("oncall", ["27831234567", "27215551234", "687949853", "27821234567"], "U0ADMIN", 1.0)
    store.add("old", ["27215551234", "27800123456"], "U0ADMIN", 1.0)
    return store


def test_group_members_that_fail_a_rule_are_skipped_with_the_reason(groups):
    plan = plan_send("oncall Drill at 3pm", "ZA", groups, frozenset({"ZA"}))
    assert plan.recipients == ["27831234567", "27821234567"]
    assert plan.credits == 2  # the skipped members cost nothing
    assert plan.skipped == [
        Skipped("27215551234", "oncall", "a landline in South Africa, which cannot receive SMS"),
        Skipped("687949853", "oncall", "in New Caledonia, not in SMSBOT_ALLOWED_COUNTRIES"),
    ]
    assert plan.groups == {"oncall": ["27831234567", "27821234567"]}


def test_the_allowed_countries_are_checked_when_the_group_is_used(groups):
    assert "687949853" in plan_send("oncall Hi", "ZA", groups, frozenset()).recipients
    assert "687949853" not in plan_send("oncall Hi", "ZA", groups, frozenset({"ZA"})).recipients


def test_a_number_typed_directly_that_fails_refuses_the_whole_send(groups):
    with pytest.raises(RecipientError) as err:
        plan_send("oncall,0215551234 Hi", "ZA", groups)
    assert "is a landline in South Africa" in str(err.value)


def test_a_group_with_nobody_left_refuses_the_send_and_says_why(groups):
    with pytest.raises(RecipientError) as err:
        plan_send("old Hi", "ZA", groups)
    message = str(err.value)
    assert message.startswith(
        "Nobody to send to: every group member fails a rule (27215551234 in ‘old’: "
        "a landline in South Africa, which cannot receive SMS; 27800123456 in ‘old’: "
        "a toll-free number in South Africa, which cannot receive SMS)."
    )
    assert "/sms group remove old NUMBERS" in message


def test_a_skipped_member_typed_again_directly_is_not_reported_skipped(db):
    store = GroupStore(db)
    store.add("mixed", ["687949853", "27831234567"], "U0ADMIN", 1.0)
    plan = plan_send("mixed,+687949853 Hi", "ZA", store)
    assert plan.skipped == [] and plan.recipients == ["687949853", "27831234567"]


def test_notes_name_foreign_countries_voip_and_numbers_read_in_the_region():
    plan = plan_send("831234567,0871234567,+687949853 Hi", "ZA")
    assert plan.read_as == {"831234567": "27831234567"}
    assert plan.voip == ["27871234567"]
    assert plan.abroad == {"687949853": "New Caledonia"}


def test_without_a_default_region_south_africa_is_home():
    assert plan_send("27831234567,+12025550123 Hi", None).abroad == {"12025550123": "United States"}


def test_the_plan_survives_storage_for_a_confirmation(groups):
    plan = plan_send("oncall,0871234567 Hi", "ZA", groups, frozenset({"ZA"}))
    again = SendPlan.from_json(plan.to_json())
    assert again == plan


def test_the_compose_form_reads_lines_and_spaces_inside_numbers(groups):
    plan = build_plan("083 123 4567\n+27 82 123 4567\noncall", "Hi", "ZA", groups, split=split_lines)
    assert plan.recipients == ["27831234567", "27821234567", "687949853"]


def test_a_no_break_space_inside_a_pasted_number_does_not_end_the_recipients():
    plan = plan_send("+27\u00a083\u00a0123\u00a04567 Hello there", None)
    assert (plan.recipients, plan.text) == (["27831234567"], "Hello there")


# --- when a send is held for confirmation ------------------------------------------------
NOW = 10_000.0


def _plan(recipients: int) -> SendPlan:
    return plan_send(",".join(f"2783123456{i}" for i in range(recipients)) + " Hi", None)


def test_a_cheap_send_with_enough_balance_is_not_held():
    assert confirmation_reason(_plan(3), 10, (Decimal("50"), NOW - 60), NOW) is None
    assert confirmation_reason(_plan(3), 10, None, NOW) is None  # no balance known: the gateway decides


def test_a_send_the_last_balance_cannot_cover_is_held_even_when_cheap():
    hold = confirmation_reason(_plan(3), 10, (Decimal("2"), NOW - 25 * 60), NOW)
    assert hold.short is True
    assert hold.sentence == (
        "The last balance check (25 minutes ago) showed 2.00 credits, less than the 3 this "
        "send needs: unless the account was topped up since, some of these SMS will fail "
        "with “Not enough credits”."
    )


def test_exactly_enough_balance_is_not_short():
    assert confirmation_reason(_plan(3), 10, (Decimal("3"), NOW), NOW) is None


def test_a_costly_send_is_held_and_says_why():
    hold = confirmation_reason(_plan(5), 4, (Decimal("100"), NOW), NOW)
    assert hold.short is False
    assert hold.sentence == "This send costs 5 credits, more than SMSBOT_CONFIRM_ABOVE (4)."


@pytest.mark.parametrize(
    "age, words", [(20, "just now"), (60, "1 minute ago"), (3 * 3600, "3 hours ago"), (3 * 86400, "3 days ago")]
)
def test_the_age_of_the_balance_is_said_in_words(age, words):
    assert f"({words})" in confirmation_reason(_plan(1), 10, (Decimal("0"), NOW - age), NOW).sentence


@pytest.mark.parametrize(
    "args, whole",
    [("083 123 4567 Hello", "083 123 4567"), ("27821234567,+27 83 123 4567 2 pm drill", "+27 83 123 4567")],
)
def test_a_number_typed_with_spaces_in_the_slash_command_is_explained(args, whole):
    with pytest.raises(RecipientError) as err:
        plan_send(args, "ZA")
    assert str(err.value) == (
        f"‘{whole}’ looks like one number typed with spaces, but in `/sms send` a space "
        "ends the numbers: write it as 27831234567, or use the form (`/sms send` alone), "
        "where spaces inside a number are fine."
    )


def test_a_message_starting_with_digits_is_still_a_message():
    assert plan_send("27831234567 123 Main St is on fire", "ZA").text == "123 Main St is on fire"


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


@pytest.mark.parametrize(
    "args,words",
    [
        ("", "Say who to send to and what"),
        ("   ", "Say who to send to and what"),
        ("27831234567", "The message is empty"),
    ],
)
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


def test_opted_out_group_members_are_skipped_and_a_typed_one_refuses_the_send(groups):
    blocked = lambda numbers: {n for n in numbers if n == "27821234567"}  # noqa: E731
    plan = plan_send("oncall Drill", "ZA", groups, frozenset({"ZA"}), blocked=blocked)
    assert plan.recipients == ["27831234567"] and plan.credits == 1
    assert Skipped("27821234567", "oncall", "opted out (on the do-not-contact list)") in plan.skipped
    assert plan.groups == {"oncall": ["27831234567"]}
    with pytest.raises(RecipientError) as refused:
        plan_send("oncall,0821234567 Drill", "ZA", groups, frozenset({"ZA"}), blocked=blocked)
    assert "27821234567 is on the do-not-contact list" in str(refused.value)
    assert refused.value.entry == "0821234567"


def test_a_group_whose_every_member_opted_out_leaves_nobody_to_send_to(groups):
    with pytest.raises(RecipientError) as refused:
        plan_send("oncall Drill", "ZA", groups, frozenset({"ZA"}), blocked=lambda numbers: set(numbers))
    assert "Nobody to send to" in str(refused.value) and "opted out" in str(refused.value)
