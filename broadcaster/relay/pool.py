"""A process's part of relaying: a loop that takes free leases and runs a follower for each.

A subclass (the webhook deliverer, the notifier) says what there is to follow in
:meth:`Relay.tick` and calls :meth:`Relay.take` for each follower it wants; the pool claims
the lease, runs the follower in a task of its own and, when it ends (lease lost, store
unavailable, an unexpected error), frees its place and looks again after ``CLAIM_RETRY``.
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
from typing import Any

from broadcaster.relay.follower import Follower
from broadcaster.relay.heads import Heads, Tap
from broadcaster.stores.base import Backend, BackendError, Listener

CLAIM_RETRY = 1.0
"""Seconds between attempts to take a lease another process holds."""


class Relay:
    """Runs the followers this process holds the lease of; ``name`` names its tasks and logs."""

    def __init__(self, backend: Backend, name: str, lease_seconds: float, poll_seconds: float) -> None:
        self.backend = backend
        self.name = name
        self.lease_seconds = lease_seconds
        self.poll_seconds = poll_seconds
        self.heads = Heads(backend)
        self.process = f"{socket.gethostname()}:{os.getpid()}"
        self.owner = f"{self.process}:{secrets.token_hex(4)}"
        self.log = logging.getLogger(f"incidents.{name}")
        self.workers: dict[str, asyncio.Task[None]] = {}
        self.running: dict[str, Follower[Any]] = {}
        self._not_before: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False

    def tap(self, inner: Listener) -> Tap:
        """The listener to give the backend in front of ``inner`` (the hub, or another tap)."""
        return Tap(inner, self.heads)

    def wake(self) -> None:
        """Run :meth:`tick` soon."""
        self._wake.set()

    @property
    def stopping(self) -> bool:
        return self._stopping

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=self.name)

    async def aclose(self) -> None:
        """Stop every follower (their leases are released, so another process takes over at
        once) and the loop. Work under way counts as not done."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:  # first the loop, so that it takes nothing meanwhile
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for worker in list(self.workers.values()):
            worker.cancel()
        await asyncio.gather(*self.workers.values(), return_exceptions=True)

    async def tick(self) -> None:
        """Look at what there is to follow; :meth:`take` what is free."""
        raise NotImplementedError

    def free(self, key: str) -> bool:
        """Not followed here, and not tried too recently."""
        return key not in self.workers and self._not_before.get(key, 0.0) <= time.monotonic()

    async def take(self, key: str, lease: str, make: Callable[[float], Follower[Any]]) -> bool:
        """Claim ``lease`` and run ``make(claimed_at)`` as the follower ``key``; False when
        another process holds it."""
        claimed_at = time.monotonic()
        if not await self.backend.claim(lease, self.owner, self.lease_seconds):
            self._not_before[key] = time.monotonic() + CLAIM_RETRY
            return False
        if not self.workers:  # heads are polled only while a follower runs: they may be stale
            await self.heads.poll()
        follower = make(claimed_at)
        task = asyncio.create_task(self._guard(key, follower), name=f"{self.name} {key}")
        self.workers[key], self.running[key] = task, follower
        return True

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.tick()
                if self.workers:
                    await self.heads.poll()
            except BackendError as exc:
                self.log.warning("%s: store unavailable (%s); trying again", self.name, exc)
            except Exception:
                self.log.exception("%s: unexpected error; going on", self.name)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.poll_seconds):
                    await self._wake.wait()

    async def _guard(self, key: str, follower: Follower[Any]) -> None:
        try:
            await follower.run()
        except BackendError as exc:
            self.log.warning("%s %s: store unavailable (%s); retrying", self.name, key, exc)
        except Exception:
            self.log.exception("%s %s: unexpected error; retrying", self.name, key)
        finally:
            self.workers.pop(key, None)
            self.running.pop(key, None)
            self._not_before[key] = time.monotonic() + CLAIM_RETRY
            self._wake.set()
