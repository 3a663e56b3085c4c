"""Scheduled updates and drafts: a log of their own, pure rules, one scheduler per process.

Every scheduled item lives in one append-only log, ``schedules:all``
(``schedule.created``, ``schedule.edited``, ``schedule.cancelled``,
``schedule.published``, ``schedule.failed``). :func:`fold` turns it into items;
the ``decide_*`` functions check a command against an item and return the event
to append, or raise :class:`RuleViolation` (HTTP 409) / ``ValueError`` (422). No
I/O in that half, as in :mod:`broadcaster.core.timeline`.

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
import logging
import secrets
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from broadcaster.accounts import Actor, Operator, audit
from broadcaster.core import timeline as tl
from broadcaster.core.events import Event, format_time, parse_time, utc_now
from broadcaster.core.timeline import NotFound, RuleViolation
from broadcaster.core.types import JSON
from broadcaster.incidents.publishing import IdempotencyMismatch, Publisher, incident_log
from broadcaster.stores.base import Appended, Backend, BackendError

LOG = "schedules:all"
MAX_BODY = 20_000
CLAIM_TTL = 30.0
"""Seconds a process holds an item while publishing it (released right after)."""
EDIT_CLAIM_TTL = 10.0
CLAIM_WAIT = 5.0
"""How long an edit or cancel waits for an item that is being published."""
TICK = 1.0
"""The scheduler sleeps at most this long between looks at the log."""

DRAFT, SCHEDULED, PUBLISHED, CANCELLED, FAILED = "draft", "scheduled", "published", "cancelled", "failed"
PENDING = (DRAFT, SCHEDULED)

log = logging.getLogger("incidents.scheduler")


class ScheduleEvent(StrEnum):
    CREATED = "schedule.created"
    EDITED = "schedule.edited"
    CANCELLED = "schedule.cancelled"
    PUBLISHED = "schedule.published"
    FAILED = "schedule.failed"


Decision = tuple[str, JSON]
EDITABLE = ("body", "next_update_at", "publish_at", "translations")


@dataclass
class Item:
    """A scheduled update (``publish_at`` set) or a draft (``publish_at`` None)."""

    id: str
    incident: str
    body: str
    next_update_at: str | None
    publish_at: str | None
    status: str
    created_by: str
    created_at: str
    updated_at: str
    published_seq: int | None = None
    update_id: str | None = None
    error: str | None = None
    photos: list[JSON] = field(default_factory=list)
    """Entries of photos already stored (``/api/photos``), posted with the update."""
    translations: dict[str, str] = field(default_factory=dict)
    """The body in the incident's other languages (Markdown), by language tag."""

    @property
    def pending(self) -> bool:
        return self.status in PENDING

    def due_time(self) -> datetime | None:
        """When the scheduler should publish it (None: not scheduled)."""
        if self.status != SCHEDULED or self.publish_at is None:
            return None
        return parse_time(self.publish_at)

    def is_due(self, now: datetime) -> bool:
        moment = self.due_time()
        return moment is not None and moment <= now

    def to_json(self) -> JSON:
        return asdict(self)


# --- the fold ------------------------------------------------------------------------


def apply(items: dict[str, Item], event: JSON) -> dict[str, Item]:
    """Fold one event (decoded) into ``items`` (changed in place) and return them.

    Permissive and deterministic: a change to an unknown item, or to one that is no
    longer pending, is ignored, so an item's final state never flips. The one
    exception is ``schedule.published``: an update that went out is a fact.
    """
    kind, data, at = event["type"], event["data"], event["at"]
    item = items.get(data.get("id", ""))
    if kind == ScheduleEvent.CREATED:
        if item is None:
            items[data["id"]] = Item(
                id=data["id"], incident=data["incident"], body=data["body"],
                next_update_at=data.get("next_update_at"), publish_at=data.get("publish_at"),
                status=SCHEDULED if data.get("publish_at") else DRAFT,
                created_by=data["created_by"], created_at=at, updated_at=at,
                photos=list(data.get("photos", [])), translations=dict(data.get("translations", {})),
            )  # fmt: skip
    elif item is None:
        pass
    elif kind == ScheduleEvent.EDITED and item.pending:
        for name, value in data["changes"].items():
            if name in EDITABLE:
                setattr(item, name, value)
        item.status = SCHEDULED if item.publish_at else DRAFT
        item.updated_at = at
    elif kind == ScheduleEvent.CANCELLED and item.pending:
        item.status, item.updated_at = CANCELLED, at
    elif kind == ScheduleEvent.PUBLISHED and item.status != PUBLISHED:
        item.status, item.updated_at, item.error = PUBLISHED, at, None
        item.published_seq, item.update_id = data["seq"], data["update_id"]
    elif kind == ScheduleEvent.FAILED and item.pending:
        item.status, item.updated_at, item.error = FAILED, at, data["error"]
    return items


def fold(events: Iterable[JSON], items: dict[str, Item] | None = None) -> dict[str, Item]:
    items = {} if items is None else items
    for event in events:
        apply(items, event)
    return items


def listing(items: Iterable[Item], incident: str | None = None) -> list[Item]:
    """Drafts and scheduled first (scheduled soonest first, then drafts oldest
    first), then published, cancelled and failed ones, most recently finished first."""
    chosen = [item for item in items if incident is None or item.incident == incident]
    scheduled = sorted((i for i in chosen if i.status == SCHEDULED), key=lambda i: (i.publish_at or "", i.id))
    drafts = sorted((i for i in chosen if i.status == DRAFT), key=lambda i: (i.created_at, i.id))
    done = sorted((i for i in chosen if not i.pending), key=lambda i: (i.updated_at, i.id), reverse=True)
    return [*scheduled, *drafts, *done]


def due(items: Iterable[Item], now: datetime) -> list[Item]:
    """Scheduled items whose time has come, earliest first."""
    return sorted((i for i in items if i.is_due(now)), key=lambda i: (i.publish_at or "", i.id))


# --- the rules -----------------------------------------------------------------------


def check_body(body: str) -> str:
    if not isinstance(body, str) or not body.strip():
        raise ValueError("body: must not be blank")
    if len(body) > MAX_BODY:
        raise ValueError(f"body: at most {MAX_BODY} characters")
    return body


def check_publish_at(publish_at: str, now: datetime) -> str:
    """Normalise a publication time to UTC; it must lie in the future."""
    try:
        moment = parse_time(publish_at)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"publish_at: {exc}") from exc
    if moment <= now:
        raise ValueError("publish_at must be in the future (leave it out to post now)")
    return format_time(moment)


def check_promise(next_update_at: str | None, publish_at: str | None, now: datetime) -> str | None:
    """A next-update promise: in the future, and after the publication time."""
    try:
        promise = tl.check_promise(next_update_at, now)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"next_update_at: {exc}") from exc
    if promise is not None and publish_at is not None and parse_time(promise) <= parse_time(publish_at):
        raise ValueError("next_update_at must be after publish_at")
    return promise


def check_translations(translations: dict[str, str]) -> dict[str, str]:
    """Each translation is a body of its own (the incident's languages are checked
    against the incident, by :func:`timeline.check_translations`)."""
    for tag, text in translations.items():
        try:
            check_body(text)
        except ValueError as exc:
            raise ValueError(f"translations: {tag}: {str(exc).removeprefix('body: ')}") from None
    return dict(translations)


def decide_create(
    item_id: str,
    incident: str,
    body: str,
    next_update_at: str | None,
    publish_at: str | None,
    created_by: str,
    now: datetime,
    photos: Sequence[JSON] | None = None,
    translations: dict[str, str] | None = None,
) -> Decision:
    """A new item (``publish_at`` None: a draft). Raises ValueError for bad fields."""
    body = check_body(body)
    publish = None if publish_at is None else check_publish_at(publish_at, now)
    promise = check_promise(next_update_at, publish, now)
    data: JSON = {
        "id": item_id,
        "incident": incident,
        "body": body,
        "next_update_at": promise,
        "publish_at": publish,
        "created_by": created_by,
    }
    if photos:
        data["photos"] = list(photos)
    if translations:
        data["translations"] = check_translations(translations)
    return ScheduleEvent.CREATED, data


def _editable(item: Item) -> None:
    if not item.pending:
        raise RuleViolation(f"this scheduled update is {item.status}; it cannot be changed any more")


def decide_edit(item: Item, changes: dict[str, Any], now: datetime) -> Decision | None:
    """Change ``body``, ``next_update_at``, ``publish_at`` (None: back to a draft).

    Returns None when nothing changes. Raises RuleViolation (not pending any more)
    or ValueError (bad fields, a past publish_at).
    """
    _editable(item)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"these fields cannot be edited: {', '.join(sorted(unknown))}")
    normal: JSON = {}
    if "body" in changes:
        normal["body"] = check_body(changes["body"])
    if "translations" in changes:
        normal["translations"] = check_translations(changes["translations"] or {})
    publish = item.publish_at
    if "publish_at" in changes:
        given = changes["publish_at"]
        publish = normal["publish_at"] = None if given is None else check_publish_at(given, now)
    if "next_update_at" in changes:
        normal["next_update_at"] = check_promise(changes["next_update_at"], publish, now)
    elif "publish_at" in changes:  # the promise must still follow the new time
        check_promise(item.next_update_at, publish, now)
    changed = {name: value for name, value in normal.items() if getattr(item, name) != value}
    if not changed:
        return None
    return ScheduleEvent.EDITED, {"id": item.id, "changes": changed}


def decide_cancel(item: Item) -> Decision:
    _editable(item)
    return ScheduleEvent.CANCELLED, {"id": item.id}


def check_publishable(item: Item) -> None:
    """Publish now: only a draft or a scheduled item."""
    if not item.pending:
        raise RuleViolation(f"this scheduled update is {item.status}; it cannot be published")


def decide_published(item: Item, seq: int, update_id: str) -> Decision:
    return ScheduleEvent.PUBLISHED, {"id": item.id, "seq": seq, "update_id": update_id}


def decide_failed(item: Item, error: str) -> Decision:
    return ScheduleEvent.FAILED, {"id": item.id, "error": error}


def same_request(first: JSON, incident: str, body: str, next_update_at: str | None,
                 publish_at: str | None, photos: Sequence[JSON] | None = None,
                 translations: dict[str, str] | None = None) -> bool:  # fmt: skip
    """Whether a retried create (same Idempotency-Key) asks for what the first did."""

    def normal(text: str | None) -> str | None:
        try:
            return None if text is None else format_time(parse_time(text))
        except (TypeError, ValueError):
            return f"invalid:{text}"

    return (
        first.get("incident") == incident
        and first.get("body") == body
        and first.get("next_update_at") == normal(next_update_at)
        and first.get("publish_at") == normal(publish_at)
        and [p.get("id") for p in first.get("photos", [])] == [p.get("id") for p in photos or []]
        and first.get("translations", {}) == (translations or {})
    )


# --- the service ---------------------------------------------------------------------


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
