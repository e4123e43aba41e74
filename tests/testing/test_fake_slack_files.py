"""The fake Slack's file side over loopback, driven by slack_sdk's own WebClient: files_upload_v2's
three steps share a file in a channel, a form's attached file is served to the bot token only, and
the mistakes a client can make get Slack's error codes."""

import pytest
import requests
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.conftest import BOT_TOKEN


def client(fake_slack) -> WebClient:
    return WebClient(token=BOT_TOKEN, base_url=fake_slack.api_url)


def test_files_upload_v2_shares_the_bytes_in_the_channel_with_the_comment(fake_slack):
    content = "\ufeffnumber,reason\r\n27831234567,asked\r\n".encode()
    client(fake_slack).files_upload_v2(
        channel="C0GENERAL", content=content, filename="optouts.csv", title="Opt-outs", initial_comment="1 number"
    )
    (shared,) = fake_slack.files
    assert shared["content"] == content and shared["channel"] == "C0GENERAL"
    assert (shared["filename"], shared["title"], shared["initial_comment"]) == ("optouts.csv", "Opt-outs", "1 number")
    methods = [c.method for c in fake_slack.calls]
    assert methods.index("files.getUploadURLExternal") < methods.index("files.completeUploadExternal")


def test_an_attached_file_is_served_to_the_bot_token_and_a_sign_in_page_to_anyone_else(fake_slack):
    file = fake_slack.upload(b"27831234567\n", name="team.csv")
    assert file["name"] == "team.csv" and file["size"] == len(b"27831234567\n")
    url = file["url_private_download"]
    with requests.Session() as http:
        mine = http.get(url, headers={"Authorization": f"Bearer {BOT_TOKEN}"}, timeout=5)
        theirs = http.get(url, headers={"Authorization": "Bearer xoxb-someone-else"}, timeout=5)
        anonymous = http.get(url, timeout=5)
    assert mine.content == b"27831234567\n" and mine.headers["Content-Type"] == "text/csv"
    for page in (theirs, anonymous):
        assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
        assert b"Sign in to Slack" in page.content
    assert len(fake_slack.calls_to("files-pri")) == 3


def test_an_upload_url_needs_a_filename_and_a_length(fake_slack):
    with pytest.raises(SlackApiError) as error:
        client(fake_slack).files_getUploadURLExternal(filename="a.csv", length="many")
    assert error.value.response["error"] == "invalid_arguments"


def test_completing_a_file_never_uploaded_is_file_not_found(fake_slack):
    web = client(fake_slack)
    started = web.files_getUploadURLExternal(filename="a.csv", length=3)
    with pytest.raises(SlackApiError) as error:
        web.files_completeUploadExternal(files=[{"id": started["file_id"]}], channel_id="C0GENERAL")
    assert error.value.response["error"] == "file_not_found" and fake_slack.files == []
    with requests.Session() as http:
        assert (
            http.post(started["upload_url"].rsplit("/", 1)[0] + "/F99999999", data=b"abc", timeout=5).status_code == 404
        )
