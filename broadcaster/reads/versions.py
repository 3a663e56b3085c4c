"""What the incidents' logs are at, as this process knows it, checked against the store at
most every ``freshness`` seconds.

A cached representation names the version it was built from; serving it costs a dict
lookup while the version is fresh. Appends this process hears (its own writes, and on
Redis the channels it follows) move a version at once; a write request that passed through
this process marks its incident for a check on the next read; anything else (another
process's write) is seen within ``freshness``: one ``head`` read per incident (one
``heads`` read for the lists) per interval, however many readers ask meanwhile.
"""

from __future__ import annotations

import asyncio
import time

from broadcaster.core.events import Event
from broadcaster.stores.base import Backend, Listener

__all__ = ["VersionTap", "Versions"]

KIND = "incident"


class Versions:
    def __init__(self, backend: Backend, freshness: float) -> None:
        self.backend = backend
        self.freshness = freshness
        self._heads: dict[str, tuple[int, float]] = {}
        self._all: tuple[int, float] = (0, -1.0e9)
        self._checking: dict[str, asyncio.Future[int]] = {}

    # --- what this process hears ------------------------------------------------------

    def heard(self, incident: str, seq: int) -> None:
        """An append this process saw: the version moves now (the lists' on next read)."""
        known = self._heads.get(incident)
        if known is None or seq > known[0]:
            self._heads[incident] = (seq, time.monotonic())
        self._all = (self._all[0], -1.0e9)

    def touched(self, incident: str | None) -> None:
        """A write passed through (its result unknown here): check on the next read."""
        if incident is not None and incident in self._heads:
            self._heads[incident] = (self._heads[incident][0], -1.0e9)
        self._all = (self._all[0], -1.0e9)

    def forget(self) -> None:
        """The store link was re-established: trust nothing known so far."""
        self._heads.clear()
        self._all = (self._all[0], -1.0e9)

    # --- what readers ask -------------------------------------------------------------

    def fresh(self, incident: str | None) -> int | None:
        """The version if known fresh (None: :meth:`check` it). ``incident`` None: every
        incident's (the lists)."""
        seq, checked = self._all if incident is None else self._heads.get(incident, (0, -1.0e9))
        return seq if time.monotonic() - checked < self.freshness else None

    async def check(self, incident: str | None) -> int:
        """The version read from the store; concurrent callers share one read."""
        name = incident or ""
        pending = self._checking.get(name)
        if pending is None:
            pending = asyncio.ensure_future(self._read(incident))
            self._checking[name] = pending
            pending.add_done_callback(lambda _: self._checking.pop(name, None))
        return await asyncio.shield(pending)

    async def _read(self, incident: str | None) -> int:
        started = time.monotonic()
        if incident is None:
            heads = await self.backend.heads(KIND)
            # Heads only grow and a new log adds one: the sum moves with every change.
            total = sum(heads.values())
            self._all = (total, started)
            return total
        seq = await self.backend.head(f"{KIND}:{incident}")
        known = self._heads.get(incident)
        if known is None or seq >= known[0] or known[1] < 0:
            self._heads[incident] = (seq, started)
        return self._heads[incident][0]


class VersionTap:
    """A :class:`Listener` in front of another: it passes everything on and moves the
    versions of the incidents it hears of."""

    def __init__(self, inner: Listener, versions: Versions) -> None:
        self.inner = inner
        self.versions = versions

    def on_event(self, event: Event) -> None:
        self.inner.on_event(event)
        if event.log.startswith(f"{KIND}:"):
            self.versions.heard(event.log[len(KIND) + 1 :], event.seq)

    def on_resync(self) -> None:
        self.inner.on_resync()
        self.versions.forget()
