"""The gateway's one HTTP connection: a requests session whose connection another thread can cut
(``session.close()`` only closes idle connections, so a call blocked in a read would wait for its
timeout, and shutdown with it)."""

from __future__ import annotations

import contextlib
import os
import socket
import weakref

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class InterruptibleAdapter(HTTPAdapter):
    """requests' adapter whose connections another thread can cut: ``session.close()`` only closes
    idle ones, so a call blocked in a read would wait for its timeout."""

    def __init__(self, **kwargs) -> None:
        self.connections: weakref.WeakSet = weakref.WeakSet()
        super().__init__(**kwargs)

    def init_poolmanager(self, *args, **kwargs) -> None:
        super().init_poolmanager(*args, **kwargs)
        tracked = self.connections

        def tracking(pool_class):
            base = pool_class.ConnectionCls

            def new_conn(conn):
                tracked.add(conn)
                return base._new_conn(conn)

            connection_class = type(f"Tracked{base.__name__}", (base,), {"_new_conn": new_conn})
            return type(f"Tracked{pool_class.__name__}", (pool_class,), {"ConnectionCls": connection_class})

        self.poolmanager.pool_classes_by_scheme = {
            "http": tracking(HTTPConnectionPool),
            "https": tracking(HTTPSConnectionPool),
        }

    def interrupt(self) -> bool:
        cut = False
        for conn in list(self.connections):
            sock = getattr(conn, "sock", None)
            try:
                # shutdown() on a duplicate of its descriptor: the socket object (TLS or not) stays
                # untouched for the thread blocked in it, which sees the connection end at once
                dup = socket.socket(fileno=os.dup(sock.fileno())) if sock is not None else None
            except (OSError, ValueError):
                continue
            if dup is not None:
                with dup, contextlib.suppress(OSError):
                    dup.shutdown(socket.SHUT_RDWR)
                    cut = True
        return cut


def one_connection_session(base_url: str, adapter: HTTPAdapter) -> requests.Session:
    session = requests.Session()
    # Read the proxy and CA settings from the environment once, not on every request
    # (requests re-reads them per call when trust_env is on: ~12% of the sender's time).
    session.proxies = requests.utils.get_environ_proxies(base_url)
    session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    session.trust_env = False
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
