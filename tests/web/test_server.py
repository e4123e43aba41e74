"""The HTTP listener's lifecycle: a free port on request, and a stop that lets answers already under way
go out before the port closes."""

import socket
import threading

import pytest
import requests

from bot.web.server import ServerThread
from tests.conftest import wait_for


def hello(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"hello"]


def test_port_zero_serves_on_a_free_port_and_stop_closes_it():
    server = ServerThread(hello, name="test-http").start()
    try:
        assert server.port > 0 and server.is_alive()
        assert requests.get(server.url, timeout=5).text == "hello"
    finally:
        server.stop()
    assert not server.is_alive()
    with pytest.raises(requests.ConnectionError):
        requests.get(server.url, timeout=2)


def test_stop_lets_a_request_in_progress_finish_with_its_answer():
    entered, release = threading.Event(), threading.Event()

    def slow(environ, start_response):
        entered.set()
        release.wait(5)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"finished"]

    server = ServerThread(slow, name="test-http").start()
    answers = []
    client = threading.Thread(target=lambda: answers.append(requests.get(server.url, timeout=10).text))
    client.start()
    assert entered.wait(5)
    stopper = threading.Thread(target=server.stop, kwargs={"timeout": 5})
    stopper.start()
    assert wait_for(lambda: _refused(server.port))  # no new connections while the last answer is written
    release.set()
    client.join(10)
    stopper.join(10)
    assert answers == ["finished"] and not server.is_alive()


def test_the_url_is_loopback_when_listening_on_every_interface():
    server = ServerThread(hello, host="0.0.0.0", name="test-http").start()
    try:
        assert server.url == f"http://127.0.0.1:{server.port}"
        assert requests.get(server.url, timeout=5).text == "hello"
    finally:
        server.stop()


def _refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return True
    return False
