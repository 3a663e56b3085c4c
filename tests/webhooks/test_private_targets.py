"""Webhook targets on loopback, private or link-local addresses are refused by default
(INCIDENTS_WEBHOOK_ALLOW_PRIVATE=false): at registration, and again where each connection is
made, so an endpoint whose name resolves elsewhere later cannot reach the server's network."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from broadcaster.web.targets import PublicOnly, Refused
from tests.support.client import Api
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess, add_operator, scaled

FAST = {
    "INCIDENTS_WEBHOOK_MIN_BACKOFF": "0.05",
    "INCIDENTS_WEBHOOK_MAX_BACKOFF": "0.3",
    "INCIDENTS_WEBHOOK_TIMEOUT": "1.5",
    "INCIDENTS_WEBHOOK_LEASE_SECONDS": "4",
}


@pytest.mark.parametrize(
    "host",
    [
        "127.0.0.1",
        "localhost",
        "127.1",  # a name to the URL parser, 127.0.0.1 once resolved: caught where it connects
    ],
)
async def test_the_transport_never_connects_to_a_private_address(host: str) -> None:
    receiver = await Receiver().start()
    try:
        async with httpx.AsyncClient(transport=PublicOnly()) as client:
            with pytest.raises(Refused, match=r"refused: .*(private|loopback)"):
                await client.post(f"http://{host}:{receiver.port}/hooks", content=b"{}")
        await asyncio.sleep(0.1)
        assert receiver.requests == []  # no connection made, nothing sent
    finally:
        await receiver.down()


async def test_the_transport_connects_to_the_address_it_judged() -> None:
    receiver = await Receiver().start()
    judged: list[str] = []

    def judge(address: str) -> str | None:
        judged.append(address)
        return None  # everything passes: this test is about where the request goes

    try:
        async with httpx.AsyncClient(transport=PublicOnly(judge=judge)) as client:
            answer = await client.post(f"http://127.1:{receiver.port}/hooks", content=b"{}")
        assert answer.status_code == 200
        assert judged == ["127.1", "127.0.0.1"]  # the name, then what it resolved to
        assert receiver.requests[0].headers["host"] == f"127.1:{receiver.port}"  # the name, as written
    finally:
        await receiver.down()


async def test_a_server_refuses_private_targets_by_default_even_registered_before(tmp_path: Path) -> None:
    """Registered while a LAN deployment allowed it; the server then restarts with the default
    (refuse): deliveries to it are refused, logged as such, and nothing reaches the receiver."""
    backend = f"sqlite:///{tmp_path / 'hooks.db'}"
    token = add_operator(backend, "admin")
    receiver = await Receiver().start()
    server = ServerProcess(backend, env={**FAST, "INCIDENTS_WEBHOOK_ALLOW_PRIVATE": "true"}).start()
    api = Api(server.url, token)
    try:
        answer = await api.http.post("/api/webhooks", json={"url": receiver.url, "events": ["*"]})
        assert answer.status_code == 201, answer.text
        hook = answer.json()["webhook"]["id"]
        server.stop()
        server.env["INCIDENTS_WEBHOOK_ALLOW_PRIVATE"] = "false"
        server.restart()

        again = await api.http.post("/api/webhooks", json={"url": receiver.url, "events": ["*"]})
        assert again.status_code == 422 and "private" in again.text, again.text
        named = await api.http.post("/api/webhooks", json={"url": "http://127.1:9/hooks", "events": ["*"]})
        assert named.status_code == 422 and "resolves to 127.0.0.1" in named.text, named.text

        incident = await api.create("文化路自来水爆管")
        deliveries: list[dict[str, Any]] = []
        deadline = time.monotonic() + scaled(15)
        while not deliveries and time.monotonic() < deadline:
            found = await api.http.get(f"/api/webhooks/{hook}/deliveries")
            deliveries = found.json()["deliveries"]
            await asyncio.sleep(0.05)
        assert deliveries, "no delivery attempt was logged"
        assert deliveries[0]["ok"] is False and deliveries[0]["status"] is None
        assert deliveries[0]["error"].startswith("refused: 127.0.0.1 is a private"), deliveries[0]
        assert receiver.requests == [], f"{incident}: a refused target got a request"
    finally:
        await api.aclose()
        server.stop()
        await receiver.down()
