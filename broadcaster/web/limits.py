"""Request body limit: anything larger answers 413 before it is read into memory."""

from __future__ import annotations

import re
from collections.abc import Callable

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from broadcaster.core.events import dumps


class TooLarge(HTTPException):
    """An HTTPException, so FastAPI's body parsing passes it on as a 413 (any other
    exception there becomes a 400)."""

    def __init__(self, max_bytes: int) -> None:
        super().__init__(413, f"request body larger than {max_bytes} bytes")


class BodyLimit:
    """Pure ASGI middleware (no per-request task): checks Content-Length, and
    counts the bytes of bodies sent without one."""

    def __init__(
        self,
        app: ASGIApp,
        max_bytes: int,
        larger: dict[str, int] | None = None,
        page: Callable[[Scope, int], bytes | None] | None = None,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        # A page for a browser's form (HTML), or None for the JSON answer.
        self.page = page
        # Paths (regular expressions) that take more, e.g. photo uploads.
        self.larger = [(re.compile(pattern), limit) for pattern, limit in (larger or {}).items()]

    def limit(self, path: str) -> int:
        return next((limit for pattern, limit in self.larger if pattern.fullmatch(path)), self.max_bytes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit(scope["path"])
        for name, value in scope["headers"]:
            if name == b"content-length" and (not value.isdigit() or int(value) > limit):
                await self._refuse(scope, send, limit)
                return
        seen = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise TooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except TooLarge:
            if not started:
                await self._refuse(scope, send, limit)

    async def _refuse(self, scope: Scope, send: Send, limit: int) -> None:
        page = self.page(scope, limit) if self.page is not None else None
        if page is not None:
            body = page
            headers = [(b"content-type", b"text/html; charset=utf-8"), (b"cache-control", b"no-store")]
        else:
            body = dumps({"detail": f"request body larger than {limit} bytes"}).encode()
            headers = [(b"content-type", b"application/json")]
        headers.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
