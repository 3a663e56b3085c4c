"""What a citizen needs first, on a phone: what to do, when it is fixed, when we say more."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Locator, Page, expect

from tests.browser.support import PHONE, NewPage, axe, describe, screenshot, serious
from tests.support.client import Api

INSTRUCTION = "请绕行文化路，储备饮用水。"
FACTS = [
    {"label": "停水区域", "value": "文化路（花园路—东风路段）两侧小区"},
    {"label": "应急供水点", "value": "文化路与东风路口，送水车"},
    {"label": "抢修单位", "value": "郑州自来水总公司"},
]
EARLY_UPDATES = [
    "据了解，自来水公司领导和工作人员已前往现场，正在全力抢修。",
    "市委、市政府领导高度重视，要求郑州自来水总公司迅速全力以赴排查漏点，及时抢修。",
    "市领导亲赴现场组织指挥抢修，已查明干管爆裂位置。",
    "已组织专用车辆应急供水，送水车停在文化路与东风路口。",
]


async def a_busy_incident(api: Api) -> tuple[str, datetime]:
    """A water-main burst with four updates, facts, an instruction and a revised estimate: the
    first screen must still hold what a reader needs."""
    now = datetime.now(UTC)
    incident = await api.create(
        f"文化路自来水管道爆裂 {uuid.uuid4().hex[:6]}",
        summary="文化路花园路至东风路段自来水干管爆裂，沿线停水。",
        area="文化路（花园路—东风路段）",
        instruction=INSTRUCTION,
        expected_restoration=(now + timedelta(hours=6)).isoformat(),
    )
    assert (await api.http.put(f"/api/incidents/{incident}/facts", json={"facts": FACTS})).status_code == 200
    for body in EARLY_UPDATES:
        assert (await api.post(incident, body)).status_code == 201
    changed = await api.http.patch(
        f"/api/incidents/{incident}", json={"expected_restoration": (now + timedelta(hours=9)).isoformat()}
    )
    assert changed.status_code == 200, changed.text
    promise = now + timedelta(days=1, hours=1)  # tomorrow: the page must say which day
    posted = await api.post(incident, "今晚将继续抢修。", next_update_at=promise.isoformat())
    assert posted.status_code == 201
    return incident, promise


async def within_first_screen(page: Page, locator: Locator) -> None:
    await expect(locator).to_be_visible()
    box = await locator.bounding_box()
    assert box is not None
    assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"], (await locator.inner_text(), box)


@pytest.mark.parametrize(
    ("lang", "js", "what", "back", "revised", "next_by"),
    [
        ("zh-CN", True, "请您这样做", "预计恢复", "原预计", "下次更新"),
        ("zh-CN", False, "请您这样做", "预计恢复", "原预计", "下次更新"),
        ("en", True, "What to do", "Service expected back by", "(revised from", "Next update expected by"),
        ("en", False, "What to do", "Service expected back by", "(revised from", "Next update expected by"),
    ],
)
async def test_the_first_screen_of_a_phone_says_what_to_do_when_fixed_and_when_next(
    api: Api, new_page: NewPage, lang: str, js: bool, what: str, back: str, revised: str, next_by: str
) -> None:
    incident, promise = await a_busy_incident(api)
    tab = await new_page(lang=lang, viewport=PHONE, java_script_enabled=js)
    page = tab.page
    await page.goto(f"/incidents/{incident}?lang={lang}")
    instruction = page.locator("#instruction")
    await expect(instruction).to_contain_text(what)
    await expect(instruction).to_contain_text(INSTRUCTION)
    restoration = page.locator("#restoration")
    await expect(restoration).to_contain_text(back)
    await expect(restoration.locator(".was")).to_contain_text(revised)
    next_update = page.locator("#next-update")
    await expect(next_update).to_contain_text(next_by)
    zone = json.loads(await page.locator("#live-config").text_content() or "{}").get("zone", "Asia/Shanghai")
    when = (await next_update.locator("time").inner_text()).strip()
    day = promise.astimezone(ZoneInfo(zone)).day
    assert str(day) in when and len(when) > len("09:00"), when  # not today: the day is named
    for part in (page.locator("#state"), page.locator("h1"), instruction, restoration, next_update):
        await within_first_screen(page, part)
    await within_first_screen(page, page.locator("#facts dt").first)
    # Above the updates, in that order.
    order = await page.evaluate(
        """() => ['#state', '#instruction', '#restoration', '#next-update', '#facts', '#updates']
             .map(s => document.querySelector(s).getBoundingClientRect().top)"""
    )
    assert order == sorted(order), order
    if js:
        violations = serious(await axe(page, context="#glance"))
        assert not violations, describe(violations)
    await screenshot(page, f"glance-phone-{lang}-{'js' if js else 'nojs'}", full_page=False)
    tab.assert_clean()


async def test_an_edited_instruction_appears_in_place_and_is_announced(api: Api, new_page: NewPage) -> None:
    incident = await api.create(f"文化路停水 {uuid.uuid4().hex[:6]}")
    tab = await new_page(lang="zh-CN", viewport=PHONE)
    page = tab.page
    await page.goto(f"/incidents/{incident}")
    await expect(page.locator("#instruction")).to_be_hidden()
    await expect(page.locator("#conn")).to_have_text("实时接收更新中")
    await page.evaluate("window.__sameDocument = true")
    edited = await api.http.patch(f"/api/incidents/{incident}", json={"instruction": INSTRUCTION})
    assert edited.status_code == 200, edited.text
    await expect(page.locator("#instruction p")).to_have_text(INSTRUCTION)
    await expect(page.locator("#announcer")).to_contain_text(INSTRUCTION)
    await within_first_screen(page, page.locator("#instruction"))
    # Advice for while it lasts: gone once resolved, back when reopened (live, and on the page).
    assert (await api.http.post(f"/api/incidents/{incident}/resolve", json={})).status_code == 200
    await expect(page.locator("#instruction")).to_be_hidden()
    assert (await api.http.post(f"/api/incidents/{incident}/reopen", json={})).status_code == 200
    await expect(page.locator("#instruction p")).to_have_text(INSTRUCTION)
    cleared = await api.http.patch(f"/api/incidents/{incident}", json={"instruction": ""})
    assert cleared.status_code == 200, cleared.text
    await expect(page.locator("#instruction")).to_be_hidden()
    assert await page.evaluate("window.__sameDocument") is True
    again = await api.http.patch(f"/api/incidents/{incident}", json={"instruction": INSTRUCTION})
    assert again.status_code == 200, again.text
    await expect(page.locator("#instruction p")).to_have_text(INSTRUCTION)
    assert (await api.http.post(f"/api/incidents/{incident}/resolve", json={})).status_code == 200
    plain = await new_page(lang="zh-CN", viewport=PHONE, java_script_enabled=False)
    await plain.page.goto(f"/incidents/{incident}")
    await expect(plain.page.locator("#state")).to_have_text("已结束")
    await expect(plain.page.locator("#instruction p")).to_have_text(INSTRUCTION)  # there, not shown
    await expect(plain.page.locator("#instruction")).to_be_hidden()
    tab.assert_clean()


async def test_the_embed_opens_with_the_same_answers(api: Api, new_page: NewPage) -> None:
    incident, _ = await a_busy_incident(api)
    tab = await new_page(lang="zh-CN", viewport={"width": 390, "height": 600}, java_script_enabled=False)
    page = tab.page
    await page.goto(f"/incidents/{incident}/embed")
    order = await page.evaluate(
        """() => ['#instruction', '#restoration', '#next-update', '#facts', '#updates']
             .map(s => document.querySelector(s).getBoundingClientRect().top)"""
    )
    assert order == sorted(order), order
    await expect(page.locator("#instruction")).to_contain_text(INSTRUCTION)
    tab.assert_clean()
