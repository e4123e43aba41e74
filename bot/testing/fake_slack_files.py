"""The file side of the fake Slack Web API: a file a person attached in a form (served at its
``url_private_download`` to the bot token only), and ``files_upload_v2``'s three steps
(``files.getUploadURLExternal``, the upload URL, ``files.completeUploadExternal``)."""

from __future__ import annotations

import copy
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.web.server import ServerThread


@dataclass
class Call:
    """One request the fake Slack received."""

    method: str
    params: dict
    at: float


class SlackError(Exception):
    """Ends a method with ``{"ok": false, "error": code}``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def read_body(environ) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    return environ["wsgi.input"].read(length) if length else b""


class FakeSlackFiles:
    """Mixed into FakeSlack, whose lock, server, token, calls and errors it uses."""

    # Set by FakeSlack.__init__ (see there); declared here for the methods below.
    token: str
    team_id: str
    _lock: threading.Lock
    _calls: list[Call]
    _files: dict[str, bytes]
    _uploads: dict[str, dict]
    uploaded: list[dict]
    _server: ServerThread | None
    _resolve: Callable[[str], str]

    def _base_url(self) -> str:
        """Where the fake is served."""
        if self._server is None:
            raise RuntimeError("the fake Slack is not served yet: call start() first")
        return self._server.url

    def upload(self, content: bytes, name: str = "list.csv") -> dict:
        """A file someone uploaded in a form: the ``files`` entry of a ``file_input`` state. Its
        ``url_private_download`` serves ``content`` to the bot token only (else Slack's login page)."""
        with self._lock:
            file_id = f"F{len(self._files) + 1:08d}"
            self._files[file_id] = content
        url = f"{self._base_url()}/files-pri/{self.team_id}-{file_id}/download/{name}"
        return {
            "id": file_id,
            "name": name,
            "title": name,
            "filetype": "csv",
            "mimetype": "text/csv",
            "size": len(content),
            "url_private": url,
            "url_private_download": url,
        }

    @property
    def files(self) -> list[dict]:
        """Files shared by ``files.completeUploadExternal``: id, filename, title, channel, content (bytes),
        initial_comment."""
        with self._lock:
            return copy.deepcopy(self.uploaded)

    def _download(self, path: str, environ) -> tuple[int, bytes, list[tuple[str, str]]]:
        token = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ").strip()
        file_id = path.split("/")[2].split("-", 1)[-1]
        with self._lock:
            self._calls.append(Call("files-pri", {"file": file_id}, time.time()))
            content = self._files.get(file_id)
        if token != self.token or content is None:  # as Slack does: a login page, not an error code
            return 200, b"<!DOCTYPE html><html><body>Sign in to Slack</body></html>", []
        return 200, content, [("Content-Type", "text/csv")]

    def _upload_post(self, file_id: str, environ) -> tuple[int, bytes, list[tuple[str, str]]]:
        """The upload URL: the file's bytes as the POST body, answered in plain text as Slack does."""
        data = read_body(environ)
        with self._lock:
            upload = self._uploads.get(file_id)
            if upload is None:
                return 404, b"Not found", []
            upload["content"] = data
        return 200, f"OK - {len(data)}".encode(), []

    def _upload_url(self, params: dict) -> dict:
        if not params.get("filename") or not str(params.get("length", "")).isdigit():
            raise SlackError("invalid_arguments")
        file_id = f"F{len(self._uploads) + 1:08d}"
        self._uploads[file_id] = {"filename": params["filename"], "length": int(params["length"]), "content": None}
        return {"upload_url": f"{self._base_url()}/upload/{file_id}", "file_id": file_id}

    def _complete_upload(self, params: dict) -> dict:
        files = params.get("files") or []
        channel = params.get("channel_id")
        if channel:
            channel = self._resolve(channel)
        shared = []
        for entry in files:
            upload = self._uploads.get(entry.get("id"))
            if upload is None or upload["content"] is None:
                raise SlackError("file_not_found")
            shared.append(
                {
                    "id": entry["id"],
                    "title": entry.get("title") or upload["filename"],
                    "filename": upload["filename"],
                    "channel": channel,
                    "content": upload["content"],
                    "initial_comment": params.get("initial_comment"),
                }
            )
        self.uploaded.extend(shared)
        return {"files": [{"id": f["id"], "title": f["title"], "name": f["filename"]} for f in shared]}
