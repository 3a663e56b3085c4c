"""The per-process hub: one upstream subscription per log, fanned out to local readers.

Each log a local reader watches has a :class:`Channel` holding ``last``, the seq of
the last event handed to readers. Events from the backend are delivered strictly
as ``last + 1``: older ones (duplicates) are dropped, and a jump ahead (a gap, e.g.
after the upstream link dropped) makes the channel refill from the store before it
goes on. So every local reader sees each log's events once, in order, gap-free.

Readers hold a :class:`Subscription`: a bounded queue the hub fills without ever
awaiting. A reader too slow to keep up overflows and is told to resume elsewhere;
it never slows the others. Each event is encoded once (``Event.text``/``payload``)
and the same object goes to every queue.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from itertools import islice
from typing import Generic, TypeVar

from broadcaster import metrics
from broadcaster.core.events import Event
from broadcaster.live.readers import Reader, Subscription
from broadcaster.stores.base import Backend, BackendError

log = logging.getLogger("incidents.hub")

FANOUT_CHUNK = 64
"""Readers served between two looks at the clock."""
FANOUT_SLICE = 0.020
"""Seconds of fan-out per loop turn before other work (an operator's POST, page loads) gets
a turn. A slice of time, not a number of readers: when a storm of page loads fills every
loop turn, 256 readers a turn made one update to 5,000 readers wait for 20 turns of everyone
else's work. Page-storm benchmark (5,000 live readers, 10 updates/s, wrk -c50 on the page),
live p99 without -> with the storm: 256 readers a turn 79 -> 1,995 ms; 4 ms 86 -> 457 ms;
10 ms 79 -> 180 ms; 20 ms 75 -> 99 ms (docs/benchmarks.md). A POST waits at most one slice."""

IDLE_SECONDS = 30.0
"""How long a channel without readers keeps its upstream subscription (avoids churn)."""

RECENT_EVENTS = 1024
"""Events each channel keeps in memory, so that readers resuming a little behind (a
reconnect storm: every phone of a neighbourhood at once) are served without a read
from the store."""
RECENT_BYTES = 1 << 20
"""And at most this many bytes of frames per channel."""


@dataclass(eq=False)
class Channel:
    log: str
    last: int | None = None  # None until the upstream subscription is in effect
    subs: set[Reader] = field(default_factory=set)
    held: list[Event] = field(default_factory=list)  # arrived while not ready or refilling
    filling: bool = False
    dirty: bool = False  # a refill was asked for while one was running
    ready: asyncio.Task[None] | None = None
    idle: asyncio.TimerHandle | None = None
    # Events still being handed out (event, its readers), and how far the first one got.
    fanout: deque[tuple[Event, tuple[Reader, ...]]] = field(default_factory=deque)
    position: int = 0
    # The last events delivered, contiguous and ending at ``last``.
    recent: deque[Event] = field(default_factory=deque)
    recent_bytes: int = 0

    def remember(self, event: Event) -> None:
        self.recent.append(event)
        self.recent_bytes += len(event.frame)
        while len(self.recent) > RECENT_EVENTS or self.recent_bytes > RECENT_BYTES:
            self.recent_bytes -= len(self.recent.popleft().frame)

    def recent_after(self, since: int) -> list[Event] | None:
        """Every event after ``since`` up to ``last`` from memory, or None if not all held."""
        if not self.recent or self.recent[0].seq > since + 1:
            return None
        return list(islice(self.recent, since + 1 - self.recent[0].seq, None))


R = TypeVar("R", bound=Reader)


@dataclass
class Opening(Generic[R]):
    """A reader's start: events to send first, then the live subscription.

    ``reset`` is set (to the log's last seq) when the requested ``since`` lies
    outside the log: the reader must reload the snapshot. ``cursor`` is the seq the
    reader holds once ``history`` is sent; live events at or below it are skipped.
    """

    sub: R
    history: list[Event]
    cursor: int
    reset: int | None = None


class Hub:
    def __init__(self, backend: Backend, queue_limit: int = 512) -> None:
        self.backend = backend
        self.queue_limit = queue_limit
        self._channels: dict[str, Channel] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        backend.set_listener(self)

    # --- the backend's side -------------------------------------------------------

    def on_event(self, event: Event) -> None:
        channel = self._channels.get(event.log)
        if channel is not None:
            self._offer(channel, event)

    def on_resync(self) -> None:
        log.info("upstream link restored: refilling %d channels", len(self._channels))
        for channel in self._channels.values():
            if channel.last is not None:
                self._refill(channel)

    def _offer(self, channel: Channel, event: Event) -> None:
        if channel.last is None or channel.filling:
            channel.held.append(event)
        elif event.seq == channel.last + 1:
            self._deliver(channel, event)
        elif event.seq > channel.last + 1:
            channel.held.append(event)
            self._refill(channel)

    def _deliver(self, channel: Channel, event: Event) -> None:
        """Hand the event to every reader of the channel, in chunks.

        Ten thousand writes take a noticeable slice of the loop: done in chunks of
        :data:`FANOUT_CHUNK` with the loop free in between, an operator's POST is
        served meanwhile. Events of a channel fan out strictly one after the other, so
        every reader still gets them in order. ``last`` moves at once: a reader joining
        now reads this event from the store and is not in its fan-out list.
        """
        channel.last = event.seq
        channel.remember(event)
        # A snapshot: readers may come and go while the fan-out is under way.
        channel.fanout.append((event, tuple(channel.subs)))
        if len(channel.fanout) == 1 and channel.position == 0:
            self._pump(channel)

    def _pump(self, channel: Channel) -> None:
        until = time.monotonic() + FANOUT_SLICE
        while channel.fanout and time.monotonic() < until:
            event, readers = channel.fanout[0]
            end = min(len(readers), channel.position + FANOUT_CHUNK)
            delivered = 0
            for sub in readers[channel.position : end]:
                if sub.push(event):
                    delivered += 1
                elif sub in channel.subs:  # a queue that overflowed (a socket leaves by itself)
                    channel.subs.discard(sub)
                    metrics.SLOW_CONSUMERS.inc()
            metrics.DELIVERIES.inc(delivered)
            channel.position = end
            if end == len(readers):
                channel.fanout.popleft()
                channel.position = 0
        if channel.fanout:
            asyncio.get_running_loop().call_soon(self._pump, channel)

    def _refill(self, channel: Channel) -> None:
        if channel.filling:
            channel.dirty = True
            return
        channel.filling = True
        self._spawn(self._fill(channel))

    async def _fill(self, channel: Channel) -> None:
        delay = 0.1
        try:
            while True:
                channel.dirty = False
                assert channel.last is not None
                try:
                    with metrics.backend_timer("read"):
                        events = await self.backend.read(channel.log, since=channel.last)
                except BackendError as exc:
                    log.warning("refill of %s failed (%s); retrying", channel.log, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 2.0)
                    channel.dirty = True
                    continue
                for event in events:
                    if event.seq == channel.last + 1:
                        self._deliver(channel, event)
                if not channel.dirty:
                    break
        finally:
            channel.filling = False
            self._release_held(channel)

    def _release_held(self, channel: Channel) -> None:
        held, channel.held = channel.held, []
        for event in sorted(held, key=lambda e: e.seq):
            self._offer(channel, event)

    def _spawn(self, coro: object) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coro)  # type: ignore[call-overload]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- the readers' side --------------------------------------------------------

    async def _channel(self, log_name: str) -> Channel:
        channel = self._channels.get(log_name)
        if channel is None:
            channel = self._channels[log_name] = Channel(log_name)
            channel.ready = asyncio.ensure_future(self._start_channel(channel))
        if channel.idle is not None:
            channel.idle.cancel()
            channel.idle = None
        assert channel.ready is not None
        try:
            await asyncio.shield(channel.ready)
        except BaseException:
            if self._channels.get(log_name) is channel and channel.ready.done():
                del self._channels[log_name]
            raise
        return channel

    async def _start_channel(self, channel: Channel) -> None:
        # Subscribe first, then read the head: an event published in between is
        # both held here and covered by the readers' history, never lost.
        await self.backend.subscribe(channel.log)
        channel.last = await self.backend.head(channel.log)
        self._release_held(channel)

    async def open(self, log_name: str, since: int | None) -> Opening[Subscription]:
        """Subscribe a queue to a log, from ``since`` (None: from now on).

        Raises:
            BackendError: the store cannot be reached.
        """
        return await self.attach(log_name, since, Subscription(self.queue_limit))

    async def attach(self, log_name: str, since: int | None, reader: R) -> Opening[R]:
        """Subscribe any reader: it gets every event after the opening's history.

        Raises:
            BackendError: the store cannot be reached.
        """
        channel = await self._channel(log_name)
        channel.subs.add(reader)
        start = channel.last
        assert start is not None
        try:
            return await self._history(log_name, reader, since, start)
        except BaseException:
            self.close(log_name, reader)
            raise

    async def _history(self, log_name: str, sub: R, since: int | None, start: int) -> Opening[R]:
        if since is None or since == start:
            return Opening(sub, [], start)
        if since > start:
            # This process may lag the store by events in flight; only a since
            # beyond the store's head is a reset.
            head = await self.backend.head(log_name)
            return Opening(sub, [], head, reset=head) if since > head else Opening(sub, [], since)
        channel = self._channels.get(log_name)
        recent = channel.recent_after(since) if channel is not None and channel.last == start else None
        if recent is not None:
            metrics.HISTORY_FROM_MEMORY.inc()
            return Opening(sub, recent, start)
        with metrics.backend_timer("read"):
            history = await self.backend.read(log_name, since=since, limit=start - since)
        if len(history) != start - since or (history and history[0].seq != since + 1):
            return Opening(sub, [], start, reset=start)  # older than the retained history
        return Opening(sub, history, start)

    def close(self, log_name: str, sub: Reader) -> None:
        """Detach a reader; the channel is dropped after a while without readers."""
        sub.close()
        channel = self._channels.get(log_name)
        if channel is None:
            return
        channel.subs.discard(sub)
        if not channel.subs and channel.idle is None:
            loop = asyncio.get_running_loop()
            channel.idle = loop.call_later(IDLE_SECONDS, self._drop_idle, channel)

    def _drop_idle(self, channel: Channel) -> None:
        channel.idle = None
        if not channel.subs and self._channels.get(channel.log) is channel:
            del self._channels[channel.log]
            self._spawn(self._unsubscribe(channel.log))

    async def _unsubscribe(self, log_name: str) -> None:
        try:
            await self.backend.unsubscribe(log_name)
        except BackendError as exc:
            log.warning("unsubscribe from %s failed: %s", log_name, exc)

    def has_events(self, log_name: str) -> bool:
        """True when this process already follows the log and it is not empty (no store read)."""
        channel = self._channels.get(log_name)
        return channel is not None and bool(channel.last)

    async def exists(self, log_name: str) -> bool:
        """Whether the log has any event: from memory when followed, else the store's head.

        Raises:
            BackendError: the store cannot be reached.
        """
        return self.has_events(log_name) or await self.backend.head(log_name) > 0

    def watchers(self, log_name: str) -> int:
        return len(channel.subs) if (channel := self._channels.get(log_name)) else 0

    def counts(self) -> dict[str, int]:
        return {name: len(channel.subs) for name, channel in self._channels.items() if channel.subs}

    async def aclose(self) -> None:
        """Close every reader (they resume elsewhere) and stop background work."""
        for channel in self._channels.values():
            for sub in channel.subs:
                sub.close()
            if channel.idle is not None:
                channel.idle.cancel()
            if channel.ready is not None and not channel.ready.done():
                channel.ready.cancel()
        self._channels.clear()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
