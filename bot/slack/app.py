"""The Bolt app: verification, authorization without network calls, and listener registration."""

from __future__ import annotations

import logging

from slack_bolt import App
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.request import BoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk import WebClient

from bot.slack.listeners import actions, commands, events, routine, views
from bot.usecases.services import Services

log = logging.getLogger(__name__)


class BotIdentity:
    """Who the bot is in Slack, learnt from auth.test when Slack answers (not on the ack path)."""

    def __init__(self) -> None:
        self.user_id: str | None = None
        self.bot_id: str | None = None
        self.team_id: str | None = None
        self.user_name: str | None = None
        self.team_name: str | None = None

    def learn(self, client: WebClient) -> bool:
        try:
            result = client.auth_test()
        except Exception as error:  # Slack may be down at start-up: the bot works without it
            log.warning("event=slack_auth_test_failed error=%s", type(error).__name__)
            return False
        self.user_id, self.bot_id, self.team_id = result.get("user_id"), result.get("bot_id"), result.get("team_id")
        self.user_name, self.team_name = result.get("user"), result.get("team")
        log.info("event=slack_identity user_id=%s team_id=%s", self.user_id, self.team_id)
        return True


class _NoTokenNotice(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN from the environment even though we hand it a client: drop its
    "token will be unused" warning, which would otherwise appear on every start."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


def build_app(services: Services, identity: BotIdentity) -> App:
    settings = services.settings
    client = WebClient(base_url=settings.slack_api_url, timeout=10)
    token = settings.slack_bot_token

    def authorize(enterprise_id=None, team_id=None, **_) -> AuthorizeResult:
        # Single workspace, static token: no auth.test per request, so acks never wait on Slack.
        return AuthorizeResult(
            enterprise_id=enterprise_id,
            team_id=team_id or identity.team_id,
            bot_token=token,
            bot_user_id=identity.user_id,
            bot_id=identity.bot_id,
        )

    app = App(
        client=client,
        signing_secret=settings.slack_signing_secret,
        authorize=authorize,
        # Listeners run on the HTTP thread and the answer goes back when they return: they
        # only parse, store and ack, and hand any Slack or gateway I/O to services.later().
        process_before_response=True,
        raise_error_for_unhandled_request=False,
        # Every HTTP request is verified once, strictly, by bot/web/slack_edge.py before it gets here
        # (Socket Mode envelopes are not signed); a second check here would read another clock.
        request_verification_enabled=False,
        logger=_bolt_logger(),
    )
    for listeners in (commands, actions, views, events, routine):
        listeners.register(app, services)
    app.error(_error_handler(services))
    return app


def _bolt_logger() -> logging.Logger:
    logger = logging.getLogger("bot.slack.bolt")
    if not any(isinstance(f, _NoTokenNotice) for f in logger.filters):
        logger.addFilter(_NoTokenNotice())
    return logger


SORRY = (
    "Something went wrong on my side while handling this. Check whether it took effect before trying "
    "again; if it keeps happening, tell whoever runs smsbot (the details are in its log)."
)


def _error_handler(services: Services):
    def on_error(error: Exception, request: BoltRequest, body: dict, respond) -> BoltResponse:
        """A listener or middleware raised: one log line, and a sentence for the person, never a 5xx."""
        log.error(
            "event=listener_failed type=%s error=%s",
            body.get("type") or body.get("command") or "unknown",
            type(error).__name__,
            exc_info=error,
        )
        if body.get("type") == "view_submission":  # keep the form open, with its text, and say why at a field
            blocks = list(((body.get("view") or {}).get("state") or {}).get("values") or {})
            if blocks:
                return BoltResponse(status=200, body={"response_action": "errors", "errors": {blocks[0]: SORRY}})
        acked = request.context.ack.response if request.context.ack is not None else None
        if body.get("command") and acked is None:
            return BoltResponse(status=200, body={"response_type": "ephemeral", "text": f":warning: {SORRY}"})
        if respond is not None and not body.get("command"):  # a click: tell them through response_url
            services.later(tell_sorry, respond)
        if acked is not None and acked.status < 500:
            return acked  # what was already acknowledged stays so
        return BoltResponse(status=200, body="")

    return on_error


def tell_sorry(respond) -> None:
    """The sentence for work that failed after the ack, as an aside that leaves the message as it is."""
    respond(text=f":warning: {SORRY}", response_type="ephemeral", replace_original=False)
