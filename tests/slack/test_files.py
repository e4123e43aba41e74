"""Files attached in Slack forms, fetched from the fake Slack over loopback: the bytes with the bot
token, a size cap, and a sentence that says what to do for each way the download goes wrong."""

import socket

import pytest

from bot.slack.files import FileProblem, download
from tests.conftest import BOT_TOKEN


def test_the_file_comes_back_with_the_bot_token(fake_slack):
    content = b"number,name\n27831234567,Ann\n"
    url = fake_slack.upload(content)["url_private_download"]
    assert download(url, BOT_TOKEN, 1000, fake_slack.api_url) == content


def test_a_big_file_is_cut_just_past_the_limit_so_the_caller_can_refuse_it(fake_slack):
    url = fake_slack.upload(b"x" * 300_000)["url_private_download"]
    data = download(url, BOT_TOKEN, 100, fake_slack.api_url)
    assert 100 < len(data) < 300_000


def test_without_the_files_read_scope_slack_sends_a_sign_in_page_and_that_is_explained(fake_slack):
    url = fake_slack.upload(b"27831234567\n")["url_private_download"]
    with pytest.raises(FileProblem) as problem:
        download(url, "xoxb-another-token", 1000, fake_slack.api_url)
    assert "files:read" in str(problem.value) and "reinstall" in str(problem.value)


def test_the_token_is_never_sent_to_a_host_that_is_not_slack(fake_slack):
    for url in (
        "https://evil.example.com/files-pri/T0-F1/download/list.csv",
        "file:///etc/passwd",
        "https://slack.com.evil.example/x.csv",
    ):
        with pytest.raises(FileProblem) as problem:
            download(url, BOT_TOKEN, 1000, fake_slack.api_url)
        assert "not on Slack" in str(problem.value)
    assert fake_slack.calls_to("files-pri") == []


def test_an_http_error_says_to_upload_again(fake_slack):
    with pytest.raises(FileProblem) as problem:
        download(fake_slack.api_url.replace("/api/", "/nowhere/x.csv"), BOT_TOKEN, 1000, fake_slack.api_url)
    assert "HTTP 404" in str(problem.value) and "upload it again" in str(problem.value)


def test_a_refused_connection_says_to_try_again_and_shows_no_token(fake_slack):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(FileProblem) as problem:
        download(f"http://127.0.0.1:{port}/files-pri/T0-F1/download/a.csv", BOT_TOKEN, 1000, fake_slack.api_url)
    assert "try again in a moment" in str(problem.value) and BOT_TOKEN not in str(problem.value)
