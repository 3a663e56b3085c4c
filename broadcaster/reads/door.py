"""The read path's front door: an ASGI middleware outside every other.

Hot public reads (:func:`broadcaster.reads.targets.classify`) are answered from
:class:`~broadcaster.reads.cache.Representations` without walking the route table: the
first reader of a version pays for FastAPI (routing, the fold, the template), everyone
after gets the same bytes, compressed once per coding, with a strong ETag, and 304 when
they already hold them. ``/healthz`` and ``/readyz`` are answered here too; ``/static/``
goes straight to the assets. Everything else passes through untouched; a write that
passes through marks its incident for a version check on the next read.
"""

from __future__ import annotations

import asyncio
import functools
import json
import re
import time
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broadcaster import i18n
from broadcaster.reads.cache import Representation, Representations
from broadcaster.reads.encoding import matches
from broadcaster.reads.health import LIVE, readiness
from broadcaster.reads.targets import Scope as Follows
from broadcaster.reads.targets import Target, classify
from broadcaster.reads.versions import Versions
from broadcaster.web.security import SecurityHeaders

__all__ = ["LIVE_CACHE", "ReadDoor"]

LIVE_CACHE = b"public, max-age=5, stale-while-revalidate=30"
"""For pages and documents that change as the incident does (docs/reads.md: why 5 s)."""
DROPPED = {b"content-length", b"content-encoding", b"etag", b"vary", b"date", b"server", b"transfer-encoding"}
NOT_FORWARDED = {b"if-none-match", b"if-modified-since", b"accept-encoding", b"cookie", b"range", b"if-range"}
WRITES_ON = re.compile(r"^/(?:api/|console/)?incidents/([A-Za-z0-9_-]{1,64})")


@dataclass(slots=True)
class Captured:
    """A response FastAPI gave that is not kept (not 200, or it set a cookie)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def _header(scope: Scope, name: bytes) -> str:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return ""


class ReadDoor:
    def __init__(self, app: ASGIApp, state: Any, max_bytes: int, images: str | None = None) -> None:
        self.app = app
        self.state = state
        self.cache = Representations(max_bytes)
        self._building: dict[Hashable, asyncio.Future[Representation | Captured]] = {}
        self._direct = SecurityHeaders(self._health, images=images)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        versions: Versions | None = getattr(self.state, "versions", None)
        if scope["method"] not in ("GET", "HEAD") or versions is None:
            try:
                await self.app(scope, receive, self._own_redirects(scope, send))
            finally:
                if versions is not None:
                    written = WRITES_ON.match(path)
                    versions.touched(written[1] if written else None)
            return
        if path in ("/healthz", "/readyz"):
            await self._direct(scope, receive, send)
            return
        assets = getattr(self.state, "assets", None)
        if assets is not None and path.startswith("/static/"):
            await assets.serve(scope, receive, send)
            return
        target = classify(path, scope["query_string"].decode("latin-1"))
        if target is None:
            await self.app(scope, receive, self._own_redirects(scope, send))
            return
        await self._read(scope, send, target, versions)

    def _own_redirects(self, scope: Scope, send: Send) -> Send:
        """Redirects Starlette makes itself (``/incidents/x/`` -> ``/incidents/x``) name the
        request's Host; they name the public URL instead, like every other link."""
        public = self.state.settings.public_url.rstrip("/").encode()
        host = _header(scope, b"host").encode("latin-1")

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start" and 300 <= message["status"] < 400:
                message["headers"] = [
                    (k, _public_location(v, host, public) if k.lower() == b"location" else v)
                    for k, v in message.get("headers", [])
                ]
            await send(message)

        return sending

    async def _read(self, scope: Scope, send: Send, target: Target, versions: Versions) -> None:
        follows = target.incident if target.scope is Follows.INCIDENT else None
        seq = versions.fresh(follows)
        if seq is None:
            seq = await versions.check(follows)
        version: Hashable = (seq, int(time.time() // 60)) if target.html else seq
        accept_language = accept_encoding = if_none_match = ""
        for name, value in scope["headers"]:
            if name == b"accept-language":
                accept_language = value.decode("latin-1")
            elif name == b"accept-encoding":
                accept_encoding = value.decode("latin-1")
            elif name == b"if-none-match":
                if_none_match = value.decode("latin-1")
        key = (target.key, _language(_lang(target), accept_language, self.state.settings.language))
        rep = self.cache.get(key)
        if rep is None or rep.version != version:
            made = await self._build(scope, key, version)
            if isinstance(made, Captured):
                await _send(send, made.status, made.headers, made.body, scope["method"] == "HEAD")
                return
            rep = made
        await self._answer(scope, send, key, rep, accept_encoding, if_none_match)

    async def _build(self, scope: Scope, key: Hashable, version: Hashable) -> Representation | Captured:
        """FastAPI renders it once; concurrent readers of the same version wait for that."""
        pending = self._building.get((key, version))
        if pending is None:
            pending = asyncio.ensure_future(self._render(scope, key, version))
            self._building[(key, version)] = pending
            pending.add_done_callback(lambda _: self._building.pop((key, version), None))
        return await asyncio.shield(pending)

    async def _render(self, scope: Scope, key: Hashable, version: Hashable) -> Representation | Captured:
        inner = dict(scope)
        inner["method"] = "GET"
        inner["headers"] = [(k, v) for k, v in scope["headers"] if k not in NOT_FORWARDED]
        got: dict[str, Any] = {"status": 500, "headers": [], "body": []}

        async def receive() -> Message:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def collect(message: Message) -> None:
            if message["type"] == "http.response.start":
                got["status"], got["headers"] = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                got["body"].append(message.get("body", b""))

        await self.app(inner, receive, collect)
        headers: list[tuple[bytes, bytes]] = got["headers"]
        body = b"".join(got["body"])
        names = {name.lower() for name, _ in headers}
        if got["status"] != 200 or b"set-cookie" in names:
            return Captured(got["status"], headers, body)
        kept = [(k, v) for k, v in headers if k.lower() not in DROPPED]
        if b"cache-control" not in names:
            kept.append((b"cache-control", LIVE_CACHE))
        content_type = next((v.decode("latin-1") for k, v in headers if k.lower() == b"content-type"), "")
        vary = _vary(headers, html=content_type.startswith("text/html"))
        rep = Representation(version, kept, body, content_type, vary)
        self.cache.put(key, rep)
        return rep

    async def _answer(
        self, scope: Scope, send: Send, key: Hashable, rep: Representation, accept_encoding: str,
        if_none_match: str,
    ) -> None:  # fmt: skip
        coding = rep.coding_for(accept_encoding)
        etag = rep.etag(coding)
        fixed = [(b"etag", etag), (b"vary", rep.vary)]
        if if_none_match and matches(if_none_match, etag):
            kept = [(k, v) for k, v in rep.headers if k.lower() in (b"cache-control", b"last-modified")]
            await _send(send, 304, [*kept, *fixed], b"", False)
            return
        body, grew = rep.body_in(coding)
        if grew and self.cache.get(key) is rep:
            self.cache.grew(len(body))
        headers = [*rep.headers, *fixed]
        if coding != "identity":
            headers.append((b"content-encoding", coding.encode()))
        await _send(send, 200, headers, body, scope["method"] == "HEAD")

    async def _health(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/healthz":
            status, answer = LIVE
        else:
            status, answer = await readiness(self.state.backend)
        headers = [(b"content-type", b"application/json"), (b"cache-control", b"no-store")]
        if status != 200:
            headers.append((b"retry-after", b"2"))
        body = json.dumps(answer, ensure_ascii=False, separators=(",", ":")).encode()
        await _send(send, status, headers, body, scope["method"] == "HEAD")


def _public_location(location: bytes, host: bytes, public: bytes) -> bytes:
    """An absolute ``Location`` naming the request's own Host, moved onto the public URL
    (the path kept); any other location as it is."""
    if not location.startswith((b"http://", b"https://")):
        return location
    rest = location.split(b"//", 1)[1]
    slash = rest.find(b"/")
    netloc, path = (rest[:slash], rest[slash:]) if slash >= 0 else (rest, b"/")
    return public + path if netloc == host else location


@functools.lru_cache(maxsize=512)
def _language(asked: str | None, accept_language: str, default: str) -> str:
    """:func:`i18n.negotiate`, remembered (a handful of distinct headers in a storm)."""
    return i18n.negotiate(asked, accept_language, default)


def _lang(target: Target) -> str | None:
    for param in target.key[1:]:
        if param.startswith("lang="):
            return param[5:]
    return None


def _vary(headers: list[tuple[bytes, bytes]], html: bool) -> bytes:
    names = ["Accept-Encoding", *(["Accept-Language"] if html else [])]
    for key, value in headers:
        if key.lower() == b"vary":
            names += [part.strip() for part in value.decode("latin-1").split(",") if part.strip()]
    seen: dict[str, str] = {}
    for name in names:
        seen.setdefault(name.lower(), name)
    return ", ".join(seen.values()).encode()


async def _send(send: Send, status: int, headers: list[tuple[bytes, bytes]], body: bytes, head: bool) -> None:
    """One whole response; HEAD gets the headers GET would (Content-Length included)."""
    if status != 304:
        headers = [(k, v) for k, v in headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
