"""Notes on who a send reaches (bot/slack/notes.py): how entries were read, numbers abroad, VoIP
numbers and skipped group members, each said once with what to do."""

import json

from bot.slack.notes import NUMBERS_SHOWN, batch_notes, plan_notes


def test_nothing_to_say_gives_no_lines():
    assert plan_notes(None) == [] and plan_notes({"read_as": {}, "voip": []}) == []


def test_each_kind_of_note_is_one_line_naming_the_numbers():
    lines = plan_notes(
        {"read_as": {"083 123 4567": "27831234567"}, "abroad": {"447700900123": "GB"}, "voip": ["27870001111"]}
    )
    assert len(lines) == 3
    assert "‘083 123 4567’ as 27831234567" in lines[0] and "SMS_DEFAULT_REGION" in lines[0]
    assert "447700900123 (GB)" in lines[1]
    assert "27870001111 is a VoIP number" in lines[2] and "may not receive SMS" in lines[2]


def test_skipped_members_are_grouped_by_reason_and_say_how_to_remove_them():
    [line] = plan_notes(
        {
            "skipped": [
                ["0211234567", "ops", "a landline"],
                ["0211234568", "ops", "a landline"],
                ["12", "night", "too short <x>"],
            ]
        }
    )
    assert "Skipped 3 group members, not charged" in line
    assert "a landline: 0211234567 (`ops`), 0211234568 (`ops`)" in line
    assert "too short &lt;x&gt;" in line  # Slack markup in a reason is shown, not run
    assert "/sms group remove GROUP NUMBERS" in line


def test_a_long_list_of_numbers_is_cut_with_a_count_of_the_rest():
    voip = [f"2787{i:07d}" for i in range(NUMBERS_SHOWN + 4)]
    [line] = plan_notes({"voip": voip})
    assert voip[NUMBERS_SHOWN - 1] in line and voip[NUMBERS_SHOWN] not in line
    assert "and 4 more" in line


def test_notes_stored_with_a_send_are_read_back_and_old_sends_have_none():
    notes = {"abroad": {"447700900123": "GB"}}
    assert batch_notes({"notes": json.dumps(notes)}) == notes
    assert batch_notes({"notes": None}) is None
    assert batch_notes({"text": "stored before notes existed"}) is None
