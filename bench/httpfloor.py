"""The HTTP server's own ceiling on this machine: smsbot's ServerThread (waitress, 8 threads), as ``smsbot run``
starts it, serving a WSGI app that does nothing. Requests per second against it,
driven as the report intake is, say how much of the intake figure is the server and the machine.

Run by bench/measures.py as ``python -m bench.httpfloor`` from the repo root: prints its port, serves until
its standard input closes.
"""

from __future__ import annotations

import sys

from bot.web.server import ServerThread


def _empty(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "3")])
    return [b"OK\n"]


def main() -> None:
    server = ServerThread(_empty, "127.0.0.1", 0, name="http", threads=8)
    server.start()
    print(server.port, flush=True)
    sys.stdin.read()  # until the benchmark closes it
    server.stop()


if __name__ == "__main__":
    main()
