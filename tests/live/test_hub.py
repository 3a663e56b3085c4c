"""The hub without sockets: ordering, gap refill, duplicates, resync, overflow, reset.

A real SQLite backend stores the events; between it and the hub sits a filter that
drops, repeats or reorders what the backend publishes, as a flaky upstream would.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from broadcaster.core.events import Event
from broadcaster.live.hub import Hub
from broadcaster.live.readers import Closed, Overflow, Subscription
from broadcaster.stores.sqlite import SQLiteBackend

LOG = "incident:hubtest"


class Upstream:
    """Stands between the backend and the hub, deciding what gets through."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub
        self.rule: Callable[[Event], list[Event]] = lambda e: [e]

    def on_event(self, event: Event) -> None:
        for forwarded in self.rule(event):
            self.hub.on_event(forwarded)

    def on_resync(self) -> None:
        self.hub.on_resync()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteBackend]:
    backend = SQLiteBackend(f"sqlite:///{tmp_path / 'hub.db'}")
    await backend.start()
    yield backend
    await backend.close()


async def make_hub(store: SQLiteBackend, limit: int = 100) -> tuple[Hub, Upstream]:
    hub = Hub(store, queue_limit=limit)
    upstream = Upstream(hub)
    store.set_listener(upstream)
    await store.append(LOG, "incident.opened", {})
    return hub, upstream


def count_reads(store: SQLiteBackend, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """From now on, the ``since`` of every read the hub makes from the store, in order."""
    reads: list[int] = []
    real_read = store.read

    async def counting_read(log: str, since: int = 0, limit: int | None = None) -> list[Event]:
        reads.append(since)
        return await real_read(log, since, limit)

    monkeypatch.setattr(store, "read", counting_read)
    return reads


async def collect(sub: Subscription, until: int) -> list[int]:
    seqs: list[int] = []
    async with asyncio.timeout(5):
        while not seqs or seqs[-1] < until:
            seqs.extend(e.seq for e in await sub.next_batch())
    return seqs


async def test_live_events_arrive_once_in_order(store: SQLiteBackend) -> None:
    hub, _ = await make_hub(store)
    opening = await hub.open(LOG, None)
    assert opening.cursor == 1
    assert opening.history == []
    for n in range(5):
        await store.append(LOG, "update.posted", {"n": n})
    assert await collect(opening.sub, 6) == [2, 3, 4, 5, 6]
    await hub.aclose()


async def test_a_gap_is_refilled_from_the_store(store: SQLiteBackend) -> None:
    hub, upstream = await make_hub(store)
    opening = await hub.open(LOG, None)
    upstream.rule = lambda e: [] if e.seq in (3, 4) else [e]  # lost in transit
    for n in range(5):
        await store.append(LOG, "update.posted", {"n": n})
    assert await collect(opening.sub, 6) == [2, 3, 4, 5, 6]
    await hub.aclose()


async def test_duplicates_and_reordering_are_absorbed(store: SQLiteBackend) -> None:
    hub, upstream = await make_hub(store)
    opening = await hub.open(LOG, None)
    held: list[Event] = []

    def shuffle(event: Event) -> list[Event]:
        held.append(event)
        if len(held) < 3:
            return []
        out = [*reversed(held), *held]  # newest first, then everything again
        held.clear()
        return out

    upstream.rule = shuffle
    for n in range(6):
        await store.append(LOG, "update.posted", {"n": n})
    assert await collect(opening.sub, 7) == [2, 3, 4, 5, 6, 7]
    await hub.aclose()


async def test_resync_refills_what_a_dead_link_missed(store: SQLiteBackend) -> None:
    hub, upstream = await make_hub(store)
    opening = await hub.open(LOG, None)
    upstream.rule = lambda e: []  # the link is down: nothing arrives
    for n in range(3):
        await store.append(LOG, "update.posted", {"n": n})
    await asyncio.sleep(0.05)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await opening.sub.next_batch()
    upstream.rule = lambda e: [e]
    upstream.on_resync()  # the link is back
    assert await collect(opening.sub, 4) == [2, 3, 4]
    await hub.aclose()


async def test_history_then_live_without_gap_or_duplicate(store: SQLiteBackend) -> None:
    hub, _ = await make_hub(store)
    for n in range(4):
        await store.append(LOG, "update.posted", {"n": n})
    opening = await hub.open(LOG, 2)
    assert [e.seq for e in opening.history] == [3, 4, 5]
    assert opening.cursor == 5
    await store.append(LOG, "update.posted", {})
    assert await collect(opening.sub, 6) == [6]
    await hub.aclose()


async def test_since_beyond_the_head_is_a_reset(store: SQLiteBackend) -> None:
    hub, _ = await make_hub(store)
    opening = await hub.open(LOG, 9)
    assert opening.reset == 1
    assert opening.history == []
    assert opening.cursor == 1
    await hub.aclose()


async def test_a_full_queue_overflows_without_touching_others(store: SQLiteBackend) -> None:
    hub, _ = await make_hub(store, limit=3)
    slow = await hub.open(LOG, None)
    fast = await hub.open(LOG, None)
    signalled: list[bool] = []
    slow.sub.on_overflow = lambda: signalled.append(True)
    got: list[int] = []
    for n in range(6):
        await store.append(LOG, "update.posted", {"n": n})
        got.extend(e.seq for e in await fast.sub.next_batch())  # fast keeps up
    assert got == [2, 3, 4, 5, 6, 7]
    assert signalled == [True]  # told once
    with pytest.raises(Overflow):
        await slow.sub.next_batch()
    assert hub.watchers(LOG) == 1
    await hub.aclose()


async def test_closing_the_hub_releases_readers(store: SQLiteBackend) -> None:
    hub, _ = await make_hub(store)
    opening = await hub.open(LOG, None)
    waiting = asyncio.ensure_future(opening.sub.next_batch())
    await asyncio.sleep(0)
    await hub.aclose()
    with pytest.raises(Closed):
        await waiting


async def test_chunked_fanout_keeps_every_reader_in_order(
    store: SQLiteBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("broadcaster.live.hub.FANOUT_CHUNK", 2)  # many loop turns per event
    hub, _ = await make_hub(store)
    openings = [await hub.open(LOG, None) for _ in range(7)]
    for n in range(3):
        await store.append(LOG, "update.posted", {"n": n})
    late = await hub.open(LOG, 1)  # joins while fan-outs are under way
    for n in range(3, 5):
        await store.append(LOG, "update.posted", {"n": n})
    for opening in openings:
        assert await collect(opening.sub, 6) == [2, 3, 4, 5, 6]
    history = [e.seq for e in late.history]
    live = await collect(late.sub, 6) if history[-1:] != [6] else []
    merged = [seq for seq in [*history, *live] if seq > 1]
    assert sorted(set(merged)) == [2, 3, 4, 5, 6]  # nothing missing
    assert [s for s in merged if s > late.cursor] == list(
        range(late.cursor + 1, 7)
    )  # no gap, no repeat after
    await hub.aclose()


async def test_resuming_readers_get_recent_events_from_memory(
    store: SQLiteBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reconnect storm: readers a little behind are served without reading the store."""
    monkeypatch.setattr("broadcaster.live.hub.RECENT_EVENTS", 5)
    hub, _ = await make_hub(store)
    watcher = await hub.open(LOG, None)  # keeps the channel, as connected readers do
    for n in range(8):
        await store.append(LOG, "update.posted", {"n": n})
    assert await collect(watcher.sub, 9) == list(range(2, 10))
    reads = count_reads(store, monkeypatch)
    near = await hub.open(LOG, 6)  # 7..9 are in the last five
    assert [e.seq for e in near.history] == [7, 8, 9]
    edge = await hub.open(LOG, 4)  # 5..9: exactly the five held
    assert [e.seq for e in edge.history] == [5, 6, 7, 8, 9]
    assert reads == []
    far = await hub.open(LOG, 2)  # 3 and 4 left memory: read from the store, whole
    assert [e.seq for e in far.history] == [3, 4, 5, 6, 7, 8, 9]
    assert reads == [2]
    await store.append(LOG, "update.posted", {})
    for opening in (near, edge, far):
        assert await collect(opening.sub, 10) == [10]
    await hub.aclose()


async def test_the_memory_window_is_bounded_in_bytes(
    store: SQLiteBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub, _ = await make_hub(store)
    watcher = await hub.open(LOG, None)
    await store.append(LOG, "update.posted", {"body": "x" * 10})
    await collect(watcher.sub, 2)
    frame = len((await store.read(LOG, since=1))[0].frame)
    monkeypatch.setattr("broadcaster.live.hub.RECENT_BYTES", frame * 3 + 10)  # room for three such events
    for n in range(6):
        await store.append(LOG, "update.posted", {"body": "x" * 10 if n < 5 else "y" * 10})
    await collect(watcher.sub, 8)
    reads = count_reads(store, monkeypatch)
    assert [e.seq for e in (await hub.open(LOG, 5)).history] == [6, 7, 8]
    assert reads == []
    assert [e.seq for e in (await hub.open(LOG, 4)).history] == [5, 6, 7, 8]
    assert reads == [4]
    await hub.aclose()
