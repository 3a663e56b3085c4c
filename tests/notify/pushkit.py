"""Web Push for tests, both ends the server does not play: a push service (a tiny HTTP server
on a loopback port, recording every message and answering 201, or what a test sets per
endpoint) and browsers (user agents) that make a P-256 key pair and auth secret, subscribe,
and decrypt each message with ``http_ece`` as a browser would (RFC 8291).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import http_ece
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from tests.support.receiver import read_request


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Message:
    name: str  # the endpoint's last path segment: which browser it is for
    headers: dict[str, str]
    body: bytes
    at: float
    answered: int


@dataclass
class PushService:
    """Answers 201 (or ``statuses[name]``) after ``delay`` seconds; records every message."""

    delay: float = 0.0
    statuses: dict[str, int] = field(default_factory=dict)
    port: int = 0
    messages: list[Message] = field(default_factory=list)
    _server: asyncio.Server | None = None

    def endpoint(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/push/{name}"

    async def start(self) -> PushService:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None

    def to(self, name: str) -> list[Message]:
        return [m for m in self.messages if m.name == name]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request_line, headers, body = await read_request(reader)
                who = request_line.split(" ")[1].rsplit("/", 1)[-1]
                status = self.statuses.get(who, 201)
                self.messages.append(Message(who, headers, body, time.monotonic(), status))
                if self.delay:
                    await asyncio.sleep(self.delay)
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\n\r\n".encode())
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


class Browser:
    """A user agent's side of one push subscription."""

    def __init__(self, service: PushService, name: str) -> None:
        self.name = name
        self.endpoint = service.endpoint(name)
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth = os.urandom(16)

    def subscription(self) -> dict[str, Any]:
        """What ``PushSubscription.toJSON()`` gives."""
        public = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"endpoint": self.endpoint, "keys": {"p256dh": b64url(public), "auth": b64url(self.auth)}}

    def decrypt(self, message: Message) -> dict[str, Any]:
        assert message.headers["content-encoding"] == "aes128gcm"
        plain = http_ece.decrypt(
            message.body, private_key=self.key, auth_secret=self.auth, version="aes128gcm"
        )
        found: dict[str, Any] = json.loads(plain)
        return found


def check_vapid(message: Message, endpoint: str, server_key: str) -> dict[str, Any]:
    """The VAPID header (RFC 8292): ``vapid t=JWT,k=KEY``; the key the server publishes, the JWT
    signed with it (ES256), its audience the endpoint's origin, its expiry within 24 hours.
    Returns the claims."""
    scheme, _, rest = message.headers["authorization"].partition(" ")
    assert scheme == "vapid"
    parts = dict(item.split("=", 1) for item in rest.split(","))
    assert parts["k"] == server_key
    header_b64, claims_b64, signature_b64 = parts["t"].split(".")
    assert json.loads(unb64url(header_b64)) == {"typ": "JWT", "alg": "ES256"}
    claims: dict[str, Any] = json.loads(unb64url(claims_b64))
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(endpoint))
    assert claims["aud"] == origin
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600
    assert str(claims["sub"]).startswith(("mailto:", "https:"))
    public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64url(server_key))
    raw = unb64url(signature_b64)
    assert len(raw) == 64
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        public.verify(der, f"{header_b64}.{claims_b64}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise AssertionError("the VAPID JWT is not signed with the server's key") from exc
    return claims
