"""Citizens' reports in a real browser: a citizen files one from a phone, an operator works on it
in the console, the citizen's open page follows along without a reload; accessibility in both
languages; the pages without JavaScript."""

from __future__ import annotations

import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.async_api import Page, expect

from tests.browser.support import DESKTOP, PHONE, NewPage, Tab, axe, describe, screenshot, serious
from tests.support.server import ServerProcess, add_operator_with_link, scaled

PASSWORD = "correct horse battery staple"
CODE = re.compile(r"ZZ-[0-9A-Z]{4}-[0-9A-Z]{4}")


@dataclass(frozen=True)
class Site:
    server: ServerProcess
    store: str
    token: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    store = f"sqlite:///{tmp_path_factory.mktemp('reports-browser') / 'incidents.db'}"
    with ServerProcess(store, env={"INCIDENTS_REPORT_LIMIT": "1000"}) as server:
        token, _ = add_operator_with_link(store, f"api-{uuid.uuid4().hex[:6]}", True, server.url)
        yield Site(server, store, token)
    assert "Traceback" not in server.log(), server.log()[-5000:]


def jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (1200, 900), (40, 90, 160)).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def photo(path: Path) -> Path:
    path.write_bytes(jpeg())
    return path


STREAM_CUT = re.compile(r"^request failed: \S+/api/reports/[^/]+/stream: net::ERR_ABORTED$")


def assert_clean(tab: Tab) -> None:
    """As ``Tab.assert_clean``, except for a report page's event stream cut by leaving the page
    (an EventSource is an open request: the browser reports it as aborted on navigation)."""
    problems = [p for p in tab.problems() if not STREAM_CUT.match(p)]
    assert not problems, "\n".join(problems)


async def log_in(page: Page, site: Site) -> None:
    _, link = add_operator_with_link(site.store, f"desk-{uuid.uuid4().hex[:6]}", False, site.server.url)
    await page.goto(link)
    await page.fill("#password", PASSWORD)
    await page.fill("#repeat", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/console")


async def test_a_citizen_follows_the_report_live_while_an_operator_works_on_it(
    new_page: NewPage, site: Site, tmp_path: Path
) -> None:
    citizen_tab = await new_page(viewport=PHONE, base_url=site.server.url)
    citizen = citizen_tab.page
    await citizen.goto("/reports/new")
    title = f"文化路自来水爆管 {uuid.uuid4().hex[:4]}"
    await citizen.get_by_label("标题").fill(title)
    await citizen.get_by_label("反映内容").fill("文化路与花园路中东风路段发生自来水爆管，群众出行受阻。")
    await citizen.get_by_label("地点").fill("文化路（花园路—东风路段）")
    await citizen.get_by_label("照片").set_input_files(str(photo(tmp_path / "现场.jpg")))
    await citizen.get_by_label("您的电话或邮箱").fill("13800138000")
    await screenshot(citizen, "reports-new-phone-filled")
    await citizen.get_by_role("button", name="提交诉求").click()
    await citizen.wait_for_url(re.compile(r"/reports/ZZ-"))
    code = CODE.search(citizen.url)
    assert code is not None
    await expect(citizen.locator(".filed .code")).to_have_text(code.group())
    await expect(citizen.locator(".status-now")).to_have_text("已受理")
    image = citizen.locator(".report-content img")
    await expect(image).to_be_visible()
    assert await image.evaluate("img => img.complete && img.naturalWidth > 0")
    assert "13800138000" not in await citizen.content()
    await citizen.evaluate("window.__sameDocument = true")
    await screenshot(citizen, "reports-filed-phone")

    operator_tab = await new_page(viewport=DESKTOP, base_url=site.server.url)
    console = operator_tab.page
    await log_in(console, site)
    await console.get_by_role("link", name="网络诉求").first.click()
    await console.get_by_role("link", name=title).click()
    await expect(console.get_by_text("13800138000")).to_be_visible()  # the contact, for operators
    await console.get_by_label("部门", exact=True).fill("市自来水公司")
    await console.get_by_role("button", name="交办", exact=True).click()
    await console.wait_for_url("**done=assigned")
    await expect(citizen.locator(".status-now")).to_have_text("已交办")
    await expect(citizen.locator(".now")).to_contain_text("市自来水公司")

    reply = "自来水公司领导和工作人员已前往现场，正在全力抢修。"
    await console.get_by_label("回复（在诉求页面上公开显示）").fill(reply)
    await console.get_by_role("button", name="发布回复").click()
    await console.wait_for_url("**done=replied")
    await expect(citizen.locator(".reply .text")).to_have_text(reply)
    await expect(citizen.locator(".status-now")).to_have_text("已回复")
    await expect(citizen.locator("#announcer")).to_contain_text("已回复")

    await console.get_by_role("link", name="由此诉求新建事件").click()
    await expect(console.locator("#title")).to_have_value(title)  # prefilled from the report
    await expect(console.locator("#area")).to_have_value("文化路（花园路—东风路段）")
    await screenshot(console, "reports-console-new-incident")
    await console.get_by_role("button", name="创建事件").click()
    await console.wait_for_url("**/console/incidents/*?done=created")
    incident = console.url.split("/console/incidents/")[1].split("?")[0]

    link = citizen.locator(".incident-link a")
    await expect(link).to_have_text(title)
    assert await citizen.evaluate("window.__sameDocument === true")  # all of it without a reload
    await screenshot(citizen, "reports-status-live-phone")
    await console.goto(f"/console/reports/{code.group()}")
    await screenshot(console, "reports-console-report")
    await console.goto("/console/reports")
    await screenshot(console, "reports-console-inbox")

    citizen_tab.assert_clean()
    operator_tab.assert_clean()
    await link.click()
    await citizen.wait_for_url(f"**/incidents/{incident}**")
    await expect(citizen.get_by_role("heading", level=1)).to_have_text(title)
    assert_clean(citizen_tab)


async def filed_report(site: Site) -> str:
    """A report with a photo, a department, a reply and an incident, and some statistics."""
    async with httpx.AsyncClient(
        base_url=site.server.url, headers={"Authorization": f"Bearer {site.token}"}, timeout=scaled(20)
    ) as ops:
        files = {"photo": ("p.jpg", jpeg(), "image/jpeg")}
        fields = {
            "title": "天伦路路灯不亮",
            "body": "天伦路上有路无灯，来往车辆又多，行人走路很危险。",
            "location": "天伦路",
        }
        code = (await ops.post("/api/reports", data=fields, files=files)).json()["code"]
        incident = (await ops.post("/api/incidents", json={"title": "天伦路等32条道路路灯不亮"})).json()["id"]
        await ops.post(f"/api/reports/{code}/assign", json={"department": "市政管理局路灯管理处"})
        await ops.post(
            f"/api/reports/{code}/reply", json={"text": "已协调相关部门，3月10日前安装完毕并亮灯。"}
        )
        await ops.post(f"/api/reports/{code}/link", json={"incident": incident})
        for _ in range(3):
            other = (await ops.post("/api/reports", json={**fields, "title": "乘坐公交车难"})).json()["code"]
            await ops.post(f"/api/reports/{other}/reply", json={"text": "已转交公交公司。"})
        await ops.post("/api/reports", json={**fields, "title": "居民小区照明问题"})
    return str(code)


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_no_serious_accessibility_violations(new_page: NewPage, site: Site, lang: str) -> None:
    code = await filed_report(site)
    for viewport, device in ((PHONE, "phone"), (DESKTOP, "desktop")):
        tab = await new_page(lang=lang, viewport=viewport, base_url=site.server.url)
        for name, path in (
            ("new", "/reports/new"),
            ("report", f"/reports/{code}"),
            ("stats", "/reports/stats"),
            ("home", "/reports"),
        ):
            answer = await tab.page.goto(path)
            assert answer is not None and answer.status == 200, path
            await expect(tab.page.locator("html")).to_have_attribute("lang", lang)
            found = serious(await axe(tab.page))
            assert not found, f"{path} ({lang}, {device}):\n{describe(found)}"
            await screenshot(tab.page, f"reports-{name}-{lang}-{device}")
        assert_clean(tab)
    # A refused form (the field marked, the reason announced) is accessible too.
    tab = await new_page(lang=lang, viewport=PHONE, base_url=site.server.url)
    await tab.page.goto("/reports/new")
    await tab.page.locator("#title").fill("   ")
    await tab.page.locator("#body").fill("x")
    await tab.page.locator("#location").fill("y")
    await tab.page.evaluate("document.querySelector('form.report-form').noValidate = true")
    await tab.page.locator("button.send").click()
    await expect(tab.page.locator("#title")).to_have_attribute("aria-invalid", "true")
    found = serious(await axe(tab.page))
    assert not found, describe(found)
    await screenshot(tab.page, f"reports-new-refused-{lang}-phone")


async def test_the_pages_work_without_javascript(new_page: NewPage, site: Site) -> None:
    tab = await new_page(lang="en", viewport=PHONE, java_script_enabled=False, base_url=site.server.url)
    page = tab.page
    await page.goto("/reports/new")
    await page.get_by_label("Title").fill("Broken crossing on Zhengkai Avenue")
    await page.get_by_label("What happened").fill("The zebra crossing runs into the flower bed.")
    await page.get_by_label("Where").fill("Zhengkai Avenue")
    await page.get_by_role("button", name="Send the report").click()
    await page.wait_for_url(re.compile(r"/reports/ZZ-"))
    code = CODE.search(page.url)
    assert code is not None
    await expect(page.locator(".filed")).to_contain_text(code.group())
    await expect(page.locator(".status-now")).to_have_text("Received")
    await page.goto("/reports")
    await page.get_by_label("Tracking code").fill(code.group().lower().replace("-", " "))
    await page.get_by_role("button", name="Look up").click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Broken crossing on Zhengkai Avenue")
    await page.goto("/reports/stats")
    await expect(page.locator("table.per-month tbody tr")).not_to_have_count(0)
    await expect(page.locator("svg[role=img] title")).to_have_count(1)
    tab.assert_clean()


async def send_oversized_report(page: Page, big: Path) -> int:
    """Fill the report form with a photo over the limit and send it; the answer's status."""
    await page.goto("/reports/new")
    await page.locator("#title").fill("路灯不亮")
    await page.locator("#body").fill("文化路路灯全灭。")
    await page.locator("#location").fill("文化路")
    await page.locator("input[type=file]").set_input_files(str(big))
    async with page.expect_navigation() as navigation:
        await page.locator("button.send").click()
    answer = await navigation.value
    assert answer is not None
    return answer.status


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_errors_are_pages_a_phone_can_read(
    new_page: NewPage, site: Site, lang: str, tmp_path: Path
) -> None:
    """A photo over the limit on the form and a mistyped address both end on a page in the
    reader's language, accessible, with a way on; without JavaScript too."""
    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8" + b"0" * (12 * 1024 * 1024))
    heading = {"zh-CN": "内容过大", "en": "Too large"}[lang]
    # The cheapest phone: no JavaScript (axe needs it, so it runs in the second tab).
    plain = await new_page(lang=lang, viewport=PHONE, java_script_enabled=False, base_url=site.server.url)
    assert await send_oversized_report(plain.page, big) == 413
    await expect(plain.page.get_by_role("heading", level=1)).to_have_text(heading)
    await expect(plain.page.get_by_role("alert")).to_contain_text("MB")

    tab = await new_page(lang=lang, viewport=PHONE, base_url=site.server.url)
    page = tab.page
    assert await send_oversized_report(page, big) == 413
    await expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    found = serious(await axe(page))
    assert not found, describe(found)
    await screenshot(page, f"error-413-{lang}-phone")

    missing = await page.goto("/incidents/0000000000")
    assert missing is not None and missing.status == 404
    await expect(page.get_by_role("heading", level=1)).to_have_text(
        {"zh-CN": "找不到页面", "en": "Page not found"}[lang]
    )
    found = serious(await axe(page))
    assert not found, describe(found)
    await screenshot(page, f"error-404-{lang}-phone")
    await page.get_by_role("link", name={"zh-CN": "全部事件", "en": "All incidents"}[lang]).click()
    await page.wait_for_url(re.compile(r"/\?lang="))
    for opened in (plain, tab):
        problems = [p for p in opened.problems() if " 413" not in p and " 404" not in p]
        assert not problems, problems
