"""Waits until every URL answers HTTP 200, or a watched process dies, or time runs out.

python -m scripts.wait_ready URL [URL ...] [--pids PID ...] [--timeout SECONDS]
                             [--warm-up ACTION_SERVER_URL]

--warm-up then asks the action server for one search, so that the catalog index and the
gazetteer (a few seconds to build) are ready before the first person asks.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.request


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def warm_up(actions_url: str) -> bool:
    call = {
        "next_action": "action_search_services",
        "sender_id": "warm-up",
        "tracker": {
            "sender_id": "warm-up",
            "slots": {},
            "latest_message": {},
            "events": [],
        },
        "domain": {},
    }
    request = urllib.request.Request(
        actions_url.rstrip("/") + "/webhook",
        data=json.dumps(call).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("urls", nargs="+")
    parser.add_argument("--pids", nargs="*", type=int, default=[])
    parser.add_argument("--timeout", type=float, default=180)
    parser.add_argument("--warm-up", metavar="ACTION_SERVER_URL")
    args = parser.parse_args()
    deadline = time.monotonic() + args.timeout
    waiting = list(args.urls)
    while waiting:
        dead = [p for p in args.pids if not alive(p)]
        if dead:
            print(f"A server exited while starting (pid {dead[0]}).", file=sys.stderr)
            return 1
        if time.monotonic() > deadline:
            print(
                f"Not ready after {args.timeout:.0f} s: {', '.join(waiting)}",
                file=sys.stderr,
            )
            return 1
        waiting = [u for u in waiting if not answers(u)]
        if waiting:
            time.sleep(0.5)
    if args.warm_up and not warm_up(args.warm_up):
        print("The action server did not answer a first search.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
