"""Events: the App Home tab."""

from __future__ import annotations

import logging

from bot.slack import render
from bot.usecases.services import Services

log = logging.getLogger(__name__)

HOME_SENDS = 10


def register(app, services: Services) -> None:
    @app.event("app_home_opened")
    def home(event, client):
        if event.get("tab", "home") == "home":
            services.later(publish_home, event["user"], client, services)


def publish_home(user_id: str, client, services: Services) -> None:
    """After the ack: the App Home tab from stored state (no gateway call)."""
    refusal = services.access.may_use(user_id)
    if refusal:  # numbers and history are for the people allowed to use the bot
        client.views_publish(user_id=user_id, view=render.home_refused(refusal))
        return
    last = services.reading.last_balance()
    usage = services.reading.usage(last[0] if last else None)
    sends = services.reading.history(services.access.viewer(user_id), HOME_SENDS)  # no channel here: their own only
    view = render.home(
        last, usage, services.settings.low_balance, sends, services.groups.sizes(), services.settings.retention_days
    )
    client.views_publish(user_id=user_id, view=view)
