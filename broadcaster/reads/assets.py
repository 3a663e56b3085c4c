"""Static files from memory, under fingerprinted URLs that may be cached for a year.

Every file under ``static/`` is read once, when the app is created: its bytes, its content
type, a content hash (the first 10 hex digits of its SHA-256) and its compressed variants.
Pages link ``/static/site.3f2a1b9c04.css`` (:meth:`Assets.url`, the Jinja global
``static_url``): the URL changes whenever the file does, so the answer may be kept for a year
(``Cache-Control: public, max-age=31536000, immutable``) and a returning reader's browser asks
nothing at all.

The plain URL (``/static/site.css``) stays valid: the embed code that other sites pasted once
(``/static/embed.js``), pages cached before a deploy, relative URLs inside stylesheets
(``vendor/leaflet/images/…``) and anything external use it. It is cached for five minutes
(``public, max-age=300``): long enough that a CDN or nginx in front absorbs a storm, short
enough that a deploy reaches every embed within minutes; after that the ETag makes the check
a 304. A fingerprinted URL whose hash is not the current one (a page rendered by another
version during a rolling deploy, or an old page) gets the current file with ``public,
no-cache``, never ``immutable``: refusing it (404) would leave the reader unstyled, and
marking it immutable would let a cache keep the wrong bytes under that URL for a year.

Compression happens here, eagerly, at load: gzip, brotli and zstd for each text-like file
(:func:`broadcaster.reads.encoding.compressible`; images are sent as they are, and without
``Vary``, since they never vary), a variant kept only where it is smaller. The directory
holds about fifteen files (250 KB, Leaflet being most of it); compressing them all takes
tens of milliseconds once per process, and in exchange no request ever waits for a
compressor, no lock is needed, and the memory is known at start (about twice the files).

Each variant has its own strong ETag (``"<hash>"``, ``"<hash>-br"``, …) so that a cache never
mixes one coding's bytes with another's headers; ``If-None-Match`` is compared weakly (a
``W/`` prefix, as nginx's gzip leaves it, still matches; ``*`` matches anything).

:meth:`Assets.serve` is a plain ASGI app: mounted at ``/static`` in the FastAPI app, or called
directly with a scope whose path starts with ``/static/``. It adds the security headers itself
(:mod:`broadcaster.web.security`, which leaves ``/static/`` to it) and
``Access-Control-Allow-Origin: *`` (scripts and styles fetched by embeds on other sites).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from starlette.types import Receive, Scope, Send

from broadcaster.reads.encoding import compress, compressible, matches, negotiate
from broadcaster.web.security import COMMON, OPEN_READ, SELF_SECURED, not_framed

__all__ = ["Asset", "Assets", "fingerprint"]

PREFIX = SELF_SECURED
IMMUTABLE = b"public, max-age=31536000, immutable"
SHORT = b"public, max-age=300"
STALE = b"public, no-cache"
HASH_LENGTH = 10
CODINGS = ("br", "zstd", "gzip")
TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    ".txt": "text/plain; charset=utf-8",
    "": "text/plain; charset=utf-8",  # LICENSE, VERSION
}
FINGERPRINTED = re.compile(rf"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{{{HASH_LENGTH}}})(?P<suffix>\.[^./]+)?$")
NOT_FOUND = b'{"detail":"Not Found"}'
NOT_ALLOWED = b'{"detail":"Method Not Allowed"}'

Headers = list[tuple[bytes, bytes]]


def fingerprint(name: str, digest: str) -> str:
    """``vendor/leaflet/leaflet.js`` -> ``vendor/leaflet/leaflet.<digest>.js`` (the hash goes
    before the last extension, in the same directory: relative URLs inside still resolve)."""
    path = PurePosixPath(name)
    return str(path.with_name(f"{path.stem}.{digest}{path.suffix}"))


def unfingerprint(name: str) -> tuple[str, str] | None:
    """``site.3f2a1b9c04.css`` -> (``site.css``, ``3f2a1b9c04``); None if no hash is in it."""
    head, _, last = name.rpartition("/")
    found = FINGERPRINTED.match(last)
    if found is None:
        return None
    plain = found["stem"] + (found["suffix"] or "")
    return (f"{head}/{plain}" if head else plain), found["hash"]


@dataclass(frozen=True, slots=True)
class Variant:
    """One coding of a file: its bytes and the headers that describe them."""

    body: bytes
    etag: bytes
    headers: Headers


@dataclass(frozen=True, slots=True)
class Asset:
    name: str  # relative to static/, with forward slashes
    content_type: str
    digest: str
    variants: dict[str, Variant]  # "identity" always, and each coding that made it smaller

    @property
    def url(self) -> str:
        return f"{PREFIX}{fingerprint(self.name, self.digest)}"

    @property
    def codings(self) -> tuple[str, ...]:
        return tuple(coding for coding in CODINGS if coding in self.variants)

    @property
    def varies(self) -> bool:
        return len(self.variants) > 1

    @classmethod
    def load(cls, name: str, body: bytes) -> Asset:
        content_type = TYPES.get(PurePosixPath(name).suffix.lower(), "application/octet-stream")
        digest = hashlib.sha256(body).hexdigest()[:HASH_LENGTH]
        bodies = {"identity": body}
        if compressible(content_type, len(body)):
            for coding in CODINGS:
                packed = compress(body, coding)
                if len(packed) < len(body):
                    bodies[coding] = packed
        vary = [(b"vary", b"accept-encoding")] if len(bodies) > 1 else []
        variants = {}
        for coding, data in bodies.items():
            etag = f'"{digest}"' if coding == "identity" else f'"{digest}-{coding}"'
            headers = [
                (b"content-type", content_type.encode()),
                (b"content-length", str(len(data)).encode()),
                (b"etag", etag.encode()),
                *vary,
            ]
            if coding != "identity":
                headers.append((b"content-encoding", coding.encode()))
            variants[coding] = Variant(data, etag.encode(), headers)
        return cls(name, content_type, digest, variants)


def _refused(name: str) -> bool:
    """Names that can never be a file here: traversal, empty or odd segments."""
    return (
        not name
        or "\\" in name
        or "\x00" in name
        or any(part in ("", ".", "..") or part.startswith(".") for part in name.split("/"))
    )


class Assets:
    """The files of one ``static/`` directory, in memory; ``serve`` is the ASGI app."""

    def __init__(self, directory: Path, *, images: str | None = None) -> None:
        """``images``: the map tile origin, for the same CSP the pages get."""
        self.directory = directory
        self.files: dict[str, Asset] = {}
        for path in sorted(directory.rglob("*")):
            name = path.relative_to(directory).as_posix()
            if path.is_file() and not _refused(name):
                self.files[name] = Asset.load(name, path.read_bytes())
        self.fingerprinted = {fingerprint(a.name, a.digest): a for a in self.files.values()}
        self.security: Headers = [*COMMON, *not_framed(images), OPEN_READ]

    def url(self, name: str) -> str:
        """``/static/site.3f2a1b9c04.css`` for ``site.css``; a name not in ``static/`` is an error."""
        asset = self.files.get(name)
        if asset is None:
            raise KeyError(f"no static file {name!r} in {self.directory}")
        return asset.url

    def find(self, name: str) -> tuple[Asset, bytes] | None:
        """The file a ``/static/`` name stands for, and how long it may be cached."""
        if _refused(name):
            return None
        asset = self.fingerprinted.get(name)
        if asset is not None:
            return asset, IMMUTABLE
        asset = self.files.get(name)
        if asset is not None:
            return asset, SHORT
        stale = unfingerprint(name)
        if stale is not None and stale[0] in self.files:
            return self.files[stale[0]], STALE
        return None

    async def serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        """ASGI: GET and HEAD of ``/static/<name>``."""
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})  # nothing here speaks WebSocket
            return
        if scope["method"] not in ("GET", "HEAD"):
            await self._plain(send, 405, NOT_ALLOWED, [(b"allow", b"GET, HEAD")])
            return
        path: str = scope["path"]
        raw: bytes = scope.get("raw_path") or b""
        found = None
        if path.startswith(PREFIX) and b"%" not in raw:  # no encoded slashes or dots
            found = self.find(path[len(PREFIX) :])
        if found is None:
            await self._plain(send, 404, NOT_FOUND, [])
            return
        asset, cache = found
        accept, if_none_match = "", None
        for key, value in scope["headers"]:
            if key == b"accept-encoding":
                accept = value.decode("latin-1")
            elif key == b"if-none-match":
                if_none_match = value.decode("latin-1")
        variant = asset.variants[negotiate(accept, asset.codings) if asset.varies else "identity"]
        if if_none_match is not None and matches(if_none_match, variant.etag):
            headers = [(b"etag", variant.etag), (b"cache-control", cache)]
            if asset.varies:
                headers.append((b"vary", b"accept-encoding"))
            await send({"type": "http.response.start", "status": 304, "headers": headers + self.security})
            await send({"type": "http.response.body", "body": b""})
            return
        headers = [*variant.headers, (b"cache-control", cache), *self.security]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        body = b"" if scope["method"] == "HEAD" else variant.body
        await send({"type": "http.response.body", "body": body})

    async def _plain(self, send: Send, status: int, body: bytes, extra: Headers) -> None:
        """An error as the JSON ``{"detail": ...}`` every non-page path answers with."""
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            *extra,
            *self.security,
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})
