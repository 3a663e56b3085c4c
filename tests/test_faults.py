"""Faults under load (issue 6): a killed process, a Redis outage, readers that stall.

Real processes, real Redis, real sockets. Each test says what it injects, under what
load, and asserts that nothing acknowledged is lost, duplicated or reordered.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import tempfile
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.support.client import Api
from tests.support.rawlive import RawLiveReader
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess, add_operator, scaled

pytestmark = pytest.mark.slow


async def failover_reader(urls: list[str], incident: str, last: int, received: list[int]) -> None:
    """Reads from its server; when that connection breaks, resumes on the next one."""
    turn = 0
    async with asyncio.timeout(scaled(120)):
        while not received or received[-1] < last:
            since = received[-1] if received else 0
            url = f"{urls[turn % len(urls)]}/api/incidents/{incident}/live?since={since}"
            try:
                async with connect(url, open_timeout=scaled(5), max_queue=None) as ws:
                    while not received or received[-1] < last:
                        message = json.loads(await ws.recv())
                        assert message.get("type") != "reset", message
                        received.append(message["seq"])
            except (ConnectionClosed, OSError, InvalidHandshake, TimeoutError):
                turn += 1
                await asyncio.sleep(0.05 + random.random() * 0.2)


async def test_sigkill_one_of_two_processes_under_load() -> None:
    """500 readers on two processes sharing Redis; 1,000 updates at 50/s; one process is
    SIGKILLed a third of the way in. Readers fail over to the survivor with since=."""
    posts, readers_count = 1000, 500
    with RedisServer(appendonly=True) as redis:
        token = add_operator(redis.url, "ZZIC")
        with ServerProcess(redis.url) as survivor, ServerProcess(redis.url) as victim:
            api_survivor, api_victim = Api(survivor.url, token), Api(victim.url, token)
            incident = await api_survivor.create()
            urls = [victim.ws_url(""), survivor.ws_url("")]
            logs: list[list[int]] = [[] for _ in range(readers_count)]
            readers = [
                asyncio.ensure_future(
                    failover_reader(urls[n % 2 :] + urls[: n % 2], incident, posts + 1, logs[n])
                )
                for n in range(readers_count)
            ]
            await asyncio.sleep(scaled(3))  # let the readers connect

            async def post(n: int) -> None:
                body = f"第{n}条"
                async with asyncio.timeout(scaled(60)):
                    for attempt in range(1000):
                        api = api_victim if attempt == 0 and n % 2 else api_survivor
                        try:
                            answer = await api.post(incident, body, key=f"k{n}")
                            if answer.status_code == 201:
                                return
                        except httpx.TransportError:
                            pass
                        await asyncio.sleep(0.05)

            started = time.monotonic()
            posting = []
            for n in range(posts):
                if n == posts // 3:
                    victim.kill()
                posting.append(asyncio.ensure_future(post(n)))
                await asyncio.sleep(max(0.0, started + (n + 1) / 50 - time.monotonic()))  # 50/s
            await asyncio.gather(*posting)
            await asyncio.gather(*readers)
            for log in logs:
                assert log == list(range(1, posts + 2))  # all, once each, in order
            log = await api_survivor.http.get(f"/api/incidents/{incident}/events", params={"since": posts})
            assert log.json()["head"] == posts + 1  # each post once, whatever the retries
            await api_survivor.aclose()
            await api_victim.aclose()


async def test_writes_during_a_redis_outage_fail_fast_and_clearly() -> None:
    with RedisServer(appendonly=True) as redis:
        token = add_operator(redis.url, "ZZIC")
        with ServerProcess(redis.url) as server:
            api = Api(server.url, token)
            incident = await api.create()
            assert (await api.http.get("/readyz")).status_code == 200
            redis.stop()
            started = time.monotonic()
            answer = await api.post(incident, "停电了", key="outage")
            waited = time.monotonic() - started
            assert answer.status_code == 503
            assert "nothing was changed" in answer.json()["detail"]
            assert answer.headers["Retry-After"]
            assert waited < scaled(6), waited  # a clear answer, not a hang
            ready = await api.http.get("/readyz")
            assert ready.status_code == 503
            assert (await api.http.get("/healthz")).status_code == 200  # alive, though not ready
            redis.restart()
            async with asyncio.timeout(scaled(20)):
                while (await api.http.get("/readyz")).status_code != 200:
                    await asyncio.sleep(0.2)
            again = await api.post(incident, "停电了", key="outage")  # the operator retries
            assert again.status_code == 201
            assert [e["type"] for e in await api.events(incident)] == ["incident.opened", "update.posted"]
            await api.aclose()


def tree_rss_kib(pgid: int) -> int:
    """Resident memory of every process in the server's process group, in KiB."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rpartition(")")[2].split()
            if int(fields[2]) != pgid:  # fields after the name: state, ppid, pgrp, ...
                continue
            with open(f"/proc/{entry}/status") as status:
                total += next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            continue  # gone meanwhile
    return total


def metric(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    assert found is not None, name
    return float(found.group(1))


async def test_five_percent_of_two_thousand_readers_stall() -> None:
    """2,000 live readers; 100 of them stop reading (tiny receive buffer, never read).
    Updates of ~1 KB keep coming at 100/s. The stalled ones are closed with the resume
    code once their unsent bytes pass the limit; the server's memory stays bounded;
    the 1,900 others get every update, once, in order."""
    readers_count, stalled_count = 2000, 100
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/stall.db"
        token = add_operator(url, "ZZIC")
        # 8 events x 2 KiB of unsent bytes per socket at most (INCIDENTS_LIVE_QUEUE=8).
        with ServerProcess(url, env={"INCIDENTS_LIVE_QUEUE": "8"}) as server:
            assert server.proc is not None
            api = Api(server.url, token)
            incident = await api.create()
            path = f"/api/incidents/{incident}/live?since=1"
            readers: list[RawLiveReader] = []
            for start in range(0, readers_count, 200):
                batch = range(start, min(start + 200, readers_count))
                readers += await asyncio.gather(
                    *(
                        RawLiveReader.open(
                            "127.0.0.1", server.port, path, receive_buffer=4096 if n % 20 == 0 else None
                        )
                        for n in batch
                    )
                )
            stalled = [r for n, r in enumerate(readers) if n % 20 == 0]
            healthy = [r for n, r in enumerate(readers) if n % 20 != 0]
            assert len(stalled) == stalled_count
            for reader in stalled:
                reader.stall()
            await asyncio.sleep(0.5)
            baseline = tree_rss_kib(server.proc.pid)
            peak = baseline

            body = "文化路、花园路、东风路停水，预计明日凌晨两点恢复供水。" * 12  # ~1 KB of UTF-8
            posted = 1
            started = time.monotonic()
            # Post until every stalled reader was closed (at least 100 updates, at most 2,000).
            while posted < 2001:
                assert (await api.post(incident, f"{posted} {body}")).status_code == 201
                posted += 1
                if posted % 25 == 0:
                    peak = max(peak, tree_rss_kib(server.proc.pid))
                    text = (await api.http.get("/metrics")).text
                    if (
                        posted > 100
                        and metric(text, "incidents_slow_consumers_closed_total") >= stalled_count
                    ):
                        break
                await asyncio.sleep(max(0.0, started + posted / 100 - time.monotonic()))  # 100/s
            async with asyncio.timeout(scaled(60)):
                while any(not r.seqs or r.seqs[-1] < posted for r in healthy):
                    await asyncio.sleep(0.1)
            for reader in healthy:
                assert reader.seqs == list(range(2, posted + 1))  # every update, once, in order
                assert not reader.closed.done()

            text = (await api.http.get("/metrics")).text
            assert metric(text, "incidents_slow_consumers_closed_total") == stalled_count
            assert metric(text, 'incidents_live_connections{transport="websocket"}') == len(healthy)
            for reader in stalled:  # once they read again: a partial stream, then the end
                reader.unstall()
            async with asyncio.timeout(scaled(30)):
                codes = await asyncio.gather(*(r.closed for r in stalled))
            assert all(len(r.seqs) < posted - 1 for r in stalled)
            assert all(code in (4000, None) for code in codes), codes  # 4000, or reset after the grace
            grew_mib = (peak - baseline) / 1024
            print(
                f"stall: {posted - 1} updates; server RSS {baseline / 1024:.1f} MiB, peak +{grew_mib:.1f} MiB"
            )
            assert grew_mib < 64, grew_mib  # bounded: 100 x 16 KiB of unsent frames, not the whole stream
            for reader in healthy:
                reader.abort()
            await api.aclose()
