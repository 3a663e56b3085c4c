"""Absolute links come from INCIDENTS_PUBLIC_URL, never from the request's ``Host``.

Anyone can send ``Host: evil.example``; a cache in front that keys by path would then hand the
links made of it to everyone. Two real servers: one with the setting, one without (``incidents
serve`` then uses ``http://HOST:PORT`` of what it serves).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from broadcaster.config import DEVELOPMENT_URL, Settings, local_url
from tests.support.server import ServerProcess, add_operator, scaled

EVIL = "evil.example"
PUBLIC = "https://alerts.example.gov.cn"
FORGED = {"Host": EVIL}


@dataclass
class Site:
    server: ServerProcess
    token: str

    def client(self, **headers: str) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.server.url, headers=headers, timeout=scaled(20), follow_redirects=False
        )


def start(tmp_path_factory: pytest.TempPathFactory, public_url: str | None) -> Iterator[Site]:
    store = f"sqlite:///{tmp_path_factory.mktemp('public-url') / 'incidents.db'}"
    token = add_operator(store, "ZZIC")
    server = ServerProcess(store, env={"INCIDENTS_REPORT_LIMIT": "1000"})
    server.env.pop("INCIDENTS_PUBLIC_URL", None)
    if public_url is not None:
        server.env["INCIDENTS_PUBLIC_URL"] = public_url
    with server:
        yield Site(server, token)
    assert "Traceback" not in server.log(), server.log()[-5000:]


@pytest.fixture(scope="module")
def unset(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from start(tmp_path_factory, None)


@pytest.fixture(scope="module")
def configured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from start(tmp_path_factory, PUBLIC)


async def broadcast(site: Site) -> tuple[str, int]:
    """A live incident with one update: its id and the update's seq."""
    async with site.client(Authorization=f"Bearer {site.token}") as ops:
        made = await ops.post("/api/incidents", json={"title": f"文化路自来水爆管 {uuid.uuid4().hex[:6]}"})
        assert made.status_code == 201, made.text
        iid = str(made.json()["id"])
        posted = await ops.post(f"/api/incidents/{iid}/updates", json={"body": "抢修队已到现场。"})
        assert posted.status_code == 201, posted.text
        return iid, int(posted.json()["seq"])


def reads(iid: str, seq: int, base: str) -> list[str]:
    page = f"{base}/incidents/{iid}"
    return [
        "/", f"/incidents/{iid}", f"/incidents/{iid}?lang=en", f"/incidents/{iid}/embed",
        f"/incidents/{iid}/feed.atom", f"/incidents/{iid}/feed.json", f"/incidents/{iid}/cap.xml",
        f"/incidents/{iid}/cap/{seq}.xml", f"/incidents/{iid}/cap.atom", "/cap.atom", f"/api/incidents/{iid}",
        f"/oembed?url={page}", f"/oembed?url={page}/embed",
    ]  # fmt: skip


def no_forged_host(answer: httpx.Response) -> None:
    headers = "\n".join(f"{name}: {value}" for name, value in answer.headers.items())
    assert EVIL not in answer.text and EVIL not in headers, (answer.request.url, answer.text[:500], headers)


async def test_a_forged_host_changes_no_link(unset: Site) -> None:
    iid, seq = await broadcast(unset)
    ours = unset.server.url
    async with unset.client(**FORGED) as forged, unset.client() as plain:
        for path in reads(iid, seq, ours):
            # First with the forged Host, so that a cache filled by it would show in the second.
            for client in (forged, plain):
                answer = await client.get(path)
                sent = answer.request.headers["host"]
                assert sent == (EVIL if client is forged else plain.base_url.netloc.decode())
                assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
                no_forged_host(answer)
                if path not in ("/", f"/api/incidents/{iid}"):  # those hold no absolute link
                    assert ours in answer.text, path
        asked = await forged.post(f"/api/incidents/{iid}/questions", json={"text": "文化路什么时候来水？"})
        assert asked.status_code == 201, asked.text
        no_forged_host(asked)
        assert asked.json()["status_url"].startswith(f"{ours}/questions/")
        # Starlette's own trailing-slash redirects name the public URL too.
        for slashed in (f"/incidents/{iid}/", "/api/incidents/", "/console/", "/reports/"):
            moved = await forged.get(slashed, follow_redirects=False)
            assert moved.status_code in (307, 308), (slashed, moved.status_code)
            assert moved.headers["location"] == f"{ours}{slashed.rstrip('/')}", slashed
            no_forged_host(moved)
        report = {"title": "天伦路路灯不亮", "body": "天伦路上有路无灯。", "location": "天伦路"}
        filed = await forged.post("/api/reports", json=report)
        assert filed.status_code == 201, filed.text
        no_forged_host(filed)
        assert filed.headers["location"] == filed.json()["url"] == f"{ours}/reports/{filed.json()['code']}"


async def test_a_forged_host_changes_no_console_link(unset: Site) -> None:
    async with unset.client(Authorization=f"Bearer {unset.token}", **FORGED) as admin:
        invited = await admin.post("/api/operators", json={"name": f"值班员 {uuid.uuid4().hex[:6]}"})
        assert invited.status_code == 201, invited.text
        no_forged_host(invited)
        assert invited.json()["setup_link"].startswith(f"{unset.server.url}/console/setup/")


async def test_oembed_knows_only_the_configured_address(unset: Site) -> None:
    iid, _ = await broadcast(unset)
    async with unset.client(**FORGED) as forged:
        answer = await forged.get("/oembed", params={"url": f"http://{EVIL}/incidents/{iid}"})
        assert answer.status_code == 404, answer.text
        no_forged_host(answer)


async def test_serve_uses_its_own_address_without_the_setting(unset: Site) -> None:
    """``incidents serve --port P`` (host 127.0.0.1) without INCIDENTS_PUBLIC_URL: http://127.0.0.1:P."""
    iid, _ = await broadcast(unset)
    async with unset.client() as reader:
        page = (await reader.get(f"/incidents/{iid}")).text
    assert unset.server.url == f"http://127.0.0.1:{unset.server.port}"
    assert f'<link rel="canonical" href="http://127.0.0.1:{unset.server.port}/incidents/{iid}">' in page


def test_the_address_served_is_reached_on_loopback() -> None:
    assert local_url("127.0.0.1", 8000) == DEVELOPMENT_URL == Settings().public_url
    assert local_url("0.0.0.0", 8080) == "http://127.0.0.1:8080"
    assert local_url("::", 8080) == "http://[::1]:8080"
    assert local_url("2001:db8::1", 80) == "http://[2001:db8::1]:80"
    assert local_url("alerts.lan", 8000) == "http://alerts.lan:8000"


@pytest.mark.parametrize(
    "bad", ["alerts.example.gov.cn", "ftp://alerts.example", "https://user@alerts.example", "http://a:port/"]
)
def test_a_public_url_that_is_no_base_url_is_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="public_url"):
        Settings(public_url=bad)


@pytest.fixture
async def reader(configured: Site) -> AsyncIterator[httpx.AsyncClient]:
    async with configured.client(**FORGED) as client:
        yield client


async def test_the_configured_url_is_in_every_link(configured: Site, reader: httpx.AsyncClient) -> None:
    iid, seq = await broadcast(configured)
    page = f"{PUBLIC}/incidents/{iid}"
    for path in reads(iid, seq, PUBLIC):
        answer = await reader.get(path)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        no_forged_host(answer)
        assert configured.server.url not in answer.text, path  # the address it listens on is not public
    timeline = (await reader.get(f"/incidents/{iid}")).text
    assert f'<link rel="canonical" href="{page}">' in timeline
    assert f'<meta property="og:url" content="{page}">' in timeline
    assert f'&lt;iframe src="{page}/embed"' in timeline  # the embed code
    atom = (await reader.get(f"/incidents/{iid}/feed.atom")).text
    assert re.search(rf"<id>{re.escape(page)}</id>", atom), atom[:500]
    cap = (await reader.get(f"/incidents/{iid}/cap.xml")).text
    assert f"<web>{page}</web>" in cap
    assert "<sender>alerts.example.gov.cn</sender>" in cap  # INCIDENTS_CAP_SENDER's default
    oembed = (await reader.get("/oembed", params={"url": page})).json()
    assert oembed["provider_url"] == PUBLIC and f'src="{page}/embed"' in oembed["html"]
    # The address the server listens on is not the public one: not a timeline of this provider.
    local = await reader.get("/oembed", params={"url": f"{configured.server.url}/incidents/{iid}"})
    assert local.status_code == 404
