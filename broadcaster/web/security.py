"""Security headers on every response; only the embed page may be framed."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:{images}; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; object-src 'none'; frame-ancestors {ancestors}"
)
COMMON = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"strict-origin-when-cross-origin"),
]


def policy(ancestors: str, images: str | None = None) -> bytes:
    """The CSP; ``images``: one more origin pages may show images from (a map tile server)."""
    return POLICY.format(ancestors=ancestors, images=f" {images}" if images else "").encode()


def not_framed(images: str | None = None) -> list[tuple[bytes, bytes]]:
    """The headers of a response no page may frame."""
    return [(b"content-security-policy", policy("'none'", images)), (b"x-frame-options", b"DENY")]


# Public reads may be fetched by any site (no cookies are involved); writes get no CORS
# headers at all, so a browser refuses them from other origins (they need a token anyway).
OPEN_READ = (b"access-control-allow-origin", b"*")
SELF_SECURED = "/static/"
"""Answered by :mod:`broadcaster.reads.assets`, which adds these headers itself (it is also
called directly, outside this middleware)."""
PRIVATE_READS = ("/api/audit", "/api/operators", "/api/scheduled", "/api/reports/inbox")


def readable_anywhere(path: str) -> bool:
    return (
        (path.startswith("/api/") and not path.startswith(PRIVATE_READS) and not path.endswith("/scheduled"))
        or (path.startswith("/incidents/") and path.endswith((".atom", ".json", ".xml")))
        or path == "/cap.atom"
    )


def may_be_framed(path: str) -> bool:
    return path.startswith("/incidents/") and path.endswith("/embed")


class SecurityHeaders:
    """Pure ASGI middleware: adds the headers as the response starts."""

    def __init__(self, app: ASGIApp, images: str | None = None) -> None:
        self.app = app
        self.not_framed = not_framed(images)
        self.framed = [(b"content-security-policy", policy("*", images))]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(SELF_SECURED):
            await self.app(scope, receive, send)
            return
        extra = COMMON + (self.framed if may_be_framed(scope["path"]) else self.not_framed)
        if scope["method"] in {"GET", "HEAD"} and readable_anywhere(scope["path"]):
            extra = [*extra, OPEN_READ]

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)
