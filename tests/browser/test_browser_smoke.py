"""Smoke tests of the browser infrastructure against the public pages, in zh-CN."""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Response, expect

from tests.browser.support import (
    DESKTOP,
    PHONE,
    NewPage,
    StaticServer,
    Tab,
    Viewport,
    axe,
    describe,
    screenshot,
)
from tests.support.client import Api
from tests.support.server import ServerProcess

BODY = "自来水公司工作人员已前往现场，正在全力抢修。"


async def incident_with_update(api: Api) -> tuple[str, str, str]:
    """A new incident with one update; returns (id, title, update text), both unique."""
    tag = uuid.uuid4().hex[:6]
    title = f"文化路自来水爆管 {tag}"
    incident = await api.create(title, area="文化路 花园路-东风路段")
    body = f"{BODY}（{tag}）"
    answer = await api.post(incident, body)
    assert answer.status_code == 201, answer.text
    return incident, title, body


async def test_index_lists_the_live_incident(api: Api, tab: Tab, sqlite_server: ServerProcess) -> None:
    incident, title, _ = await incident_with_update(api)
    await tab.page.goto("/")
    link = tab.page.get_by_role("link", name=title)
    await expect(link).to_be_visible()
    await link.click()
    timeline = re.escape(f"{sqlite_server.url}/incidents/{incident}")
    await expect(tab.page).to_have_url(re.compile(rf"^{timeline}(\?.*)?$"))  # ?lang=... may follow
    tab.assert_clean()


async def test_timeline_shows_the_update(api: Api, tab: Tab) -> None:
    incident, title, body = await incident_with_update(api)
    assets: list[Response] = []
    tab.page.on("response", lambda r: assets.append(r) if "/static/" in r.url else None)
    answer = await tab.page.goto(f"/incidents/{incident}")
    assert answer is not None and answer.status == 200
    await expect(tab.page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(tab.page.get_by_role("heading", level=1)).to_have_text(title)
    await expect(tab.page.get_by_text(body)).to_be_visible()
    # Styles and scripts come from fingerprinted URLs, cached for a year; the stylesheet applies.
    names = {re.sub(r"^.*/static/", "", r.url) for r in assets}
    assert {"site", "live", "follow", "area"} <= {name.split(".")[0] for name in names}, names
    for response in assets:
        assert re.search(r"/static/[\w/-]+\.[0-9a-f]{10}\.(css|js)$", response.url), response.url
        assert response.status == 200
        assert "immutable" in (await response.all_headers())["cache-control"]
    assert await tab.page.evaluate("getComputedStyle(document.body).margin") == "0px"
    tab.assert_clean()


async def test_timeline_is_readable_without_javascript(api: Api, new_page: NewPage) -> None:
    incident, title, body = await incident_with_update(api)
    tab = await new_page(java_script_enabled=False)
    await tab.page.goto(f"/incidents/{incident}")
    await expect(tab.page.get_by_role("heading", level=1)).to_have_text(title)
    await expect(tab.page.get_by_text(body)).to_be_visible()
    tab.assert_clean()


async def test_axe_runs_on_the_timeline(api: Api, tab: Tab) -> None:
    incident, _, _ = await incident_with_update(api)
    await tab.page.goto(f"/incidents/{incident}")
    violations = await axe(tab.page)
    # Not asserting zero yet: the pages are being rewritten. The count is in the message.
    assert isinstance(violations, list), describe(violations)
    assert all({"id", "impact", "nodes"} <= v.keys() for v in violations), describe(violations)


async def test_axe_finds_known_violations_also_in_cross_origin_frames(
    new_page: NewPage, other_origin_server: StaticServer
) -> None:
    """The helper is not vacuous: an image without alt text is found, also inside another origin's frame."""
    bad = other_origin_server.host_page("axe-probe.html", '<img id="bad" src="data:," width="9" height="9">')
    tab = await new_page(base_url=other_origin_server.url)
    await tab.page.goto(bad)
    assert "image-alt" in {v["id"] for v in await axe(tab.page)}

    bad_elsewhere = bad.replace(other_origin_server.url, other_origin_server.loopback_url)
    await tab.page.goto(other_origin_server.embed_page("axe-probe-host.html", bad_elsewhere))
    await tab.page.frame_locator("#embed").locator("#bad").wait_for()
    image_alt = [v for v in await axe(tab.page) if v["id"] == "image-alt"]
    assert [node["target"] for v in image_alt for node in v["nodes"]] == [["#embed", "#bad"]]


@pytest.mark.parametrize(("device", "viewport"), [("phone", PHONE), ("desktop", DESKTOP)])
async def test_screenshots(api: Api, new_page: NewPage, device: str, viewport: Viewport) -> None:
    incident, _, body = await incident_with_update(api)
    tab = await new_page(viewport=viewport)
    await tab.page.goto(f"/incidents/{incident}")
    await expect(tab.page.get_by_text(body)).to_be_visible()
    index = await new_page(viewport=viewport)
    await index.page.goto("/")
    for name, page in ((f"timeline-{device}", tab.page), (f"index-{device}", index.page)):
        path = await screenshot(page, f"smoke-{name}")
        assert path.read_bytes().startswith(b"\x89PNG"), path
    tab.assert_clean()
    index.assert_clean()


async def test_dialogs_and_errors_are_recorded(new_page: NewPage, other_origin_server: StaticServer) -> None:
    """What XSS tests rely on: an alert() is recorded (and dismissed), as are errors."""
    script = '<script>alert("xss"); console.error("boom"); undefinedFunction();</script><p>after</p>'
    url = other_origin_server.host_page("dialog-probe.html", script)
    tab = await new_page(base_url=other_origin_server.url)
    await tab.page.goto(url)
    await expect(tab.page.get_by_text("after")).to_be_visible()
    assert tab.dialogs == ["alert: xss"]
    assert tab.console_errors == ["boom"]
    assert len(tab.page_errors) == 1 and "undefinedFunction" in tab.page_errors[0]


async def test_embed_loads_in_another_sites_iframe(
    api: Api, new_page: NewPage, other_origin_server: StaticServer, sqlite_server: ServerProcess
) -> None:
    incident, _, body = await incident_with_update(api)
    embed = f"/incidents/{incident}/embed"
    if (await api.http.get(embed)).status_code == 404:
        pytest.skip("embed page not built yet")
    host = other_origin_server.embed_page(f"news-{incident}.html", f"{sqlite_server.url}{embed}")
    tab = await new_page(base_url=other_origin_server.url)
    await tab.page.goto(host)
    await expect(tab.page.frame_locator("#embed").get_by_text(body)).to_be_visible()
    tab.assert_clean()
