"""One follower: it reads every incident log in order while this process holds its lease.

* **The lease** (a claim with a TTL in the store) is renewed every third of its TTL by a task
  of its own; :meth:`Follower.check_lease` holds back an attempt that might outlast it.
* **The progress document** (a :class:`~broadcaster.relay.rules.Progress`, or a subclass) is
  read once when the follower starts and written with a compare-and-set after each step: a
  follower that lost its lease cannot write over its successor's progress (it stops instead).
* **The order**: :meth:`Follower.pending` gives the next events of one incident log after its
  cursor, taking the logs in turn so that a busy incident does not starve the others.
* **Wake-ups**: ``events_bell`` rings when :class:`~broadcaster.relay.heads.Heads` learn of a
  new event; ``change_bell`` when what the follower serves may have changed (a registry).

A subclass implements :meth:`Follower.follow` (the loop) with these parts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Generic, TypeVar

from broadcaster.core.events import Event
from broadcaster.relay.heads import Heads
from broadcaster.relay.rules import Progress
from broadcaster.stores.base import Backend, BackendError

BATCH = 100
"""Events read from one incident log at a time."""
IDLE = 5.0
"""A follower with nothing to do looks again at least this often."""

P = TypeVar("P", bound=Progress)
log = logging.getLogger("incidents.relay")


class LeaseLost(Exception):
    """Another process follows now (or the store cannot tell)."""


class Follower(Generic[P]):
    """Follows every incident log while this process holds ``lease``; its progress is the
    document ``progress_key``, of type ``progress_type``."""

    progress_type: type[P]

    def __init__(
        self, backend: Backend, heads: Heads, owner: str, lease: str, lease_seconds: float,
        claimed_at: float, progress_key: str,
    ) -> None:  # fmt: skip
        self.backend = backend
        self.heads = heads
        self.owner = owner
        self.lease = lease
        self.lease_seconds = lease_seconds
        self.renewed = claimed_at
        self.progress_key = progress_key
        self.events_bell = asyncio.Event()  # new events
        self.change_bell = asyncio.Event()  # what is followed for may have changed
        self.progress: P = self.progress_type()
        self.version = 0
        self._rotation = 0

    async def follow(self) -> None:
        """The follower's own loop; returning ends the follower (and frees the lease)."""
        raise NotImplementedError

    async def run(self) -> None:
        """Follow until :meth:`follow` returns or the lease is lost; then release the lease."""
        self.heads.watch(self.events_bell)
        follow = asyncio.create_task(self.follow(), name=f"follow {self.lease}")
        keeper = asyncio.create_task(self._keep_lease(), name=f"lease {self.lease}")
        try:
            await asyncio.wait({follow, keeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.heads.forget(self.events_bell)
            for task in (follow, keeper):
                task.cancel()
            results = await asyncio.gather(follow, keeper, return_exceptions=True)
            with contextlib.suppress(BackendError):
                await self.backend.release(self.lease, self.owner)
        for result in results:
            if isinstance(result, LeaseLost):
                log.info("%s: %s", self.lease, result)
            elif isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result

    # --- the lease ---------------------------------------------------------------------

    def lease_left(self) -> float:
        return self.renewed + self.lease_seconds - time.monotonic()

    async def _keep_lease(self) -> None:
        ttl = self.lease_seconds
        while True:
            await asyncio.sleep(ttl / 3)
            started = time.monotonic()
            try:
                held = await self.backend.claim(self.lease, self.owner, ttl)
            except BackendError as exc:
                log.warning("%s: cannot renew the lease (%s)", self.lease, exc)
                continue
            if not held:
                raise LeaseLost("the lease lapsed and another process took over")
            self.renewed = started

    async def check_lease(self, margin: float) -> None:
        """Wait until the lease surely outlasts ``margin`` seconds; raise if it runs out."""
        while self.lease_left() < margin:
            if self.lease_left() <= 0:
                raise LeaseLost("the lease could not be renewed in time")
            await asyncio.sleep(0.1)

    # --- the progress ------------------------------------------------------------------

    async def load(self) -> int:
        """Read the progress document; its version (0: none yet)."""
        doc = await self.backend.get_doc(self.progress_key)
        if doc is None:
            self.progress, self.version = self.progress_type(), 0
        else:
            self.progress, self.version = self.progress_type.from_json(doc.value), doc.version
        return self.version

    async def save(self) -> None:
        """Write the progress with a compare-and-set; raise :class:`LeaseLost` when it was
        changed elsewhere (another process took over, or a person reset it)."""
        doc = await self.backend.put_doc(
            self.progress_key, self.progress.to_json(), expect_version=self.version
        )
        if doc is None:
            raise LeaseLost("its progress was changed elsewhere (taken over, or reset)")
        self.version = doc.version

    # --- the events --------------------------------------------------------------------

    async def pending(self, limit: int = BATCH) -> list[Event]:
        """The next events of one incident log, taking the logs in turn (a log the cursors
        do not know is new: it is read from its start)."""
        names = list(self.heads.known)
        for step in range(len(names)):
            name = names[(self._rotation + step) % len(names)]
            since = self.progress.cursors.get(name, 0)
            if self.heads.known[name] > since:
                self._rotation = (self._rotation + step + 1) % len(names)
                return await self.backend.read(name, since=since, limit=limit)
        return []

    async def idle(self, seconds: float = IDLE) -> None:
        """Wait for a bell, at most ``seconds``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(seconds, 0.0)):
                waits = [asyncio.ensure_future(b.wait()) for b in (self.events_bell, self.change_bell)]
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for wait in waits:
                        wait.cancel()
        self.change_bell.clear()

    async def pause(self, seconds: float, going_on: Callable[[], bool]) -> None:
        """Back off ``seconds``, waking early only when ``going_on()`` turns false after a
        change (the endpoint was disabled, say)."""
        if seconds <= 0:
            return
        self.change_bell.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while going_on():
                    await self.change_bell.wait()
                    self.change_bell.clear()
