"""A TCP proxy on 127.0.0.1 for causing network faults between smsbot and a server (PostgreSQL).

``cut()`` resets every connection open through it now (as a dead network path or a server restart
would); ``refuse()`` makes new connections fail at once (the server unreachable) until ``restore()``.
Real sockets and threads: the client sees exactly what it would see on a real network.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading


class TcpProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._threads: list[threading.Thread] = []
        self._refusing = False
        self._stopped = threading.Event()
        self.accepted = 0

    def start(self) -> TcpProxy:
        self._spawn(self._accept_loop, "tcp-proxy-accept")
        return self

    def _spawn(self, target, name: str, *args) -> None:
        thread = threading.Thread(target=target, args=args, name=name, daemon=True)
        with self._lock:
            self._threads = [t for t in self._threads if t.is_alive()]
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        self._listener.settimeout(0.1)  # so stop() is seen within 0.1 s
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            if self._refusing:
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._pairs.append((client, upstream))
                self.accepted += 1
            self._spawn(self._pipe, "tcp-proxy-up", client, upstream)
            self._spawn(self._pipe, "tcp-proxy-down", upstream, client)

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def cut(self) -> int:
        """Reset every connection open now; returns how many there were."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for client, upstream in pairs:
            _reset(client)
            _reset(upstream)
        return len(pairs)

    def refuse(self) -> None:
        """Cut everything and refuse new connections until restore()."""
        self._refusing = True
        self.cut()

    def restore(self) -> None:
        self._refusing = False

    def stop(self) -> None:
        self._stopped.set()
        self.cut()
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(timeout=5)
        self._listener.close()


def _reset(sock: socket.socket) -> None:
    """Close with RST (SO_LINGER 0), as a dropped path or a killed server does, not a polite FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RD)  # wakes our pipe thread blocked in recv(), sends nothing
    with contextlib.suppress(OSError):
        sock.close()
