"""The server behind Debian's nginx, configured with the shipped ``deploy/nginx.conf``.

Citizens are told apart by their addresses: the tests connect to nginx from 127.0.0.2,
127.0.0.3, ... (Linux routes all of 127/8 to the loopback interface), nginx appends that
address to ``X-Forwarded-For``, and the server, started with ``--forwarded-allow-ips
127.0.0.1``, takes it as the client's.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.conftest import IN_CI
from tests.support.client import Api, LiveReader
from tests.support.nginx import NginxProcess, nginx_binary
from tests.support.server import ServerProcess, add_operator, scaled

REPORT_LIMIT = 2
LIVE_PER_ADDRESS = 2


@pytest.fixture(scope="module")
def nginx_path() -> str:
    found = nginx_binary()
    if found is None:
        message = "nginx is not installed (Debian: apt-get install nginx; .ci/run installs it)"
        if IN_CI:
            pytest.fail(f"CI: {message}")
        pytest.skip(message)
    return found


@pytest.fixture(scope="module")
def proxied(
    nginx_path: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ServerProcess, NginxProcess, str]]:
    backend = f"sqlite:///{tmp_path_factory.mktemp('nginx') / 'incidents.db'}"
    token = add_operator(backend, "ZZIC")
    env = {"INCIDENTS_REPORT_LIMIT": str(REPORT_LIMIT), "INCIDENTS_LIVE_PER_ADDRESS": str(LIVE_PER_ADDRESS)}
    with ServerProcess(backend, env=env, args=["--forwarded-allow-ips", "127.0.0.1"]) as server:
        with NginxProcess(nginx_path, f"127.0.0.1:{server.port}") as nginx:
            yield server, nginx, token
            assert not re.search(r"\[(crit|alert|emerg)\]", nginx.log()), nginx.log()[-3000:]
        assert "Traceback" not in server.log(), server.log()[-5000:]


@pytest.fixture
async def api(proxied: tuple[ServerProcess, NginxProcess, str]) -> AsyncIterator[Api]:
    """An operator, through nginx."""
    _, nginx, token = proxied
    client = Api(nginx.url, token)
    yield client
    await client.aclose()


def citizen(nginx: NginxProcess, address: str) -> httpx.AsyncClient:
    """A client connecting to nginx from ``address`` (127.0.0.2, 127.0.0.3, ...)."""
    transport = httpx.AsyncHTTPTransport(local_address=address)
    return httpx.AsyncClient(base_url=nginx.url, transport=transport, timeout=scaled(20))


def report(n: int) -> dict[str, str]:
    title = f"天伦路路灯不亮 {n} {uuid.uuid4().hex[:6]}"
    return {
        "title": title,
        "body": "天伦路上有路无灯，行人走路很危险。",
        "location": "天伦路（七里河南路口）",
    }


async def test_the_timeline_page_through_nginx(
    api: Api, proxied: tuple[ServerProcess, NginxProcess, str]
) -> None:
    _, nginx, _ = proxied
    incident = await api.create("文化路自来水爆管")
    assert (await api.post(incident, "抢修人员已到场")).status_code == 201
    async with citizen(nginx, "127.0.0.2") as http:
        page = await http.get(f"/incidents/{incident}")
        assert page.status_code == 200, page.text
        assert "文化路自来水爆管" in page.text and "抢修人员已到场" in page.text
        # Requests with a cookie (the console's) neither read nor fill the micro-cache.
        with_cookie = await http.get(f"/incidents/{incident}", headers={"Cookie": "session=x"})
        assert with_cookie.headers.get("x-cache-status") == "BYPASS"
        console = await http.get("/console/login")
        assert console.status_code == 200 and console.headers.get("x-cache-status") != "HIT"


async def test_live_websocket_resumes_through_nginx(
    api: Api, proxied: tuple[ServerProcess, NginxProcess, str]
) -> None:
    _, nginx, _ = proxied
    incident = await api.create()
    reader = await LiveReader.open(nginx.ws_url, incident, since=0)
    try:
        for n in range(3):
            assert (await api.post(incident, f"第{n + 1}次通报")).status_code == 201
        held = await reader.until_seq(4)  # incident.opened, then three updates
    finally:
        await reader.close()
    for n in range(3, 5):  # while the reader is away
        assert (await api.post(incident, f"第{n + 1}次通报")).status_code == 201
    again = await LiveReader.open(nginx.ws_url, incident, since=held[-1])
    try:
        assert (await api.post(incident, "第6次通报")).status_code == 201
        resumed = await again.until_seq(7)
    finally:
        await again.close()
    assert held + resumed == list(range(1, 8))  # nothing missing, nothing twice, in order
    assert [e["seq"] for e in await api.events(incident)] == list(range(1, 8))


async def test_sse_arrives_unbuffered_through_nginx(
    api: Api, proxied: tuple[ServerProcess, NginxProcess, str]
) -> None:
    """An event posted after the stream opened arrives at once while the stream stays open;
    resuming with Last-Event-ID starts right after it."""
    _, nginx, _ = proxied
    incident = await api.create()
    async with citizen(nginx, "127.0.0.2") as http:
        async with http.stream("GET", f"/api/incidents/{incident}/stream?since=0") as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            lines = stream.aiter_lines()

            async def next_event() -> dict[str, Any]:
                async for line in lines:
                    if line.startswith("data: "):
                        found: dict[str, Any] = json.loads(line[6:])
                        return found
                raise AssertionError("the stream ended")

            async with asyncio.timeout(scaled(5)):
                assert (await next_event())["seq"] == 1  # incident.opened, from history
            posted = time.monotonic()
            assert (await api.post(incident, "水压正在恢复")).status_code == 201
            async with asyncio.timeout(scaled(2)):
                event = await next_event()
            assert event["seq"] == 2 and event["type"] == "update.posted"
            assert time.monotonic() - posted < scaled(2)
        assert (await api.post(incident, "已恢复供水")).status_code == 201
        async with http.stream(
            "GET", f"/api/incidents/{incident}/stream", headers={"Last-Event-ID": "2"}
        ) as resumed:
            async with asyncio.timeout(scaled(5)):
                async for line in resumed.aiter_lines():
                    if line.startswith("id: "):
                        assert line == "id: 3"
                        break


async def test_the_report_limit_is_per_citizen_behind_nginx(
    proxied: tuple[ServerProcess, NginxProcess, str],
) -> None:
    _, nginx, _ = proxied
    async with citizen(nginx, "127.0.0.2") as first, citizen(nginx, "127.0.0.3") as second:
        for n in range(REPORT_LIMIT):
            answer = await first.post("/api/reports", json=report(n))
            assert answer.status_code == 201, answer.text
        over = await first.post("/api/reports", json=report(9))
        assert over.status_code == 429, over.text
        # A header the citizen writes changes nothing: nginx appends the real address.
        forged = await first.post("/api/reports", json=report(10), headers={"X-Forwarded-For": "203.0.113.9"})
        assert forged.status_code == 429, forged.text
        other = await second.post("/api/reports", json=report(11))  # another citizen: not limited
        assert other.status_code == 201, other.text


async def test_live_connections_are_counted_per_citizen_behind_nginx(
    api: Api, proxied: tuple[ServerProcess, NginxProcess, str]
) -> None:
    _, nginx, _ = proxied
    incident = await api.create()
    url = f"{nginx.ws_url}/api/incidents/{incident}/live"
    opened = [await connect(url, local_addr=("127.0.0.4", 0), open_timeout=scaled(10))
              for _ in range(LIVE_PER_ADDRESS)]  # fmt: skip
    try:
        with pytest.raises(InvalidStatus) as refused:
            await connect(url, local_addr=("127.0.0.4", 0), open_timeout=scaled(10))
        assert refused.value.response.status_code == 429
        other = await connect(url, local_addr=("127.0.0.5", 0), open_timeout=scaled(10))
        await other.close()
    finally:
        for ws in opened:
            await ws.close()


async def test_metrics_only_for_the_allowed_addresses(
    proxied: tuple[ServerProcess, NginxProcess, str],
) -> None:
    server, nginx, _ = proxied
    async with citizen(nginx, "127.0.0.2") as http:
        refused = await http.get("/metrics")
        assert refused.status_code == 403
        assert (
            "127.0.0.2" in refused.json()["detail"] and "INCIDENTS_METRICS_ALLOW" in refused.json()["detail"]
        )
    async with httpx.AsyncClient(timeout=scaled(20)) as local:
        for base in (server.url, nginx.url):  # from loopback, directly and through nginx
            answer = await local.get(f"{base}/metrics")
            assert answer.status_code == 200 and "incidents_" in answer.text


async def test_microcache_hit(api: Api, proxied: tuple[ServerProcess, NginxProcess, str]) -> None:
    """Needs the server's ``Cache-Control: public, max-age=5`` on public pages (issue 15, part 4)."""
    _, nginx, _ = proxied
    incident = await api.create()
    async with citizen(nginx, "127.0.0.2") as http:
        first = await http.get(f"/incidents/{incident}")
        assert first.status_code == 200
        assert "public" in first.headers.get("cache-control", ""), first.headers
        second = await http.head(f"/incidents/{incident}")
        third = await http.get(f"/incidents/{incident}")
        assert "HIT" in (second.headers.get("x-cache-status"), third.headers.get("x-cache-status"))
        assert third.text == first.text


async def test_forged_host_through_nginx(api: Api, proxied: tuple[ServerProcess, NginxProcess, str]) -> None:
    """Needs INCIDENTS_PUBLIC_URL for links (issue 15, part 5): a forged Host changes no link."""
    _, nginx, _ = proxied
    incident = await api.create()
    async with citizen(nginx, "127.0.0.2") as http:
        for path in (f"/incidents/{incident}", f"/incidents/{incident}/feed.atom"):
            answer = await http.get(path, headers={"Host": "evil.example"})
            assert answer.status_code in (200, 400, 421), answer.text
            assert not re.search(r"evil\.example", answer.text), f"{path}: the forged host is in its links"


def test_the_template_has_every_part_and_the_docs_show_it() -> None:
    checkout = Path(__file__).resolve().parents[2]
    text = (checkout / "deploy" / "nginx.conf").read_text()
    assert f"```nginx\n{text}```" in (checkout / "docs" / "deploy.md").read_text()
    parts = ["proxy_buffering off", "X-Forwarded-For", "X-Forwarded-Proto", "proxy_set_header Host",
             "Upgrade", "proxy_cache_path", "client_max_body_size 66m", "{{LISTEN}}",
             "{{UPSTREAM}}"]  # fmt: skip
    for part in parts:
        assert part in text, part
