"""Incident templates in a real browser: on a phone in Chinese, an operator taps the water-main
template on the new-incident page, adds the area, and with one submit opens the incident and
posts its first notice with the template's 30-minute promise."""

from __future__ import annotations

import uuid

from playwright.async_api import expect

from broadcaster.playbooks import shipped
from tests.browser.support import DESKTOP, PHONE, NewPage, axe, describe, screenshot, serious
from tests.browser.test_console_browser import log_in_with_link
from tests.support.client import Api
from tests.support.server import ServerProcess, add_operator_with_link


async def test_a_water_main_incident_from_its_template_on_a_phone(
    new_page: NewPage, sqlite_server: ServerProcess, sqlite_url: str, api: Api
) -> None:
    water = shipped()["water-main"].words("zh-CN")
    _, link = add_operator_with_link(sqlite_url, f"desk-{uuid.uuid4().hex[:6]}", False, sqlite_server.url)
    operator = await new_page(viewport=PHONE, lang="zh-CN")
    page = operator.page
    await log_in_with_link(page, link)
    dashboard = page.get_by_role("navigation", name="从模板开始")
    await expect(dashboard.get_by_role("link", name="燃气泄漏")).to_have_attribute(
        "href", "/console/incidents/new?template=gas-leak"
    )
    await screenshot(page, "templates-dashboard-phone-zh", full_page=False)

    await page.goto("/console/incidents/new")
    choice = page.get_by_role("navigation", name="从模板开始")
    for name in ("供水管道爆裂", "停电", "道路封闭", "燃气泄漏"):
        await expect(choice.get_by_role("link", name=name, exact=True)).to_be_visible()
    found = serious(await axe(page))
    assert not found, describe(found)

    await choice.get_by_role("link", name="供水管道爆裂").click()  # one tap
    await page.wait_for_url("**/console/incidents/new?template=water-main")
    await expect(page.locator("#instruction")).to_have_value(water.instruction)
    await expect(page.locator("#first_notice")).to_have_value(water.first_notice)
    await expect(page.locator("#category")).to_have_value("Infra")
    await expect(page.locator("#urgency")).to_have_value("immediate")
    await expect(page.locator("input[name=promise][value='30']")).to_be_checked()
    await expect(page.locator("input[name=label]")).to_have_count(len(water.facts))
    await expect(page.get_by_role("link", name="供水管道爆裂")).to_have_attribute("aria-current", "page")
    found = serious(await axe(page))
    assert not found, describe(found)
    await screenshot(page, "templates-new-incident-phone-zh")

    area = f"文化路（花园路—东风路段）{uuid.uuid4().hex[:4]}"
    await page.fill("#area", area)
    await page.get_by_label("送水点").fill("文化路与农业路交叉口")
    await page.get_by_role("button", name="创建事件并发布首条通报").click()
    await page.wait_for_url("**/console/incidents/*?done=created")
    await expect(page.locator("h1")).to_have_text(f"{area}供水管道爆裂 滚动播报")
    await expect(page.locator("p.done")).to_have_text("事件已创建。")
    await expect(page.get_by_text("供水企业工作人员已赶赴现场").first).to_be_visible()
    await screenshot(page, "templates-workspace-phone-zh", full_page=False)
    incident = page.url.split("/console/incidents/")[1].split("?")[0]
    snapshot = (await api.http.get(f"/api/incidents/{incident}")).json()
    assert snapshot["incident"]["category"] == "Infra"
    assert snapshot["incident"]["next_update_at"] is not None  # the 30-minute promise
    assert [u["body"] for u in snapshot["updates"]] == [water.first_notice]
    assert {f["label"]: f["value"] for f in snapshot["facts"]}["送水点"] == "文化路与农业路交叉口"
    operator.assert_clean()


async def test_administrators_template_pages_in_a_browser(
    new_page: NewPage, sqlite_server: ServerProcess, sqlite_url: str
) -> None:
    _, link = add_operator_with_link(sqlite_url, f"admin-{uuid.uuid4().hex[:6]}", True, sqlite_server.url)
    for viewport, lang in ((PHONE, "zh-CN"), (DESKTOP, "en")):
        tab = await new_page(viewport=viewport, lang=lang)
        page = tab.page
        await log_in_with_link(
            page, link if viewport is PHONE else await _new_link(sqlite_url, sqlite_server)
        )
        await page.goto("/console/admin/templates")
        await expect(page.locator("#t-water-main")).to_be_visible()
        found = serious(await axe(page))
        assert not found, describe(found)
        await screenshot(page, f"templates-admin-list-{lang}")
        await page.goto("/console/admin/templates/water-main")
        await expect(page.locator("[name='zh-CN.name']")).to_have_value("供水管道爆裂")
        found = serious(await axe(page))
        assert not found, describe(found)
        await screenshot(page, f"templates-admin-edit-{lang}")
        tab.assert_clean()


async def _new_link(sqlite_url: str, sqlite_server: ServerProcess) -> str:
    return add_operator_with_link(sqlite_url, f"admin-{uuid.uuid4().hex[:6]}", True, sqlite_server.url)[1]
