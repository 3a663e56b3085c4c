"""The operator's console on a phone (issue 16): the first notice of a water-main burst from its
template, with the area drawn and a promise, counted in actions and timed; and the workspace with
the post form first, the newest updates under it and every other section folded with its count."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
from playwright.async_api import Locator, Page, expect

from tests.browser.support import PHONE, axe, describe, screenshot, serious
from tests.browser.test_console_browser import log_in_with_link
from tests.support.server import ServerProcess, add_operator_with_link

# Words that must not show in the zh-CN console: CAP's English values.
CAP_ENGLISH = ("Unknown", "Immediate", "Expected", "Observed", "Likely", "Infra", "Moderate", "Severe")


class Operator:
    """A scripted operator: every tap and every field typed into is one action."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.actions: list[str] = []

    async def tap(self, target: Locator, what: str) -> None:
        await target.click()
        self.actions.append(f"tap {what}")

    async def tap_at(self, x: float, y: float, what: str) -> None:
        box = await self.page.locator(".area-draw-map").bounding_box()
        assert box is not None
        await self.page.mouse.click(round(box["x"] + x), round(box["y"] + y))
        self.actions.append(f"tap {what}")

    async def type(self, target: Locator, text: str, what: str) -> None:
        await target.fill(text)
        self.actions.append(f"type {what}")


async def logged_in(new_page: Any, sqlite_url: str, server: ServerProcess) -> Page:
    _, link = add_operator_with_link(sqlite_url, f"phone-{uuid.uuid4().hex[:6]}", False, server.url)
    tab = await new_page(lang="zh-CN", viewport=PHONE)
    await log_in_with_link(tab.page, link)
    return tab.page


async def snapshot(server: ServerProcess, incident: str) -> Any:
    async with httpx.AsyncClient(base_url=server.url) as client:
        answer = await client.get(f"/api/incidents/{incident}")
    assert answer.status_code == 200, answer.text
    return answer.json()


async def test_time_to_first_notice_from_the_water_main_template(
    new_page: Any, sqlite_server: ServerProcess, sqlite_url: str
) -> None:
    page = await logged_in(new_page, sqlite_url, sqlite_server)
    operator = Operator(page)
    started = time.monotonic()
    await operator.tap(page.get_by_role("link", name="新建事件").first, "New incident")
    await operator.tap(page.locator("a[data-template=water-main]").first, "the water-main template")
    await expect(page.locator("#first_notice")).not_to_be_empty()
    await operator.type(page.locator("#area"), "文化路（花园路—东风路段）", "the area's name")
    await page.locator(".area-draw-map").scroll_into_view_if_needed()
    await expect(page.locator("#area-draw [data-mode=circle]")).to_have_attribute("aria-pressed", "true")
    await operator.tap_at(150, 130, "the centre on the map")
    await operator.tap_at(215, 130, "the edge on the map")
    notice = "文化路花园路至东风路段供水管道爆裂，抢修人员已到场。周边部分小区停水，请提前储水。"
    await operator.type(page.locator("#first_notice"), notice, "the first notice")
    promise = page.locator("input[name=promise][value='30']")
    if not await promise.is_checked():
        await operator.tap(promise, "the 30-minute promise")
    await operator.tap(page.locator("form[action='/console/incidents'] button.primary"), "open and post")
    await page.wait_for_url("**/console/incidents/*?done=**")
    elapsed = time.monotonic() - started
    incident = page.url.split("/console/incidents/")[1].split("?")[0]

    found = await snapshot(sqlite_server, incident)
    made = found["incident"]
    assert made["title"].startswith("文化路") or "供水" in made["title"], made["title"]
    assert made["category"] == "Infra"
    assert made["area_shape"]["type"] == "circle" and 0.1 < made["area_shape"]["radius_km"] < 20
    assert made["next_update_at"] is not None
    first = found["updates"][0] if "updates" in found else None
    assert first is not None and "抢修人员已到场" in first["body"]
    # Every word the operator saw was Chinese: no CAP value in English on the workspace.
    shown = await page.evaluate(  # every fold opened: English inside a closed one counts too
        "() => { document.querySelectorAll('main details').forEach(d => { d.open = true; });"
        " return document.querySelector('main').innerText; }"
    )
    assert not [word for word in CAP_ENGLISH if word in shown], shown
    violations = serious(await axe(page))
    assert not violations, describe(violations)
    await screenshot(page, "console-first-notice-phone", full_page=False)
    print(f"time to first notice: {len(operator.actions)} actions, {elapsed:.1f} s: {operator.actions}")
    assert len(operator.actions) < 15, operator.actions
    assert elapsed < 60


async def test_the_workspace_on_a_phone_is_the_form_then_the_news_then_folds(
    new_page: Any, sqlite_server: ServerProcess, sqlite_url: str
) -> None:
    page = await logged_in(new_page, sqlite_url, sqlite_server)
    await page.goto("/console/incidents/new?template=water-main")
    await page.fill("#area", "文化路")
    await page.fill("#area_shape", "34.7466,113.6253 1.5")
    await page.fill("#first_notice", "第1条：抢修人员已到场。")
    await page.locator("form[action='/console/incidents'] button.primary").click()
    await page.wait_for_url("**/console/incidents/*?done=**")
    for n in range(2, 7):
        await page.fill("#body", f"第{n}条：抢修进行中。")
        await page.keyboard.press("Control+Enter")  # Ctrl+Enter posts
        await page.wait_for_url("**done=posted**")
        await expect(page.locator("#updates-h ~ article").first).to_contain_text(f"第{n}条")

    # The post form is the first section; the newest three updates come right under it.
    headings = await page.locator("main h2").all_inner_texts()
    assert headings[0] == "发布消息", headings
    assert await page.locator("#updates-h ~ article").count() == 3
    await expect(page.locator("#fold-earlier > summary")).to_have_text("更早的 3 条更新")
    newest = await page.locator("#updates-h ~ article").first.bounding_box()
    form = await page.locator("#body").bounding_box()
    assert newest is not None and form is not None and newest["y"] > form["y"]
    # Every other section is folded, each saying what it holds.
    folds = {
        "#fold-facts": "关键信息",
        "#fold-details": "已标出区域",
        "#fold-state": "结束",
        "#fold-embed": "嵌入",
    }
    for fold, words in folds.items():
        await expect(page.locator(f"{fold} > summary")).to_contain_text(words)
        assert await page.locator(fold).get_attribute("open") is None, fold
    await expect(page.locator("#fold-facts .count")).to_have_text("0")  # the template's labels, empty
    height = await page.evaluate("document.documentElement.scrollHeight")
    print(f"workspace height on a 390 px phone with 6 updates: {height} px")
    assert height < 3000, height

    # After a post, the form and the new update are both on the first screen.
    await page.fill("#body", "第7条：已恢复供水。")
    await page.locator("#post-h ~ form button.primary").click()
    await page.wait_for_url("**done=posted**")
    await expect(page.locator("p.done")).to_be_visible()
    article = page.locator("#updates-h ~ article").first
    await expect(article).to_contain_text("第7条")
    await screenshot(page, "console-after-post-phone", full_page=False)
    # Landed at the form: the message, the text box, Publish and the new update on one screen.
    on_screen = [page.locator("#done"), page.locator("#body"), page.locator(".post-actions"), article]
    for shown in on_screen:
        box = await shown.bounding_box()
        assert box is not None, shown
        assert box["y"] >= -1 and box["y"] + min(box["height"], 60) <= PHONE["height"], box
    violations = serious(await axe(page))
    assert not violations, describe(violations)
    await screenshot(page, "console-workspace-folds-phone")
