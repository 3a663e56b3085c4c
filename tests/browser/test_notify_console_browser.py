"""An administrator in Chromium (a phone, zh-CN) reads the notifications panel after real sends
(a local push service, one subscriber's service answering 500; a real SMTP server), pauses
every notification with one click (the form's CSRF token, as every console form), sees an
important update go nowhere, resumes, and the next one is pushed. The panel passes axe;
screenshots of the workspace's panel and the dashboard's totals go to screenshots/."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import expect

from tests.browser.support import PHONE, SCREENSHOTS, NewPage, axe, describe, serious
from tests.browser.test_console_browser import log_in_with_link
from tests.notify.consolekit import HERE, NEAR, Agent, Site, eventually, running_site, table
from tests.support.server import add_operator_with_link, scaled


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(tmp_path) as running:
        yield running


async def test_admin_reads_the_panel_and_pauses_notifications_in_chromium(
    new_page: NewPage, site: Site
) -> None:
    incident = await site.api.create("文化路自来水爆管", area="文化路（花园路—东风路段）", area_shape=HERE)
    agents = [Agent(site.push, name) for name in ("a", "b", "c", "broken", "near")]
    site.push.statuses["broken"] = 500
    for agent in agents[:4]:
        await site.subscribe_push(agent, incident=incident)
    await site.subscribe_push(agents[4], area=NEAR)
    await site.subscribe_mail("ann@example.org", incident=incident)
    await site.subscribe_mail("bob@example.org", area=NEAR)
    await site.subscribe_mail("cat@example.org", confirm=False, incident=incident)
    assert (await site.api.post(incident, "文化路停水，抢修人员已到场。")).status_code == 201

    async def delivered() -> bool:
        rows = table(await site.workspace(incident), "Delivery, every incident")
        return rows["Web Push"] == ["4", "1", "0"] and rows["E-mail"] == ["2", "0", "0"]

    await eventually(delivered, 20, lambda: str([(m.name, m.answered) for m in site.push.messages]))

    _, link = add_operator_with_link(site.backend_url, f"chief-{uuid.uuid4().hex[:4]}", True, site.url)
    tab = await new_page(lang="zh-CN", viewport=PHONE, base_url=site.url)
    page = tab.page
    await log_in_with_link(page, link)
    await page.goto(f"/console/incidents/{incident}")
    # The panel is folded on the workspace; its summary tells the followers of this incident.
    await expect(page.locator("#fold-notify > summary")).to_contain_text("5 人关注")
    await page.locator("#fold-notify > summary").click()
    notify = page.locator("#notify")
    followers = notify.locator("table").nth(0)
    await expect(followers.locator("caption")).to_have_text("现在发布重要更新会通知到的人数")
    await expect(followers.locator("tbody tr").nth(0)).to_have_text("浏览器推送41")
    await expect(followers.locator("tbody tr").nth(1)).to_have_text("电子邮件11")
    delivery = notify.locator("table").nth(1)
    await expect(delivery.locator("tbody tr").nth(0)).to_have_text("浏览器推送410")
    await expect(notify.locator(".notify-errors")).to_contain_text("HTTP 500")
    found = serious(await axe(page, context="#notify"))
    assert not found, describe(found)
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    SCREENSHOTS.mkdir(exist_ok=True)
    await notify.screenshot(path=str(SCREENSHOTS / "notify-workspace-zh-CN.png"), animations="disabled")

    # One click on the dashboard stops everything.
    await page.goto("/console")
    await expect(notify.locator("tfoot")).to_have_text("合计610")
    await notify.get_by_role("button", name="暂停所有通知").click()
    await page.wait_for_url("**/console?done=notify-paused")
    await expect(page.locator("p.done")).to_have_text("所有通知已暂停。")
    await expect(notify.get_by_role("alert")).to_contain_text("所有通知已暂停。")
    await expect(notify.get_by_role("button", name="恢复通知")).to_be_visible()
    found = serious(await axe(page, context="#notify"))
    assert not found, describe(found)
    await notify.screenshot(path=str(SCREENSHOTS / "notify-dashboard-zh-CN.png"), animations="disabled")

    before = len(site.push.messages)
    assert (await site.api.post(incident, "供水管道已找到破损点。", notify=True)).status_code == 201
    await asyncio.sleep(scaled(3))
    assert len(site.push.messages) == before  # nothing pushed while paused

    await notify.get_by_role("button", name="恢复通知").click()
    await page.wait_for_url("**/console?done=notify-resumed")
    await expect(notify.get_by_role("button", name="暂停所有通知")).to_be_visible()
    assert (await site.api.post(incident, "供水已恢复。", notify=True)).status_code == 201

    async def pushed() -> bool:
        return {m.name for m in site.push.messages[before:] if m.answered == 201} == {"a", "b", "c", "near"}

    await eventually(pushed, 20, lambda: str([(m.name, m.answered) for m in site.push.messages[before:]]))
    assert {agent.decrypt(m)["body"] for agent in agents[:3] for m in site.push.to(agent.name)[1:]} == {
        "供水已恢复。"
    }
    tab.assert_clean()
