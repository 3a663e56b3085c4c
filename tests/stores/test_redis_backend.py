"""What is specific to the Redis backend (the shared behaviour is in the contract suite).

Every test runs against its own real ``redis-server`` (see tests/support/redis_server.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import cast

import pytest
from redis.asyncio import Redis
from redis.crc import key_slot

from broadcaster.stores.base import BackendError
from broadcaster.stores.redis import RedisBackend, log_keys
from broadcaster.stores.redis import link as redis_link
from tests.support.listening import Recorder, until
from tests.support.redis_server import RedisServer


def new_log() -> str:
    return f"incident:t-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="module")
def shared_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
def server() -> Iterator[RedisServer]:
    with RedisServer() as fresh:
        yield fresh


@pytest.fixture
def aof_server() -> Iterator[RedisServer]:
    with RedisServer(appendonly=True) as fresh:
        yield fresh


async def started(url: str) -> tuple[RedisBackend, Recorder]:
    backend = RedisBackend(url)
    recorder = Recorder()
    backend.set_listener(recorder)
    await backend.start()
    return backend, recorder


@pytest.fixture
async def raw(shared_server: RedisServer) -> AsyncIterator[Redis]:
    client = Redis.from_url(shared_server.url, decode_responses=True)
    yield client
    await client.aclose()


async def pubsub_clients(url: str) -> list[dict[str, str]]:
    client = Redis.from_url(url, decode_responses=True)
    try:
        return await client.client_list(_type="pubsub")
    finally:
        await client.aclose()


async def subscription_counts(url: str) -> list[int]:
    """Channels per pub/sub connection on the server, ascending."""
    clients = await pubsub_clients(url)
    return sorted(int(client["sub"]) for client in clients)


async def test_published_events_are_the_stored_events(shared_server: RedisServer) -> None:
    writer, _ = await started(shared_server.url)
    reader, recorder = await started(shared_server.url)  # another "process"
    try:
        log = new_log()
        await reader.subscribe(log)
        # Two writers racing: the seq order must still hold on the wire.
        await asyncio.gather(
            *(
                backend.append(log, "update.posted", {"body": f"第{i}次更新", "n": i})
                for i in range(40)
                for backend in (writer, reader)
            )
        )
        await until(lambda: len(recorder.of(log)) == 80)
        stored = await writer.read(log)
        assert [e.seq for e in stored] == list(range(1, 81))
        assert recorder.of(log) == stored  # same seq, same text, same order
        for event in stored:
            decoded = json.loads(event.text)
            assert decoded["incident"] == log.partition(":")[2]
            assert decoded["seq"] == event.seq and isinstance(decoded["seq"], int)
            assert f'"seq":{event.seq},' in event.text  # an integer, never 7.0
    finally:
        await writer.close()
        await reader.close()


async def test_stream_layout(shared_server: RedisServer, raw: Redis) -> None:
    backend, _ = await started(shared_server.url)
    try:
        log = new_log()
        await backend.append(log, "incident.opened", {"title": "爆管"}, idem_key="k1")
        second = await backend.append(log, "update.posted", {"body": "x"}, idem_key="k2")
        again = await backend.append(log, "update.posted", {"body": "other"}, idem_key="k2")
        assert not again.created and again.event == second.event
        meta, stream, idem = log_keys(log)
        entries = cast(list[tuple[str, dict[str, str]]], await raw.xrange(stream))
        assert [entry_id for entry_id, _ in entries] == ["1-0", "2-0"]
        assert entries[1][1] == {"e": second.event.text}
        assert await raw.hget(meta, "seq") == "2"
        assert await raw.hgetall(idem) == {"k1": "1", "k2": "2"}
        assert await backend.read(log, since=1, limit=5) == [second.event]
        assert log in await backend.logs("incident")
    finally:
        await backend.close()


async def test_keys_of_one_log_share_one_hash_tag(shared_server: RedisServer, raw: Redis) -> None:
    backend, _ = await started(shared_server.url)
    try:
        log = new_log()
        await backend.append(log, "incident.opened", {}, idem_key="once")
        keys = [key async for key in raw.scan_iter(match=f"*{log}*")]
        assert sorted(keys) == sorted(log_keys(log))
        for key in keys:
            # The hash tag is the text between the first { and the next }.
            start = key.index("{") + 1
            assert key[start : key.index("}", start)] == log
        assert len({key_slot(key.encode()) for key in keys}) == 1
    finally:
        await backend.close()


async def test_one_pubsub_connection_per_backend(server: RedisServer) -> None:
    first, recorder = await started(server.url)
    second, _ = await started(server.url)
    try:
        logs = [new_log() for _ in range(30)]
        await asyncio.gather(*(first.subscribe(log) for log in logs))
        await asyncio.gather(*(second.subscribe(log) for log in logs[:10]))
        assert await subscription_counts(server.url) == [10, 30]

        await first.unsubscribe(logs[0])
        await second.append(logs[0], "incident.opened", {})
        await second.append(logs[1], "incident.opened", {})
        await until(lambda: len(recorder.of(logs[1])) == 1)
        assert recorder.of(logs[0]) == []
        assert await subscription_counts(server.url) == [10, 29]
    finally:
        await first.close()
        await second.close()
    deadline = time.monotonic() + 5
    while await pubsub_clients(server.url):
        assert time.monotonic() < deadline, "close() left a pub/sub connection open"
        await asyncio.sleep(0.01)


async def test_pubsub_link_killed_reconnects_and_resyncs(server: RedisServer) -> None:
    backend, recorder = await started(server.url)
    writer, _ = await started(server.url)
    try:
        logs = [new_log(), new_log()]
        for log in logs:
            await backend.subscribe(log)
        await writer.append(logs[0], "incident.opened", {})
        await until(lambda: len(recorder.events) == 1)
        assert backend.pubsub_connected and recorder.resyncs == 0

        killer = Redis.from_url(server.url)
        assert await killer.client_kill_filter(_type="pubsub") == 1
        await killer.aclose()

        await until(lambda: recorder.resyncs == 1)
        assert backend.pubsub_connected
        # on_resync comes only once every channel is subscribed again.
        for log in logs:
            await writer.append(log, "update.posted", {"body": "after"})
        await until(lambda: len(recorder.events) == 3)
        assert [(e.log, e.seq) for e in recorder.events[1:]] == [(logs[0], 2), (logs[1], 1)]
        assert await subscription_counts(server.url) == [2]
    finally:
        await backend.close()
        await writer.close()


async def test_warns_when_redis_does_not_persist(shared_server: RedisServer) -> None:
    backend, _ = await started(shared_server.url)
    try:
        found = await backend.warnings()
        assert len(found) == 1 and "does not persist" in found[0] and "appendonly" in found[0]
    finally:
        await backend.close()


async def test_no_warning_with_aof(aof_server: RedisServer) -> None:
    backend, _ = await started(aof_server.url)
    try:
        assert await backend.warnings() == []
    finally:
        await backend.close()


async def test_warns_when_config_is_not_allowed(server: RedisServer) -> None:
    admin = Redis.from_url(server.url)
    await admin.acl_setuser(
        "app",
        enabled=True,
        passwords=["+s3cret"],
        keys=["~*"],
        reset_channels=True,
        channels=["*"],
        commands=["+@all", "-config"],
    )
    await admin.aclose()
    url = server.url.replace("redis://", "redis://app:s3cret@")
    backend, _ = await started(url)
    try:
        found = await backend.warnings()
        assert len(found) == 1 and "could not check persistence" in found[0]
        assert "s3cret" not in found[0]
    finally:
        await backend.close()


async def test_write_during_outage_fails_fast(server: RedisServer, monkeypatch: pytest.MonkeyPatch) -> None:
    backend, recorder = await started(server.url)
    try:
        log = new_log()
        await backend.subscribe(log)
        await backend.append(log, "incident.opened", {})

        server.stop()
        begun = time.monotonic()
        with pytest.raises(BackendError):
            await backend.append(log, "update.posted", {"body": "lost?"})
        assert time.monotonic() - begun < 5
        await until(lambda: not backend.pubsub_connected)
        # No confirmation from Redis, so subscribe must not claim the log is live.
        monkeypatch.setattr(redis_link, "SUBSCRIBE_TIMEOUT", 0.3)
        with pytest.raises(BackendError):
            await backend.subscribe(new_log())

        server.restart()
        await until(lambda: recorder.resyncs == 1)
        appended = await backend.append(log, "update.posted", {"body": "back"})
        assert appended.event.seq == 1  # no AOF: the restart lost the log (hence the warning)

        # A hung Redis (process stopped, socket accepted but never answered).
        os.kill(server.pid, signal.SIGSTOP)
        try:
            begun = time.monotonic()
            with pytest.raises(BackendError):
                await backend.append(log, "update.posted", {"body": "hung"})
            assert time.monotonic() - begun < 5
        finally:
            os.kill(server.pid, signal.SIGCONT)
    finally:
        await backend.close()


async def test_aof_keeps_every_acknowledged_event(aof_server: RedisServer) -> None:
    backend, recorder = await started(aof_server.url)
    try:
        log = new_log()
        await backend.subscribe(log)
        for i in range(25):
            await backend.append(log, "update.posted", {"n": i}, idem_key=f"k{i}")
        before = await backend.read(log)

        aof_server.kill()  # a crash: appendfsync always means acknowledged = on disk
        aof_server.restart()

        await until(lambda: recorder.resyncs == 1)
        assert await backend.read(log) == before
        assert await backend.head(log) == 25
        assert await backend.logs("incident") == [log]
        replay = await backend.append(log, "update.posted", {"n": 3}, idem_key="k3")
        assert not replay.created and replay.event == before[3]
        appended = await backend.append(log, "update.posted", {"n": 25})
        assert appended.event.seq == 26
        await until(lambda: recorder.of(log)[-1:] == [appended.event])
    finally:
        await backend.close()
