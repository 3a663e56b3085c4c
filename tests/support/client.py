"""Clients the tests drive servers with: the JSON API and live readers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.support.server import scaled


class Api:
    """An operator's view of one server (or of several: pass any base URL)."""

    def __init__(self, base: str, token: str | None, *, keepalive: bool = True) -> None:
        """``keepalive=False``: a new connection for every request (no idle connection that the
        server closes at its keep-alive timeout just as the client reuses it)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        limits = httpx.Limits() if keepalive else httpx.Limits(max_keepalive_connections=0)
        self.http = httpx.AsyncClient(base_url=base, headers=headers, timeout=scaled(20), limits=limits)

    async def aclose(self) -> None:
        await self.http.aclose()

    async def create(self, title: str = "文化路自来水爆管", **fields: Any) -> str:
        answer = await self.http.post("/api/incidents", json={"title": title, **fields})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    async def post(self, incident: str, body: str, key: str | None = None, **fields: Any) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        return await self.http.post(
            f"/api/incidents/{incident}/updates", json={"body": body, **fields}, headers=headers
        )

    async def events(self, incident: str, since: int = 0) -> list[dict[str, Any]]:
        answer = await self.http.get(f"/api/incidents/{incident}/events", params={"since": since})
        assert answer.status_code == 200, answer.text
        events: list[dict[str, Any]] = answer.json()["events"]
        return events


class LiveReader:
    """A WebSocket reader that records every message it receives."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.messages: list[dict[str, Any]] = []

    @classmethod
    async def open(cls, base_ws: str, incident: str, since: int | None = None) -> LiveReader:
        query = "" if since is None else f"?since={since}"
        # max_queue=None: see CLIENT_QUEUE in tests/live/test_live.py (a client flow-control bug).
        url = f"{base_ws}/api/incidents/{incident}/live{query}"
        ws = await connect(url, open_timeout=scaled(10), max_queue=None)
        return cls(ws)

    @property
    def seqs(self) -> list[int]:
        return [m["seq"] for m in self.messages if m.get("type") != "reset"]

    async def until_seq(self, seq: int, within: float = 10) -> list[int]:
        """Read until the last seq received is at least ``seq``."""
        async with asyncio.timeout(scaled(within)):
            while not self.seqs or self.seqs[-1] < seq:
                self.messages.append(json.loads(await self.ws.recv()))
        return self.seqs

    async def close(self) -> None:
        await self.ws.close()
