"""Scheduled updates and drafts: the service and one scheduler per process.

Every scheduled item lives in one append-only log, ``schedules:all``; the pure rules that fold
it and decide each command are in :mod:`broadcaster.incidents.schedule_rules`.

:class:`Schedules` is the service (read the log, decide, append, audit), and
:class:`Scheduler` the background loop that publishes due items.

Exactly once, across any number of processes:

* every change to an existing item (edit, cancel, publish) is made while holding
  the claim ``schedule:{id}``, after re-reading the log, so a cancel and a
  publication cannot interleave;
* the update is posted with the idempotency key ``schedule:{id}`` (namespaced by
  the item's creator), so even a second attempt after a crash, or after a claim
  expired, returns the first update and posts nothing;
* the outcome (``published`` / ``failed``) is appended with the idempotency key
  ``outcome:{id}``, so it is recorded once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from typing import Any

from broadcaster.accounts import Actor, Operator, audit
from broadcaster.core import timeline as tl
from broadcaster.core.events import Event, utc_now
from broadcaster.core.timeline import NotFound, RuleViolation
from broadcaster.core.types import JSON
from broadcaster.incidents.publishing import IdempotencyMismatch, Publisher, incident_log
from broadcaster.incidents.schedule_rules import (
    CLAIM_TTL,
    CLAIM_WAIT,
    EDIT_CLAIM_TTL,
    LOG,
    SCHEDULED,
    TICK,
    Item,
    apply,
    check_publishable,
    decide_cancel,
    decide_create,
    decide_edit,
    decide_failed,
    decide_published,
    due,
    listing,
    log,
    same_request,
)
from broadcaster.stores.base import Appended, Backend, BackendError


class Schedules:
    """Scheduled items of every incident: the log folded, and commands on it."""

    def __init__(self, backend: Backend, publisher: Publisher) -> None:
        self.backend = backend
        self.publisher = publisher
        self.owner = secrets.token_hex(8)
        """This process, as the owner of claims."""
        self.items: dict[str, Item] = {}
        self.seq = 0
        self.wake = asyncio.Event()
        """Set when this process changed an item (the scheduler looks again)."""
        self._lock = asyncio.Lock()

    async def refresh(self) -> dict[str, Item]:
        """Fold the events appended since the last look (by any process)."""
        async with self._lock:
            for event in await self.backend.read(LOG, since=self.seq):
                if event.seq != self.seq + 1:
                    break
                apply(self.items, event.decode())
                self.seq = event.seq
        return self.items

    async def get(self, item_id: str) -> Item:
        item = (await self.refresh()).get(item_id)
        if item is None:
            raise NotFound(f"no scheduled update {item_id}")
        return item

    async def list(self, incident: str | None = None) -> list[Item]:
        return listing((await self.refresh()).values(), incident)

    async def create(
        self,
        incident: str,
        body: str,
        next_update_at: str | None,
        publish_at: str | None,
        by: Actor,
        idem_key: str | None = None,
        photos: Sequence[JSON] | None = None,
        translations: dict[str, str] | None = None,
    ) -> tuple[Item, bool]:
        """A scheduled item, or a draft without ``publish_at``; returns it and
        whether it is new (False: the Idempotency-Key's first item, nothing written).
        ``photos``: entries of stored photos; ``translations``: the body in the incident's
        other languages (checked against the incident now, and again when published).

        Raises:
            ValueError: bad fields or a past publish_at (422).
            IdempotencyMismatch: the key was used for another request (422).
            NotFound: no such incident (404). RuleViolation: it is resolved (409).
        """
        key = None if idem_key is None else f"{by.operator.id}:{idem_key}"
        asked = (incident, body, next_update_at, publish_at, photos, translations)
        if key is not None and (first := await self.backend.find_idem(LOG, key)) is not None:
            return await self._replay(first, *asked), False
        now = utc_now()
        if key is None:
            item_id = secrets.token_hex(6)
        else:
            item_id = hashlib.sha256(f"schedule:{key}".encode()).hexdigest()[:12]
        type_, data = decide_create(
            item_id, incident, body, next_update_at, publish_at, by.operator.id, now, photos, translations
        )
        state = await self.publisher.get(incident)
        if state.state != tl.LIVE:
            raise RuleViolation("the incident is resolved: reopen it before scheduling an update")
        tl.check_translations(state, data.get("translations", {}))
        if key is not None and await self.backend.find_idem(incident_log(incident), key) is not None:
            raise IdempotencyMismatch(
                "this Idempotency-Key was already used to post an update; use a new key"
            )
        done = await self.backend.append(LOG, type_, data, idem_key=key)
        if not done.created:  # a concurrent retry won
            return await self._replay(done.event, *asked), False
        await audit.record(self.backend, by, str(type_), incident=incident, target=item_id,
                     detail={"publish_at": data["publish_at"]})  # fmt: skip
        self.wake.set()
        return await self.get(item_id), True

    async def check_key_unused(self, by: Actor, idem_key: str | None) -> None:
        """Before posting now with ``idem_key``: refuse a key that already scheduled (or
        drafted) an update, which a post would otherwise duplicate when it goes out.

        Raises:
            IdempotencyMismatch: the key made a scheduled item (422).
        """
        if idem_key is not None and await self.backend.find_idem(LOG, f"{by.operator.id}:{idem_key}"):
            raise IdempotencyMismatch(
                "this Idempotency-Key was already used to schedule an update; use a new key"
            )

    async def _replay(
        self, first: Event, incident: str, body: str, next_update_at: str | None, publish_at: str | None,
        photos: Sequence[JSON] | None, translations: dict[str, str] | None,
    ) -> Item:  # fmt: skip
        """The item a repeated Idempotency-Key created, as it is now."""
        data = first.decode()["data"]
        if not same_request(data, incident, body, next_update_at, publish_at, photos, translations):
            raise IdempotencyMismatch(
                "this Idempotency-Key was already used for a different request; use a new key"
            )
        return await self.get(data["id"])

    async def edit(self, item_id: str, changes: dict[str, Any], by: Actor) -> Item:
        """Raises NotFound, RuleViolation (not pending any more), ValueError."""
        async with self._holding(item_id):
            item = await self.get(item_id)
            decision = decide_edit(item, changes, utc_now())
            if decision is not None and "translations" in decision[1]["changes"]:
                incident = await self.publisher.get(item.incident)
                tl.check_translations(incident, decision[1]["changes"]["translations"])
            if decision is not None:
                await self.backend.append(LOG, *decision)
                await audit.record(self.backend, by, str(decision[0]), incident=item.incident, target=item_id,
                             detail={"changes": sorted(decision[1]["changes"])})  # fmt: skip
                self.wake.set()
            return await self.get(item_id)

    async def cancel(self, item_id: str, by: Actor) -> Item:
        async with self._holding(item_id):
            item = await self.get(item_id)
            type_, data = decide_cancel(item)
            await self.backend.append(LOG, type_, data)
            await audit.record(self.backend, by, str(type_), incident=item.incident, target=item_id)
            return await self.get(item_id)

    async def publish_now(self, item_id: str, by: Actor) -> tuple[Appended, Item]:
        """Publish a draft or scheduled item now. Raises NotFound, RuleViolation
        (not pending, or the incident is resolved), ValueError (a stale promise)."""
        async with self._holding(item_id):
            item = await self.get(item_id)
            check_publishable(item)
            done = await self.publish(item, by)
            return done, await self.get(item_id)

    async def publish(self, item: Item, by: Actor | None = None) -> Appended:
        """Post the item's update as its creator and record the outcome. The caller
        holds the item's claim and has checked it is pending. ``by``: who pushed it
        (None: the scheduler). Raises what :meth:`Publisher.post_update` raises."""
        author = Actor(await self._operator(item.created_by), None)
        key = f"schedule:{item.id}"
        try:
            done = await self.publisher.post_update(
                item.incident, item.body, item.next_update_at, author, key,
                photos=item.photos or None, translations=item.translations or None,
            )  # fmt: skip
        except IdempotencyMismatch:
            # Posted before (then the process stopped), and edited since: the first stands.
            first = await self.backend.find_idem(incident_log(item.incident), f"{item.created_by}:{key}")
            if first is None:
                raise
            done = Appended(first, False)
        event = done.event.decode()
        type_, data = decide_published(item, done.event.seq, event["data"]["id"])
        await self.backend.append(LOG, type_, data, idem_key=f"outcome:{item.id}")
        await audit.record(self.backend, by or author, str(type_), incident=item.incident, target=item.id,
                     detail={"seq": done.event.seq, "update_id": data["update_id"]})  # fmt: skip
        return done

    async def fail(self, item: Item, error: str) -> None:
        type_, data = decide_failed(item, error)
        await self.backend.append(LOG, type_, data, idem_key=f"outcome:{item.id}")
        author = Actor(await self._operator(item.created_by), None)
        await audit.record(self.backend, author, str(type_), incident=item.incident, target=item.id,
                     detail={"error": error})  # fmt: skip

    async def _operator(self, operator_id: str) -> Operator:
        doc = await self.backend.get_doc(f"operator:{operator_id}")
        if doc is None:
            return Operator(operator_id, operator_id, False)
        value = doc.value
        return Operator(
            str(value.get("id", operator_id)), str(value.get("name", "")), bool(value.get("admin"))
        )

    @contextlib.asynccontextmanager
    async def _holding(self, item_id: str) -> AsyncIterator[None]:
        """Hold the item's claim (waiting a little while it is being published)."""
        key, owner = f"schedule:{item_id}", f"{self.owner}:{secrets.token_hex(4)}"
        deadline = time.monotonic() + CLAIM_WAIT
        while not await self.backend.claim(key, owner, EDIT_CLAIM_TTL):
            if time.monotonic() > deadline:
                raise RuleViolation("this scheduled update is being published right now; reload it")
            await asyncio.sleep(0.05)
        try:
            yield
        finally:
            await _release(self.backend, key, owner)


async def _release(backend: Backend, key: str, owner: str) -> None:
    try:
        await backend.release(key, owner)
    except BackendError as exc:  # it expires by itself
        log.warning("could not release claim %s: %s", key, exc)


# --- the scheduler -------------------------------------------------------------------


class Scheduler:
    """Publishes due scheduled updates exactly once (one per process).

    It keeps a cursor on the schedules log, sleeps until the earliest due item (at
    most :data:`TICK` at a time, so items scheduled by other processes are seen),
    and publishes under the item's claim. State lives in the log, so after a
    restart it catches up and publishes whatever became due meanwhile.
    """

    def __init__(self, backend: Backend, publisher: Publisher) -> None:
        self.backend = backend
        self.publisher = publisher
        self.schedules = Schedules(backend, publisher)
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._not_before: dict[str, float] = {}  # item -> monotonic time of the next attempt

    async def start(self) -> None:
        """Start the background loop (it catches up with the log first)."""
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="scheduler")

    async def aclose(self) -> None:
        """Stop the loop: let a publication in progress finish, then cancel."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self.schedules.wake.set()
        await asyncio.wait({task}, timeout=5)
        if not task.done():
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def _run(self) -> None:
        wake = self.schedules.wake
        while not self._stopping:
            wake.clear()
            try:
                await self.tick()
            except BackendError as exc:
                log.warning("scheduler: store unavailable (%s); trying again", exc)
            except Exception:
                log.exception("scheduler: unexpected error; going on")
            if self._stopping:
                break
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._delay()):
                    await wake.wait()

    async def tick(self) -> None:
        """Catch up with the log and publish every due item."""
        items = await self.schedules.refresh()
        for stale in [k for k in self._not_before if k not in items or items[k].status != SCHEDULED]:
            del self._not_before[stale]
        for item in due(items.values(), utc_now()):
            if self._stopping:
                return
            if self._not_before.get(item.id, 0.0) <= time.monotonic():
                await self._publish_due(item.id)

    def _delay(self) -> float:
        now, mono = utc_now(), time.monotonic()
        delay = TICK
        for item in self.schedules.items.values():
            moment = item.due_time()
            if moment is None:
                continue
            wait = (moment - now).total_seconds()
            wait = max(wait, self._not_before.get(item.id, 0.0) - mono)
            delay = min(delay, wait)
        return max(delay, 0.005)

    async def _publish_due(self, item_id: str) -> None:
        key = f"schedule:{item_id}"
        try:
            if not await self.backend.claim(key, self.schedules.owner, CLAIM_TTL):
                self._not_before[item_id] = time.monotonic() + 0.5  # another process has it
                return
            try:
                item = (await self.schedules.refresh()).get(item_id)
                if item is None or not item.is_due(utc_now()):
                    return  # edited, cancelled or published meanwhile
                try:
                    await self.schedules.publish(item)
                except (RuleViolation, NotFound, ValueError) as exc:
                    log.warning("scheduled update %s cannot be published: %s", item_id, exc)
                    await self.schedules.fail(item, str(exc))
            finally:
                await _release(self.backend, key, self.schedules.owner)
        except BackendError as exc:
            log.warning("scheduled update %s: store unavailable (%s); retrying", item_id, exc)
            self._not_before[item_id] = time.monotonic() + TICK
        except Exception:
            log.exception("scheduled update %s: unexpected error; retrying later", item_id)
            self._not_before[item_id] = time.monotonic() + 5 * TICK
