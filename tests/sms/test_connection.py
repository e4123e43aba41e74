"""The gateway's one HTTP connection (bot/sms/connection.py): kept alive between calls, and cut at once
by another thread when a call hangs (shutdown does not wait for a read timeout)."""

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from bot.sms.connection import InterruptibleAdapter, one_connection_session


class Balance(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as SMS Office answers
    peers: set = set()

    def do_GET(self):
        Balance.peers.add(self.client_address)
        body = b"500.00"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def gateway():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Balance)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="test-gateway")
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/sms/api/"
    server.shutdown()
    server.server_close()
    thread.join()


def test_calls_reuse_one_kept_alive_connection(gateway):
    Balance.peers = set()
    adapter = InterruptibleAdapter(pool_connections=1, pool_maxsize=1)
    with one_connection_session(gateway, adapter) as session:
        answers = [session.get(gateway + "balance.asp", timeout=5).text for _ in range(3)]
    assert answers == ["500.00"] * 3
    assert len(Balance.peers) == 1  # one TCP connection for all three calls


def test_interrupt_cuts_a_call_blocked_on_a_silent_gateway_at_once():
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts the connection, never answers
    adapter = InterruptibleAdapter()
    session = one_connection_session("http://127.0.0.1/", adapter)
    outcome = []

    def call():
        try:
            session.get(f"http://127.0.0.1:{silent.getsockname()[1]}/sms/api/balance.asp", timeout=30)
        except requests.RequestException as error:
            outcome.append(error)

    caller = threading.Thread(target=call, name="test-caller")
    try:
        caller.start()
        deadline = time.monotonic() + 5
        while not adapter.interrupt() and time.monotonic() < deadline:  # once the call is on the wire
            time.sleep(0.01)
        started = time.monotonic()
        caller.join(5)
        assert not caller.is_alive() and time.monotonic() - started < 2  # not the 30 s read timeout
        assert isinstance(outcome[0], requests.ConnectionError)
    finally:
        session.close()
        silent.close()


def test_nothing_to_cut_when_no_call_is_on_the_wire():
    assert InterruptibleAdapter().interrupt() is False
