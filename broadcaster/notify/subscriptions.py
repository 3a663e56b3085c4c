"""The subscriptions in the store, their personal data apart, and their tokens.

Keys (all in the backend, so every process sees the same; SQLite, Redis and Redis Cluster
alike through the backend's primitives):

* ``subscriptions:all``: the log, without personal data: ``subscription.created`` {id, channel,
  incident, area, level, lang, drills, confirmed, token_hash, subscriber},
  ``subscription.confirmed`` {id}, ``subscription.removed`` {id, reason}. ``subscriber`` is a
  keyed hash (HMAC) of the e-mail address or push endpoint: it says "the same person" without
  saying who; ``token_hash`` the SHA-256 of the subscription's secret token.
* ``subscription-personal:{id}``: ``{"email": ...}`` or ``{"push": {"endpoint", "keys"}}``, and
  ``"token"`` (the secret of the links in every message); emptied (``{}``) on removal.
* ``notify:key``: the HMAC key of ``subscriber``; ``notify:paused``: ``{paused, by, at}``.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, replace

from broadcaster.config import Settings
from broadcaster.core import geometry
from broadcaster.core.events import format_time, parse_time, utc_now
from broadcaster.core.timeline import Incident
from broadcaster.core.types import JSON
from broadcaster.notify.rules import SubscriptionRequest, wants
from broadcaster.notify.types import ChannelName, Level, Subscription
from broadcaster.stores.base import Backend, BackendError

LOG = "subscriptions:all"
PERSONAL_PREFIX = "subscription-personal:"
KEY_DOC = "notify:key"
PAUSED_DOC = "notify:paused"
ATTEMPTS = 20


def personal_key(sub_id: str) -> str:
    return f"{PERSONAL_PREFIX}{sub_id}"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Entry:
    """A subscription as folded from the log, with what only the store needs."""

    sub: Subscription
    token_hash: str
    subscriber: str
    removed: str | None = None
    """Why it was removed ("unsubscribed", "gone", "rejected", "replaced"), or None."""


def fold(entries: dict[str, Entry], event: JSON) -> None:
    kind, data, at = event["type"], event["data"], event["at"]
    if kind == "subscription.created":
        sub = Subscription(
            id=data["id"], channel=ChannelName(data["channel"]), incident=data["incident"], area=data["area"],
            level=Level(data["level"]), lang=data["lang"], drills=bool(data["drills"]), created_at=at,
            confirmed=bool(data["confirmed"]),
        )  # fmt: skip
        entries[sub.id] = Entry(sub, data["token_hash"], data["subscriber"])
    elif kind == "subscription.confirmed" and data["id"] in entries:
        entry = entries[data["id"]]
        entries[data["id"]] = replace(entry, sub=replace(entry.sub, confirmed=True))
    elif kind == "subscription.removed" and data["id"] in entries:
        entries[data["id"]] = replace(entries[data["id"]], removed=str(data.get("reason") or "removed"))


class Subscriptions:
    """Every subscription as this process knows it (:meth:`refresh` folds what others
    appended), and every change to them."""

    def __init__(self, backend: Backend, settings: Settings) -> None:
        self.backend = backend
        self.settings = settings
        self.entries: dict[str, Entry] = {}
        self.seq = 0
        self._by_token: dict[str, str] = {}
        self._lock = asyncio.Lock()
        self._key: bytes | None = None
        self._meets: dict[tuple[str, str], bool] = {}

    # --- reading ---------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Fold what was appended since the last call (by any process)."""
        async with self._lock:
            for event in await self.backend.read(LOG, since=self.seq):
                if event.seq != self.seq + 1:
                    break
                decoded = event.decode()
                fold(self.entries, decoded)
                if decoded["type"] == "subscription.created":
                    self._by_token[decoded["data"]["token_hash"]] = decoded["data"]["id"]
                self.seq = event.seq

    def live(self) -> list[Entry]:
        return [entry for entry in self.entries.values() if entry.removed is None]

    async def matching(
        self, channel: ChannelName, incident: Incident, event: JSON, level: Level
    ) -> list[Subscription]:
        """Who ``event`` of ``incident`` (at ``level``) goes to on ``channel``: confirmed
        subscriptions made before the event, following this incident or an area meeting
        its ``area_shape``, wanting that level, drills only to those who want them;
        sorted by id (an order a sender can resume)."""
        await self.refresh()
        moment = parse_time(str(event["at"]))
        shape = incident.area_shape
        shape_key = json.dumps(shape, sort_keys=True) if shape else ""
        found = []
        for entry in self.live():
            sub = entry.sub
            if sub.channel != channel or not sub.confirmed or not wants(sub.level, level):
                continue
            if incident.exercise and not sub.drills:
                continue
            if parse_time(sub.created_at) >= moment:
                continue
            if sub.incident is not None:
                if sub.incident != incident.id:
                    continue
            elif shape is None or sub.area is None or not self._meets_area(sub, shape, shape_key):
                continue
            found.append(sub)
        return sorted(found, key=lambda s: s.id)

    def _meets_area(self, sub: Subscription, shape: JSON, shape_key: str) -> bool:
        key = (sub.id, shape_key)
        if key not in self._meets:
            if len(self._meets) > 100_000:
                self._meets.clear()
            assert sub.area is not None
            self._meets[key] = geometry.areas_meet(shape, sub.area)
        return self._meets[key]

    async def following(self, incident: Incident) -> dict[str, dict[str, int]]:
        """How many follow ``incident`` itself and its area, by channel (confirmed only)."""
        await self.refresh()
        shape = incident.area_shape
        shape_key = json.dumps(shape, sort_keys=True) if shape else ""
        counts: dict[str, dict[str, int]] = {"incident": {}, "area": {}}
        for entry in self.live():
            sub = entry.sub
            if not sub.confirmed:
                continue
            if sub.incident == incident.id:
                kind = "incident"
            elif sub.area is not None and shape is not None and self._meets_area(sub, shape, shape_key):
                kind = "area"
            else:
                continue
            counts[kind][sub.channel.value] = counts[kind].get(sub.channel.value, 0) + 1
        return counts

    async def personal(self, sub_id: str) -> JSON | None:
        """The subscription's personal data, None once removed."""
        doc = await self.backend.get_doc(personal_key(sub_id))
        return doc.value if doc is not None and doc.value else None

    def manage_url(self, sub: Subscription, personal: JSON) -> str:
        """Where the subscriber sees and ends every subscription of theirs (absolute)."""
        return f"{self.settings.public_url}/subscriptions/{personal['token']}"

    def confirm_url(self, token: str) -> str:
        return f"{self.settings.public_url}/subscriptions/confirm/{token}"

    async def by_token(self, token: str) -> Entry | None:
        """The subscription a link's token names (removed ones too), or None."""
        if not token or len(token) > 200:
            return None
        digest = token_hash(token)
        if digest not in self._by_token:
            await self.refresh()
        found = self._by_token.get(digest)
        return self.entries.get(found) if found else None

    async def of_subscriber(self, subscriber: str) -> list[Entry]:
        """Every live subscription of one person (one e-mail address or push endpoint), oldest first."""
        await self.refresh()
        return sorted((e for e in self.live() if e.subscriber == subscriber), key=lambda e: e.sub.id)

    async def paused(self) -> bool:
        doc = await self.backend.get_doc(PAUSED_DOC)
        return bool(doc.value.get("paused")) if doc else False

    async def pause_state(self) -> JSON:
        doc = await self.backend.get_doc(PAUSED_DOC)
        return doc.value if doc else {"paused": False, "by": None, "at": None}

    # --- changes ---------------------------------------------------------------------------

    async def subscriber_of(self, channel: ChannelName, address: str) -> str:
        """The keyed hash naming one e-mail address (in lower case) or push endpoint."""
        key = await self._hash_key()
        return hmac.new(key, f"{channel.value}:{address}".encode(), "sha256").hexdigest()

    async def _hash_key(self) -> bytes:
        if self._key is None:
            doc = await self.backend.get_doc(KEY_DOC)
            if doc is None:
                await self.backend.put_doc(KEY_DOC, {"key": secrets.token_hex(32)}, expect_version=0)
                doc = await self.backend.get_doc(KEY_DOC)  # ours, or the one another process stored first
            if doc is None:
                raise BackendError("the subscriptions' key could not be stored")
            self._key = bytes.fromhex(str(doc.value["key"]))
        return self._key

    async def create(self, request: SubscriptionRequest) -> tuple[Subscription, str]:
        """A new subscription and its secret token (Web Push: confirmed at once; e-mail:
        once the confirmation link is followed). The same person's earlier subscription to
        the same incident or area on the same channel is replaced."""
        subscriber = await self.subscriber_of(request.channel, request.address)
        token = secrets.token_urlsafe(24)
        sub_id = f"{int(time.time() * 1000):012x}{secrets.token_hex(4)}"
        await self.backend.put_doc(
            personal_key(sub_id), {**request.personal, "token": token}, expect_version=0
        )
        data = {
            "id": sub_id, "channel": request.channel.value, "incident": request.incident,
            "area": request.area, "level": request.level.value, "lang": request.lang,
            "drills": request.drills, "confirmed": request.channel == ChannelName.WEBPUSH,
            "token_hash": token_hash(token), "subscriber": subscriber,
        }  # fmt: skip
        await self.backend.append(LOG, "subscription.created", data)
        for entry in await self.of_subscriber(subscriber):
            same = (entry.sub.incident, entry.sub.area) == (request.incident, request.area)
            if entry.sub.id != sub_id and same and entry.sub.channel == request.channel:
                await self.remove(entry.sub.id, "replaced")
        await self.refresh()
        return self.entries[sub_id].sub, token

    async def confirm(self, sub_id: str) -> Subscription:
        """Confirm (the e-mail's link was followed); again is harmless."""
        await self.refresh()
        entry = self.entries[sub_id]
        if not entry.sub.confirmed and entry.removed is None:
            await self.backend.append(
                LOG, "subscription.confirmed", {"id": sub_id}, idem_key=f"confirm:{sub_id}"
            )
            await self.refresh()
        return self.entries[sub_id].sub

    async def remove(self, sub_id: str, reason: str) -> None:
        """End a subscription and delete its personal data (once, whoever asks)."""
        await self.refresh()
        entry = self.entries.get(sub_id)
        if entry is not None and entry.removed is None:
            await self.backend.append(
                LOG, "subscription.removed", {"id": sub_id, "reason": reason}, idem_key=f"remove:{sub_id}"
            )
        for _ in range(ATTEMPTS):
            doc = await self.backend.get_doc(personal_key(sub_id))
            if doc is None or not doc.value:
                break
            if await self.backend.put_doc(personal_key(sub_id), {}, expect_version=doc.version) is not None:
                break
        await self.refresh()

    async def reject_address(self, email: str, reason: str) -> None:
        """End every e-mail subscription of this address (its mail server refused it for good)."""
        subscriber = await self.subscriber_of(ChannelName.EMAIL, email.strip().lower())
        for entry in await self.of_subscriber(subscriber):
            await self.remove(entry.sub.id, reason)

    async def set_paused(self, paused: bool, by: str) -> JSON:
        """Pause or resume every notification (the caller audits it)."""
        value = {"paused": paused, "by": by, "at": format_time(utc_now())}
        for _ in range(ATTEMPTS):
            doc = await self.backend.get_doc(PAUSED_DOC)
            if await self.backend.put_doc(PAUSED_DOC, value, expect_version=doc.version if doc else 0):
                return value
        raise BackendError("the pause switch is changing too fast; try again")
