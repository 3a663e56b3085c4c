"""Faults under load (issue 6): a killed process, a Redis outage, readers that stall.

Real processes, real Redis, real sockets. Each test says what it injects, under what
load, and asserts that nothing acknowledged is lost, duplicated or reordered.
"""

from __future__ import annotations

import asyncio
import json
import random
import time

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.support.client import Api
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
