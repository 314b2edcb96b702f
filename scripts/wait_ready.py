"""Waits until every URL answers HTTP 200, or a watched process dies, or time runs out.

python -m scripts.wait_ready URL [URL ...] [--pids PID ...] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
