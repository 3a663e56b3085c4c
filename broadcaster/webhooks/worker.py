"""Sending to one webhook endpoint, while this process holds its lease.

See :mod:`broadcaster.webhooks.delivery` for the whole, and :mod:`broadcaster.relay` for the
lease, the order and the wake-ups. A :class:`Worker` reads the endpoint's progress, sends
each pending event until it is acknowledged (backing off between failures), writes the
cursor after each one with a compare-and-set, and gives up on an endpoint failing for too long.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
import time
from datetime import timedelta
from typing import Protocol

import httpx

from broadcaster import __version__, metrics
from broadcaster.config import Settings
from broadcaster.core.events import format_time, parse_time, utc_now
from broadcaster.core.types import JSON
from broadcaster.relay import Follower, Heads, Progress, backoff, gives_up
from broadcaster.stores.base import Backend
from broadcaster.web.targets import PublicOnly, Refused
from broadcaster.webhooks.registry import Webhooks, progress_key
from broadcaster.webhooks.rules import Endpoint, event_id, payload
from broadcaster.webhooks.signing import headers

USER_AGENT = f"incidents-broadcaster/{__version__} (webhooks)"

log = logging.getLogger("incidents.webhooks")
# httpx logs every request at INFO; the delivery log already records each attempt.
logging.getLogger("httpx").setLevel(logging.WARNING)


def lease_key(endpoint_id: str) -> str:
    return f"webhook:{endpoint_id}"


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class NotDelivered(Exception):
    """Nothing was sent (the endpoint's secret is gone: deleted meanwhile)."""


class Deliverer(Protocol):
    """What a worker needs of its process's deliverer (:class:`broadcaster.webhooks.delivery.Deliverer`)."""

    backend: Backend
    settings: Settings
    webhooks: Webhooks
    heads: Heads
    process: str
    owner: str

    async def exercise(self, log_name: str) -> bool: ...


class Worker(Follower[Progress]):
    """Delivers to one endpoint while this process holds its lease (a
    :class:`broadcaster.relay.Follower`: the lease, the cursors, the order are the relay's)."""

    progress_type = Progress

    def __init__(self, deliverer: Deliverer, endpoint_id: str, claimed_at: float) -> None:
        s = deliverer.settings
        super().__init__(deliverer.backend, deliverer.heads, deliverer.owner, lease_key(endpoint_id),
                         s.webhook_lease_seconds, claimed_at, progress_key(endpoint_id))  # fmt: skip
        self.d = deliverer
        self.id = endpoint_id
        self.secret = ""

    @property
    def registry_bell(self) -> asyncio.Event:
        return self.change_bell

    @property
    def settings(self) -> Settings:
        return self.d.settings

    def _endpoint(self) -> Endpoint | None:
        found = self.d.webhooks.endpoints.get(self.id)
        return found if found is not None and found.enabled else None

    async def follow(self) -> None:
        """Deliver until the endpoint is disabled or deleted (the lease is the relay's)."""
        await self.load()
        self.secret = await self.d.webhooks.secret(self.id) or ""
        if not self.secret:
            return  # deleted meanwhile
        if self.progress.retry_at is not None:  # backing off before a restart: go on doing so
            await self._pause((parse_time(self.progress.retry_at) - utc_now()).total_seconds())
        # Unless private targets are allowed, each connection goes only to a public address,
        # judged when it is made (web/targets.py): a name registered while it resolved to a
        # public address cannot send a delivery into the server's own network later.
        transport = None if self.settings.webhook_allow_private else PublicOnly()
        async with httpx.AsyncClient(
            follow_redirects=False, headers={"User-Agent": USER_AGENT}, transport=transport
        ) as client:
            while self._endpoint() is not None:
                self.events_bell.clear()
                pending = await self.pending()
                if not pending:
                    await self.idle()
                    continue
                skipped = False
                for event in pending:
                    endpoint = self._endpoint()
                    if endpoint is None:
                        return
                    decoded = event.decode()
                    if not endpoint.wants(decoded["type"]):
                        self.progress.cursors[event.log], skipped = event.seq, True
                    elif not await self._until_acknowledged(endpoint, client, event.log, decoded):
                        return
                if skipped:
                    await self.save()

    async def _pause(self, seconds: float) -> None:
        """Back off, waking early only when the endpoint may have changed."""
        await self.pause(seconds, lambda: self._endpoint() is not None)

    async def _until_acknowledged(
        self, endpoint: Endpoint, client: httpx.AsyncClient, log_name: str, event: JSON
    ) -> bool:
        """Send ``event`` until a 2xx (True), or until the endpoint is disabled (False)."""
        exercise = await self.d.exercise(log_name)
        while True:
            await self.check_lease(self.settings.webhook_timeout + 1)
            error = await self._attempt(endpoint, client, event, exercise)
            now = utc_now()
            if error is None:
                self.progress.succeeded(log_name, event["seq"], format_time(now))
                await self.save()
                return True
            s = self.settings
            delay = backoff(self.progress.failures + 1, s.webhook_min_backoff, s.webhook_max_backoff,
                            random.random())  # fmt: skip
            self.progress.failed(error, format_time(now), format_time(now + timedelta(seconds=delay)))
            await self.save()
            if gives_up(self.progress, now, s.webhook_give_up_seconds):
                await self.d.webhooks.give_up(endpoint, self.progress)
                return False
            await self._pause(delay)
            found = self._endpoint()
            if found is None:
                return False
            endpoint = found  # its URL cannot change, but take the latest

    async def _attempt(
        self, endpoint: Endpoint, client: httpx.AsyncClient, event: JSON, exercise: bool
    ) -> str | None:
        """POST once; None on a 2xx, else what went wrong. Every attempt is logged."""
        body, delivery = payload(event, exercise), secrets.token_hex(8)
        timeout = self.settings.webhook_timeout
        status, error = None, None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                held = await self.d.webhooks.secrets(self.id)
                if held is None:
                    raise NotDelivered("the endpoint was deleted")
                now = time.time()
                msg_id = event_id(event["incident"], event["seq"])
                sent = headers(held.in_force(now), body, msg_id, str(event["type"]), int(now))
                async with client.stream("POST", endpoint.url, content=body, headers=sent) as answer:
                    status = answer.status_code  # the body is not read: a 2xx is all that counts
        except (Refused, NotDelivered) as exc:
            error = str(exc)
        except TimeoutError:
            error = f"no answer within {timeout:g} s"
        except (httpx.HTTPError, httpx.InvalidURL, ValueError, OSError) as exc:
            error = describe(exc)  # any failure to deliver is the endpoint's; it is retried
        if status is not None and not 200 <= status < 300:
            error = f"HTTP {status}"
        duration = time.perf_counter() - started
        metrics.WEBHOOK_ATTEMPTS.labels("failed" if error else "ok").inc()
        await self.d.webhooks.record_attempt(self.id, {
            "event_id": event_id(event["incident"], event["seq"]), "incident": event["incident"],
            "event_seq": event["seq"], "type": event["type"], "attempt": self.progress.failures + 1,
            "delivery": delivery, "status": status, "error": error, "ok": error is None,
            "duration_ms": round(duration * 1000, 1), "process": self.d.process,
        })  # fmt: skip
        return error
