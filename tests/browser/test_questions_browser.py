"""Readers' questions in a real browser, on a phone: a reader without JavaScript asks under the
timeline; the question reaches the console; the operator answers in public there; the answer,
with the question, arrives live on another reader's open timeline and is announced; it is in the
Atom feed. axe finds no serious or critical violation on the form or the answered block."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.async_api import expect

from tests.browser.support import PHONE, NewPage, axe, describe, screenshot, serious
from tests.support.server import ServerProcess, add_operator_with_link, scaled

PASSWORD = "correct horse battery staple"
QUESTION = "花园路东段今晚能来水吗？"
ANSWER = "预计今晚22时前恢复供水，请提前储水。"


@dataclass(frozen=True)
class Site:
    server: ServerProcess
    store: str
    token: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    store = f"sqlite:///{tmp_path_factory.mktemp('questions-browser') / 'incidents.db'}"
    with ServerProcess(store, env={"INCIDENTS_REPORT_LIMIT": "1000"}) as server:
        token, _ = add_operator_with_link(store, f"api-{uuid.uuid4().hex[:6]}", True, server.url)
        yield Site(server, store, token)
    assert "Traceback" not in server.log(), server.log()[-5000:]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_a_question_asked_without_javascript_is_answered_live_in_the_thread(
    new_page: NewPage, site: Site, lang: str
) -> None:
    zh = lang == "zh-CN"
    async with httpx.AsyncClient(base_url=site.server.url, timeout=scaled(20)) as http:
        made = await http.post(
            "/api/incidents",
            json={"title": "文化路自来水爆管"},
            headers={"Authorization": f"Bearer {site.token}"},
        )
        incident = made.json()["id"]

    # A reader keeps the timeline open, with JavaScript: live.
    watcher = await new_page(lang=lang, viewport=PHONE, base_url=site.server.url)
    await watcher.page.goto(f"/incidents/{incident}")
    await expect(watcher.page.locator("#conn")).to_have_class(re.compile(r"^conn$"))
    found = serious(await axe(watcher.page, context="#ask"))
    assert not found, describe(found)

    # Another reader asks, without JavaScript.
    asker = await new_page(lang=lang, viewport=PHONE, base_url=site.server.url, java_script_enabled=False)
    await asker.page.goto(f"/incidents/{incident}")
    await asker.page.get_by_label("您的问题" if zh else "Your question").fill(QUESTION)
    await asker.page.get_by_role("button", name="提交问题" if zh else "Send the question").click()
    await asker.page.wait_for_url(re.compile(r"/questions/ZZ-"))
    await expect(asker.page.locator(".q-state")).to_have_text("等待答复" if zh else "Waiting for an answer")
    await expect(asker.page.locator(".question")).to_have_text(QUESTION)
    # Not public until answered.
    await expect(watcher.page.locator("#updates")).not_to_contain_text(QUESTION)

    # The operator finds it in the console and answers in public.
    operator = await new_page(lang=lang, viewport=PHONE, base_url=site.server.url)
    _, link = add_operator_with_link(site.store, f"desk-{uuid.uuid4().hex[:6]}", False, site.server.url)
    await operator.page.goto(link)
    await operator.page.fill("#password", PASSWORD)
    await operator.page.fill("#repeat", PASSWORD)
    await operator.page.click("button[type=submit]")
    await operator.page.wait_for_url("**/console")
    await expect(operator.page.locator(".q-waiting")).to_contain_text(
        "1 个问题待答复" if zh else "1 question waiting"
    )
    await operator.page.goto(f"/console/incidents/{incident}")
    entry = operator.page.locator(".question-entry").first
    await expect(entry.locator(".q-text")).to_have_text(QUESTION)
    await entry.scroll_into_view_if_needed()
    await screenshot(operator.page, f"console-questions-{lang}", full_page=False)
    await entry.get_by_label("答复（Markdown）" if zh else "Answer (Markdown)").fill(ANSWER)
    await entry.get_by_role("button", name="公开答复" if zh else "Answer in public").click()
    await operator.page.wait_for_url(re.compile(r"done=answered-public"))
    await expect(operator.page.locator(".question-entry .q-status").first).to_have_text(
        "已公开答复" if zh else "Answered in public"
    )

    # It arrives live on the open timeline, the question before the answer, and is announced.
    article = watcher.page.locator("#updates article").first
    await expect(article.locator(".question .q-text")).to_have_text(QUESTION)
    await expect(article.locator(".question .q-label")).to_have_text("网友提问" if zh else "A reader asked")
    await expect(article.locator(".answer-label")).to_be_visible()
    await expect(article.locator(".body")).to_have_text(ANSWER)
    await expect(watcher.page.locator("#announcer")).to_contain_text(QUESTION)
    await expect(watcher.page.locator("#announcer")).to_contain_text(ANSWER)
    found = serious(await axe(watcher.page, context="#updates"))
    assert not found, describe(found)
    await screenshot(watcher.page, f"question-answered-live-{lang}")
    watcher.assert_clean()

    # The asker's page now shows the answer; the Atom feed carries question and answer.
    await asker.page.reload()
    await expect(asker.page.locator(".answer .body")).to_have_text(ANSWER)
    async with httpx.AsyncClient(base_url=site.server.url, timeout=scaled(20)) as http:
        atom = (await http.get(f"/incidents/{incident}/feed.atom")).text
    assert QUESTION in atom and "预计今晚22时前恢复供水" in atom
