"""``python -m bench.notify_push``: does sending Web Push slow the live fan-out or the posts?

One server process (SQLite), R live WebSocket readers on one incident, updates POSTed at a
steady rate; two phases in one run, side by side:

* **without**: the incident has N Web Push subscriptions (level "important"), and the
  updates are posted with ``notify: false``: nobody is pushed to;
* **with**: the first update of the phase is posted with ``notify: true``: N pushes go out
  (encrypted, VAPID-signed, POSTed to a local push service in another process answering 201)
  while the same steady updates go on.

Reported: live p50/p99 (POST start -> a reader has the event), POST p50/p99, pushes received
during the phase and how long the N pushes took. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def push_service(port: int, counter: Any) -> None:
    """A push service answering 201 to everything (its own process); counts messages."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length")), 0)  # fmt: skip
                await reader.readexactly(length)
                with counter.get_lock():
                    counter.value += 1
                writer.write(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(serve, "127.0.0.1", port, backlog=1024)
        await server.serve_forever()

    asyncio.run(main())


async def make_subscriptions(url: str, incident: str, count: int, endpoint: str) -> None:
    os.environ["INCIDENTS_PUSH_ALLOW_PRIVATE"] = "true"
    from broadcaster.config import Settings
    from broadcaster.notify import ChannelName, Level, Subscriptions
    from broadcaster.notify.rules import SubscriptionRequest
    from broadcaster.stores import open_backend

    backend = open_backend(url)
    await backend.start()
    subs = Subscriptions(backend, Settings(backend=url))
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    raw = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    p256dh = base64.urlsafe_b64encode(raw).rstrip(b"=").decode()
    auth = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
    for n in range(count):
        push = {"endpoint": f"{endpoint}/{n}", "keys": {"p256dh": p256dh, "auth": auth}}
        await subs.create(SubscriptionRequest(ChannelName.WEBPUSH, incident, None, Level.IMPORTANT, "en",
                                              True, {"push": push}))  # fmt: skip
    await backend.close()


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else float("nan")


async def phase(base: str, token: str, incident: str, readers: int, rate: float, duration: float,
                push: bool, counter: Any) -> dict[str, Any]:  # fmt: skip
    ws_base = base.replace("http://", "ws://")
    sockets = [
        await connect(f"{ws_base}/api/incidents/{incident}/live", max_queue=None) for _ in range(readers)
    ]
    sent: dict[int, float] = {}
    got: list[tuple[int, float]] = []

    async def read(ws: Any) -> None:
        async for raw in ws:
            seq = json.loads(raw).get("seq")
            if isinstance(seq, int):
                got.append((seq, time.perf_counter()))

    tasks = [asyncio.create_task(read(ws)) for ws in sockets]
    posts: list[float] = []
    pushed_at_start = counter.value
    async with httpx.AsyncClient(
        base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30
    ) as http:
        started = time.perf_counter()
        n = 0
        while time.perf_counter() - started < duration:
            at = time.perf_counter()
            body = {"body": f"update {n}: water", "notify": push and n == 0}
            answer = await http.post(f"/api/incidents/{incident}/updates", json=body)
            posts.append(time.perf_counter() - at)
            assert answer.status_code == 201, answer.text
            sent[int(answer.json()["seq"])] = at
            n += 1
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
        await asyncio.sleep(2)
    live = [t - sent[seq] for seq, t in got if seq in sent]
    for task in tasks:
        task.cancel()
    for ws in sockets:
        await ws.close()
    return {
        "phase": "with pushes" if push else "without pushes",
        "updates": n,
        "live_p50_ms": pct(live, 0.5),
        "live_p99_ms": pct(live, 0.99),
        "post_p50_ms": pct(posts, 0.5),
        "post_p99_ms": pct(posts, 0.99),
        "deliveries": len(live),
        "pushes": counter.value - pushed_at_start,
    }


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.notify_push", description=__doc__)
    p.add_argument("--subscriptions", type=int, default=10_000)
    p.add_argument("--readers", type=int, default=1000)
    p.add_argument("--rate", type=float, default=10.0)
    p.add_argument("--duration", type=float, default=30.0)
    o = p.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-push-"))
    url = f"sqlite:///{work / 'bench.db'}"
    incidents = [sys.executable, str(ROOT / "incidents.py")]
    token = subprocess.run([*incidents, "operator", "add", "bench", "--admin", "--backend", url],
                           check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
    counter = multiprocessing.Value("q", 0)
    push_port = free_port()
    service = multiprocessing.Process(target=push_service, args=(push_port, counter), daemon=True)
    service.start()
    port = free_port()
    env = {**os.environ, "INCIDENTS_PUSH_ALLOW_PRIVATE": "true"}
    log = (work / "server.log").open("wb")
    serve = [*incidents, "serve", "--port", str(port), "--backend", url, "--log-level", "warning"]
    server = subprocess.Popen(serve, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        incident = httpx.post(f"{base}/api/incidents", json={"title": "bench"},
                              headers={"Authorization": f"Bearer {token}"}).json()["id"]  # fmt: skip
        made = time.perf_counter()
        asyncio.run(make_subscriptions(url, incident, o.subscriptions, f"http://127.0.0.1:{push_port}/push"))
        print(f"{o.subscriptions} subscriptions made in {time.perf_counter() - made:.0f} s", flush=True)
        rows = []
        for push in (False, True):
            began = time.perf_counter()
            row = asyncio.run(phase(base, token, incident, o.readers, o.rate, o.duration, push, counter))
            if push:
                while counter.value < o.subscriptions and time.perf_counter() - began < 600:
                    time.sleep(0.2)
                row["all_pushed_s"] = round(time.perf_counter() - began, 1)
                row["pushes_total"] = counter.value
            rows.append(row)
            print(json.dumps(row), flush=True)
        print("| phase | updates | live p50 / p99 ms | POST p50 / p99 ms | pushes during phase |")
        for r in rows:
            print(f"| {r['phase']} | {r['updates']} | {r['live_p50_ms']:.1f} / {r['live_p99_ms']:.1f} | "
                  f"{r['post_p50_ms']:.1f} / {r['post_p99_ms']:.1f} | {r['pushes']} |")  # fmt: skip
    finally:
        server.terminate()
        server.wait(15)
        service.terminate()


if __name__ == "__main__":
    main()
