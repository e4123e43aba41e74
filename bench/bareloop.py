"""The baseline for the drain figure: a bare keep-alive loop of sendsms calls.

Run as its own process (like the bot), so it does not share a GIL with the
simulator it calls. Prints one JSON line: {"seconds": ..., "n": ...}.

    python bench/bareloop.py --api-url http://127.0.0.1:PORT/sms/api/ --n 1000 \
        --username U --password P --sender BENCH --first 27830000001
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import requests


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-url", required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--sender", required=True)
    parser.add_argument("--text", default="Benchmark: generator running on backup power")
    parser.add_argument("--first", type=int, required=True, help="first recipient; the next n-1 follow")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    session = requests.Session()
    credentials = {"username": args.username, "password": args.password}
    # Open the connection first, as the bot's sender has done by the time it drains.
    session.get(args.api_url + "balance.asp", params=credentials, timeout=15).raise_for_status()
    started = time.perf_counter()
    for i in range(args.n):
        params = {**credentials, "from": args.sender, "to": str(args.first + i), "message": args.text}
        answer = session.get(args.api_url + "sendsms.asp", params=params, timeout=15).text
        if not answer.startswith("Success:"):
            print(f"sendsms refused: {answer!r}", file=sys.stderr)
            return 1
    print(json.dumps({"seconds": time.perf_counter() - started, "n": args.n}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
