"""An administrator registers a webhook in the console, sees its secret once and its delivery log;
the pages pass axe in both languages."""

from __future__ import annotations

import uuid

from playwright.async_api import expect

from tests.browser.support import NewPage, axe, describe, screenshot, serious
from tests.browser.test_console_browser import log_in_with_link
from tests.support.client import Api
from tests.support.receiver import Receiver
from tests.support.server import ServerProcess, add_operator_with_link


async def test_admin_registers_an_endpoint_and_reads_its_delivery_log(
    new_page: NewPage, sqlite_server: ServerProcess, sqlite_url: str, api: Api
) -> None:
    receiver = await Receiver().start()
    name = f"admin-{uuid.uuid4().hex[:6]}"
    _, link = add_operator_with_link(sqlite_url, name, True, sqlite_server.url)
    admin = await new_page(lang="en")
    page = admin.page
    await log_in_with_link(page, link)
    try:
        await page.goto("/console/admin/webhooks")
        await page.fill("#url", receiver.url)
        await page.uncheck("input[name=events][value='*']")  # "All events" is the default
        await page.check("input[name=events][value='update.posted']")
        await page.get_by_role("button", name="Register and show the secret").click()
        secret = (await page.locator("#webhook-secret").inner_text()).strip()
        assert len(secret) >= 32
        row = page.locator("tr", has=page.locator(f"code:text-is('{receiver.url}')"))
        await expect(row).to_contain_text("update.posted")

        incident = await api.create(f"文化路停水 {uuid.uuid4().hex[:4]}")
        await api.post(incident, "工作人员已前往现场")
        await receiver.until(incident, 2)
        delivered = receiver.acknowledged(incident)[0]
        assert delivered["type"] == "update.posted"
        assert receiver.requests[-1].signed_by(secret)

        await page.goto("/console/admin/webhooks")
        assert await page.locator("#webhook-secret").count() == 0  # shown once
        await expect(row).to_have_count(1)
        await row.get_by_role("link", name="Delivery log").click()
        await expect(page.locator("main")).to_contain_text(f"{incident}:2")
        log_page = page.url.split("?")[0]
        assert "/console/admin/webhooks/" in log_page
        # Rotate the secret: the new one is shown once, and both sign until the overlap ends.
        await page.locator("details.rotate > summary").click()
        await page.get_by_role("button", name="Make a new secret").click()
        new = (await page.locator("#new-secret").inner_text()).strip()
        assert new.startswith("whsec_") and new != secret
        await expect(page.locator(".secret-once")).to_contain_text("two signatures")
        await api.post(incident, "抢修进行中")
        await receiver.until(incident, 3)
        assert receiver.requests[-1].signed_by(secret) and receiver.requests[-1].signed_by(new)
        await page.goto(log_page)
        assert await page.locator("#new-secret").count() == 0  # shown once
        for lang in ("en", "zh-CN"):
            await page.goto(f"{log_page}?lang={lang}")
            await expect(page.locator("main")).to_contain_text(f"{incident}:2")
            found = serious(await axe(page))
            assert not found, describe(found)
            await screenshot(page, f"webhook-log-{lang}")
            await page.goto(f"/console/admin/webhooks?lang={lang}")
            found = serious(await axe(page))
            assert not found, describe(found)
            await screenshot(page, f"webhooks-{lang}")
    finally:
        await page.goto("/console/admin/webhooks?lang=en")
        delete = page.locator("form[action$='/delete'] button")
        while await delete.count():  # leave the shared server without endpoints
            await delete.first.click()
            await page.wait_for_url("**/console/admin/webhooks?done=deleted")
        await receiver.down()
