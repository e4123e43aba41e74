"""Keep-alive expiry: a gateway connection idle longer than SMSOFFICE_KEEPALIVE_SECONDS is not reused,
so a server that closes idle connections never turns a good send into a false "unconfirmed"."""

import contextlib
import socket
import threading
import time

import pytest

from bot.config.settings import load_settings
from tests.conftest import Driver, base_env

SERVER_IDLE_TIMEOUT = 0.3  # the fake gateway's keep-alive timeout
PAUSE = 0.45  # between sends: longer than that timeout


class ClosingGateway:
    """An HTTP/1.1 gateway on loopback that closes a kept-alive connection idle longer than its timeout.

    Over a long network path the server's close crosses the client's next request; on loopback the
    FIN would arrive first, so this peer models the crossing: a request that arrives on a connection
    idle past the timeout is dropped unanswered, exactly as the far side of such a path sees it.
    """

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        self.answered = 0
        self.dropped = 0
        self._ids = iter(range(1000, 10**6))
        self._sockets: list[socket.socket] = []
        self._threads = [threading.Thread(target=self._accept, name="closing-gateway", daemon=True)]
        self._threads[0].start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}/sms/api/"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            self._sockets.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), name="closing-gateway-conn", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        last_answer = None
        with conn:
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                if last_answer is not None and time.monotonic() - last_answer > SERVER_IDLE_TIMEOUT:
                    self.dropped += 1
                    return  # closed while the request was on its way: no answer
                body = b"100.00" if b"balance.asp" in head.split(b"\r\n")[0] else b"Success:%d:" % next(self._ids)
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                    b"Connection: keep-alive\r\n\r\n%s" % (len(body), body)
                )
                self.answered += 1
                last_answer = time.monotonic()

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (close alone does not)
        except OSError:
            pass
        self.listener.close()
        for conn in self._sockets:  # a client still holding a kept-alive connection must not hold us up
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(5.0)


@pytest.fixture
def gateway():
    server = ClosingGateway()
    yield server
    server.close()


@pytest.fixture
def make_driver(driver_with, gateway):
    def make(keepalive: str) -> Driver:
        return driver_with(
            SMSOFFICE_API_URL=gateway.url, SMSOFFICE_KEEPALIVE_SECONDS=keepalive, SMSBOT_CONFIRM_ABOVE="100"
        )

    return make


def send_with_pauses(driver: Driver, count: int) -> list[str]:
    for n in range(count):
        driver.command(f"send 2783123456{n} Generator running")
        driver.pump()
        time.sleep(PAUSE)
    return [
        m["status"]
        for batch in driver.bot.queue.recent_batches(count)
        for m in driver.bot.queue.messages_of(batch["id"])
    ]


def test_an_idle_connection_is_not_reused_so_no_send_is_falsely_unconfirmed(make_driver, gateway):
    statuses = send_with_pauses(make_driver("0.2"), 5)
    assert statuses == ["sent"] * 5
    assert gateway.dropped == 0 and gateway.connections == 5


def test_without_the_expiry_the_same_server_loses_sends(make_driver, gateway):
    # the control: proves the fake gateway really causes the fault the expiry prevents
    statuses = send_with_pauses(make_driver("60"), 3)
    # the second send hits the idle connection; the third opens a new one after that close
    assert statuses.count("unconfirmed") == 1 and gateway.dropped == 1


def test_a_burst_reuses_one_connection(make_driver, gateway):
    driver = make_driver("0.2")
    driver.command("send " + ",".join(f"2783123456{n}" for n in range(8)) + " Drill at 3pm")
    driver.pump()
    assert [m["status"] for m in driver.bot.queue.messages_of(1)] == ["sent"] * 8
    # one connection carries the burst; on a loaded machine a pause past the 0.2 s expiry may open one
    # more (rightly), but never one per SMS, and none is dropped
    assert gateway.answered == 8 and gateway.dropped == 0 and gateway.connections <= 2


def test_the_setting_defaults_to_3_seconds(tmp_path):
    assert load_settings(base_env(tmp_path)).smsoffice_keepalive_seconds == 3.0
