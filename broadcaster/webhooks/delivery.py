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
  appends itself or follows live) ring the workers at once through the relay's ``Tap``; the
  heads of all incident logs are polled every ``webhook_poll_seconds`` for the rest.

The lease, the cursors, the compare-and-set, the order and the wake-ups are
:mod:`broadcaster.relay`'s, shared with notifications; this module and :mod:`worker` say
what is delivered and how.
"""

from __future__ import annotations

from functools import partial

from broadcaster.config import Settings
from broadcaster.relay import Relay
from broadcaster.stores.base import Backend
from broadcaster.webhooks.registry import Webhooks
from broadcaster.webhooks.worker import Worker, lease_key


class Deliverer(Relay):
    """This process's part of webhook delivery: it takes free endpoints and runs a
    :class:`Worker` for each one it holds (a :class:`broadcaster.relay.Relay`)."""

    def __init__(self, backend: Backend, settings: Settings) -> None:
        super().__init__(backend, "webhooks", settings.webhook_lease_seconds, settings.webhook_poll_seconds)
        self.settings = settings
        self.webhooks = Webhooks(backend, settings.webhook_log_keep)
        self._exercise: dict[str, bool] = {}
        self.webhooks.on_change = self.wake

    async def exercise(self, log_name: str) -> bool:
        """Whether the incident is a drill (fixed when it is opened)."""
        if log_name not in self._exercise:
            first = await self.backend.read(log_name, since=0, limit=1)
            self._exercise[log_name] = bool(first and first[0].decode()["data"].get("exercise"))
        return self._exercise[log_name]

    async def tick(self) -> None:
        """Catch up with the registry, take free endpoints (the heads are polled by the relay)."""
        seen = self.webhooks.seq
        endpoints = await self.webhooks.refresh()
        if self.webhooks.seq != seen:
            for worker in self.running.values():
                worker.change_bell.set()
        for endpoint in list(endpoints.values()):
            if self.stopping:
                return
            if endpoint.enabled and self.free(endpoint.id):
                await self.take(endpoint.id, lease_key(endpoint.id), partial(Worker, self, endpoint.id))
