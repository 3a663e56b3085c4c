"""The shapes the parts of notifications agree on: a subscription, what to tell a subscriber
(a :class:`Notice`), what became of one attempt (:class:`Outcome`), and a :class:`Channel`.

Pure data, no I/O. The subscription store (``subscriptions.py``) makes :class:`Subscription`;
the rules (``rules.py``) make :class:`Notice` from an event; the dispatcher
(``dispatch.py``) hands notices to each channel (``webpush.py``, ``email.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from broadcaster.core.types import JSON


class ChannelName(StrEnum):
    WEBPUSH = "webpush"
    EMAIL = "email"


class Level(StrEnum):
    IMPORTANT = "important"
    """A new incident, the first update, resolved / reopened, a changed expected restoration,
    a pin, a withdrawal, an update marked ``notify``."""
    ALL = "all"
    """Every update as well (still never a typo's correction)."""


@dataclass(frozen=True)
class Subscription:
    """One subscription, without its personal data (the e-mail address or push endpoint are
    kept apart, in a document deleted on unsubscribing; see ``subscriptions.py``)."""

    id: str
    channel: ChannelName
    incident: str | None
    """Following one incident; exactly one of ``incident`` and ``area`` is set."""
    area: JSON | None
    """Following an area: a circle ``{"type": "circle", "center": [lat, lon], "radius_km": r}``."""
    level: Level
    lang: str
    """``zh-CN`` or ``en``: the language of what is sent."""
    drills: bool
    """Whether exercises are notified (as drills, clearly marked)."""
    created_at: str
    confirmed: bool
    """Web Push: at once; e-mail: once the confirmation link was followed (double opt-in)."""


@dataclass(frozen=True)
class Notice:
    """What one event tells a subscriber, in the subscriber's language (built by the rules,
    rendered by each channel)."""

    incident: str
    seq: int
    event_type: str
    at: str
    """When the event happened (RFC 3339, UTC)."""
    title: str
    """The incident's title (in its own language)."""
    headline: str
    """One line saying what happened, in the subscriber's language: the update's first line,
    "Resolved: ...", "Expected restoration revised to ...", ..."""
    text: str
    """The whole update as plain text ("" when the event has no text of its own)."""
    url: str
    """Absolute URL of the timeline, at the update when there is one (``...#u-ID``)."""
    exercise: bool
    lang: str
    update_id: str | None = None
    extra: JSON = field(default_factory=dict)


class Result(StrEnum):
    SENT = "sent"
    DEFERRED = "deferred"
    """Held back on purpose (an e-mail coalesced into the next message); not a failure."""
    RETRY = "retry"
    """A transient failure: try again later, with backoff."""
    GONE = "gone"
    """The push service answered 404 or 410 (RFC 8030 9.1): remove the subscription."""
    REJECTED = "rejected"
    """A permanent failure (an SMTP 5xx): disable the address."""


@dataclass(frozen=True)
class Outcome:
    result: Result
    detail: str = ""
    """What went wrong, for the delivery panel (never personal data)."""


class Channel(Protocol):
    """Sends notices by one means. ``personal`` is the subscription's personal document:
    ``{"email": ...}`` or ``{"push": {"endpoint", "keys": {"p256dh", "auth"}}}``; ``manage_url`` the
    absolute URL where the subscriber sees and ends their subscriptions (in every message)."""

    name: ChannelName

    async def deliver(
        self, sub: Subscription, personal: JSON, notice: Notice, manage_url: str
    ) -> Outcome: ...
