"""Webhook delivery: one background loop per server process, one task per endpoint.

* **Once across processes.** A process delivers to an endpoint only while it holds the
  lease ``webhook:{id}`` (a claim with a TTL, renewed every third of it). One that dies
  stops renewing; when the lease lapses another process takes over from the persisted
  progress. Each acknowledged event moves the endpoint's cursor in its progress
  document with a compare-and-set, so a process that lost the lease cannot write over
  its successor; and a request is only started while the lease has longer to run than
  the request may take.
* **At least once, in order.** Event N+1 of an incident goes out only after N was
  answered 2xx. A crash between the receiver's 2xx and the cursor write means that
  event is sent again: receivers de-duplicate by its id.
* **Isolation.** Each endpoint has its own task, HTTP client and timeout, so a stalled
  or failing receiver only holds up itself. Failures back off exponentially with
  jitter (:func:`broadcaster.webhooks.rules.backoff`); an endpoint failing for
  ``webhook_give_up_seconds`` is disabled and the administrators are told.
* **Prompt.** Events this process sees (every event with SQLite; with Redis those it
  appends itself or follows live) ring the workers at once through :class:`Tap`; the
  heads of all incident logs are polled every ``webhook_poll_seconds`` for the rest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time

from broadcaster.config import Settings
from broadcaster.stores.base import Backend, BackendError, Listener
from broadcaster.webhooks.heads import Heads, Tap
from broadcaster.webhooks.registry import Webhooks
from broadcaster.webhooks.worker import Worker, lease_key

CLAIM_RETRY = 1.0
"""Seconds between attempts to take an endpoint another process holds."""

log = logging.getLogger("incidents.webhooks")


class Deliverer:
    """This process's part of webhook delivery: it takes free endpoints and runs a
    :class:`Worker` for each one it holds."""

    def __init__(self, backend: Backend, settings: Settings) -> None:
        self.backend = backend
        self.settings = settings
        self.webhooks = Webhooks(backend, settings.webhook_log_keep)
        self.heads = Heads(backend)
        self.process = f"{socket.gethostname()}:{os.getpid()}"
        self.owner = f"{self.process}:{secrets.token_hex(4)}"
        self.workers: dict[str, asyncio.Task[None]] = {}
        self._running: dict[str, Worker] = {}
        self._not_before: dict[str, float] = {}
        self._exercise: dict[str, bool] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self.webhooks.on_change = self._wake.set

    def tap(self, inner: Listener) -> Tap:
        """The listener to give the backend in front of ``inner`` (the hub)."""
        return Tap(inner, self.heads)

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="webhooks")

    async def aclose(self) -> None:
        """Stop every worker (their leases are released, so another process takes
        over at once) and the loop. An unanswered request counts as not delivered."""
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:  # first the loop, so that it takes no endpoint meanwhile
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        for worker in list(self.workers.values()):
            worker.cancel()
        await asyncio.gather(*self.workers.values(), return_exceptions=True)

    async def exercise(self, log_name: str) -> bool:
        """Whether the incident is a drill (fixed when it is opened)."""
        if log_name not in self._exercise:
            first = await self.backend.read(log_name, since=0, limit=1)
            self._exercise[log_name] = bool(first and first[0].decode()["data"].get("exercise"))
        return self._exercise[log_name]

    async def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.tick()
            except BackendError as exc:
                log.warning("webhooks: store unavailable (%s); trying again", exc)
            except Exception:
                log.exception("webhooks: unexpected error; going on")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.webhook_poll_seconds):
                    await self._wake.wait()

    async def tick(self) -> None:
        """Catch up with the registry, take free endpoints, poll the heads."""
        seen = self.webhooks.seq
        endpoints = await self.webhooks.refresh()
        if self.webhooks.seq != seen:
            for worker in self._running.values():
                worker.registry_bell.set()
        for endpoint in list(endpoints.values()):
            if self._stopping:
                return
            busy = endpoint.id in self.workers or self._not_before.get(endpoint.id, 0.0) > time.monotonic()
            if endpoint.enabled and not busy:
                await self._take(endpoint.id)
        if self.workers:
            await self.heads.poll()

    async def _take(self, endpoint_id: str) -> None:
        claimed_at = time.monotonic()
        if not await self.backend.claim(
            lease_key(endpoint_id), self.owner, self.settings.webhook_lease_seconds
        ):
            self._not_before[endpoint_id] = time.monotonic() + CLAIM_RETRY
            return
        if not self.workers:  # heads are polled only while a worker runs: they may be stale
            await self.heads.poll()
        worker = Worker(self, endpoint_id, claimed_at)
        task = asyncio.create_task(self._guard(worker), name=f"webhook worker {endpoint_id}")
        self.workers[endpoint_id], self._running[endpoint_id] = task, worker

    async def _guard(self, worker: Worker) -> None:
        try:
            await worker.run()
        except BackendError as exc:
            log.warning("webhook %s: store unavailable (%s); retrying", worker.id, exc)
        except Exception:
            log.exception("webhook %s: unexpected error; retrying", worker.id)
        finally:
            self.workers.pop(worker.id, None)
            self._running.pop(worker.id, None)
            self._not_before[worker.id] = time.monotonic() + CLAIM_RETRY
            self._wake.set()
