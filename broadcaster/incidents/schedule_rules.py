"""Scheduled updates and drafts: the pure rules (no I/O, as :mod:`broadcaster.core.timeline`).

Every scheduled item lives in one append-only log, ``schedules:all``
(``schedule.created``, ``schedule.edited``, ``schedule.cancelled``,
``schedule.published``, ``schedule.failed``). :func:`fold` turns it into items;
the ``decide_*`` functions check a command against an item and return the event
to append, or raise :class:`RuleViolation` (HTTP 409) / ``ValueError`` (422).
The service and the scheduler loop are in :mod:`broadcaster.incidents.scheduling`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from broadcaster.core import timeline as tl
from broadcaster.core.events import format_time, parse_time
from broadcaster.core.timeline import RuleViolation
from broadcaster.core.types import JSON

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
