"""What every peer shares: the message it publishes and its command line.

A peer's message carries what the load client reads from the product's events: a
per-topic ``seq`` and an ``at`` time (RFC 3339, UTC, milliseconds, stamped when the
publish request is handled), padded with ``data`` to exactly ``size`` bytes of JSON.
"""

from __future__ import annotations

import argparse
import resource
import time


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def rfc3339_now() -> str:
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1000):03d}Z"


def message(topic: str, seq: int, size: int) -> str:
    head = f'{{"topic":"{topic}","seq":{seq},"at":"{rfc3339_now()}","data":"'
    return head + "x" * max(0, size - len(head) - 2) + '"}'


def args(description: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True, help="WebSocket (and HTTP, for ASGI peers)")
    parser.add_argument("--http-port", type=int, help="publish/stats side channel (websockets floor)")
    return parser.parse_args()
