"""An operator runs an incident from the console while a citizen watches the public page."""

from __future__ import annotations

import io
import uuid
from pathlib import Path

from PIL import Image
from playwright.async_api import Page, expect

from tests.browser.support import PHONE, NewPage, screenshot
from tests.support.server import ServerProcess, add_operator_with_link

PASSWORD = "correct horse battery staple"


def jpeg(path: Path, size: tuple[int, int] = (1200, 900)) -> Path:
    image = Image.new("RGB", size, (30, 110, 200))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    path.write_bytes(buffer.getvalue())
    return path


async def log_in_with_link(page: Page, link: str) -> None:
    await page.goto(link)
    await page.fill("#password", PASSWORD)
    await page.fill("#repeat", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url("**/console")


async def test_operator_runs_an_incident_and_citizens_see_it_live(
    new_page: NewPage, sqlite_server: ServerProcess, sqlite_url: str, tmp_path: Path
) -> None:
    name = f"desk-{uuid.uuid4().hex[:6]}"
    _, link = add_operator_with_link(sqlite_url, name, False, sqlite_server.url)
    operator = await new_page(viewport=PHONE)
    console = operator.page
    await log_in_with_link(console, link)

    await console.get_by_role("link", name="新建事件").first.click()
    title = f"文化路自来水爆管 {uuid.uuid4().hex[:4]}"
    await console.fill("#title", title)
    await console.fill("#area", "文化路（花园路—东风路段）")
    await console.get_by_role("button", name="创建事件").click()
    await console.wait_for_url("**/console/incidents/*?done=created")
    incident = console.url.split("/console/incidents/")[1].split("?")[0]

    citizen = await new_page(viewport=PHONE)
    await citizen.page.goto(f"/incidents/{incident}")
    await expect(citizen.page.locator("#conn")).to_have_text("实时接收更新中")

    await console.fill("#body", "自来水公司工作人员已前往现场，**正在全力抢修**。")
    await expect(console.locator("#preview strong")).to_have_text(
        "正在全力抢修"
    )  # the preview citizens will see
    await console.check("input[name=promise][value='30']")
    await console.set_input_files("#photos", str(jpeg(tmp_path / "现场.jpg")))
    await console.get_by_role("button", name="发布", exact=True).click()
    await console.wait_for_url("**done=posted**")

    live = citizen.page.locator("#updates article").first
    await expect(live.locator(".body strong")).to_have_text("正在全力抢修")
    await expect(live.locator(".photos img")).to_have_count(1)
    assert await live.locator(".photos img").evaluate("img => img.complete && img.naturalWidth > 0")
    await expect(citizen.page.locator("#next-update")).to_be_visible()

    article = console.locator("#updates-h ~ article").first
    await article.locator("summary", has_text="更正").click()
    await article.locator("textarea[name=body]").fill("自来水公司工作人员已到达现场，正在全力抢修。")
    await article.locator("input[name=reason]").first.fill("核实到场情况")
    await article.get_by_role("button", name="发布更正").click()
    await console.wait_for_url("**done=corrected**")
    await expect(live.locator(".body")).to_have_text("自来水公司工作人员已到达现场，正在全力抢修。")
    await expect(live.locator(".revision del")).to_contain_text("正在全力抢修")
    await expect(live.locator(".revision .reason")).to_have_text("核实到场情况")

    article = console.locator("#updates-h ~ article").first
    await article.locator("summary", has_text="撤回").click()
    await article.locator("details:has(summary:text('撤回')) input[name=reason]").fill("信息重复")
    await article.get_by_role("button", name="撤回此消息").click()
    await console.wait_for_url("**done=retracted**")
    await expect(live.locator(".withdrawn-note")).to_contain_text("信息重复")
    await expect(live.locator(".photos")).to_be_hidden()

    await screenshot(console, "console-workspace-phone")
    operator.assert_clean()
    citizen.assert_clean()


async def test_refusals_are_clear(
    new_page: NewPage, sqlite_server: ServerProcess, sqlite_url: str, tmp_path: Path
) -> None:
    name = f"desk-{uuid.uuid4().hex[:6]}"
    _, link = add_operator_with_link(sqlite_url, name, False, sqlite_server.url)
    tab = await new_page()
    page = tab.page
    await log_in_with_link(page, link)

    # An operator is not an administrator.
    answer = await page.goto("/console/admin/operators")
    assert answer is not None
    assert answer.status == 403
    answer = await page.goto("/console/admin/audit")
    assert answer is not None
    assert answer.status == 403

    await page.goto("/console/incidents/new")
    await page.fill("#title", "上传检查")
    await page.get_by_role("button", name="创建事件").click()
    await page.wait_for_url("**done=created")
    incident = page.url.split("/console/incidents/")[1].split("?")[0]

    # A form without its CSRF token is refused, and nothing is posted.
    status = await page.evaluate(
        """async (id) => (await fetch(`/console/incidents/${id}/updates`, {method: "POST",
             body: new URLSearchParams({body: "伪造"})})).status""",
        incident,
    )
    assert status == 403

    not_image = tmp_path / "通知.jpg"
    not_image.write_text("这不是图片")
    await page.fill("#body", "附件检查")
    await page.set_input_files("#photos", str(not_image))
    await page.get_by_role("button", name="发布", exact=True).click()
    await expect(page.locator("p.error")).to_contain_text("通知.jpg")
    await expect(page.locator("p.error")).to_contain_text("不是 JPEG、PNG 或 WebP 图片")
    await expect(page.locator("#body")).to_have_value("附件检查")  # the text is kept

    seven = [str(jpeg(tmp_path / f"p{n}.jpg", (64, 48))) for n in range(7)]
    await page.set_input_files("#photos", seven)
    await page.get_by_role("button", name="发布", exact=True).click()
    await expect(page.locator("p.error")).to_contain_text("照片：每条更新最多 6 张")

    big = tmp_path / "big.jpg"
    big.write_bytes(b"\xff\xd8\xff\xe0" + b"\0" * (10 * 1024 * 1024 + 10))
    await page.set_input_files("#photos", str(big))
    await page.get_by_role("button", name="发布", exact=True).click()
    await expect(page.locator("p.error")).to_contain_text("10 MB")

    public = await page.request.get(f"/api/incidents/{incident}/events")
    assert [e["type"] for e in (await public.json())["events"]] == ["incident.opened"]
