"""Socket Mode against a websocket peer: dead sockets found, `connected` only when up, acks on time
through a `disconnect` refresh."""

import logging
import time

import pytest

from bot.slack.socketmode import PING_INTERVAL, SocketMode
from tests.conftest import wait_for
from tests.slack.socket_peer import SocketModePeer

FAST_PING = 0.5


@pytest.fixture
def peer():
    server = SocketModePeer()
    yield server
    server.stop()


@pytest.fixture
def socket_mode(bot, peer):
    started = []

    def start(ping_interval=FAST_PING) -> SocketMode:
        mode = SocketMode(bot.app, "xapp-1-A0TEST-test", peer.api_url, ping_interval=ping_interval)
        mode.start()
        started.append(mode)
        return mode

    yield start
    for mode in started:
        mode.stop()


def connected_lines(caplog):
    return [r for r in caplog.records if "event=socket_mode_connected" in r.getMessage()]


def test_connected_is_logged_only_once_a_websocket_is_really_up(socket_mode, peer, caplog):
    caplog.set_level(logging.INFO, logger="bot.slack.socketmode")
    peer.refuse_websockets = True
    mode = socket_mode()
    assert wait_for(lambda: peer.opened >= 2, timeout=10)  # it tried, and is trying again
    assert connected_lines(caplog) == [] and not mode.connected.is_set()
    peer.refuse_websockets = False
    peer.wait_for_connections(1)
    assert wait_for(lambda: len(connected_lines(caplog)) == 1, timeout=5) and mode.connected.is_set()


def test_a_silently_dead_socket_is_replaced(socket_mode, peer):
    socket_mode()
    first = peer.wait_for_connections(1)
    peer.send_command(first, "help")
    first.silent = True  # no FIN, no RST: pongs just stop
    died = time.monotonic()
    second = peer.wait_for_connections(2, timeout=15)
    assert time.monotonic() - died < 5 * FAST_PING + 3.5  # pong timeout plus the old socket's read timeout
    envelope = peer.send_command(second, "help")
    assert peer.ack_seconds(envelope) < 1.0


def test_the_production_ping_interval_finds_a_dead_socket_within_15_seconds():
    # stale after 4 intervals without a pong, checked every interval
    assert 5 * PING_INTERVAL <= 15


def test_envelopes_are_acked_promptly_through_a_disconnect_refresh(socket_mode, peer):
    socket_mode()
    old = peer.wait_for_connections(1)
    warm = peer.send_command(old, "help")
    assert peer.ack_seconds(warm) < 1.0
    peer.request_refresh(old)
    on_old = peer.send_command(old, "help")  # Slack may still deliver on the old socket
    new = peer.wait_for_connections(2)
    on_new = peer.send_command(new, "help")
    delays = {name: peer.ack_seconds(envelope) for name, envelope in (("old", on_old), ("new", on_new))}
    assert all(delay < 1.5 for delay in delays.values()), delays
    assert "/sms send" in peer.answers[on_new]["text"]  # the help text came back as the ack
    peer.close_connection(old)  # as Slack does shortly after its warning
    assert wait_for(lambda: old.closed.is_set(), timeout=5)  # and the client lets it go
