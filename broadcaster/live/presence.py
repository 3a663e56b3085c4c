"""How many people watch each log now, across every server process.

The hub counts only its own readers. Each process publishes its counts (logs with at least one
reader) into one shared document, ``live:watchers``, every :data:`PUBLISH_SECONDS` when they
changed and at least every :data:`HEARTBEAT_SECONDS`, with the time it wrote them; the console sums
the entries. An entry not refreshed for :data:`STALE_SECONDS` (its process died or lost the
store) is ignored, and dropped by the next process that writes. Writes are compare-and-set,
so processes writing at once never lose each other's counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable

from broadcaster.core.types import JSON
from broadcaster.live.hub import Hub
from broadcaster.stores.base import Backend, BackendError

log = logging.getLogger("incidents.presence")

KEY = "live:watchers"
PUBLISH_SECONDS = 2.0
HEARTBEAT_SECONDS = 10.0
STALE_SECONDS = 30.0
ATTEMPTS = 8


class Presence:
    """This process's part: publishes the hub's counts, and sums every process's."""

    def __init__(self, backend: Backend, hub: Hub, clock: Callable[[], float] = time.time) -> None:
        self.backend = backend
        self.hub = hub
        self.clock = clock
        self.process = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._sent: dict[str, int] | None = None
        self._sent_at = 0.0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="presence")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(BackendError):
            await self._write(None)  # leave at once rather than after STALE_SECONDS

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(PUBLISH_SECONDS)
            try:
                await self.publish()
            except BackendError as exc:  # the store is away: try again next turn
                log.debug("cannot publish watcher counts: %s", exc)

    async def publish(self) -> None:
        """Write this process's counts if they changed or the heartbeat is due."""
        counts = self.hub.counts()
        if counts == self._sent and self.clock() - self._sent_at < HEARTBEAT_SECONDS:
            return
        await self._write(counts)
        self._sent, self._sent_at = counts, self.clock()

    async def _write(self, counts: dict[str, int] | None) -> None:
        for _ in range(ATTEMPTS):
            doc = await self.backend.get_doc(KEY)
            now = self.clock()
            processes = {
                name: entry
                for name, entry in _processes(doc.value if doc else None).items()
                if name != self.process and now - float(entry.get("at", 0)) < STALE_SECONDS
            }
            if counts is not None:
                processes[self.process] = {"at": now, "counts": counts}
            if await self.backend.put_doc(
                KEY, {"processes": processes}, expect_version=doc.version if doc else 0
            ):
                return
        log.warning("watcher counts not published: the document kept changing")

    async def watchers(self, log_name: str) -> int:
        """Readers of ``log_name`` on every live process (this one counted as of now)."""
        return (await self.all()).get(log_name, 0)

    async def all(self) -> dict[str, int]:
        """Readers per log on every live process."""
        doc = await self.backend.get_doc(KEY)
        now = self.clock()
        total = dict(self.hub.counts())
        for name, entry in _processes(doc.value if doc else None).items():
            if name == self.process or now - float(entry.get("at", 0)) >= STALE_SECONDS:
                continue
            for log_name, n in dict(entry.get("counts") or {}).items():
                total[log_name] = total.get(log_name, 0) + int(n)
        return total


def _processes(value: JSON | None) -> dict[str, JSON]:
    found = (value or {}).get("processes")
    return found if isinstance(found, dict) else {}
