"""Deliveries signed per Standard Webhooks (https://www.standardwebhooks.com): pure, no I/O.

Every attempt carries ``webhook-id`` (the event's stable id: the same on every retry, so a
receiver de-duplicates with it), ``webhook-timestamp`` (this attempt's Unix time: receivers refuse
one outside their tolerance, 5 minutes by default, so a delivery seen once cannot be replayed
later) and ``webhook-signature``: ``v1,`` and the base64 HMAC-SHA256 of ``{id}.{timestamp}.{body}``
keyed with the secret's bytes, one such signature per secret in force, space-separated (during a
rotation: the new secret's first, then the old one's). Any Standard Webhooks library verifies them.

A secret is ``whsec_`` and the standard base64 of 32 random bytes; the bytes are the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

from broadcaster.core.types import JSON

__all__ = [
    "EVENT_HEADER",
    "PREFIX",
    "Secrets",
    "headers",
    "key_of",
    "new_secret",
    "signature",
]

PREFIX = "whsec_"
EVENT_HEADER = "X-Incidents-Event"
"""The event's type, for receivers that route before parsing (not part of the signature)."""


def new_secret(random_bytes: bytes) -> str:
    """``whsec_`` + base64 of the key (32 random bytes from the caller: ``secrets.token_bytes``)."""
    return PREFIX + base64.b64encode(random_bytes).decode()


def key_of(secret: str) -> bytes:
    """The HMAC key a secret stands for, decoded as every Standard Webhooks library decodes it.

    Raises:
        ValueError: not ``whsec_`` and base64 (a secret made before deliveries followed the
            standard: rotate it).
    """
    if not secret.startswith(PREFIX):
        raise ValueError("a webhook secret starts with whsec_")
    try:
        key = base64.b64decode(secret[len(PREFIX) :], validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret is whsec_ and standard base64") from exc
    if len(key) < 16:
        raise ValueError("a webhook secret holds at least 16 bytes")
    return key


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """``v1,BASE64`` of HMAC-SHA256(key, ``{msg_id}.{timestamp}.`` + body)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key_of(secret), signed, hashlib.sha256).digest()).decode()


@dataclass(frozen=True)
class Secrets:
    """An endpoint's secrets: the current one and, for a while after a rotation, the one before."""

    current: str
    previous: str | None = None
    previous_until: float | None = None  # Unix time the previous one stops signing

    def in_force(self, now: float) -> list[str]:
        """The secrets that sign a delivery made at ``now``: the current first."""
        before = self.previous is not None and self.previous_until is not None and now < self.previous_until
        return [self.current, self.previous] if before and self.previous else [self.current]

    def rotated(self, new: str, now: float, overlap: float) -> Secrets:
        """``new`` becomes current; the current one keeps signing for ``overlap`` seconds."""
        return Secrets(new, self.current, now + overlap) if overlap > 0 else Secrets(new)

    def to_json(self) -> JSON:
        return {"secret": self.current, "previous": self.previous, "previous_until": self.previous_until}

    @classmethod
    def from_json(cls, data: JSON) -> Secrets | None:
        """None for a deleted endpoint (its secret cleared)."""
        current = data.get("secret")
        if not current:
            return None
        until = data.get("previous_until")
        return cls(str(current), data.get("previous") or None, float(until) if until is not None else None)


def headers(secrets: list[str], body: bytes, msg_id: str, event_type: str, timestamp: int) -> dict[str, str]:
    """Every header of one attempt except ``User-Agent`` (set once per client)."""
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signature(s, msg_id, timestamp, body) for s in _standard(secrets)),
        EVENT_HEADER: event_type,
    }


def _standard(secrets: list[str]) -> list[str]:
    """The secrets that can sign. A previous secret of the form used before Standard Webhooks
    (rotated away from) is passed over, so the rotation itself is what makes deliveries work again;
    a current one of that form still raises ValueError (the endpoint must be rotated: docs/webhooks.md)."""
    usable = [secret for n, secret in enumerate(secrets) if n == 0 or _is_standard(secret)]
    return usable


def _is_standard(secret: str) -> bool:
    try:
        key_of(secret)
    except ValueError:
        return False
    return True
