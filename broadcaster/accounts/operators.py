"""Operators and their API tokens, kept as documents in the backend.

A token reads ``OPERATOR.TOKENID.SECRET``. Only a SHA-256 of the secret is stored
(the secret is 256 random bits, so a plain hash is enough; passwords, later, get a
slow KDF), and it is compared with :func:`hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from broadcaster.core import text
from broadcaster.core.events import format_time, utc_now
from broadcaster.stores.base import Backend, BackendError

INDEX = "operators"


@dataclass(frozen=True, slots=True)
class Operator:
    id: str
    name: str
    admin: bool


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def add_operator(backend: Backend, name: str, admin: bool = False) -> tuple[Operator, str]:
    """Create an operator with one API token; returns it and the token (shown once).

    Raises:
        ValueError: the name is blank, taken or holds control characters.
    """
    name = text.check(name, "name").strip()
    if not name or len(name) > 100:
        raise ValueError("an operator's name must be 1 to 100 characters")
    operator = Operator(secrets.token_hex(4), name, admin)
    token_id, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
    for _ in range(20):
        index = await backend.get_doc(INDEX)
        names = dict(index.value["names"]) if index else {}
        if name in names:
            raise ValueError(f"an operator named {name!r} exists already")
        names[name] = operator.id
        if await backend.put_doc(INDEX, {"names": names}, expect_version=index.version if index else 0):
            break
    else:
        raise BackendError("could not register the operator (too many concurrent changes)")
    doc = {
        "id": operator.id,
        "name": name,
        "admin": admin,
        "created_at": format_time(utc_now()),
        "tokens": [{"id": token_id, "hash": _digest(secret), "created_at": format_time(utc_now())}],
    }
    await backend.put_doc(f"operator:{operator.id}", doc, expect_version=0)
    return operator, f"{operator.id}.{token_id}.{secret}"


async def has_operators(backend: Backend) -> bool:
    index = await backend.get_doc(INDEX)
    return bool(index and index.value["names"])


async def authenticate(backend: Backend, token: str) -> Operator | None:
    """The operator a token belongs to, or None for an unknown or malformed token."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts) or len(token) > 200:
        return None
    operator_id, token_id, secret = parts
    doc = await backend.get_doc(f"operator:{operator_id}")
    if doc is None:
        return None
    given = _digest(secret)
    for stored in doc.value["tokens"]:
        if stored["id"] == token_id and hmac.compare_digest(stored["hash"], given):
            return Operator(doc.value["id"], doc.value["name"], bool(doc.value["admin"]))
    return None
