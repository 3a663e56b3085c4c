"""Sending to one webhook endpoint, while this process holds its lease.

See :mod:`broadcaster.webhooks.delivery` for the whole: the lease, the order, the
wake-ups. A :class:`Worker` reads the endpoint's progress, sends each pending event
until it is acknowledged (backing off between failures), writes the cursor after each
one with a compare-and-set, and gives up on an endpoint failing for too long.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from datetime import timedelta
from typing import Protocol

import httpx

from broadcaster import __version__, metrics
from broadcaster.config import Settings
from broadcaster.core.events import Event, format_time, parse_time, utc_now
from broadcaster.core.types import JSON
from broadcaster.stores.base import Backend, BackendError
from broadcaster.webhooks.heads import Heads
from broadcaster.webhooks.registry import Webhooks, target_problem
from broadcaster.webhooks.rules import Endpoint, Progress, backoff, event_id, gives_up, headers, payload

BATCH = 100
"""Events read from one incident log at a time."""
IDLE = 5.0
"""A worker with nothing to do looks again at least this often."""
USER_AGENT = f"incidents-broadcaster/{__version__} (webhooks)"

log = logging.getLogger("incidents.webhooks")
# httpx logs every request at INFO; the delivery log already records each attempt.
logging.getLogger("httpx").setLevel(logging.WARNING)


class LeaseLost(Exception):
    """Another process delivers to this endpoint now (or the store cannot tell)."""


def lease_key(endpoint_id: str) -> str:
    return f"webhook:{endpoint_id}"


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class Deliverer(Protocol):
    """What a worker needs of its process's deliverer (:class:`broadcaster.webhooks.delivery.Deliverer`)."""

    backend: Backend
    settings: Settings
    webhooks: Webhooks
    heads: Heads
    process: str
    owner: str

    async def exercise(self, log_name: str) -> bool: ...


class Worker:
    """Delivers to one endpoint while this process holds its lease."""

    def __init__(self, deliverer: Deliverer, endpoint_id: str, claimed_at: float) -> None:
        self.d = deliverer
        self.id = endpoint_id
        self.renewed = claimed_at
        self.events_bell = asyncio.Event()  # new events
        self.registry_bell = asyncio.Event()  # the endpoint may have changed
        self.progress = Progress()
        self.version = 0
        self.secret = ""
        self._rotation = 0

    @property
    def settings(self) -> Settings:
        return self.d.settings

    async def run(self) -> None:
        """Deliver until the endpoint is disabled or deleted, or the lease is lost."""
        self.d.heads.watch(self.events_bell)
        deliver = asyncio.create_task(self._deliver(), name=f"webhook {self.id}")
        keeper = asyncio.create_task(self._keep_lease(), name=f"webhook lease {self.id}")
        try:
            await asyncio.wait({deliver, keeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self.d.heads.forget(self.events_bell)
            for task in (deliver, keeper):
                task.cancel()
            results = await asyncio.gather(deliver, keeper, return_exceptions=True)
            with contextlib.suppress(BackendError):
                await self.d.backend.release(lease_key(self.id), self.d.owner)
        for result in results:
            if isinstance(result, LeaseLost):
                log.info("webhook %s: %s", self.id, result)
            elif isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result

    def lease_left(self) -> float:
        return self.renewed + self.settings.webhook_lease_seconds - time.monotonic()

    async def _keep_lease(self) -> None:
        ttl = self.settings.webhook_lease_seconds
        while True:
            await asyncio.sleep(ttl / 3)
            started = time.monotonic()
            try:
                held = await self.d.backend.claim(lease_key(self.id), self.d.owner, ttl)
            except BackendError as exc:
                log.warning("webhook %s: cannot renew the lease (%s)", self.id, exc)
                continue
            if not held:
                raise LeaseLost("the lease lapsed and another process took the endpoint")
            self.renewed = started

    def _endpoint(self) -> Endpoint | None:
        found = self.d.webhooks.endpoints.get(self.id)
        return found if found is not None and found.enabled else None

    async def _deliver(self) -> None:
        self.progress, self.version = await self.d.webhooks.progress(self.id)
        self.secret = await self.d.webhooks.secret(self.id) or ""
        if not self.secret:
            return  # deleted meanwhile
        if self.progress.retry_at is not None:  # backing off before a restart: go on doing so
            await self._pause((parse_time(self.progress.retry_at) - utc_now()).total_seconds())
        async with httpx.AsyncClient(follow_redirects=False, headers={"User-Agent": USER_AGENT}) as client:
            while self._endpoint() is not None:
                self.events_bell.clear()
                pending = await self._pending()
                if not pending:
                    await self._idle()
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
                    await self._save()

    async def _pending(self) -> list[Event]:
        """The next events of one incident log, taking the logs in turn."""
        names = list(self.d.heads.known)
        for step in range(len(names)):
            name = names[(self._rotation + step) % len(names)]
            since = self.progress.cursors.get(name, 0)  # not known at registration: a new incident
            if self.d.heads.known[name] > since:
                self._rotation = (self._rotation + step + 1) % len(names)
                return await self.d.backend.read(name, since=since, limit=BATCH)
        return []

    async def _idle(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(IDLE):
                waits = [asyncio.ensure_future(b.wait()) for b in (self.events_bell, self.registry_bell)]
                try:
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for wait in waits:
                        wait.cancel()
        self.registry_bell.clear()

    async def _pause(self, seconds: float) -> None:
        """Back off, waking early only when the endpoint may have changed."""
        if seconds <= 0:
            return
        self.registry_bell.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                while self._endpoint() is not None:
                    await self.registry_bell.wait()
                    self.registry_bell.clear()

    async def _until_acknowledged(
        self, endpoint: Endpoint, client: httpx.AsyncClient, log_name: str, event: JSON
    ) -> bool:
        """Send ``event`` until a 2xx (True), or until the endpoint is disabled (False)."""
        exercise = await self.d.exercise(log_name)
        while True:
            await self._check_lease()
            error = await self._attempt(endpoint, client, event, exercise)
            now = utc_now()
            if error is None:
                self.progress.succeeded(log_name, event["seq"], format_time(now))
                await self._save()
                return True
            s = self.settings
            delay = backoff(self.progress.failures + 1, s.webhook_min_backoff, s.webhook_max_backoff,
                            random.random())  # fmt: skip
            self.progress.failed(error, format_time(now), format_time(now + timedelta(seconds=delay)))
            await self._save()
            if gives_up(self.progress, now, s.webhook_give_up_seconds):
                await self.d.webhooks.give_up(endpoint, self.progress)
                return False
            await self._pause(delay)
            found = self._endpoint()
            if found is None:
                return False
            endpoint = found  # its URL cannot change, but take the latest

    async def _check_lease(self) -> None:
        """Wait until the lease surely outlasts one request; raise if it runs out."""
        while self.lease_left() < self.settings.webhook_timeout + 1:
            if self.lease_left() <= 0:
                raise LeaseLost("the lease could not be renewed in time")
            await asyncio.sleep(0.1)

    async def _attempt(
        self, endpoint: Endpoint, client: httpx.AsyncClient, event: JSON, exercise: bool
    ) -> str | None:
        """POST once; None on a 2xx, else what went wrong. Every attempt is logged."""
        body, delivery = payload(event, exercise), secrets.token_hex(8)
        timeout = self.settings.webhook_timeout
        status, error = None, None
        started = time.perf_counter()
        try:
            if not self.settings.webhook_allow_private and (why := await target_problem(endpoint.url)):
                error = f"refused: {why}"
            else:
                async with asyncio.timeout(timeout):
                    sent = headers(self.secret, body, event, delivery, int(time.time()))
                    async with client.stream("POST", endpoint.url, content=body, headers=sent) as answer:
                        status = answer.status_code  # the body is not read: a 2xx is all that counts
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

    async def _save(self) -> None:
        version = await self.d.webhooks.save_progress(self.id, self.progress, self.version)
        if version is None:
            raise LeaseLost("its progress was changed elsewhere (re-enabled, or taken over)")
        self.version = version
