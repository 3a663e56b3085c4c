"""The client's address, as a trusted reverse proxy says it (``X-Forwarded-For``).

Behind nginx every request comes from the proxy's address; per-address limits (reports,
logins, questions, subscriptions, live connections) and the ``/metrics`` allow-list must see
the citizen's. ``INCIDENTS_FORWARDED_ALLOW_IPS`` (``incidents serve --forwarded-allow-ips``)
names the proxies whose ``X-Forwarded-For`` is believed; by default none is, and the
connection's peer is the client (a header anyone can send never changes who they are).

Which entry of ``X-Forwarded-For`` is the client: :class:`broadcaster.core.addresses.TrustedProxies`.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from broadcaster.core.addresses import TrustedProxies

__all__ = ["ForwardedFor"]


class ForwardedFor:
    """Pure ASGI middleware: ``scope["client"]`` (and ``scheme``, from ``X-Forwarded-Proto``)
    become what a trusted proxy says; from any other peer the headers are ignored."""

    def __init__(self, app: ASGIApp, proxies: TrustedProxies) -> None:
        self.app = app
        self.proxies = proxies

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if scope["type"] in ("http", "websocket") and client and client[0] in self.proxies:
            forwarded: list[str] = []
            proto = None
            for name, value in scope["headers"]:
                if name == b"x-forwarded-for":
                    forwarded.append(value.decode("latin-1"))
                elif name == b"x-forwarded-proto":
                    proto = value.decode("latin-1").strip().lower()
            if forwarded:
                scope = {**scope, "client": (self.proxies.client(client[0], forwarded), 0)}
            if proto in ("http", "https"):
                scope = {
                    **scope,
                    "scheme": proto.replace("http", "ws") if scope["type"] == "websocket" else proto,
                }
        await self.app(scope, receive, send)
