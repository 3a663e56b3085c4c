""" "Notify me" in a real browser, on a phone: the choices, the service worker at /sw.js, a push
delivered to it through the DevTools protocol shown as a notification (zh-CN and en), the
e-mail form without JavaScript, and axe on the section."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from playwright.async_api import expect

from tests.browser.support import PHONE, SCREENSHOTS, NewPage, Tab, axe, describe, serious
from tests.notify.mailbox import Mailbox, parts
from tests.support.client import Api
from tests.support.server import ServerProcess, add_operator, scaled

CIRCLE = {"type": "circle", "center": [34.7466, 113.6253], "radius_km": 1.5}
WORDS = {
    "zh-CN": {"button": "通知我", "push": "在本设备上通知", "drill": "【演练】"},
    "en": {"button": "Notify me", "push": "A notification on this device", "drill": "[EXERCISE] "},
}


async def open_follow(tab: Tab, incident: str, lang: str) -> None:
    await tab.page.goto(f"/incidents/{incident}?lang={lang}")
    await tab.page.locator("#follow summary").click()
    await expect(tab.page.locator("#follow-form")).to_be_visible()


async def registration_id(tab: Tab, base: str) -> tuple[Any, str]:
    """The DevTools session and the registration id of the service worker for ``base``/, once
    its worker is activated (a push to a worker still installing would be lost)."""
    cdp = await tab.context.new_cdp_session(tab.page)
    found: dict[str, str] = {}
    active: set[str] = set()
    cdp.on(
        "ServiceWorker.workerRegistrationUpdated",
        lambda event: found.update({r["scopeURL"]: r["registrationId"] for r in event["registrations"]}),
    )
    cdp.on(
        "ServiceWorker.workerVersionUpdated",
        lambda event: active.update(
            v["registrationId"] for v in event["versions"] if v["status"] == "activated"
        ),
    )
    await cdp.send("ServiceWorker.enable")
    for _ in range(int(scaled(10) / 0.1)):
        if found.get(f"{base}/") in active:
            return cdp, found[f"{base}/"]
        await asyncio.sleep(0.1)
    raise AssertionError(f"no active service worker for {base}/: {found}, active {active}")


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_follow_registers_the_worker_and_a_push_shows_a_notification(
    new_page: NewPage, api: Api, sqlite_server: ServerProcess, lang: str
) -> None:
    incident = await api.create("文化路自来水爆管", area_shape=CIRCLE)
    tab = await new_page(lang=lang, viewport=PHONE, permissions=["notifications"])
    await open_follow(tab, incident, lang)
    page = tab.page
    scope = await page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
    assert scope == f"{sqlite_server.url}/"
    # The choices: this device (the browser supports push), "where I am", the incident's area.
    push = page.get_by_label(WORDS[lang]["push"])
    await expect(push).to_be_visible()
    await expect(push).to_be_checked()
    await page.locator("input[name=what][value=area]").check()
    await expect(page.locator("input[name=place][value=here]")).to_be_visible()
    await expect(page.locator("input[name=place][value=incident]")).to_be_checked()
    radius = await page.locator("#follow-radius option").all_inner_texts()
    assert radius == ["0.5 km", "1 km", "2 km", "5 km", "10 km", "20 km"]

    cdp, reg = await registration_id(tab, sqlite_server.url)
    payload = {
        "title": "文化路自来水爆管", "body": "Water is back on Wenhua Road", "exercise": True,
        "url": f"{sqlite_server.url}/incidents/{incident}#u-1", "tag": incident,
        "at": "2026-12-04T18:00:00Z", "lang": lang,
    }  # fmt: skip
    await cdp.send(
        "ServiceWorker.deliverPushMessage",
        {"origin": sqlite_server.url, "registrationId": reg, "data": json.dumps(payload)},
    )
    shown: list[dict[str, str]] = []
    for _ in range(int(scaled(10) / 0.2)):
        shown = await page.evaluate(
            "navigator.serviceWorker.ready.then(r => r.getNotifications())"
            ".then(ns => ns.map(n => ({title: n.title, body: n.body, tag: n.tag})))"
        )
        if shown:
            break
        await asyncio.sleep(0.2)
    assert len(shown) == 1, shown
    assert shown[0]["title"] == WORDS[lang]["drill"] + "文化路自来水爆管"
    assert shown[0]["body"].endswith(" · Water is back on Wenhua Road")
    assert shown[0]["body"].split(" · ")[0] == ("02:00" if lang == "zh-CN" else "02:00 AM"), shown
    assert shown[0]["tag"] == incident
    tab.assert_clean()


async def test_follow_section_is_accessible_on_a_phone(new_page: NewPage, api: Api) -> None:
    incident = await api.create("文化路自来水爆管", area_shape=CIRCLE)
    tab = await new_page(lang="zh-CN", viewport=PHONE, permissions=["notifications"])
    await open_follow(tab, incident, "zh-CN")
    await tab.page.evaluate("navigator.serviceWorker.ready")
    violations = serious(await axe(tab.page, context="#follow"))
    assert violations == [], describe(violations)
    SCREENSHOTS.mkdir(exist_ok=True)
    await tab.page.locator("#follow").screenshot(path=str(SCREENSHOTS / "follow-section-phone-zh-CN.png"))
    tab.assert_clean()


async def test_without_a_shape_the_form_says_area_matching_needs_one(new_page: NewPage, api: Api) -> None:
    incident = await api.create("文化路停电")
    tab = await new_page(lang="en", viewport=PHONE, java_script_enabled=False)
    await open_follow(tab, incident, "en")
    note = "has no drawn area, so it cannot be matched by area"
    await expect(tab.page.locator("#follow-area")).to_contain_text(note)
    assert await tab.page.locator("input[name=place][value=incident]").count() == 0
    # Without JavaScript: e-mail only (no push choice, no "where I am").
    await expect(tab.page.locator("input[name=channel][value=email]")).to_be_checked()
    await expect(tab.page.locator("input[name=channel][value=webpush]")).to_be_hidden()


async def test_email_form_without_javascript_refuses_bad_coordinates_and_keeps_the_input(
    new_page: NewPage, api: Api
) -> None:
    incident = await api.create("文化路自来水爆管", area_shape=CIRCLE)
    tab = await new_page(lang="zh-CN", viewport=PHONE, java_script_enabled=False)
    await open_follow(tab, incident, "zh-CN")
    page = tab.page
    await page.locator("input[name=what][value=area]").check()
    await page.locator("input[name=place][value=coords]").check()
    await page.locator("#follow-lat").fill("north")
    await page.locator("#follow-lon").fill("113.6")
    await page.locator("#follow-email").fill("reader@example.org")
    async with page.expect_response(lambda r: r.url.endswith("/follow?lang=zh-CN")) as answer:
        await page.locator("#follow-send").click()
    assert (await answer.value).status == 422
    await expect(page.locator("#follow-error")).to_contain_text("纬度")
    await expect(page.locator("#follow-email")).to_have_value("reader@example.org")
    await expect(page.locator("#follow-lon")).to_have_value("113.6")


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_email_follow_without_javascript_sends_the_confirmation(
    new_page: NewPage, tmp_path: Any, lang: str
) -> None:
    """The plain form, no JavaScript, a real SMTP server: "check your mail", then the mail, in
    the reader's language, whose link confirms the subscription."""
    url = f"sqlite:///{tmp_path}/follow.db"
    admin = add_operator(url, "admin")
    with Mailbox() as box:
        env = {"INCIDENTS_SMTP_URL": box.url, "INCIDENTS_MAIL_FROM": "alerts@zzic.example"}
        with ServerProcess(url, env=env) as server:
            api = Api(server.url, admin)
            try:
                incident = await api.create("文化路自来水爆管", area_shape=CIRCLE)
                tab = await new_page(
                    lang=lang, viewport=PHONE, java_script_enabled=False, base_url=server.url
                )
                await open_follow(tab, incident, lang)
                page = tab.page
                await page.locator("#follow-email").fill("reader@example.org")
                async with page.expect_response(lambda r: r.url.endswith(f"/follow?lang={lang}")) as answer:
                    await page.locator("#follow-send").click()
                assert (await answer.value).status == 202
                (confirmation,) = await box.wait("reader@example.org", 1)
                subject = "请确认订阅：ZZIC" if lang == "zh-CN" else "Confirm your subscription: ZZIC"
                assert confirmation["Subject"] == subject
                plain, _ = parts(confirmation)
                link = re.search(r"https?://\S+/subscriptions/confirm/\S+", plain)
                assert link is not None, plain
                confirm_path = link.group(0).split("/subscriptions/", 1)[1]
                await page.goto(f"/subscriptions/{confirm_path}")
                asking = "请确认订阅" if lang == "zh-CN" else "Confirm your subscription"
                await expect(page.locator("h1")).to_have_text(asking)
                button = "确认订阅" if lang == "zh-CN" else "Confirm my subscription"
                await page.get_by_role("button", name=button).click()
                confirmed = "订阅已确认" if lang == "zh-CN" else "Subscription confirmed"
                await expect(page.locator("h1")).to_have_text(confirmed)
                tab.assert_clean()
            finally:
                await api.aclose()
