"""The test proxy itself: bytes pass both ways; cut() and refuse() fail the client as a real network fault does."""

import socket
import threading

import pytest

from tests.tcp_proxy import TcpProxy


@pytest.fixture
def echo_server():
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    echoes: list[threading.Thread] = []

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            echoes.append(threading.Thread(target=echo, args=(conn,), daemon=True))
            echoes[-1].start()

    def echo(conn):
        with conn:
            try:
                while data := conn.recv(4096):
                    conn.sendall(data)
            except OSError:
                pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    for each in [thread, *echoes]:
        each.join(timeout=5)
    server.close()


def test_bytes_pass_both_ways_until_cut_which_resets_the_client(echo_server):
    proxy = TcpProxy("127.0.0.1", echo_server).start()
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as client:
            client.sendall(b"ping")
            assert client.recv(4) == b"ping"
            assert proxy.cut() == 1
            with pytest.raises(OSError):  # reset (or an empty read then a reset on send)
                if client.recv(4) == b"":
                    client.sendall(b"x" * 65536)
                    client.sendall(b"x" * 65536)
    finally:
        proxy.stop()


def test_refused_connections_fail_at_once_until_restored(echo_server):
    proxy = TcpProxy("127.0.0.1", echo_server).start()
    try:
        proxy.refuse()
        with pytest.raises(OSError), socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as client:
            if client.recv(4) == b"":  # reset at connect, at the first read, or closed at once
                raise ConnectionResetError("closed at once")
        proxy.restore()
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as client:
            client.sendall(b"back")
            assert client.recv(4) == b"back"
    finally:
        proxy.stop()
