"""A fake Slack Web API served over real HTTP on 127.0.0.1, and request-signing helpers.

What it fakes: the Web API methods smsbot calls, answered in the shape real Slack
uses (``auth.test``, ``chat.postMessage``/``update``/``postEphemeral``,
``conversations.join``/``open``, ``views.open``/``publish``/``update``,
``users.info``, the file upload of ``files_upload_v2``: ``files.getUploadURLExternal``, the upload
URL it returns and ``files.completeUploadExternal``, kept in ``files``; any other method answers
``{"ok": true}``), bearer-token checks,
per-channel message history with threads and edit history, response URLs that
record what is POSTed to them, and injected failures: Slack errors (``fail``),
HTTP errors such as 429 with Retry-After (``http_error``) and a full outage (``down``).
Requests may carry parameters as JSON, as a form body or in the query string.
``sign``, ``command_body`` and ``block_actions_body`` build signed slash-command
and interactivity requests the way Slack sends them to the app.

What it does not fake: scopes (beyond ``chat_write_public``), rate limits on its own, pagination, multipart
uploads, group DMs, the Events API, Socket Mode, or message formatting. ``hang`` carries a call
out and holds its answer (a post made whose answer is lost); ``conversations.history`` lists a
conversation's messages with their ``metadata`` (refused with missing_scope once ``history_scopes``
is False).
Every API request that arrives is recorded in ``calls``, failed ones (and those
refused while ``down``) included.
"""

from __future__ import annotations

import copy
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl

from bot.testing.fake_slack_files import Call, FakeSlackFiles, SlackError, read_body
from bot.web.server import ServerThread

# What an HTTP route answers: status, a JSON body (dict) or a page as is (bytes), extra headers.
Reply = tuple[int, dict | bytes, list[tuple[str, str]]]

_UNAVAILABLE: Reply = (503, {"ok": False, "error": "service_unavailable"}, [])
_JSON_FIELDS = ("blocks", "attachments", "view", "files", "metadata")  # JSON text when sent in a form or query string
VERIFICATION_TOKEN = "fake-verification-token"
APP_ID = "A0TEST"
BOT_ID = "B0TEST"
BOT_USER_ID = "UBOT"


@dataclass
class _Channel:
    id: str
    name: str
    private: bool
    bot_member: bool


@dataclass
class _Answer:
    """A planned reply that replaces the method's normal one."""

    status: int
    body: dict | bytes  # bytes: sent as is, as text/html (a proxy's or captive portal's page)
    headers: list[tuple[str, str]] = field(default_factory=list)


def dm_channel_id(user_id: str) -> str:
    """The id of the bot's DM with a user: "U0USER" → "D0USER"."""
    return "D" + user_id[1:]


class FakeSlack(FakeSlackFiles):
    """One workspace's Web API; ``start()`` serves it, ``api_url`` goes to ``WebClient(base_url=...)``."""

    def __init__(self, token: str = "xoxb-test-token", team_id: str = "T0TEST", bot_user_id: str = BOT_USER_ID) -> None:
        self.token = token
        self.app_token: str | None = None  # the xapp- token apps.connections.open accepts
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.down = False
        self.chat_write_public = True  # the scope smsbot asks for: post in public channels without joining
        self.history_scopes = True  # channels:history, groups:history, im:history: conversations.history works
        self._lock = threading.Lock()
        self._calls: list[Call] = []
        self._responses: list[tuple[str, dict]] = []
        self._channels: dict[str, _Channel] = {}
        self._messages: dict[str, list[dict]] = defaultdict(list)
        self._planned: dict[str, deque[_Answer]] = defaultdict(deque)
        self._after: dict[str, list[Callable[[], None]]] = defaultdict(list)
        self._hangs: dict[str, deque[float]] = defaultdict(deque)
        self._ts_base = int(time.time())
        self._ts_seq = 0
        self._view_seq = 0
        self._files: dict[str, bytes] = {}  # file ID → content served at its url_private_download
        self._uploads: dict[str, dict] = {}  # file ID → filename, length and the bytes uploaded to its URL
        self.uploaded: list[dict] = []  # uploads completed into a conversation (see ``files``)
        self._server: ServerThread | None = None
        self._methods: dict[str, Callable[[dict], dict]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "conversations.join": self._join,
            "conversations.open": self._open,
            "views.open": self._view,
            "views.publish": self._view,
            "views.update": self._view,
            "users.info": self._user_info,
            "conversations.info": self._conversation_info,
            "conversations.history": self._history,
            "apps.connections.open": lambda params: {"url": "wss://fake-slack.test/link/?ticket=1"},
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> FakeSlack:
        self._server = ServerThread(self._wsgi, name="fake-slack", threads=8).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()

    @property
    def api_url(self) -> str:
        return f"{self._base_url()}/api/"

    def response_url(self, key: str = "r1") -> str:
        return f"{self._base_url()}/response/{key}"

    # -- set-up and failures -----------------------------------------------------------------
    def add_channel(self, channel_id: str, name: str, *, private: bool = False, bot_member: bool = True) -> None:
        with self._lock:
            self._channels[channel_id] = _Channel(channel_id, name, private, bot_member)

    def fail(self, method: str, error: str, times: int = 1) -> None:
        """Answer the next ``times`` calls to ``method`` with ``{"ok": false, "error": error}``."""
        self._plan(method, _Answer(200, {"ok": False, "error": error}), times)

    def http_error(self, method: str, status: int, times: int = 1, retry_after: int | None = None) -> None:
        """Answer the next ``times`` calls to ``method`` with HTTP ``status`` (429: error "ratelimited")."""
        error = "ratelimited" if status == 429 else "internal_error"
        headers = [] if retry_after is None else [("Retry-After", str(retry_after))]
        self._plan(method, _Answer(status, {"ok": False, "error": error}, headers), times)

    def html_page(self, method: str, status: int = 200, times: int = 1) -> None:
        """Answer the next ``times`` calls to ``method`` with an HTML page, as a proxy in front of Slack does."""
        page = b"<html><head><title>Sign in to the network</title></head><body>Proxy login</body></html>"
        self._plan(method, _Answer(status, page), times)

    def after(self, method: str, callback: Callable[[], None]) -> None:
        """Call ``callback`` once, right after the next successful ``method`` call has been answered
        in the fake's state (before the HTTP reply leaves), e.g. to cause a fault at that moment."""
        with self._lock:
            self._after[method].append(callback)

    def hang(self, method: str, seconds: float, times: int = 1) -> None:
        """The next ``times`` calls to ``method`` are carried out (a post is posted) but their answer
        leaves only after ``seconds``: past the client's timeout, an answer lost on the way."""
        with self._lock:
            self._hangs[method].extend([seconds] * times)

    def _plan(self, method: str, answer: _Answer, times: int) -> None:
        with self._lock:
            self._planned[method].extend([answer] * times)

    # -- what happened -------------------------------------------------------------------------
    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[Call]:
        return [call for call in self.calls if call.method == method]

    @property
    def responses(self) -> list[tuple[str, dict]]:
        with self._lock:
            return list(self._responses)

    @property
    def messages(self) -> dict[str, list[dict]]:
        with self._lock:
            return copy.deepcopy(dict(self._messages))

    def message(self, channel: str, ts: str) -> dict:
        with self._lock:
            return copy.deepcopy(self._find_message(channel, ts))

    def thread(self, channel: str, ts: str) -> list[dict]:
        """The replies to the message ``ts``, oldest first (the parent is not included)."""
        with self._lock:
            replies = [m for m in self._messages.get(channel, []) if m["thread_ts"] == ts and m["ts"] != ts]
            return copy.deepcopy(replies)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)
        return True

    # -- HTTP ----------------------------------------------------------------------------------
    def _wsgi(self, environ, start_response):
        path = environ.get("PATH_INFO", "")
        reply: Reply
        if path.startswith("/api/"):
            reply = self._api(path[len("/api/") :], environ)
        elif path.startswith("/files-pri/"):
            reply = self._download(path, environ)
        elif path.startswith("/response/"):
            reply = self._response_post(path[len("/response/") :], environ)
        elif path.startswith("/upload/"):
            reply = self._upload_post(path[len("/upload/") :], environ)
        else:
            reply = 404, {"ok": False, "error": "not_found"}, []
        status, body, headers = reply
        payload, kind = (
            (body, "text/html")
            if isinstance(body, bytes)
            else (json.dumps(body).encode(), "application/json; charset=utf-8")
        )
        kind = dict(headers).get("Content-Type", kind)  # a file served as its own type
        headers = [h for h in headers if h[0] != "Content-Type"]
        start_response(
            f"{status} {HTTPStatus(status).phrase}",
            [("Content-Type", kind), ("Content-Length", str(len(payload))), *headers],
        )
        return [payload]

    def _api(self, method: str, environ) -> Reply:
        params = _request_params(environ)
        token = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ").strip() or params.get("token")
        with self._lock:
            self._calls.append(Call(method, params, time.time()))
            if self.down:
                return _UNAVAILABLE
            if token != (self.app_token if method == "apps.connections.open" else self.token):
                return 200, {"ok": False, "error": "invalid_auth"}, []
            if self._planned[method]:
                planned = self._planned[method].popleft()
                return planned.status, planned.body, planned.headers
            try:
                answer: Reply = 200, {"ok": True, **self._methods.get(method, _nothing)(params)}, []
            except SlackError as error:
                return 200, {"ok": False, "error": error.code}, []
            hooks, self._after[method] = self._after[method], []
            hang = self._hangs[method].popleft() if self._hangs[method] else 0.0
        for hook in hooks:
            hook()
        time.sleep(hang)
        return answer

    def _response_post(self, key: str, environ) -> Reply:
        if self.down:
            return _UNAVAILABLE
        try:
            body = json.loads(read_body(environ) or b"null")
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return 400, {"ok": False, "error": "invalid_payload"}, []
        with self._lock:
            self._responses.append((key, body))
        return 200, {"ok": True}, []

    # -- methods (called with the lock held) ---------------------------------------------------
    def _auth_test(self, params: dict) -> dict:
        return {
            "url": "https://fake-slack.test/",
            "team": "Test Team",
            "user": "smsbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": BOT_ID,
        }

    def _post_message(self, params: dict) -> dict:
        channel = self._resolve(params.get("channel", ""), must_be_member=True)
        message = {
            "ts": self._next_ts(),
            "text": params.get("text", ""),
            "blocks": params.get("blocks"),
            "thread_ts": params.get("thread_ts"),
            "metadata": params.get("metadata"),
            "history": [],
        }
        self._messages[channel].append(message)
        return {"channel": channel, "ts": message["ts"], "message": self._as_slack_message(message)}

    def _update(self, params: dict) -> dict:
        channel = self._resolve(params.get("channel", ""))
        try:
            message = self._find_message(channel, params.get("ts", ""))
        except KeyError:
            raise SlackError("message_not_found") from None
        message["history"].append({"text": message["text"], "blocks": message["blocks"]})
        message["text"] = params.get("text", message["text"])
        message["blocks"] = params.get("blocks", message["blocks"])
        return {
            "channel": channel,
            "ts": message["ts"],
            "text": message["text"],
            "message": self._as_slack_message(message),
        }

    def _post_ephemeral(self, params: dict) -> dict:
        return {"message_ts": self._next_ts()}

    def _join(self, params: dict) -> dict:
        channel = self._channels.get(params.get("channel", ""))
        if channel is None:
            raise SlackError("channel_not_found")
        if channel.private:
            raise SlackError("method_not_supported_for_channel_type")
        already = channel.bot_member
        channel.bot_member = True
        info = {"id": channel.id, "name": channel.name, "is_channel": True, "is_private": False, "is_member": True}
        return {"channel": info, **({"warning": "already_in_channel"} if already else {})}

    def _open(self, params: dict) -> dict:
        user = params.get("users", "")
        if not user:
            raise SlackError("users_list_not_supplied")
        return {"channel": {"id": dm_channel_id(user)}}

    def _view(self, params: dict) -> dict:
        view_id = params.get("view_id")
        if view_id is None:
            self._view_seq += 1
            view_id = f"V{self._view_seq:08d}"
        return {"view": {**(params.get("view") or {}), "id": view_id, "team_id": self.team_id}}

    def _conversation_info(self, params: dict) -> dict:
        channel = self._resolve(params.get("channel", ""))  # refuses a channel it does not know
        known = self._channels.get(channel)
        if known is None:  # the bot's DM with someone, which Slack answers as an IM (it has no name)
            return {"channel": {"id": channel, "is_im": True}}
        return {"channel": {"id": known.id, "name": known.name, "is_member": known.bot_member}}

    def _history(self, params: dict) -> dict:
        """The conversation's top-level messages, newest first, from ``oldest`` on (no pagination)."""
        if not self.history_scopes:
            raise SlackError("missing_scope")
        channel = self._resolve(params.get("channel", ""), must_be_member=True)
        oldest = float(params.get("oldest") or 0)
        shown = [
            self._as_slack_message(m, metadata=str(params.get("include_all_metadata")).lower() in ("1", "true"))
            for m in self._messages.get(channel, [])
            if m["thread_ts"] in (None, m["ts"]) and float(m["ts"]) >= oldest
        ]
        return {"messages": shown[::-1][: int(params.get("limit") or 100)], "has_more": False}

    def _user_info(self, params: dict) -> dict:
        user = params.get("user", "")
        if not user.startswith(("U", "W")):
            raise SlackError("user_not_found")
        name = "user_" + user.lower()
        return {
            "user": {
                "id": user,
                "team_id": self.team_id,
                "name": name,
                "real_name": f"User {user}",
                "tz": "Africa/Johannesburg",
                "tz_offset": 7200,
                "profile": {"real_name": f"User {user}", "display_name": name},
            }
        }

    # -- helpers (called with the lock held) ---------------------------------------------------
    def _resolve(self, channel: str, *, must_be_member: bool = False) -> str:
        """The conversation a ``channel`` argument names; a user id means the bot's DM with them."""
        if channel.startswith(("U", "W")):
            return dm_channel_id(channel)
        if channel.startswith("D") and channel not in self._channels:  # the bot's own DMs
            return channel
        known = self._channels.get(channel)
        if known is None:
            raise SlackError("channel_not_found")
        if must_be_member and not known.bot_member and (known.private or not self.chat_write_public):
            raise SlackError("not_in_channel")
        return known.id

    def _find_message(self, channel: str, ts: str) -> dict:
        for message in self._messages.get(channel, []):
            if message["ts"] == ts:
                return message
        raise KeyError(f"no message {ts} in {channel}")

    def _next_ts(self) -> str:
        self._ts_seq += 100
        return f"{self._ts_base}.{self._ts_seq:06d}"

    def _as_slack_message(self, message: dict, metadata: bool = False) -> dict:
        shown = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": BOT_ID,
            "ts": message["ts"],
            "text": message["text"],
            "blocks": message["blocks"],
            "thread_ts": message["thread_ts"],
            "metadata": message.get("metadata") if metadata else None,
        }
        return {k: v for k, v in shown.items() if v is not None}


def _nothing(params: dict) -> dict:
    return {}


def _request_params(environ) -> dict:
    """Query string, form body and JSON body merged (later ones win); JSON-text fields decoded."""
    params: dict = dict(parse_qsl(environ.get("QUERY_STRING", "")))
    body = read_body(environ)
    content_type = environ.get("CONTENT_TYPE", "")
    if content_type.startswith("application/json") and body:
        params.update(json.loads(body))
    elif content_type.startswith("application/x-www-form-urlencoded"):
        params.update(parse_qsl(body.decode()))
    for name in _JSON_FIELDS:
        if isinstance(params.get(name), str):
            params[name] = json.loads(params[name])
    return params


# -- requests from Slack to the app ------------------------------------------------------------
