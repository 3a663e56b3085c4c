"""One contract, every backend: the primitives behave the same on SQLite and Redis."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from broadcaster.core.events import Event
from broadcaster.stores import open_backend
from broadcaster.stores import sqlite as sqlite_backend
from broadcaster.stores.base import Also, Backend, SeqConflict
from tests.support.redis_server import RedisServer


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.resyncs = 0
        self.arrived = asyncio.Event()

    def on_event(self, event: Event) -> None:
        self.events.append(event)
        self.arrived.set()

    def on_resync(self) -> None:
        self.resyncs += 1

    async def wait_for(self, count: int) -> list[Event]:
        async with asyncio.timeout(5):
            while len(self.events) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.events


@pytest.fixture(params=["sqlite", "redis"])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        url = server.url
    store = open_backend(url)
    await store.start()
    yield store
    await store.close()


def fresh(kind: str = "incident") -> str:
    return f"{kind}:{uuid.uuid4().hex[:12]}"


async def test_append_assigns_gap_free_seq_from_one(backend: Backend) -> None:
    log = fresh()
    seqs = [(await backend.append(log, "update.posted", {"n": n})).event.seq for n in range(5)]
    assert seqs == [1, 2, 3, 4, 5]
    assert await backend.head(log) == 5
    assert await backend.head(fresh()) == 0


async def test_event_encoding_is_the_wire_format(backend: Backend) -> None:
    log = fresh()
    done = await backend.append(log, "incident.opened", {"title": "文化路自来水爆管"})
    event = json.loads(done.event.text)
    assert list(event) == ["incident", "seq", "type", "at", "data"]
    assert event["incident"] == log.partition(":")[2]
    assert event["seq"] == 1
    assert event["type"] == "incident.opened"
    assert event["at"].endswith("Z")
    assert event["data"] == {"title": "文化路自来水爆管"}
    assert "文化路" in done.event.text  # UTF-8 kept, not \u-escaped
    assert done.event.payload == done.event.text.encode()


async def test_read_since_and_limit(backend: Backend) -> None:
    log = fresh()
    for n in range(10):
        await backend.append(log, "update.posted", {"n": n})
    assert [e.seq for e in await backend.read(log)] == list(range(1, 11))
    assert [e.seq for e in await backend.read(log, since=7)] == [8, 9, 10]
    assert [e.seq for e in await backend.read(log, since=2, limit=3)] == [3, 4, 5]
    assert await backend.read(log, since=10) == []
    stored = await backend.read(log, since=4, limit=1)
    assert json.loads(stored[0].text)["data"] == {"n": 4}


async def test_concurrent_appends_never_share_a_seq(backend: Backend) -> None:
    log = fresh()
    done = await asyncio.gather(*(backend.append(log, "update.posted", {"n": n}) for n in range(50)))
    assert sorted(d.event.seq for d in done) == list(range(1, 51))
    assert [e.seq for e in await backend.read(log)] == list(range(1, 51))


async def test_expect_seq_is_compare_and_append(backend: Backend) -> None:
    log = fresh()
    await backend.append(log, "incident.opened", {}, expect_seq=0)
    with pytest.raises(SeqConflict) as conflict:
        await backend.append(log, "incident.opened", {}, expect_seq=0)
    assert conflict.value.head == 1
    await backend.append(log, "update.posted", {}, expect_seq=1)
    with pytest.raises(SeqConflict):
        await backend.append(log, "update.posted", {}, expect_seq=1)
    assert await backend.head(log) == 2


async def test_idempotency_key_returns_the_first_event(backend: Backend) -> None:
    log = fresh()
    first = await backend.append(log, "update.posted", {"body": "a"}, idem_key="op:k1")
    again = await backend.append(log, "update.posted", {"body": "b"}, idem_key="op:k1")
    assert first.created
    assert not again.created
    assert again.event == first.event
    assert await backend.head(log) == 1
    found = await backend.find_idem(log, "op:k1")
    assert found == first.event
    assert await backend.find_idem(log, "op:other") is None
    # The key is checked before expect_seq: a retry after others wrote still finds it.
    await backend.append(log, "update.posted", {"body": "c"})
    late = await backend.append(log, "update.posted", {"body": "a"}, expect_seq=1, idem_key="op:k1")
    assert late.event == first.event


async def test_concurrent_retries_with_one_key_append_once(backend: Backend) -> None:
    log = fresh()
    done = await asyncio.gather(
        *(backend.append(log, "update.posted", {"body": "x"}, idem_key="op:same") for _ in range(20))
    )
    assert sum(d.created for d in done) == 1
    assert {d.event.seq for d in done} == {1}
    assert await backend.head(log) == 1


async def test_an_also_event_is_written_with_a_created_event_only(backend: Backend) -> None:
    log, trail = fresh(), fresh("audit")
    note = Also(trail, "audit", {"action": "update.posted"})
    first = await backend.append(log, "update.posted", {"n": 1}, idem_key="k", also=note)
    assert first.created and first.event.seq == 1
    [written] = await backend.read(trail)
    assert written.seq == 1 and json.loads(written.text)["data"] == {"action": "update.posted"}
    assert trail in await backend.logs("audit")

    # A replay and a conflict write neither event.
    again = await backend.append(log, "update.posted", {"n": 1}, idem_key="k", also=note)
    assert not again.created
    with pytest.raises(SeqConflict):
        await backend.append(log, "update.posted", {"n": 2}, expect_seq=0, also=note)
    assert await backend.head(trail) == 1

    second = await backend.append(log, "update.posted", {"n": 2}, expect_seq=1, also=note)
    assert second.event.seq == 2
    assert [e.seq for e in await backend.read(trail)] == [1, 2]
    assert await backend.head(log) == 2


async def test_logs_lists_a_kind_oldest_first(backend: Backend) -> None:
    kind = "k" + uuid.uuid4().hex[:8]
    names = [fresh(kind) for _ in range(3)]
    for name in names:
        await backend.append(name, "incident.opened", {})
        await backend.append(name, "update.posted", {})
    assert await backend.logs(kind) == names


async def test_heads_of_a_kind_in_one_call(backend: Backend) -> None:
    kind = "k" + uuid.uuid4().hex[:8]
    names = [fresh(kind) for _ in range(3)]
    for count, name in enumerate(names, start=1):
        for _ in range(count):
            await backend.append(name, "update.posted", {})
    heads = await backend.heads(kind)
    assert list(heads) == names
    assert heads == {name: await backend.head(name) for name in names}
    assert list(heads.values()) == [1, 2, 3]
    assert await backend.heads("k" + uuid.uuid4().hex[:8]) == {}


async def test_subscribers_receive_what_is_stored(backend: Backend) -> None:
    recorder = Recorder()
    backend.set_listener(recorder)
    log, other = fresh(), fresh()
    await backend.subscribe(log)
    for n in range(5):
        await backend.append(log, "update.posted", {"n": n})
    received = await recorder.wait_for(5)
    assert [e.seq for e in received if e.log == log] == [1, 2, 3, 4, 5]
    assert [e.text for e in received if e.log == log] == [e.text for e in await backend.read(log)]
    assert all(e.log != other for e in received)
    await backend.unsubscribe(log)


async def test_documents_compare_and_set(backend: Backend) -> None:
    key = "doc-" + uuid.uuid4().hex
    assert await backend.get_doc(key) is None
    first = await backend.put_doc(key, {"name": "ZZIC"}, expect_version=0)
    assert first is not None
    assert first.version == 1
    assert await backend.put_doc(key, {"name": "other"}, expect_version=0) is None
    second = await backend.put_doc(key, {"name": "郑州"}, expect_version=1)
    assert second is not None
    assert second.version == 2
    stored = await backend.get_doc(key)
    assert stored is not None
    assert stored.value == {"name": "郑州"}
    assert stored.version == 2


async def test_concurrent_compare_and_set_has_one_winner(backend: Backend) -> None:
    key = "doc-" + uuid.uuid4().hex
    results = await asyncio.gather(*(backend.put_doc(key, {"n": n}, expect_version=0) for n in range(10)))
    assert sum(r is not None for r in results) == 1


async def test_claims_are_exclusive_until_they_expire(backend: Backend) -> None:
    key = "job-" + uuid.uuid4().hex
    assert await backend.claim(key, "a", ttl=0.3)
    assert not await backend.claim(key, "b", ttl=0.3)
    assert await backend.claim(key, "a", ttl=0.3)  # the holder may extend
    await asyncio.sleep(0.45)
    assert await backend.claim(key, "b", ttl=5)
    await backend.release(key, "a")  # not a's any more: no effect
    assert not await backend.claim(key, "a", ttl=5)
    await backend.release(key, "b")
    assert await backend.claim(key, "a", ttl=5)


async def test_ping(backend: Backend) -> None:
    await backend.ping()


# --- blobs ---------------------------------------------------------------------------

EVERY_BYTE = bytes(range(256)) * 3 + b"\x00\xff\x00" + "照片".encode()  # NUL, 0xFF, invalid UTF-8


async def test_blob_round_trips_arbitrary_bytes_with_its_type(backend: Backend) -> None:
    key = "photo:" + uuid.uuid4().hex
    await backend.put_blob(key, EVERY_BYTE, "image/jpeg")
    assert await backend.get_blob(key) == (EVERY_BYTE, "image/jpeg")
    empty = key + ":empty"
    await backend.put_blob(empty, b"", "application/octet-stream")
    assert await backend.get_blob(empty) == (b"", "application/octet-stream")


async def test_missing_blob_is_none(backend: Backend) -> None:
    assert await backend.get_blob("photo:" + uuid.uuid4().hex) is None


async def test_put_blob_replaces_bytes_and_type(backend: Backend) -> None:
    key = "photo:" + uuid.uuid4().hex
    await backend.put_blob(key, b"\xff\xd8first" * 1000, "image/jpeg")
    await backend.put_blob(key, b"RIFF\x00second", "image/webp")
    assert await backend.get_blob(key) == (b"RIFF\x00second", "image/webp")
    # Keys are exact: a sibling key (the thumbnail's) is a different blob.
    assert await backend.get_blob(key + ":thumb") is None


# --- trimming bounded operational logs --------------------------------------------------


async def test_trim_keeps_the_newest_events_and_the_head(backend: Backend) -> None:
    log = fresh("webhook-deliveries")
    for n in range(10):
        await backend.append(log, "delivery.attempt", {"n": n})
    kept = await backend.read(log)
    assert await backend.trim(log, 4) == 6
    assert await backend.head(log) == 10
    assert await backend.read(log) == kept[6:]  # seqs 7..10, ascending, texts unchanged
    assert [e.seq for e in await backend.read(log, since=2)] == [7, 8, 9, 10]
    assert [e.seq for e in await backend.read(log, since=8)] == [9, 10]
    assert [e.seq for e in await backend.read(log, since=0, limit=2)] == [7, 8]

    done = await backend.append(log, "delivery.attempt", {"n": 10})
    assert done.event.seq == 11  # appends go on after the head, never reuse a trimmed seq
    assert [e.seq for e in await backend.read(log)] == [7, 8, 9, 10, 11]
    assert await backend.trim(log, 4) == 1
    assert [e.seq for e in await backend.read(log)] == [8, 9, 10, 11]
    assert log in await backend.logs("webhook-deliveries")


async def test_trim_to_keep_at_least_the_count_removes_nothing(backend: Backend) -> None:
    log = fresh("webhook-deliveries")
    assert await backend.trim(log, 5) == 0  # a log that does not exist yet
    assert await backend.head(log) == 0
    for n in range(3):
        await backend.append(log, "delivery.attempt", {"n": n})
    assert await backend.trim(log, 3) == 0
    assert await backend.trim(log, 100) == 0
    assert [e.seq for e in await backend.read(log)] == [1, 2, 3]
    assert await backend.trim(log, 1) == 2
    assert await backend.trim(log, 1) == 0
    assert [e.seq for e in await backend.read(log)] == [3]
    assert await backend.head(log) == 3


async def test_trim_forgets_the_idempotency_keys_of_removed_events(backend: Backend) -> None:
    log = fresh("webhook-deliveries")
    await backend.append(log, "delivery.attempt", {"n": 1}, idem_key="old")
    kept = await backend.append(log, "delivery.attempt", {"n": 2}, idem_key="kept")
    await backend.trim(log, 1)
    assert await backend.find_idem(log, "old") is None
    assert await backend.find_idem(log, "kept") == kept.event
    again = await backend.append(log, "delivery.attempt", {"n": 1}, idem_key="old")
    assert again.created and again.event.seq == 3


@pytest.mark.parametrize("kind", ["incident", "audit", "reports", "report", "schedules", "webhooks"])
async def test_trim_refuses_the_record(backend: Backend, kind: str) -> None:
    log = fresh(kind)
    for n in range(3):
        await backend.append(log, "update.posted", {"n": n})
    with pytest.raises(ValueError, match="never trimmed"):
        await backend.trim(log, 1)
    with pytest.raises(ValueError, match="at least 1"):
        await backend.trim(fresh("webhook-deliveries"), 0)
    assert [e.seq for e in await backend.read(log)] == [1, 2, 3]


async def test_trim_removes_a_long_run_completely(backend: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_backend, "TRIM_CHUNK", 4)  # SQLite deletes a long run in chunks
    log = fresh("webhook-deliveries")
    for n in range(23):
        await backend.append(log, "delivery.attempt", {"n": n}, idem_key=f"k{n}")
    assert await backend.trim(log, 5) == 18
    assert [e.seq for e in await backend.read(log)] == [19, 20, 21, 22, 23]
    assert await backend.find_idem(log, "k17") is None
    assert (await backend.append(log, "delivery.attempt", {"n": 18}, idem_key="k18")).created is False
    assert await backend.head(log) == 23
