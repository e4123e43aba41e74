"""Files people attach in Slack forms: downloaded with the bot token (scope ``files:read``), capped in size."""

from __future__ import annotations

from urllib.parse import urlsplit

import requests

DOWNLOAD_SECONDS = 20
SLACK_FILE_HOSTS = (".slack.com", ".slack-gov.com")


class FileProblem(Exception):
    """The file could not be fetched; str() says what to do."""


def download(url: str, token: str, limit: int, api_url: str) -> bytes:
    """The file's bytes; at most ``limit`` + 1 are read (so a caller can tell it is too big). The
    token goes only to Slack's own hosts (or the host of SLACK_API_URL)."""
    host = (urlsplit(url).hostname or "").lower()
    if urlsplit(url).scheme not in ("https", "http") or not (
        host == urlsplit(api_url).hostname or host.endswith(SLACK_FILE_HOSTS)
    ):
        raise FileProblem("The file's address is not on Slack, so I did not fetch it: attach the CSV again.")
    try:
        with requests.get(
            url, headers={"Authorization": f"Bearer {token}"}, timeout=DOWNLOAD_SECONDS, stream=True
        ) as response:
            if response.status_code != 200:
                raise FileProblem(f"Slack answered HTTP {response.status_code} for the file: upload it again.")
            if response.headers.get("Content-Type", "").startswith("text/html"):
                raise FileProblem(
                    "Slack sent a sign-in page instead of the file: smsbot needs the files:read "
                    "scope (reinstall the app from its manifest), then upload the file again."
                )
            data = b""
            for chunk in response.iter_content(65536):
                data += chunk
                if len(data) > limit:
                    break
            return data
    except requests.RequestException as error:
        raise FileProblem(
            f"I couldn't download the file from Slack ({type(error).__name__}): try again in a moment."
        ) from None
