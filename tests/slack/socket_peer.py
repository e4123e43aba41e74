"""A Socket Mode peer on loopback, modelled on python-slack-sdk's mock Socket Mode server.

One TCP port serves both halves of Slack's side: ``POST /api/apps.connections.open`` answers a
``ws://`` URL, and a websocket at that URL (RFC 6455, written here on raw sockets) sends ``hello``,
answers pings with pongs, delivers envelopes, records the acks (with the time each arrived) and can
ask for a refresh (``disconnect``) or go silent like a dead network path.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import socket
import struct
import threading
import time
import uuid

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, CLOSE, PING, PONG = 0x1, 0x8, 0x9, 0xA


class PeerConnection:
    """One websocket from the client."""

    def __init__(self, sock: socket.socket, number: int) -> None:
        self.sock, self.number = sock, number
        self.silent = False  # a dead path: nothing read, nothing answered, nothing closed
        self.closed = threading.Event()
        self._send_lock = threading.Lock()

    def send_frame(self, opcode: int, payload: bytes) -> None:
        size = len(payload)
        if size < 126:
            head = struct.pack("!BB", 0x80 | opcode, size)
        elif size < 1 << 16:
            head = struct.pack("!BBH", 0x80 | opcode, 126, size)
        else:
            head = struct.pack("!BBQ", 0x80 | opcode, 127, size)
        with self._send_lock:
            self.sock.sendall(head + payload)

    def send_json(self, message: dict) -> None:
        self.send_frame(TEXT, json.dumps(message).encode())

    def read_frame(self) -> tuple[int, bytes]:
        first, second = self._read(2)
        size = second & 0x7F
        if size == 126:
            size = struct.unpack("!H", self._read(2))[0]
        elif size == 127:
            size = struct.unpack("!Q", self._read(8))[0]
        mask = self._read(4) if second & 0x80 else b"\0\0\0\0"
        data = self._read(size)
        return first & 0x0F, bytes(b ^ mask[i % 4] for i, b in enumerate(data))

    def _read(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed by the client")
            data += chunk
        return data


class SocketModePeer:
    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.connections: list[PeerConnection] = []
        self.opened = 0  # apps.connections.open calls
        self.acks: dict[str, float] = {}  # envelope_id → monotonic time its ack arrived
        self.sent: dict[str, float] = {}  # envelope_id → monotonic time it was sent
        self.answers: dict[str, dict] = {}  # envelope_id → the ack's payload
        self.refuse_websockets = False  # answer the upgrade with 503, as during a Slack incident
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._start(self._accept, name="socket-peer")

    def _start(self, target, *args, name: str = "socket-peer-conn") -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        self._threads.append(thread)
        thread.start()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def stop(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept() (close alone does not)
        except OSError:
            pass
        self.listener.close()
        for conn in list(self.connections):
            conn.silent = False
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)
            conn.sock.close()
        for thread in self._threads:
            thread.join(2.0)

    # -- what tests call ---------------------------------------------------------------------
    def wait_for_connections(self, count: int, timeout: float = 10.0) -> PeerConnection:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if len(self.connections) >= count:
                return self.connections[count - 1]
            time.sleep(0.01)
        raise AssertionError(f"{count} websocket connection(s) expected, {len(self.connections)} made")

    def send_command(self, conn: PeerConnection, text: str, **fields) -> str:
        envelope_id = str(uuid.uuid4())
        payload = {
            "token": "x",
            "team_id": "T0TEST",
            "channel_id": "C0GENERAL",
            "channel_name": "general",
            "user_id": "U0USER",
            "user_name": "alice",
            "command": "/sms",
            "text": text,
            "api_app_id": "A0TEST",
            "response_url": "http://127.0.0.1:9/r",
            "trigger_id": f"{uuid.uuid4().int}",
            **fields,
        }
        with self._lock:
            self.sent[envelope_id] = time.monotonic()
        conn.send_json(
            {"envelope_id": envelope_id, "payload": payload, "type": "slash_commands", "accepts_response_payload": True}
        )
        return envelope_id

    def request_refresh(self, conn: PeerConnection) -> None:
        conn.send_json(
            {
                "type": "disconnect",
                "reason": "refresh_requested",
                "num_connections": 1,
                "debug_info": {"host": "applink-test"},
            }
        )

    def close_connection(self, conn: PeerConnection) -> None:
        """What Slack does to the old websocket some seconds after a refresh warning."""
        conn.send_frame(CLOSE, struct.pack("!H", 1000) + b"refreshed")

    def ack_seconds(self, envelope_id: str, timeout: float = 10.0) -> float:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            with self._lock:
                if envelope_id in self.acks:
                    return self.acks[envelope_id] - self.sent[envelope_id]
            time.sleep(0.005)
        return float("inf")

    # -- the server ----------------------------------------------------------------------------
    def _accept(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            self._start(self._serve, sock)

    def _serve(self, sock: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                sock.close()
                return
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        if "apps.connections.open" in lines[0]:
            self._open(sock, headers, rest)
        elif headers.get("upgrade", "").lower() == "websocket" and not self.refuse_websockets:
            self._websocket(sock, headers)
        elif headers.get("upgrade"):
            sock.sendall(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            sock.close()
        else:
            sock.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            sock.close()

    def _open(self, sock: socket.socket, headers: dict, rest: bytes) -> None:
        length = int(headers.get("content-length", "0"))
        while len(rest) < length:
            rest += sock.recv(4096)
        with self._lock:
            self.opened += 1
            n = self.opened
        body = json.dumps({"ok": True, "url": f"ws://127.0.0.1:{self.port}/link/?ticket={n}"}).encode()
        sock.sendall(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: close\r\n\r\n%s" % (len(body), body)
        )
        sock.close()

    def _websocket(self, sock: socket.socket, headers: dict) -> None:
        accept = base64.b64encode(hashlib.sha1(headers["sec-websocket-key"].encode() + _GUID).digest())
        sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )
        with self._lock:
            conn = PeerConnection(sock, len(self.connections) + 1)
            self.connections.append(conn)
        conn.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0TEST"}})
        try:
            self._frames(conn)
        except (ConnectionError, OSError):
            pass
        finally:
            conn.closed.set()

    def _frames(self, conn: PeerConnection) -> None:
        while True:
            if conn.silent:
                time.sleep(0.05)
                continue
            opcode, data = conn.read_frame()
            if conn.silent:
                continue  # it arrived after the path died: lost
            if opcode == PING:
                conn.send_frame(PONG, data)
            elif opcode == CLOSE:
                conn.send_frame(CLOSE, data[:2])
                return
            elif opcode == TEXT:
                message = json.loads(data)
                if "envelope_id" in message:
                    with self._lock:
                        self.acks.setdefault(message["envelope_id"], time.monotonic())
                        self.answers.setdefault(message["envelope_id"], message.get("payload") or {})
