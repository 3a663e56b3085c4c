"""The rolling timeline in a real browser: live updates, embeds, recovery, fallbacks."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.support import (
    DESKTOP,
    PHONE,
    NewPage,
    StaticServer,
    Tab,
    axe,
    describe,
    screenshot,
    serious,
)
from tests.support.client import Api
from tests.support.server import ServerProcess, add_operator, scaled

XSS = [
    "<script>alert('xss-script')</script>",
    '"><img src=x onerror=alert("xss-img")>',
    "<svg onload=alert('xss-svg')>",
    "javascript:alert('xss-js')",
    "[link](javascript:alert('xss-md'))",
    "</script><script>alert('xss-break')</script>",
    "]]><!--",
]


def tag() -> str:
    return uuid.uuid4().hex[:6]


async def article_ids(page: Page) -> list[str]:
    ids: list[str] = await page.eval_on_selector_all("#updates article", "els => els.map(e => e.dataset.id)")
    return ids


async def test_updates_arrive_live_and_change_in_place(api: Api, tab: Tab) -> None:
    incident = await api.create(f"文化路自来水爆管 {tag()}")
    first = (await api.post(incident, "工作人员已前往现场")).json()["update"]["id"]
    page = tab.page
    await page.goto(f"/incidents/{incident}")
    await expect(page.locator("#conn")).to_have_text("实时接收更新中")
    await page.evaluate("window.__sameDocument = true")

    promise = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    posted = await api.post(incident, "**应急供水车**已到达", next_update_at=promise)
    second = posted.json()["update"]["id"]
    new = page.locator(f"#u-{second}")
    await expect(new).to_be_visible()
    await expect(new.locator(".body strong")).to_have_text("应急供水车")
    assert await article_ids(page) == [second, first]  # newest on top
    await expect(page.locator("#announcer")).to_contain_text("应急供水车已到达")
    await expect(page.locator("#next-update")).to_be_visible()

    await api.http.patch(
        f"/api/incidents/{incident}/updates/{first}", json={"body": "工作人员已到场", "reason": "措辞"}
    )
    old = page.locator(f"#u-{first}")
    await expect(old.locator(".body")).to_have_text("工作人员已到场")
    await expect(old.locator(".revision del")).to_have_text(
        "工作人员已前往现场"
    )  # struck through, still there
    await expect(old.locator(".revision .reason")).to_have_text("措辞")
    await expect(old.locator(".badge.corrected")).to_be_visible()

    await api.http.request(
        "DELETE", f"/api/incidents/{incident}/updates/{second}", json={"reason": "信息有误"}
    )
    await expect(new.locator(".withdrawn-note")).to_contain_text("信息有误")
    await expect(new).to_have_class("update published retracted")

    await api.http.put(
        f"/api/incidents/{incident}/facts", json={"facts": [{"label": "停水区域", "value": "文化路以东"}]}
    )
    await expect(page.locator("#facts dd")).to_have_text("文化路以东")
    await api.http.post(f"/api/incidents/{incident}/updates/{first}/pin")
    await expect(page.locator("#pinned .pinned-body")).to_have_text("工作人员已到场")
    await api.http.patch(f"/api/incidents/{incident}", json={"title": "文化路爆管（已更新标题）"})
    await expect(page.locator("#title")).to_have_text("文化路爆管（已更新标题）")
    await api.http.post(f"/api/incidents/{incident}/resolve", json={"reason": "供水恢复"})
    await expect(page.locator("#state")).to_have_text("已结束")
    await expect(page.locator("#resolution")).to_contain_text("供水恢复")
    await expect(page.locator("#next-update")).to_be_hidden()

    assert await page.evaluate("window.__sameDocument") is True  # never reloaded
    tab.assert_clean()


async def test_the_expected_restoration_and_translations_follow_the_reader_live(
    api: Api, new_page: NewPage
) -> None:
    incident = await api.create(f"文化路停水 {tag()}", expected_restoration="2031-01-01T22:00:00+08:00")
    tab = await new_page(lang="en")
    page = tab.page
    await page.goto(f"/incidents/{incident}")
    await expect(page.locator("#restoration")).to_have_text("Service expected back by 1 Jan 2031 22:00")
    await expect(page.locator("#conn")).to_have_text("Receiving updates live")
    await page.evaluate("window.__sameDocument = true")

    await api.post(incident, "抢修中", translations={"en": "Repairs under way."})
    body = page.locator("#updates article .body").first
    await expect(body).to_have_text("Repairs under way.")  # the operator's own English
    await expect(body).to_have_attribute("lang", "en")
    await api.http.patch(
        f"/api/incidents/{incident}", json={"expected_restoration": "2031-01-02T02:00:00+08:00"}
    )
    await expect(page.locator("#restoration-changes li")).to_contain_text(
        "Expected restoration revised from 1 Jan 2031 22:00 to 2 Jan 2031 02:00"
    )
    await expect(page.locator("#restoration")).to_have_text(
        "Service expected back by 2 Jan 2031 02:00 (revised from 1 Jan 2031 22:00)"
    )
    await api.http.post(f"/api/incidents/{incident}/resolve", json={})
    await expect(page.locator("#restoration")).to_be_hidden()
    assert await page.evaluate("window.__sameDocument") is True  # the main part reloaded, not the page
    tab.assert_clean()


async def test_hidden_tab_counts_unread_updates(api: Api, tab: Tab) -> None:
    incident = await api.create(f"未读计数 {tag()}")
    await tab.page.goto(f"/incidents/{incident}")
    await expect(tab.page.locator("#conn")).to_have_text("实时接收更新中")
    title = await tab.page.title()
    await tab.page.evaluate(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => true});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    await api.post(incident, "一")
    await api.post(incident, "二")
    await expect(tab.page).to_have_title(f"(2 条新消息) {title}")
    await tab.page.evaluate(
        "Object.defineProperty(document, 'hidden', {configurable: true, get: () => false});"
        "document.dispatchEvent(new Event('visibilitychange'))"
    )
    await expect(tab.page).to_have_title(title)


async def test_embed_on_another_site_updates_live_and_sizes_itself(
    api: Api, new_page: NewPage, other_origin_server: StaticServer, sqlite_server: ServerProcess
) -> None:
    incident = await api.create(f"嵌入测试 {tag()}")
    await api.post(incident, "第一条")
    host = other_origin_server.host_page(
        f"embed-{incident}.html",
        "<h1>本报讯</h1>"
        f'<iframe id="embed" src="{sqlite_server.url}/incidents/{incident}/embed" title="滚动播报" '
        'style="width:100%;height:150px;border:0"></iframe>'
        f'<script async src="{sqlite_server.url}/static/embed.js"></script><p>（完）</p>',
    )
    tab = await new_page(viewport=PHONE)
    await tab.page.goto(host)
    frame = tab.page.frame_locator("#embed")
    await expect(frame.locator("#conn")).to_have_text("实时接收更新中")
    await expect(tab.page.locator("#embed")).not_to_have_css("height", "150px")  # resized by embed.js
    before = await tab.page.locator("#embed").evaluate("e => e.getBoundingClientRect().height")
    for n in range(3):
        await api.post(incident, f"嵌入页第{n}条实时消息：停水区域为文化路以东，预计今晚恢复供水。")
    await expect(frame.locator("#updates").get_by_text("嵌入页第2条实时消息")).to_be_visible()
    await expect(frame.locator("a", has_text="查看完整时间线")).to_have_attribute(
        "href", f"{sqlite_server.url}/incidents/{incident}?lang=zh-CN"
    )
    await tab.page.wait_for_function(
        f"document.getElementById('embed').getBoundingClientRect().height > {before}"
    )
    assert tab.page.url.startswith(other_origin_server.url)
    tab.assert_clean()


@pytest.fixture
async def own_server(tmp_path: Path) -> AsyncIterator[tuple[ServerProcess, Api]]:
    url = f"sqlite:///{tmp_path / 'restart.db'}"
    token = add_operator(url, "ZZIC")
    server = ServerProcess(url).start()
    api = Api(server.url, token)
    yield server, api
    await api.aclose()
    server.stop()


async def post_retrying(api: Api, incident: str, body: str, key: str) -> str:
    """An operator on a bad network: the same Idempotency-Key until it is acknowledged."""
    async with asyncio.timeout(scaled(60)):
        while True:
            with contextlib.suppress(httpx.TransportError):
                answer = await api.post(incident, body, key=key)
                if answer.status_code == 201:
                    return str(answer.json()["update"]["id"])
            await asyncio.sleep(0.1)


async def test_page_recovers_from_a_server_restart_with_nothing_missing(
    own_server: tuple[ServerProcess, Api], new_page: NewPage
) -> None:
    server, api = own_server
    incident = await api.create(f"重启测试 {tag()}")
    tab = await new_page(base_url=server.url)
    await tab.page.goto(f"/incidents/{incident}")
    await expect(tab.page.locator("#conn")).to_have_text("实时接收更新中")

    posted: list[str] = []

    async def operator() -> None:
        for n in range(40):
            posted.append(await post_retrying(api, incident, f"第{n}条", key=f"restart-{n}"))
            await asyncio.sleep(0.05)

    writing = asyncio.ensure_future(operator())
    while len(posted) < 10:
        await asyncio.sleep(0.05)
    server.kill()
    await asyncio.sleep(1.0)  # the page notices and retries with backoff meanwhile
    await expect(tab.page.locator("#conn")).not_to_have_text("实时接收更新中")
    server.restart()
    await writing

    async with asyncio.timeout(scaled(60)):
        while await article_ids(tab.page) != list(reversed(posted)):
            await asyncio.sleep(0.2)
    await expect(tab.page.locator("#conn")).to_have_text("实时接收更新中")
    bodies = await tab.page.eval_on_selector_all(
        "#updates .body", "els => els.map(e => e.textContent.trim())"
    )
    assert bodies == [f"第{n}条" for n in reversed(range(40))]  # each once, in order
    assert not tab.dialogs
    assert not tab.page_errors


BROKEN_WEBSOCKET = """
window.WebSocket = function () {
  var self = this;
  setTimeout(function () { self.onclose && self.onclose({ code: 1006 }); }, 20);
  this.close = function () {};
};
"""
BROKEN_EVENTSOURCE = """
window.EventSource = function () {
  var self = this;
  setTimeout(function () { self.onerror && self.onerror({}); }, 20);
  this.close = function () {};
};
"""


@pytest.mark.parametrize(
    ("blocked", "expected"),
    [(BROKEN_WEBSOCKET, "实时接收更新中"), (BROKEN_WEBSOCKET + BROKEN_EVENTSOURCE, "播报中（慢速网络模式）")],
    ids=["websocket-blocked-uses-sse", "both-blocked-polls"],
)
async def test_falls_back_when_websockets_are_blocked(
    api: Api, tab: Tab, blocked: str, expected: str
) -> None:
    incident = await api.create(f"回退测试 {tag()}")
    await tab.page.add_init_script(blocked)
    await tab.page.goto(f"/incidents/{incident}")
    await expect(tab.page.locator("#conn")).to_have_text(expected, timeout=scaled(20) * 1000)
    uid = (await api.post(incident, "经由备用通道送达")).json()["update"]["id"]
    await expect(tab.page.locator(f"#u-{uid}")).to_be_visible(timeout=scaled(15) * 1000)
    assert await article_ids(tab.page) == [uid]
    assert not tab.page_errors


async def test_operator_written_fields_stay_inert_everywhere(api: Api, tab: Tab) -> None:
    payload = " ".join(XSS)
    incident = await api.create(payload[:200], summary=payload, area=payload[:200])
    await api.http.put(
        f"/api/incidents/{incident}/facts", json={"facts": [{"label": p, "value": p} for p in XSS]}
    )
    uids = [(await api.post(incident, p)).json()["update"]["id"] for p in XSS]
    page = tab.page
    await page.goto(f"/incidents/{incident}")
    await expect(page.locator("#conn")).to_have_text("实时接收更新中")
    # Live events carry the same payloads: a correction, a retraction, a new update.
    await api.http.patch(
        f"/api/incidents/{incident}/updates/{uids[0]}", json={"body": payload, "reason": payload}
    )
    await api.http.request("DELETE", f"/api/incidents/{incident}/updates/{uids[1]}", json={"reason": payload})
    live = (await api.post(incident, payload)).json()["update"]["id"]
    await expect(page.locator(f"#u-{live}")).to_be_visible()
    await expect(page.locator("#facts dt").first).to_have_text(XSS[0])  # shown as text
    await page.goto(f"/incidents/{incident}/embed")
    await expect(page.locator(f"#u-{live}")).to_be_visible()
    for feed in ("feed.atom", "feed.json"):
        answer = await page.goto(f"/incidents/{incident}/{feed}")
        assert answer is not None
        assert answer.status == 200
        body = await answer.body()
        if feed.endswith("atom"):
            ET.fromstring(body)  # well-formed
        else:
            json.loads(body)
    await page.wait_for_timeout(300)
    assert tab.dialogs == []
    assert tab.page_errors == []


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_no_serious_accessibility_violations(api: Api, new_page: NewPage, lang: str) -> None:
    incident = await api.create(f"无障碍检查 {tag()}", summary="文化路停水", area="文化路")
    await api.http.put(
        f"/api/incidents/{incident}/facts", json={"facts": [{"label": "停水区域", "value": "文化路"}]}
    )
    first = (await api.post(incident, "工作人员已前往现场")).json()["update"]["id"]
    await api.post(incident, "抢修中", next_update_at="2031-01-01T00:00:00+08:00")
    await api.http.patch(
        f"/api/incidents/{incident}/updates/{first}", json={"body": "已到场", "reason": "更正"}
    )
    for estimate in ("2031-01-01T22:00:00+08:00", "2031-01-02T02:00:00+08:00"):  # a revision to show
        await api.http.patch(f"/api/incidents/{incident}", json={"expected_restoration": estimate})
    tab = await new_page(lang=lang)
    for path in ("/", f"/incidents/{incident}", f"/incidents/{incident}/embed"):
        await tab.page.goto(path)
        found = serious(await axe(tab.page))
        assert found == [], f"{path} ({lang}): {describe(found)}"


async def test_screenshots_phone_and_desktop(api: Api, new_page: NewPage) -> None:
    incident = await api.create(
        "文化路自来水爆管",
        area="文化路（花园路—东风路段）",
        summary="文化路与花园路中东风路段发生自来水爆管，群众出行受阻。",
    )
    await api.http.put(
        f"/api/incidents/{incident}/facts",
        json={
            "facts": [
                {"label": "停水区域", "value": "文化路以东、东风路以南"},
                {"label": "热线", "value": "0371-12345"},
            ]
        },
    )
    first = (await api.post(incident, "据了解，自来水公司领导和工作人员已前往现场，正在全力抢修。")).json()[
        "update"
    ]["id"]
    await api.post(
        incident,
        "市领导亲赴现场组织指挥抢修，已查明干管爆裂位置。",
        next_update_at="2031-01-01T00:00:00+08:00",
    )
    await api.http.patch(
        f"/api/incidents/{incident}/updates/{first}",
        json={"body": "自来水公司工作人员已到达现场，正在全力抢修。", "reason": "核实到场情况"},
    )
    for name, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        for lang in ("zh-CN", "en"):
            tab = await new_page(lang=lang, viewport=viewport)
            await tab.page.goto(f"/incidents/{incident}")
            await expect(tab.page.locator("#conn")).to_be_visible()
            shot = await screenshot(tab.page, f"timeline-{name}-{lang}")
            assert shot.stat().st_size > 10_000
