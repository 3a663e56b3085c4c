"""Operators' accounts: passwords, one-time setup links, sessions, API tokens, login limits.

Everything is kept in backend documents next to the operator (``operator:{id}``), so
every server process sees the same accounts. Passwords use scrypt (memory-hard, in the
standard library); API tokens and setup links are random secrets stored as SHA-256.
A session is a signed cookie naming the operator and their *session generation*:
"log out everywhere" bumps the generation and every older cookie stops working.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any

from broadcaster.accounts.operators import INDEX, Operator, add_operator
from broadcaster.core.events import format_time, utc_now
from broadcaster.core.types import JSON
from broadcaster.stores.base import Backend, BackendError, Doc

SCRYPT = {"n": 2**14, "r": 8, "p": 1}  # ~16 MiB per hash
MIN_PASSWORD = 10
SESSION_SECONDS = 12 * 3600
SETUP_SECONDS = 48 * 3600
LOGIN_WINDOW = 15 * 60
LOGIN_LIMIT_ACCOUNT = 5
LOGIN_LIMIT_ADDRESS = 20


class AccountError(Exception):
    """A refusal to show the operator as is (bad password, expired link, ...)."""


class LoginLimited(AccountError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed attempts: try again in {retry_after // 60 + 1} minutes")
        self.retry_after = retry_after


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def hash_password(password: str, salt: bytes | None = None) -> JSON:
    salt = salt or secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode(), salt=salt, maxmem=64 * 1024 * 1024, dklen=32, **SCRYPT)
    return {"salt": salt.hex(), "hash": key.hex(), **SCRYPT}


def check_password(password: str, stored: JSON) -> bool:
    params = {k: stored[k] for k in ("n", "r", "p")}
    key = hashlib.scrypt(
        password.encode(), salt=bytes.fromhex(stored["salt"]), maxmem=64 * 1024 * 1024, dklen=32, **params
    )
    return hmac.compare_digest(key.hex(), stored["hash"])


async def _update(backend: Backend, key: str, change: Any) -> JSON:
    """Read-modify-write a document with compare-and-set, retrying on a race."""
    for _ in range(20):
        doc = await backend.get_doc(key)
        if doc is None:
            raise AccountError("no such operator")
        value = change(dict(doc.value))
        if await backend.put_doc(key, value, expect_version=doc.version):
            return dict(value)
    raise BackendError(f"could not update {key} (too many concurrent changes)")


async def operator_doc(backend: Backend, operator_id: str) -> Doc | None:
    return await backend.get_doc(f"operator:{operator_id}")


async def list_operators(backend: Backend) -> list[JSON]:
    index = await backend.get_doc(INDEX)
    found = []
    for operator_id in (index.value["names"] if index else {}).values():
        doc = await operator_doc(backend, operator_id)
        if doc is not None:
            value = dict(doc.value)
            value["has_password"] = bool(value.get("password"))
            value.pop("password", None)
            value["tokens"] = [_public_token(t) for t in value.get("tokens", [])]
            found.append(value)
    return sorted(found, key=lambda o: o["created_at"])


async def find_by_name(backend: Backend, name: str) -> Doc | None:
    index = await backend.get_doc(INDEX)
    operator_id = index.value["names"].get(name.strip()) if index else None
    return await operator_doc(backend, operator_id) if operator_id else None


# --- one-time setup links -------------------------------------------------------------


async def invite(backend: Backend, name: str, admin: bool) -> tuple[Operator, str]:
    """A new operator (without a password) and the secret of a one-time setup link.

    Raises ValueError for a taken or bad name (from :func:`add_operator`)."""
    operator, _token = await add_operator(backend, name, admin)
    await _update(backend, f"operator:{operator.id}", lambda v: {**v, "tokens": []})
    return operator, await new_setup_link(backend, operator.id)


async def new_setup_link(backend: Backend, operator_id: str) -> str:
    secret = secrets.token_urlsafe(24)
    expires = time.time() + SETUP_SECONDS
    await backend.put_doc(
        f"setup:{_digest(secret)}",
        {"operator": operator_id, "expires": expires, "used": False},
        expect_version=0,
    )
    return secret


async def setup_operator(backend: Backend, secret: str) -> Doc:
    """The operator a setup link is for. Raises AccountError if used or expired."""
    doc = await backend.get_doc(f"setup:{_digest(secret)}")
    if doc is None or doc.value["used"] or doc.value["expires"] < time.time():
        raise AccountError("this link is not valid any more: ask an administrator for a new one")
    operator = await operator_doc(backend, doc.value["operator"])
    if operator is None:
        raise AccountError("this link is not valid any more: ask an administrator for a new one")
    return operator


async def set_password_with_link(backend: Backend, secret: str, password: str) -> Operator:
    """Consume a setup link (once) and set the password; every old session ends."""
    if len(password) < MIN_PASSWORD:
        raise AccountError(f"the password needs at least {MIN_PASSWORD} characters")
    operator = await setup_operator(backend, secret)
    link_key = f"setup:{_digest(secret)}"
    link = await backend.get_doc(link_key)
    assert link is not None
    if not await backend.put_doc(link_key, {**link.value, "used": True}, expect_version=link.version):
        raise AccountError("this link was just used")
    stored = hash_password(password)
    value = await _update(
        backend,
        f"operator:{operator.value['id']}",
        lambda v: {**v, "password": stored, "session_gen": v.get("session_gen", 0) + 1},
    )
    return Operator(value["id"], value["name"], bool(value["admin"]))


# --- logging in ---------------------------------------------------------------------------


async def _count_failure(backend: Backend, key: str) -> None:
    now = time.time()

    def bump(value: JSON) -> JSON:
        if value.get("start", 0) + LOGIN_WINDOW < now:
            return {"start": now, "count": 1}
        return {**value, "count": value["count"] + 1}

    for _ in range(10):
        doc = await backend.get_doc(key)
        value = bump(dict(doc.value) if doc else {})
        if await backend.put_doc(key, value, expect_version=doc.version if doc else 0):
            return


async def _check_limit(backend: Backend, key: str, limit: int) -> None:
    doc = await backend.get_doc(key)
    if doc and doc.value["count"] >= limit and doc.value["start"] + LOGIN_WINDOW > time.time():
        raise LoginLimited(int(doc.value["start"] + LOGIN_WINDOW - time.time()))


async def login(backend: Backend, name: str, password: str, address: str) -> Operator:
    """Check a name and password, within the per-account and per-address limits.

    Raises:
        LoginLimited: too many failures lately.
        AccountError: wrong name or password (one message for both).
    """
    account_key = f"ratelimit:login:name:{_digest(name.strip().lower())}"
    address_key = f"ratelimit:login:addr:{address}"
    await _check_limit(backend, account_key, LOGIN_LIMIT_ACCOUNT)
    await _check_limit(backend, address_key, LOGIN_LIMIT_ADDRESS)
    doc = await find_by_name(backend, name)
    stored = doc.value.get("password") if doc else None
    # Hash even for an unknown name, so the answer's timing does not tell names apart.
    ok = check_password(password, stored or hash_password("", b"0" * 16)) and stored is not None
    if not ok or doc is None or doc.value.get("disabled"):
        await _count_failure(backend, account_key)
        await _count_failure(backend, address_key)
        raise AccountError("wrong name or password")
    return Operator(doc.value["id"], doc.value["name"], bool(doc.value["admin"]))


# --- sessions (signed cookies) ----------------------------------------------------------------


async def server_secret(backend: Backend, configured: str | None) -> bytes:
    """The key that signs cookies: configured, or made once and shared by all processes."""
    if configured:
        return configured.encode()
    doc = await backend.get_doc("server:secret")
    if doc is None:
        await backend.put_doc("server:secret", {"key": secrets.token_hex(32)}, expect_version=0)
        doc = await backend.get_doc("server:secret")
    assert doc is not None
    return bytes.fromhex(doc.value["key"])


def _sign(key: bytes, payload: str) -> str:
    return base64.urlsafe_b64encode(hmac.new(key, payload.encode(), "sha256").digest()).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class Session:
    operator: str
    generation: int
    expires: int
    nonce: str

    def csrf_token(self, key: bytes) -> str:
        """Bound to this session: a form from another site cannot know it."""
        return _sign(key, f"csrf:{self.operator}:{self.nonce}")[:32]


def make_cookie(key: bytes, operator_id: str, generation: int) -> tuple[str, Session]:
    session = Session(operator_id, generation, int(time.time()) + SESSION_SECONDS, secrets.token_hex(8))
    fields = {"o": session.operator, "g": session.generation, "e": session.expires, "n": session.nonce}
    payload = base64.urlsafe_b64encode(json.dumps(fields).encode()).decode()
    return f"{payload}.{_sign(key, payload)}", session


def read_cookie(key: bytes, cookie: str) -> Session | None:
    payload, _, signature = cookie.partition(".")
    if not payload or not hmac.compare_digest(_sign(key, payload), signature):
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(payload.encode()))
        session = Session(str(data["o"]), int(data["g"]), int(data["e"]), str(data["n"]))
    except (ValueError, KeyError, TypeError):
        return None
    return session if session.expires > time.time() else None


async def session_operator(backend: Backend, session: Session) -> Operator | None:
    """The operator of a still-valid session (not logged out everywhere, not disabled)."""
    doc = await operator_doc(backend, session.operator)
    if doc is None or doc.value.get("disabled") or doc.value.get("session_gen", 0) != session.generation:
        return None
    return Operator(doc.value["id"], doc.value["name"], bool(doc.value["admin"]))


async def generation(backend: Backend, operator_id: str) -> int:
    doc = await operator_doc(backend, operator_id)
    return int(doc.value.get("session_gen", 0)) if doc else 0


async def logout_everywhere(backend: Backend, operator_id: str) -> None:
    await _update(
        backend, f"operator:{operator_id}", lambda v: {**v, "session_gen": v.get("session_gen", 0) + 1}
    )


# --- API tokens -----------------------------------------------------------------------------------


def _public_token(token: JSON) -> JSON:
    return {k: token.get(k) for k in ("id", "label", "created_at")}


async def create_token(backend: Backend, operator_id: str, label: str) -> str:
    """A new API token (returned once; only its hash is kept)."""
    token_id, secret = secrets.token_hex(4), secrets.token_urlsafe(32)
    entry = {
        "id": token_id,
        "hash": _digest(secret),
        "label": label.strip()[:100],
        "created_at": format_time(utc_now()),
    }
    await _update(
        backend, f"operator:{operator_id}", lambda v: {**v, "tokens": [*v.get("tokens", []), entry]}
    )
    return f"{operator_id}.{token_id}.{secret}"


async def list_tokens(backend: Backend, operator_id: str) -> list[JSON]:
    doc = await operator_doc(backend, operator_id)
    return [_public_token(t) for t in doc.value.get("tokens", [])] if doc else []


async def revoke_token(backend: Backend, operator_id: str, token_id: str) -> bool:
    before = await list_tokens(backend, operator_id)
    await _update(
        backend,
        f"operator:{operator_id}",
        lambda v: {**v, "tokens": [t for t in v.get("tokens", []) if t["id"] != token_id]},
    )
    return any(t["id"] == token_id for t in before)
