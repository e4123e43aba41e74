"""The client for the ack figure: signed ``/sms send`` slash commands, one recipient each, back to back
over one keep-alive connection, each round trip timed.

Run as its own process, as Slack is: in the benchmark's process it would share a GIL with the simulator
and the fake Slack, which are busy with the bot's sends of the earlier commands, and their work would be
timed as the bot's. Prints one JSON line: {"ms": [...]}.

    python bench/ackclient.py --url http://127.0.0.1:PORT/slack/events --secret S \
        --response-url http://127.0.0.1:PORT2/response --n 500 --warmup 20 --first 27830000001
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bot.testing from the repo root

from bot.testing.slack_requests import command_body, sign  # noqa: E402

CHANNEL = "C0BENCH"
TEXT = "Benchmark: generator running on backup power"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the bot's /slack/events")
    parser.add_argument("--secret", required=True, help="the signing secret")
    parser.add_argument("--response-url", required=True, help="the fake Slack's response_url prefix")
    parser.add_argument("--n", type=int, required=True, help="commands timed")
    parser.add_argument("--warmup", type=int, default=20, help="commands sent first, not timed")
    parser.add_argument("--first", type=int, required=True, help="first recipient; the next ones follow")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    session = requests.Session()
    timings = []
    for i in range(args.warmup + args.n):
        body = command_body(
            f"send {args.first + i} {TEXT}",
            channel_id=CHANNEL,
            channel_name="bench",
            response_url=f"{args.response_url}ack{i}",
            trigger_id=f"{os.getpid()}.{time.time_ns()}.{i}",  # never one the benchmark's process gave out
        )
        headers = sign(args.secret, body)
        started = time.perf_counter()
        response = session.post(args.url, data=body, headers=headers, timeout=30)
        elapsed = time.perf_counter() - started
        text = response.json().get("text", "") if response.status_code == 200 else response.text
        if "Queued 1 SMS" not in text:
            print(f"/sms send was not queued: HTTP {response.status_code} {text[:200]!r}", file=sys.stderr)
            return 1
        if i >= args.warmup:
            timings.append(elapsed * 1000)
    print(json.dumps({"ms": timings}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
