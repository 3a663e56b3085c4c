"""Webhooks, the pure half: endpoints, their rules, the signed payload, retry timing.

Administrators register endpoints; every event of every incident (from the moment of
registration) is POSTed to each endpoint that wants its type. No I/O here, as in
:mod:`broadcaster.core.timeline`: :mod:`broadcaster.webhooks.registry` keeps endpoints in the
store and :mod:`broadcaster.webhooks.delivery` sends.

The registry is one append-only log, ``webhooks:all`` (``webhook.registered``,
``webhook.disabled``, ``webhook.enabled``, ``webhook.deleted``); :func:`fold` turns it
into :class:`Endpoint` values. An endpoint's delivery progress (a cursor per incident,
the failure streak) is a separate document, a :class:`broadcaster.relay.Progress`, written
after every acknowledged event.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from broadcaster.core import text
from broadcaster.core.events import EventType, dumps
from broadcaster.core.timeline import RuleViolation
from broadcaster.core.types import JSON
from broadcaster.relay import MAX_REASON as MAX_REASON  # delivery progress and retry timing: the relay's
from broadcaster.relay import Progress as Progress
from broadcaster.relay import backoff as backoff
from broadcaster.relay import gives_up as gives_up
from broadcaster.web.targets import address_problem

LOG = "webhooks:all"
ALL = "*"
MAX_URL = 2000


class State(StrEnum):
    """An endpoint's lifecycle: ``enabled`` <-> ``disabled``, either -> ``deleted`` (final)."""

    ENABLED = "enabled"
    DISABLED = "disabled"
    DELETED = "deleted"


TRANSITIONS: dict[State, frozenset[State]] = {
    State.ENABLED: frozenset({State.DISABLED, State.DELETED}),
    State.DISABLED: frozenset({State.ENABLED, State.DELETED}),
    State.DELETED: frozenset(),
}


class WebhookEvent(StrEnum):
    REGISTERED = "webhook.registered"
    DISABLED = "webhook.disabled"
    ENABLED = "webhook.enabled"
    DELETED = "webhook.deleted"


TARGET = {WebhookEvent.DISABLED: State.DISABLED, WebhookEvent.ENABLED: State.ENABLED,
          WebhookEvent.DELETED: State.DELETED}  # fmt: skip

Decision = tuple[str, JSON]


@dataclass
class Endpoint:
    """A registered receiver. ``automatic``: disabled by the give-up rule, not by a person."""

    id: str
    url: str
    events: list[str]
    state: State
    created_by: str
    created_at: str
    updated_at: str
    reason: str | None = None
    automatic: bool = False

    @property
    def enabled(self) -> bool:
        return self.state == State.ENABLED

    def wants(self, event_type: str) -> bool:
        return ALL in self.events or event_type in self.events

    def to_json(self) -> JSON:
        return {**asdict(self), "state": str(self.state)}


# --- the fold ------------------------------------------------------------------------


def apply(endpoints: dict[str, Endpoint], event: JSON) -> dict[str, Endpoint]:
    """Fold one decoded registry event into ``endpoints`` (in place); permissive: an
    unknown endpoint or an illegal transition is ignored, so a deleted one stays deleted."""
    kind, data, at = event["type"], event["data"], event["at"]
    found = endpoints.get(data.get("id", ""))
    if kind == WebhookEvent.REGISTERED:
        if found is None:
            endpoints[data["id"]] = Endpoint(
                id=data["id"], url=data["url"], events=list(data["events"]), state=State.ENABLED,
                created_by=data["created_by"], created_at=at, updated_at=at,
            )  # fmt: skip
        return endpoints
    target = TARGET.get(kind)
    if found is None or target is None or target not in TRANSITIONS[found.state]:
        return endpoints
    found.state, found.updated_at = target, at
    found.reason = data.get("reason") if target == State.DISABLED else None
    found.automatic = bool(data.get("automatic")) if target == State.DISABLED else False
    return endpoints


def fold(events: Iterable[JSON], endpoints: dict[str, Endpoint] | None = None) -> dict[str, Endpoint]:
    endpoints = {} if endpoints is None else endpoints
    for event in events:
        apply(endpoints, event)
    return endpoints


def listing(endpoints: Iterable[Endpoint]) -> list[Endpoint]:
    """Endpoints not deleted, oldest first."""
    return sorted((e for e in endpoints if e.state != State.DELETED), key=lambda e: (e.created_at, e.id))


# --- the rules -----------------------------------------------------------------------


def check_url(url: str, allow_private: bool = True) -> str:
    """An endpoint URL: absolute http(s), a host, no credentials, no fragment.

    Raises:
        ValueError: why the URL cannot receive webhooks (HTTP 422).
    """
    url = text.check(url, "url").strip()
    if not url:
        raise ValueError("url: required")
    if len(url) > MAX_URL:
        raise ValueError(f"url: at most {MAX_URL} characters")
    if any(char.isspace() for char in url):
        raise ValueError("url: must not contain spaces")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValueError(f"url: not a valid URL ({exc})") from exc
    if parts.scheme.lower() not in ("http", "https"):
        raise ValueError("url: must start with http:// or https://")
    if not parts.hostname:
        raise ValueError("url: needs a host, e.g. https://example.org/hooks/incidents")
    if parts.username is not None or parts.password is not None:
        raise ValueError("url: must not contain a user name or password (receivers check the signature)")
    if parts.fragment or url.endswith("#"):
        raise ValueError("url: must not contain a fragment (#...)")
    if port == 0:
        raise ValueError("url: port 0 is not valid")
    if not allow_private and (why := address_problem(parts.hostname)) is not None:
        raise ValueError(f"url: {why}; this server does not send webhooks to private addresses")
    return url


EVENT_TYPES = frozenset(str(t) for t in EventType)


def check_events(events: list[str]) -> list[str]:
    """The event types an endpoint wants: ``["*"]`` or known types, sorted, no repeats.

    Raises:
        ValueError: empty, or an unknown type (HTTP 422).
    """
    chosen = sorted({e.strip() for e in events})
    if not chosen or chosen == [""]:
        raise ValueError("events: name at least one event type, or * for all")
    if ALL in chosen:
        return [ALL]
    unknown = [e for e in chosen if e not in EVENT_TYPES]
    if unknown:
        known = ", ".join(sorted(EVENT_TYPES))
        raise ValueError(f"events: unknown type {', '.join(unknown)} (known: {known}, or * for all)")
    return chosen


def decide_register(endpoint_id: str, url: str, events: list[str], created_by: str) -> Decision:
    """The event registering an endpoint (``url`` and ``events`` already checked)."""
    return WebhookEvent.REGISTERED, {
        "id": endpoint_id,
        "url": url,
        "events": events,
        "created_by": created_by,
    }


def _move(endpoint: Endpoint, target: State) -> None:
    if target not in TRANSITIONS[endpoint.state]:
        raise RuleViolation(f"this webhook endpoint is {endpoint.state}; it cannot become {target}")


def decide_disable(endpoint: Endpoint, reason: str, automatic: bool = False) -> Decision:
    """Raises RuleViolation unless the endpoint is enabled."""
    _move(endpoint, State.DISABLED)
    return WebhookEvent.DISABLED, {"id": endpoint.id, "reason": reason[:MAX_REASON], "automatic": automatic}


def decide_enable(endpoint: Endpoint) -> Decision:
    """Raises RuleViolation unless the endpoint is disabled."""
    _move(endpoint, State.ENABLED)
    return WebhookEvent.ENABLED, {"id": endpoint.id}


def decide_delete(endpoint: Endpoint) -> Decision:
    """Raises RuleViolation if it is deleted already."""
    _move(endpoint, State.DELETED)
    return WebhookEvent.DELETED, {"id": endpoint.id}


# --- the request ---------------------------------------------------------------------


def event_id(incident: str, seq: int) -> str:
    """The id a receiver de-duplicates by: the same for every attempt of one event."""
    return f"{incident}:{seq}"


def payload(event: JSON, exercise: bool) -> bytes:
    """The body: the event in its wire format, plus ``id`` and ``exercise``."""
    body = {"id": event_id(event["incident"], event["seq"]), **event, "exercise": exercise}
    return dumps(body).encode()
