"""What a process knows of the incident logs' heads, and the tap that keeps it current: the
bells that wake followers (webhook workers, notification channels) when an incident has
something new."""

from __future__ import annotations

import asyncio

from broadcaster.core.events import Event
from broadcaster.incidents import KIND
from broadcaster.stores.base import Backend, Listener


class Heads:
    """The last seq of every incident log, as far as this process knows."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.known: dict[str, int] = {}
        self._bells: set[asyncio.Event] = set()

    def watch(self, bell: asyncio.Event) -> None:
        self._bells.add(bell)

    def forget(self, bell: asyncio.Event) -> None:
        self._bells.discard(bell)

    def note(self, log_name: str, seq: int) -> None:
        if seq > self.known.get(log_name, 0):
            self.known[log_name] = seq
            for bell in self._bells:
                bell.set()

    async def poll(self) -> None:
        """Read every incident log's head (catches events of other processes)."""
        for name, head in (await self.backend.heads(KIND)).items():
            self.note(name, head)


class Tap:
    """A :class:`Listener` in front of the hub: the hub gets everything as before, and
    the heads hear of every incident event this process sees, at once."""

    def __init__(self, inner: Listener, heads: Heads) -> None:
        self.inner = inner
        self.heads = heads

    def on_event(self, event: Event) -> None:
        self.inner.on_event(event)
        if event.log.startswith(f"{KIND}:"):
            self.heads.note(event.log, event.seq)

    def on_resync(self) -> None:
        self.inner.on_resync()
