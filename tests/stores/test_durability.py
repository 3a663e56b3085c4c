"""Acknowledged means stored: killed servers and restarted Redis lose nothing."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import httpx
import redis.asyncio as aioredis

from tests.support.client import Api, LiveReader
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess, add_operator, scaled


async def test_sqlite_survives_sigkill_right_after_201(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kill.db'}"
    token = add_operator(url, "ZZIC")
    server = ServerProcess(url).start()
    api = Api(server.url, token)
    incident = await api.create()
    acknowledged = []
    try:
        for round_ in range(3):
            answer = await api.post(incident, f"第{round_}次播报：抢修中")
            assert answer.status_code == 201
            acknowledged.append(answer.json()["update"]["id"])
            server.kill()  # SIGKILL the moment the 201 arrived
            server = ServerProcess(url).start()
            await api.aclose()
            api = Api(server.url, token)
            snapshot = (await api.http.get(f"/api/incidents/{incident}")).json()
            assert [u["id"] for u in snapshot["updates"]] == list(reversed(acknowledged))
            assert snapshot["seq"] == round_ + 2
    finally:
        await api.aclose()
        server.stop()


async def post_until_accepted(api: Api, incident: str, body: str, key: str) -> httpx.Response:
    """An operator's retry loop: same Idempotency-Key until the store is back."""
    async with asyncio.timeout(scaled(30)):
        while True:
            try:
                answer = await api.post(incident, body, key=key)
            except httpx.TransportError:
                answer = None
            if answer is not None and answer.status_code == 201:
                return answer
            if answer is not None:
                assert answer.status_code == 503, answer.text  # never a 500 or a hang
            await asyncio.sleep(0.2)


async def test_redis_restart_keeps_every_acknowledged_update() -> None:
    with RedisServer(appendonly=True) as redis:
        token = add_operator(redis.url, "ZZIC")
        with ServerProcess(redis.url) as server:
            api = Api(server.url, token)
            incident = await api.create()
            reader = await LiveReader.open(server.ws_url(""), incident, since=0)
            acknowledged = []
            for n in range(20):
                answer = await api.post(incident, f"update {n}", key=f"k{n}")
                assert answer.status_code == 201
                acknowledged.append(answer.json()["update"]["id"])

            redis.kill()  # no shutdown save: only the AOF (fsync always) remains
            during = await api.post(incident, "while Redis is down", key="down")
            assert during.status_code == 503
            assert "detail" in during.json()
            redis.restart()

            after = await post_until_accepted(api, incident, "after the restart", key="after")
            acknowledged.append(after.json()["update"]["id"])
            snapshot = (await api.http.get(f"/api/incidents/{incident}")).json()
            assert [u["id"] for u in snapshot["updates"]] == list(reversed(acknowledged))
            assert snapshot["seq"] == 22
            # The live reader stayed connected and got everything once, in order,
            # including what was written after the pub/sub link came back.
            assert await reader.until_seq(22, within=30) == list(range(1, 23))
            await reader.close()
            await api.aclose()


async def test_pubsub_link_killed_readers_miss_nothing() -> None:
    with RedisServer() as redis:
        token = add_operator(redis.url, "ZZIC")
        with ServerProcess(redis.url) as one, ServerProcess(redis.url) as two:
            api = Api(one.url, token)
            incident = await api.create()
            readers = [await LiveReader.open(s.ws_url(""), incident, since=0) for s in (one, two) * 5]
            for n in range(60):
                assert (await api.post(incident, f"update {n}")).status_code == 201
                if n % 15 == 7:
                    killed = await redis_client_kill_pubsub(redis)
                    assert killed >= 2  # both servers' links
                await asyncio.sleep(random.random() * 0.01)
            for reader in readers:
                assert await reader.until_seq(61, within=30) == list(range(1, 62))
                await reader.close()
            await api.aclose()


async def redis_client_kill_pubsub(server: RedisServer) -> int:
    client = aioredis.Redis.from_url(server.url)
    try:
        return int(await client.execute_command("CLIENT", "KILL", "TYPE", "pubsub"))
    finally:
        await client.aclose()
