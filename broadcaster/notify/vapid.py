"""The VAPID key pair (RFC 8292) the server signs its Web Push requests with.

Given by ``INCIDENTS_VAPID_PRIVATE_KEY`` (PEM, DER or the raw 32-byte key in base64url), or made
on first start and kept in the store (document ``notify:vapid``), so every process signs
with the same key: two processes starting at once both try to store theirs with
``expect_version=0``; the one that loses reads the winner's.
"""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02

from broadcaster.config import Settings
from broadcaster.stores.base import Backend, BackendError

KEY_DOC = "notify:vapid"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def application_server_key(vapid: Vapid02) -> str:
    """The public key as browsers take it (``applicationServerKey``): the uncompressed P-256
    point (65 bytes, 0x04 first), base64url without padding."""
    public = vapid.public_key
    assert public is not None
    raw = public.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64url(raw)


def _raw_private(vapid: Vapid02) -> str:
    key = vapid.private_key
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return b64url(key.private_numbers().private_value.to_bytes(32, "big"))


def from_setting(value: str) -> Vapid02:
    """``INCIDENTS_VAPID_PRIVATE_KEY``: PEM, or DER / the raw key in base64url.

    Raises:
        ValueError: not a P-256 private key.
    """
    try:
        if value.lstrip().startswith("-----BEGIN"):
            vapid = Vapid02.from_pem(value.strip().encode())
        else:
            vapid = Vapid02.from_string(value.strip())
    except Exception as exc:  # py_vapid raises whatever the parser raised
        raise ValueError(f"INCIDENTS_VAPID_PRIVATE_KEY is not a P-256 private key ({exc})") from exc
    if not isinstance(vapid.private_key, ec.EllipticCurvePrivateKey) or not isinstance(
        vapid.private_key.curve, ec.SECP256R1
    ):
        raise ValueError("INCIDENTS_VAPID_PRIVATE_KEY is not a P-256 private key")
    return vapid


async def load_vapid(backend: Backend, settings: Settings) -> Vapid02:
    """The server's VAPID key pair: the setting's, or the store's (made on first use)."""
    if settings.vapid_private_key:
        return from_setting(settings.vapid_private_key)
    for _ in range(5):
        doc = await backend.get_doc(KEY_DOC)
        if doc is not None and doc.value.get("private_key"):
            return Vapid02.from_raw(str(doc.value["private_key"]).encode())
        made = Vapid02()
        made.generate_keys()
        stored = await backend.put_doc(
            KEY_DOC, {"private_key": _raw_private(made)}, expect_version=doc.version if doc else 0
        )
        if stored is not None:
            return made
    raise BackendError("the VAPID key could not be stored; try again")
