"""Publisher: posts updates through the server's real HTTP API and times each POST.

Runs in its own process. ``rate`` > 0: open loop, post ``i`` is sent at ``start + i/rate``
over a pool of keep-alive connections (a slow answer never delays the next post);
``rate`` = 0: saturation, ``concurrency`` connections each posting back to back until
``duration`` is over. Topics are taken round-robin.

Also the small blocking HTTP helper the orchestrator uses for set-up (loopback only, no
proxies).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
import urllib.request
from typing import Any

_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def http(method: str, url: str, body: object = None, token: str | None = None, timeout: float = 30) -> Any:
    """A blocking JSON request to a loopback server (set-up only, never timed)."""
    assert url.startswith("http://127."), url
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    with _DIRECT.open(request, timeout=timeout) as answer:
        return json.loads(answer.read() or b"null")


class HTTPConnection:
    """HTTP/1.1 keep-alive over asyncio streams; answers must carry Content-Length."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, path: str, body: bytes, headers: str) -> tuple[int, bytes]:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        try:
            self.writer.write(
                f"{method} {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n{headers}"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            head = await self.reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            close = False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"connection" and value.strip().lower() == b"close":
                    close = True
            answer = await self.reader.readexactly(length)
            if close:
                self.close()
            return status, answer
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def publish(cfg: dict[str, Any]) -> dict[str, Any]:
    host, port, topics = cfg["host"], cfg["port"], cfg["topics"]
    headers = f"Authorization: Bearer {cfg['token']}\r\n" if cfg.get("token") else ""
    product = cfg["kind"] == "product"
    records: list[tuple[float, float, int, str, int]] = []  # sent, seconds, status, topic, seq
    errors: dict[str, int] = {}
    pool: asyncio.Queue[HTTPConnection] = asyncio.Queue()
    for _ in range(cfg["concurrency"]):
        pool.put_nowait(HTTPConnection(host, port))
    filler = "x" * cfg["body_chars"]
    counter = 0

    def body(i: int) -> bytes:
        if product:
            text = f"bench {i} {filler}"[: max(cfg["body_chars"], 8)]
            return json.dumps({"body": text}).encode()
        return json.dumps({"size": cfg["size"]}).encode()

    async def post(i: int, topic: str) -> None:
        connection = await pool.get()
        path = cfg["path"].format(topic=topic)
        sent = time.time()
        started = time.perf_counter()
        try:
            status, answer = await asyncio.wait_for(connection.request("POST", path, body(i), headers), 30)
            seconds = time.perf_counter() - started
            seq = int(json.loads(answer).get("seq", 0)) if 200 <= status < 300 else 0
            records.append((sent, seconds, status, topic, seq))
        except Exception as exc:
            key = type(exc).__name__
            errors[key] = errors.get(key, 0) + 1
            records.append((sent, time.perf_counter() - started, 0, topic, 0))
        finally:
            pool.put_nowait(connection)

    start = time.time() + 0.05
    deadline = start + cfg["duration"]
    tasks: list[asyncio.Task[None]] = []
    if cfg["rate"] > 0:
        total = int(cfg["duration"] * cfg["rate"])
        for i in range(total):
            delay = start + i / cfg["rate"] - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post(i, topics[i % len(topics)])))
    else:

        async def worker(w: int) -> None:
            nonlocal counter
            while time.time() < deadline:
                counter += 1
                await post(counter, topics[counter % len(topics)])

        await asyncio.sleep(max(0.0, start - time.time()))
        tasks = [asyncio.create_task(worker(w)) for w in range(cfg["concurrency"])]
    if tasks:
        await asyncio.wait(tasks, timeout=cfg["duration"] + 35)
    for task in tasks:
        task.cancel()
    while not pool.empty():
        pool.get_nowait().close()
    ok = [r for r in records if 200 <= r[2] < 300]
    times = sorted(r[1] for r in ok)
    statuses: dict[str, int] = {}
    for r in records:
        statuses[str(r[2])] = statuses.get(str(r[2]), 0) + 1
    finals: dict[str, int] = {}
    for r in ok:
        finals[r[3]] = max(finals.get(r[3], 0), r[4])

    def pct(q: float) -> float | None:
        return times[min(len(times) - 1, int(q * len(times)))] * 1000 if times else None

    first = min((r[0] for r in records), default=start)
    last = max((r[0] + r[1] for r in records), default=start)
    return {
        "posts": len(records),
        "ok": len(ok),
        "statuses": statuses,
        "errors": errors,
        "post_p50_ms": pct(0.50),
        "post_p99_ms": pct(0.99),
        "post_max_ms": times[-1] * 1000 if times else None,
        "first_sent": first,
        "last_done": last,
        "finals": finals,
        "posts_per_s": len(ok) / (last - first) if last > first else None,
        "cpu_s": sum(os.times()[:2]),
    }


def main(cfg: dict[str, Any], pipe: Any) -> None:
    """Entry point of the publisher process (multiprocessing, spawn)."""
    from bench.procs import die_with_parent

    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    result: dict[str, Any]
    try:
        result = asyncio.run(publish(cfg))
    except Exception as exc:
        result = {"error": f"{type(exc).__name__}: {exc}"}
    with contextlib.suppress(Exception):
        pipe.send(result)
