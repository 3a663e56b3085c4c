"""Webhook endpoints in the store: the registry, secrets, progress and delivery log.

Keys (all in the backend, so every process sees the same):

* ``webhooks:all``: the registry log (:mod:`broadcaster.webhooks.rules`);
* ``webhook-secret:{id}``: the signing secret (kept as is: it keys an HMAC; cleared on delete);
* ``webhook-progress:{id}``: :class:`~broadcaster.webhooks.rules.Progress`, written after every
  acknowledged event; the compare-and-set on its version fences a process that lost
  the endpoint's lease;
* ``webhook-deliveries:{id}``: a log of every attempt (the console's delivery log), trimmed
  to its newest ``delivery_log_keep`` attempts (:meth:`Webhooks.record_attempt`).

A change to an endpoint is decided on the folded registry and appended with
``expect_seq`` (someone changed the registry first: decide again), like incidents in
:mod:`broadcaster.incidents.publishing`, and goes on the audit log.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable

import httpx

from broadcaster.accounts import Actor, Operator, audit
from broadcaster.core.timeline import NotFound, RuleViolation
from broadcaster.core.types import JSON
from broadcaster.incidents import KIND
from broadcaster.stores.base import Backend, BackendError, SeqConflict
from broadcaster.web.targets import target_problem
from broadcaster.webhooks.rules import (
    LOG,
    Decision,
    Endpoint,
    Progress,
    State,
    apply,
    check_events,
    check_url,
    decide_delete,
    decide_disable,
    decide_enable,
    decide_register,
    listing,
)
from broadcaster.webhooks.signing import Secrets, new_secret

MAX_ATTEMPTS = 20
DELIVERY_LOG_KEEP = 1000
"""Attempts kept in each endpoint's delivery log (``INCIDENTS_WEBHOOK_LOG_KEEP``)."""
TRIM_EVERY = 100
"""A delivery log is trimmed when an append's seq is a multiple of this (or of the bound, if
smaller): one trim per 100 attempts, and a log holds fewer than ``keep + TRIM_EVERY``."""
SYSTEM = Actor(Operator("system", "system", True), None)
"""Who the audit log names for what the server decides by itself (giving up on an endpoint)."""

log = logging.getLogger("incidents.webhooks")


def secret_key(endpoint_id: str) -> str:
    return f"webhook-secret:{endpoint_id}"


def progress_key(endpoint_id: str) -> str:
    return f"webhook-progress:{endpoint_id}"


def deliveries_log(endpoint_id: str) -> str:
    return f"webhook-deliveries:{endpoint_id}"


class Webhooks:
    """The registry as this process knows it, and every change to it."""

    def __init__(self, backend: Backend, delivery_log_keep: int = DELIVERY_LOG_KEEP) -> None:
        self.backend = backend
        self.delivery_log_keep = delivery_log_keep
        self.endpoints: dict[str, Endpoint] = {}
        self.seq = 0
        self._lock = asyncio.Lock()
        self.on_change: Callable[[], None] | None = None
        """Called after this process changed the registry (wakes the deliverer)."""

    async def refresh(self) -> dict[str, Endpoint]:
        """Catch up with the registry log."""
        async with self._lock:
            for event in await self.backend.read(LOG, since=self.seq):
                if event.seq != self.seq + 1:
                    break
                apply(self.endpoints, event.decode())
                self.seq = event.seq
        return self.endpoints

    async def get(self, endpoint_id: str) -> Endpoint:
        """Raises NotFound for an unknown or deleted endpoint."""
        found = (await self.refresh()).get(endpoint_id)
        if found is None or found.state == State.DELETED:
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        return found

    async def overview(self) -> list[tuple[Endpoint, Progress]]:
        """Endpoints (not deleted), oldest first, with their progress."""
        chosen = listing((await self.refresh()).values())
        return [(endpoint, (await self.progress(endpoint.id))[0]) for endpoint in chosen]

    async def register(
        self, url: str, events: list[str], by: Actor, allow_private: bool = False
    ) -> tuple[Endpoint, str]:
        """A new endpoint and its secret (returned this once). It gets every event
        appended from now on: its cursors start at the head of every incident.

        Raises:
            ValueError: a bad URL or event type (HTTP 422).
        """
        url, events = check_url(url, allow_private), check_events(events)
        try:
            httpx.URL(url)  # what the sender will parse: a host name IDNA cannot encode, say
        except httpx.InvalidURL as exc:
            raise ValueError(f"url: not a valid URL ({exc})") from exc
        if not allow_private and (why := await target_problem(url)) is not None:
            raise ValueError(f"url: {why}; this server does not send webhooks to private addresses")
        endpoint_id, secret = secrets.token_hex(6), new_secret(secrets.token_bytes(32))
        heads = await self.backend.heads(KIND)
        await self.backend.put_doc(secret_key(endpoint_id), {"secret": secret}, expect_version=0)
        await self.backend.put_doc(progress_key(endpoint_id), Progress(heads).to_json(), expect_version=0)
        await self.backend.append(LOG, *decide_register(endpoint_id, url, events, by.operator.id))
        await audit.record(self.backend, by, "webhook.registered", target=endpoint_id,
                     detail={"url": url, "events": events})  # fmt: skip
        self._changed()
        return await self.get(endpoint_id), secret

    async def disable(self, endpoint_id: str, by: Actor, reason: str) -> Endpoint:
        """Raises NotFound, RuleViolation (not enabled)."""
        return await self._change(endpoint_id, lambda e: decide_disable(e, reason), by)

    async def enable(self, endpoint_id: str, by: Actor) -> Endpoint:
        """Enable again; delivery resumes where it stopped, with a fresh failure streak.
        Raises NotFound, RuleViolation (not disabled)."""
        decide_enable(await self.get(endpoint_id))  # refuse before touching the progress
        await self._update_progress(endpoint_id, _fresh_streak)
        return await self._change(endpoint_id, decide_enable, by)

    async def delete(self, endpoint_id: str, by: Actor) -> Endpoint:
        """Delete for good (its secret too). Raises NotFound."""
        done = await self._change(endpoint_id, decide_delete, by)
        for _ in range(MAX_ATTEMPTS):
            doc = await self.backend.get_doc(secret_key(endpoint_id))
            stored = await self.backend.put_doc(
                secret_key(endpoint_id), {"secret": None}, expect_version=doc.version if doc else 0
            )
            if stored is not None:
                break
        return done

    async def give_up(self, endpoint: Endpoint, progress: Progress) -> bool:
        """Disable an endpoint that kept failing (once, whichever process tries).
        Returns whether this call disabled it."""
        reason = f"failing since {progress.failing_since}: {progress.last_error}"
        key = f"give-up:{endpoint.id}:{progress.failing_since}"
        try:
            type_, data = decide_disable(endpoint, reason, automatic=True)
        except RuleViolation:
            return False  # disabled or deleted meanwhile
        done = await self.backend.append(LOG, type_, data, idem_key=key)
        if done.created:
            await audit.record(self.backend, SYSTEM, "webhook.disabled", target=endpoint.id,
                         detail={"url": endpoint.url, "reason": reason, "automatic": True})  # fmt: skip
            log.warning("webhook endpoint %s (%s) disabled: %s", endpoint.id, endpoint.url, reason)
        await self.refresh()
        return done.created

    async def _change(self, endpoint_id: str, decide: Callable[[Endpoint], Decision], by: Actor) -> Endpoint:
        for _ in range(MAX_ATTEMPTS):
            endpoint = await self.get(endpoint_id)
            seq = self.seq  # the state ``endpoint`` is at (no await in between)
            type_, data = decide(endpoint)
            try:
                await self.backend.append(LOG, type_, data, expect_seq=seq)
            except SeqConflict:
                continue  # another change came first: decide again on the new state
            detail = {"url": endpoint.url, **{k: v for k, v in data.items() if k != "id"}}
            await audit.record(self.backend, by, str(type_), target=endpoint_id, detail=detail)
            self._changed()
            return (await self.refresh())[endpoint_id]
        raise BackendError("the webhook registry is changing too fast; try again")

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # --- secrets, progress, attempts -------------------------------------------------

    async def secret(self, endpoint_id: str) -> str | None:
        found = await self.secrets(endpoint_id)
        return found.current if found else None

    async def secrets(self, endpoint_id: str) -> Secrets | None:
        """The current secret and, after a rotation, the previous one (None once deleted)."""
        doc = await self.backend.get_doc(secret_key(endpoint_id))
        return Secrets.from_json(doc.value) if doc else None

    async def rotate_secret(
        self, endpoint_id: str, by: Actor, overlap: float, now: float
    ) -> tuple[str, float | None]:
        """A new secret (returned this once); the one before keeps signing for ``overlap``
        seconds, so receivers can switch without a delivery failing. Returns the new secret and
        when the previous one stops signing. Raises NotFound (deleted, or never registered)."""
        endpoint = await self.get(endpoint_id)
        if endpoint.state is State.DELETED:
            raise NotFound(f"no webhook endpoint {endpoint_id}")
        fresh = new_secret(secrets.token_bytes(32))
        for _ in range(MAX_ATTEMPTS):
            doc = await self.backend.get_doc(secret_key(endpoint_id))
            held = Secrets.from_json(doc.value) if doc else None
            if doc is None or held is None:
                raise NotFound(f"no webhook endpoint {endpoint_id}")
            rotated = held.rotated(fresh, now, overlap)
            if await self.backend.put_doc(
                secret_key(endpoint_id), rotated.to_json(), expect_version=doc.version
            ):
                await audit.record(self.backend, by, "webhook.secret_rotated", target=endpoint_id,
                                   detail={"url": endpoint.url, "overlap_seconds": overlap})  # fmt: skip
                return fresh, rotated.previous_until
        raise BackendError("the webhook secret is changing too fast; try again")

    async def progress(self, endpoint_id: str) -> tuple[Progress, int]:
        """The endpoint's progress and its document version (0: none yet)."""
        doc = await self.backend.get_doc(progress_key(endpoint_id))
        return (Progress.from_json(doc.value), doc.version) if doc else (Progress(), 0)

    async def save_progress(self, endpoint_id: str, progress: Progress, version: int) -> int | None:
        """Store it if nobody else did since ``version``; the new version, or None."""
        doc = await self.backend.put_doc(
            progress_key(endpoint_id), progress.to_json(), expect_version=version
        )
        return None if doc is None else doc.version

    async def _update_progress(self, endpoint_id: str, change: Callable[[Progress], None]) -> None:
        for _ in range(MAX_ATTEMPTS):
            progress, version = await self.progress(endpoint_id)
            change(progress)
            if await self.save_progress(endpoint_id, progress, version) is not None:
                return
        raise BackendError("the webhook's progress is changing too fast; try again")

    async def record_attempt(self, endpoint_id: str, attempt: JSON) -> None:
        """Add an attempt to the endpoint's delivery log, and now and then drop all but its
        newest ``delivery_log_keep`` (see :data:`TRIM_EVERY`). A failure is logged, not raised."""
        name, keep = deliveries_log(endpoint_id), self.delivery_log_keep
        try:
            seq = (await self.backend.append(name, "delivery.attempt", attempt)).event.seq
        except BackendError as exc:
            log.warning("delivery log of webhook %s: entry lost (%s)", endpoint_id, exc)
            return
        if seq % min(TRIM_EVERY, keep) == 0:
            try:
                await self.backend.trim(name, keep)
            except BackendError as exc:  # the next multiple tries again
                log.warning("delivery log of webhook %s: not trimmed (%s)", endpoint_id, exc)

    async def deliveries(self, endpoint_id: str, limit: int = 50) -> list[JSON]:
        """The last ``limit`` attempts, newest first."""
        name = deliveries_log(endpoint_id)
        head = await self.backend.head(name)
        events = await self.backend.read(name, since=max(0, head - limit), limit=limit)
        return [{"seq": e["seq"], "at": e["at"], **e["data"]} for e in (x.decode() for x in reversed(events))]


def _fresh_streak(progress: Progress) -> None:
    progress.failures, progress.failing_since, progress.retry_at = 0, None, None
