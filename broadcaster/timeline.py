"""The rules of an incident's timeline: pure functions, no I/O.

:func:`apply` folds one event into the incident's state; the ``decide_*``
functions check a command against the state and return the event to append
(type and data), or raise :class:`RuleViolation` / :class:`NotFound`. The service
layer reads the log, calls these, and appends; nothing here awaits anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from broadcaster.events import EventType as T
from broadcaster.events import format_time, parse_time
from broadcaster.types import JSON

LIVE = "live"
RESOLVED = "resolved"
INCIDENT_FIELDS = ("title", "summary", "area", "severity", "category", "lang", "exercise")
EDITABLE_FIELDS = ("title", "summary", "area", "severity", "category", "lang")


class RuleViolation(Exception):
    """The command is not allowed in the incident's current state (HTTP 409)."""


class NotFound(Exception):
    """The command names an update that does not exist (HTTP 404)."""


@dataclass
class Revision:
    """An earlier text of a corrected update, kept so readers see it struck through."""

    body: str
    html: str
    replaced_at: str
    reason: str


@dataclass
class Update:
    id: str
    body: str
    html: str
    published_at: str
    next_update_at: str | None
    photos: list[JSON] = field(default_factory=list)
    revisions: list[Revision] = field(default_factory=list)
    corrected_at: str | None = None
    retracted_at: str | None = None
    retraction_reason: str | None = None

    @property
    def status(self) -> str:
        if self.retracted_at is not None:
            return "retracted"
        return "corrected" if self.revisions else "published"

    def to_json(self, pinned: bool = False) -> JSON:
        return {
            "id": self.id,
            "body": self.body,
            "html": self.html,
            "published_at": self.published_at,
            "next_update_at": self.next_update_at,
            "photos": self.photos,
            "status": self.status,
            "pinned": pinned,
            "corrected_at": self.corrected_at,
            "revisions": [vars(r) for r in self.revisions],
            "retracted_at": self.retracted_at,
            "retraction_reason": self.retraction_reason,
        }


@dataclass
class Incident:
    id: str
    title: str
    summary: str
    area: str
    severity: str
    category: str
    lang: str
    exercise: bool
    opened_at: str
    state: str = LIVE
    updated_at: str = ""
    last_update_at: str | None = None
    resolved_at: str | None = None
    resolution: str | None = None
    next_update_at: str | None = None
    pinned: str | None = None
    facts: list[JSON] = field(default_factory=list)
    updates: dict[str, Update] = field(default_factory=dict)
    seq: int = 0

    def to_json(self) -> JSON:
        """The incident's own fields (without its updates and facts)."""
        return {
            "id": self.id,
            **{name: getattr(self, name) for name in INCIDENT_FIELDS},
            "state": self.state,
            "opened_at": self.opened_at,
            "updated_at": self.updated_at,
            "last_update_at": self.last_update_at,
            "resolved_at": self.resolved_at,
            "resolution": self.resolution,
            "next_update_at": self.next_update_at,
            "pinned": self.pinned,
            "update_count": len(self.updates),
            "seq": self.seq,
        }

    def updates_newest_first(self) -> list[Update]:
        return list(reversed(self.updates.values()))

    def snapshot(self) -> JSON:
        """``GET /api/incidents/{id}``: the fold of the log up to ``seq``."""
        return {
            "incident": self.to_json(),
            "updates": [u.to_json(u.id == self.pinned) for u in self.updates_newest_first()],
            "facts": self.facts,
            "seq": self.seq,
        }


def apply(incident: Incident | None, event: JSON) -> Incident:
    """Fold one event (decoded wire format) into the state and return it.

    The state is changed in place (folding a 5,000-update log stays linear); the
    caller owns it. Raises ValueError on an event that cannot follow (a corrupt log).
    """
    kind, data, at = event["type"], event["data"], event["at"]
    if kind == T.INCIDENT_OPENED:
        if incident is not None:
            raise ValueError("incident.opened must be the first event")
        fields = {name: data[name] for name in INCIDENT_FIELDS}
        return Incident(id=event["incident"], opened_at=at, updated_at=at, seq=event["seq"], **fields)
    if incident is None:
        raise ValueError(f"{kind} before incident.opened")
    inc = incident
    inc.seq, inc.updated_at = event["seq"], at
    if kind == T.INCIDENT_EDITED:
        for name, value in data.items():
            setattr(inc, name, value)
    elif kind == T.UPDATE_POSTED:
        inc.updates[data["id"]] = Update(
            id=data["id"], body=data["body"], html=data["html"],
            published_at=data["published_at"], next_update_at=data.get("next_update_at"),
            photos=list(data.get("photos", [])),
        )  # fmt: skip
        inc.last_update_at = data["published_at"]
        inc.next_update_at = data.get("next_update_at")
    elif kind == T.UPDATE_CORRECTED:
        update = inc.updates[data["id"]]
        update.revisions.append(Revision(update.body, update.html, at, data["reason"]))
        update.body, update.html, update.corrected_at = data["body"], data["html"], at
    elif kind == T.UPDATE_RETRACTED:
        update = inc.updates[data["id"]]
        update.retracted_at, update.retraction_reason = at, data["reason"]
        if inc.pinned == update.id:
            inc.pinned = None
    elif kind == T.UPDATE_PINNED:
        inc.pinned = data["id"]
    elif kind == T.UPDATE_UNPINNED:
        inc.pinned = None
    elif kind == T.FACTS_CHANGED:
        inc.facts = list(data["facts"])
    elif kind == T.INCIDENT_RESOLVED:
        inc.state, inc.resolved_at, inc.resolution = RESOLVED, at, data.get("reason")
        inc.next_update_at = None
    elif kind == T.INCIDENT_REOPENED:
        inc.state, inc.resolved_at, inc.resolution = LIVE, None, None
    else:
        raise ValueError(f"unknown event type {kind!r}")
    return inc


def fold(events: list[JSON], incident: Incident | None = None) -> Incident | None:
    for event in events:
        incident = apply(incident, event)
    return incident


# --- decisions: command + state -> (event type, event data) ---------------------------

Decision = tuple[str, JSON]


def decide_open(fields: dict[str, Any]) -> Decision:
    return T.INCIDENT_OPENED, {name: fields[name] for name in INCIDENT_FIELDS}


def decide_edit(inc: Incident, changes: dict[str, Any]) -> Decision:
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise RuleViolation(f"these fields cannot be edited: {', '.join(sorted(unknown))}")
    changed = {k: v for k, v in changes.items() if getattr(inc, k) != v}
    if not changed:
        raise RuleViolation("nothing changed: every field already has that value")
    return T.INCIDENT_EDITED, changed


def check_promise(next_update_at: str | None, now: datetime) -> str | None:
    """Normalise a next-update promise to UTC; it must lie in the future.

    Raises ValueError (a bad field, HTTP 422) for a malformed or past time.
    """
    if next_update_at is None:
        return None
    moment = parse_time(next_update_at)
    if moment <= now:
        raise ValueError("next_update_at must be in the future")
    return format_time(moment)


def decide_post(
    inc: Incident,
    update_id: str,
    body: str,
    html: str,
    next_update_at: str | None,
    now: datetime,
    photos: list[JSON] | None = None,
) -> Decision:
    if inc.state != LIVE:
        raise RuleViolation("the incident is resolved: reopen it before posting an update")
    if update_id in inc.updates:
        raise RuleViolation(f"update {update_id} already exists")
    return T.UPDATE_POSTED, {
        "id": update_id,
        "body": body,
        "html": html,
        "published_at": format_time(now),
        "next_update_at": next_update_at,
        "photos": photos or [],
    }


def _existing(inc: Incident, update_id: str) -> Update:
    update = inc.updates.get(update_id)
    if update is None:
        raise NotFound(f"incident {inc.id} has no update {update_id}")
    return update


def decide_correct(inc: Incident, update_id: str, body: str, html: str, reason: str) -> Decision:
    update = _existing(inc, update_id)
    if update.retracted_at is not None:
        raise RuleViolation("a retracted update cannot be corrected; post a new update instead")
    if update.body == body:
        raise RuleViolation("the correction is the same as the current text")
    return T.UPDATE_CORRECTED, {"id": update_id, "body": body, "html": html, "reason": reason}


def decide_retract(inc: Incident, update_id: str, reason: str) -> Decision:
    update = _existing(inc, update_id)
    if update.retracted_at is not None:
        raise RuleViolation("the update is already retracted")
    return T.UPDATE_RETRACTED, {"id": update_id, "reason": reason}


def decide_pin(inc: Incident, update_id: str) -> Decision:
    update = _existing(inc, update_id)
    if update.retracted_at is not None:
        raise RuleViolation("a retracted update cannot be pinned")
    if inc.pinned == update_id:
        raise RuleViolation("the update is already pinned")
    return T.UPDATE_PINNED, {"id": update_id}


def decide_unpin(inc: Incident, update_id: str) -> Decision:
    _existing(inc, update_id)
    if inc.pinned != update_id:
        raise RuleViolation("the update is not pinned")
    return T.UPDATE_UNPINNED, {"id": update_id}


def decide_facts(inc: Incident, facts: list[JSON]) -> Decision:
    if facts == inc.facts:
        raise RuleViolation("nothing changed: the facts are already these")
    return T.FACTS_CHANGED, {"facts": facts}


def decide_resolve(inc: Incident, reason: str | None) -> Decision:
    if inc.state == RESOLVED:
        raise RuleViolation("the incident is already resolved")
    return T.INCIDENT_RESOLVED, {"reason": reason}


def decide_reopen(inc: Incident, reason: str | None) -> Decision:
    if inc.state != RESOLVED:
        raise RuleViolation("the incident is not resolved")
    return T.INCIDENT_REOPENED, {"reason": reason}
