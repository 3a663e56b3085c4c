"""The rules of an incident's timeline: pure functions, no I/O.

:func:`apply` folds one event into the incident's state; the ``decide_*``
functions check a command against the state and return the event to append
(type and data), or raise :class:`RuleViolation` / :class:`NotFound`. The service
layer reads the log, calls these, and appends; nothing here awaits anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from broadcaster.core.events import EventType as T
from broadcaster.core.events import format_time, parse_time
from broadcaster.core.types import JSON

LIVE = "live"
RESOLVED = "resolved"
INCIDENT_FIELDS = (
    "title", "summary", "area", "severity", "category", "lang", "exercise",
    "urgency", "certainty", "instruction", "area_shape", "expected_restoration",
)  # fmt: skip
EDITABLE_FIELDS = (
    "title", "summary", "area", "severity", "category", "lang",
    "urgency", "certainty", "instruction", "area_shape", "expected_restoration",
)  # fmt: skip
CLEARABLE_FIELDS = ("area_shape", "expected_restoration")
"""Fields an edit may set to null (the area drawn, the estimate, are withdrawn)."""
RESTORATION_HORIZON = timedelta(days=3660)
"""How far ahead an expected restoration may lie (beyond, it is a typing mistake)."""
PROMISE_HORIZON = RESTORATION_HORIZON
"""How far ahead a next-update promise may lie (also keeps it inside the calendar:
year 9999 at -14:00 would be year 10000 in UTC, which no page could show)."""
FIELD_DEFAULTS: dict[str, Any] = {
    "urgency": "expected",
    "certainty": "observed",
    "instruction": "",
    "area_shape": None,
    "expected_restoration": None,
}
"""Fields added after logs were first written: an older ``incident.opened`` folds to these."""


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
class RestorationChange:
    """The expected restoration time was revised (``after`` None: the estimate was withdrawn)."""

    before: str
    after: str | None
    at: str


def same_language(a: str, b: str) -> bool:
    """Whether two language tags name one language (``en`` and ``en-GB`` do)."""
    return a.split("-")[0].lower() == b.split("-")[0].lower()


@dataclass
class Update:
    id: str
    body: str
    html: str
    published_at: str
    next_update_at: str | None
    photos: list[JSON] = field(default_factory=list)
    translations: dict[str, JSON] = field(default_factory=dict)
    """The update in other languages, by language tag: ``{"en": {"body", "html"}}``."""
    revisions: list[Revision] = field(default_factory=list)
    corrected_at: str | None = None
    retracted_at: str | None = None
    retraction_reason: str | None = None
    question: str | None = None  # the reader's question (as asked, no name) it answers in public

    @property
    def status(self) -> str:
        if self.retracted_at is not None:
            return "retracted"
        return "corrected" if self.revisions else "published"

    def translation(self, lang: str) -> tuple[str, JSON] | None:
        """The operator's own translation into ``lang`` (tag and ``{"body", "html"}``), if any."""
        return next(((tag, t) for tag, t in self.translations.items() if same_language(tag, lang)), None)

    def to_json(self, pinned: bool = False) -> JSON:
        return {
            "id": self.id,
            "body": self.body,
            "html": self.html,
            "published_at": self.published_at,
            "next_update_at": self.next_update_at,
            "photos": self.photos,
            "translations": self.translations,
            "status": self.status,
            "pinned": pinned,
            "corrected_at": self.corrected_at,
            "revisions": [vars(r) for r in self.revisions],
            "retracted_at": self.retracted_at,
            "retraction_reason": self.retraction_reason,
            "question": self.question,
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
    urgency: str = FIELD_DEFAULTS["urgency"]
    certainty: str = FIELD_DEFAULTS["certainty"]
    instruction: str = ""
    area_shape: JSON | None = None
    expected_restoration: str | None = None
    restoration_changes: list[RestorationChange] = field(default_factory=list)

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
            "restoration_changes": [vars(change) for change in self.restoration_changes],
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
        fields = {name: data[name] if name not in FIELD_DEFAULTS else data.get(name, FIELD_DEFAULTS[name])
                  for name in INCIDENT_FIELDS}  # fmt: skip
        return Incident(id=event["incident"], opened_at=at, updated_at=at, seq=event["seq"], **fields)
    if incident is None:
        raise ValueError(f"{kind} before incident.opened")
    inc = incident
    inc.seq, inc.updated_at = event["seq"], at
    if kind == T.INCIDENT_EDITED:
        for name, value in data.items():
            if name == "expected_restoration" and inc.expected_restoration not in (None, value):
                inc.restoration_changes.append(RestorationChange(inc.expected_restoration, value, at))
            setattr(inc, name, value)
    elif kind in (T.UPDATE_POSTED, T.QUESTION_ANSWERED):  # an answer: an update that promises nothing
        inc.updates[data["id"]] = Update(
            id=data["id"], body=data["body"], html=data["html"],
            published_at=data["published_at"], next_update_at=data.get("next_update_at"),
            photos=list(data.get("photos", [])), translations=dict(data.get("translations", {})),
            question=data.get("question"),
        )  # fmt: skip
        inc.last_update_at = data["published_at"]
        if kind == T.UPDATE_POSTED:
            inc.next_update_at = data.get("next_update_at")
    elif kind == T.UPDATE_CORRECTED:
        update = inc.updates[data["id"]]
        update.revisions.append(Revision(update.body, update.html, at, data["reason"]))
        update.body, update.html, update.corrected_at = data["body"], data["html"], at
        # A translation of the earlier text would now say something else: it goes too,
        # unless the correction carries one.
        update.translations = dict(data.get("translations", {}))
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
    """The fields of INCIDENT_FIELDS (those of FIELD_DEFAULTS may be left out)."""
    return T.INCIDENT_OPENED, {name: fields[name] if name in fields else FIELD_DEFAULTS[name]
                               for name in INCIDENT_FIELDS}  # fmt: skip


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
    return future_time(next_update_at, now, "next_update_at", PROMISE_HORIZON)


def future_time(value: str | None, now: datetime, name: str, within: timedelta | None = None) -> str | None:
    """An RFC 3339 time with an offset, normalised to UTC; it must lie in the future
    (and, given ``within``, no further than that from ``now``).

    Raises ValueError (a bad field, HTTP 422) for a malformed, past or too distant time.
    """
    if value is None:
        return None
    moment = parse_time(value)
    if moment <= now:
        raise ValueError(f"{name} must be in the future")
    if within is not None and moment - now > within:
        span = f"{within.days // 365} years" if within.days >= 365 else f"{within.days} days"
        raise ValueError(f"{name} must be within {span} from now (a typing mistake?)")
    try:
        return format_time(moment)
    except OverflowError:  # year 9999 at a negative offset is year 10000 in UTC
        raise ValueError(f"{name} is out of range") from None


def check_translations(inc: Incident, translations: dict[str, JSON]) -> None:
    """Each translation is in another language than the incident's, one per language.

    Raises ValueError (HTTP 422).
    """
    seen: list[str] = []
    for tag in translations:
        if same_language(tag, inc.lang):
            raise ValueError(f"translations: {tag} is the incident's own language ({inc.lang}): use body")
        if any(same_language(tag, other) for other in seen):
            raise ValueError(f"translations: one per language ({tag} is given twice)")
        seen.append(tag)


def decide_post(
    inc: Incident,
    update_id: str,
    body: str,
    html: str,
    next_update_at: str | None,
    now: datetime,
    photos: list[JSON] | None = None,
    translations: dict[str, JSON] | None = None,
    notify: bool | None = None,
) -> Decision:
    """``translations``: ``{tag: {"body", "html"}}``; ``notify`` None: see notify.rules."""
    if inc.state != LIVE:
        raise RuleViolation("the incident is resolved: reopen it before posting an update")
    if update_id in inc.updates:
        raise RuleViolation(f"update {update_id} already exists")
    check_translations(inc, translations or {})
    return T.UPDATE_POSTED, {
        "id": update_id,
        "body": body,
        "html": html,
        "published_at": format_time(now),
        "next_update_at": next_update_at,
        "photos": photos or [],
        **({"translations": translations} if translations else {}),
        "notify": (not inc.updates or next_update_at is not None) if notify is None else notify,
    }


def _existing(inc: Incident, update_id: str) -> Update:
    update = inc.updates.get(update_id)
    if update is None:
        raise NotFound(f"incident {inc.id} has no update {update_id}")
    return update


def decide_correct(
    inc: Incident, update_id: str, body: str, html: str, reason: str,
    translations: dict[str, JSON] | None = None,
) -> Decision:  # fmt: skip
    """The correction replaces the update's translations too (none given: none kept)."""
    update = _existing(inc, update_id)
    if update.retracted_at is not None:
        raise RuleViolation("a retracted update cannot be corrected; post a new update instead")
    if update.body == body and update.translations == (translations or {}):
        raise RuleViolation("the correction is the same as the current text")
    check_translations(inc, translations or {})
    data = {"id": update_id, "body": body, "html": html, "reason": reason}
    return T.UPDATE_CORRECTED, {**data, **({"translations": translations} if translations else {})}


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
