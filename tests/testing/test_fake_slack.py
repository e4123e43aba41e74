"""The fake Slack's conversation methods, driven by slack_sdk's own WebClient."""

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.conftest import BOT_TOKEN


def client(fake_slack) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url, retry_handlers=[])


def test_conversations_info_of_a_dm_answers_the_dm_as_slack_does(fake_slack):
    # It used to look the DM up among the channels, find nothing and crash: HTTP 500, no Slack answer.
    for channel in ("U0ALICE", "D0ALICE"):
        info = client(fake_slack).conversations_info(channel=channel)["channel"]
        assert info["id"] == "D0ALICE" and info["is_im"] is True


def test_conversations_info_of_a_channel_and_of_an_unknown_one(fake_slack):
    fake_slack.add_channel("C0NEWS", "news", bot_member=False)
    info = client(fake_slack).conversations_info(channel="C0NEWS")["channel"]
    assert (info["id"], info["name"], info["is_member"]) == ("C0NEWS", "news", False)
    with pytest.raises(SlackApiError) as refused:
        client(fake_slack).conversations_info(channel="C0NOWHERE")
    assert refused.value.response["error"] == "channel_not_found"
