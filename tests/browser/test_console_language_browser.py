"""Every word of the console in the operator's language (issue 16, item 3).

An administrator with a zh-CN browser walks every console page (an incident with updates, key
facts, an area, a question, drafts and scheduled updates; a citizen's report; a webhook; the
templates; the login and setup pages) and makes every form refuse something. The visible text
(with every fold opened, option texts, placeholders and accessible names) must hold no CAP value
in English and no interface message left untranslated: a message id of the code (extracted as
``pybabel extract`` does) that the zh-CN catalog lacks or leaves as English. In English the same
pages show CAP's values as English labels. axe finds nothing serious on any page.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

import httpx
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from playwright.async_api import Page, expect

from broadcaster.console.labels import LABELS
from tests.browser.support import DESKTOP, PHONE, NewPage, axe, describe, screenshot, serious
from tests.browser.test_console_browser import PASSWORD, log_in_with_link
from tests.support.client import Api
from tests.support.server import ServerProcess, add_operator_with_link

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "broadcaster" / "locale" / "zh_CN" / "LC_MESSAGES" / "messages.po"
PLACEHOLDER = re.compile(r"%\((\w+)\)s|%s|\{\w*\}")

CAP_VALUES = {str(value) for kind in LABELS.values() for value in kind}
CAP_ENGLISH = (
    CAP_VALUES
    | {value.capitalize() for value in CAP_VALUES}
    | {label for kind in LABELS.values() for label in kind.values()}
)
"""CAP's values as sent (``immediate``, ``Infra``) and capitalised, and their English labels."""


@cache
def untranslated() -> frozenset[str]:
    """The message ids of the code (templates and ``broadcaster/``, as babel.cfg says) that the
    zh-CN catalog has no translation for: missing, empty, or the English kept."""
    with CATALOG.open("rb") as source:
        catalog = read_po(source, locale="zh_CN")
    method_map = [("broadcaster/**.py", "python"), ("templates/**.html", "jinja2")]
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}
    found: set[str] = set()
    for _, _, message, _, context in extract_from_dir(str(ROOT), method_map, keywords=keywords):
        for msgid in message if isinstance(message, tuple) else (message,):
            entry = catalog.get(msgid if not isinstance(message, tuple) else message[0], context=context)
            strings = entry.string if entry is not None else ""
            strings = strings if isinstance(strings, tuple) else (strings,)
            if entry is None or any(not s or s == msgid for s in strings):
                found.add(msgid)
    return frozenset(found)


def english_in(text: str) -> list[str]:
    """The CAP words and untranslated messages (their literal parts) found in ``text``."""
    found = [
        word for word in sorted(CAP_ENGLISH) if re.search(rf"(?<![\w/.-]){re.escape(word)}(?![\w/.-])", text)
    ]
    for msgid in sorted(untranslated()):
        parts = [p.strip(" .,:;()") for p in PLACEHOLDER.split(msgid) if p]
        parts = [p for p in parts if re.search(r"[A-Za-z]{2,}", p)]
        if any(re.search(rf"(?<![\w-]){re.escape(p)}(?![\w-])", text) for p in parts):
            found.append(msgid)
    return found


NAMES = {
    "API", "CAP", "Atom", "Markdown", "Ctrl", "Enter", "GMT", "UTC", "JPEG", "PNG", "WebP", "MB", "Webhook",
    "HMAC", "SHA", "POST", "ZZIC", "http", "https", "Standard", "Webhooks",
}  # fmt: skip
"""Latin words a Chinese console keeps: names of formats, protocols and keys, the test store's
first operator (the language switch, each language in its own name, is not read)."""


def latin_words(text: str, codes: list[str]) -> list[str]:
    """Words in Latin letters outside :data:`NAMES`, identifiers (in ``<code>``, URLs, paths,
    ``{area}``, ``water-main``, ``ZZ-7K4M-Q2PD``) and the ``template`` field the API takes."""
    for code in codes:
        text = text.replace(code, " ")
    text = re.sub(r"\S+://\S+|/[\w/{}.-]+|\{\w+\}", " ", text)
    words = set(re.findall(r"(?<![\w.-])[A-Za-z]+(?![\w.-])", text))  # not part of an identifier
    return sorted(words - NAMES - {"template"})


async def visible_text(page: Page) -> str:
    """What an operator reads: the page with every fold open (but the language switch), the
    options of every list, placeholders, accessible names and titles."""
    return str(
        await page.evaluate(
            """() => {
              document.querySelectorAll('details').forEach(d => { d.open = true; });
              const langs = document.querySelector('nav.langs');  // each language in its own name
              if (langs) langs.style.display = 'none';
              const parts = [document.title, document.body.innerText];
              if (langs) langs.style.display = '';
              document.querySelectorAll('option').forEach(o => parts.push(o.textContent));
              document.querySelectorAll('[placeholder],[aria-label],[title]').forEach(e => parts.push(
                e.getAttribute('placeholder') || '', e.getAttribute('aria-label') || '',
                e.getAttribute('title') || ''));
              return parts.join('\\n');
            }"""
        )
    )


async def check_page(page: Page, where: str, seen: dict[str, list[str]]) -> str:
    text = await visible_text(page)
    english = english_in(text)
    codes = await page.locator("code").all_inner_texts()
    # What operators typed is theirs, not the interface's: incident titles (other tests on this
    # shared server open incidents in English).
    codes += await page.locator("a[href^='/console/incidents/']:not([href*='/new'])").all_inner_texts()
    english += latin_words(text, codes)
    if english:
        seen[where] = english
    found = serious(await axe(page))
    assert not found, f"{where}: {describe(found)}"
    return text


async def refuse(page: Page, form: str, fill: dict[str, str], where: str, seen: dict[str, list[str]]) -> str:
    """Fill ``form`` (a selector) past the browser's own checks, submit it; the page shows the problem."""
    await page.locator(form).evaluate("f => { f.noValidate = true; }")
    for selector, value in fill.items():
        field = page.locator(f"{form} {selector}")
        if await field.evaluate("e => e.tagName") == "SELECT":
            await field.select_option(value)
        else:
            await field.evaluate("(e, v) => { e.removeAttribute('maxlength'); e.value = v; }", value)
    async with page.expect_navigation():
        await page.locator(form).evaluate("f => f.requestSubmit()")
    problem = page.locator("main p.error[role=alert]").first
    await expect(problem).to_be_visible()
    return await check_page(page, where, seen) + "\n" + (await problem.inner_text())


async def stage(api: Api, base: str, admin_token: str) -> tuple[str, str, str]:
    """An incident with everything the workspace shows; a citizen's report; a webhook."""
    title = f"文化路供水管道爆裂 {uuid.uuid4().hex[:4]}"
    incident = await api.create(
        title, area="文化路", category="Infra", severity="moderate", urgency="immediate"
    )
    soon = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    posted = await api.post(incident, "供水企业工作人员已赶赴现场。", next_update_at=soon)
    assert posted.status_code == 201, posted.text
    await api.post(incident, "抢修进行中，请市民储水。")
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    scheduled = await api.http.post(
        f"/api/incidents/{incident}/updates", json={"body": "预计 22 时恢复供水。", "publish_at": later}
    )
    assert scheduled.status_code == 202, scheduled.text
    draft = await api.http.post(f"/api/incidents/{incident}/drafts", json={"body": "草稿：送水点调整。"})
    assert draft.status_code == 201, draft.text
    facts = await api.http.put(
        f"/api/incidents/{incident}/facts", json={"facts": [{"label": "送水点", "value": "农业路口"}]}
    )
    assert facts.status_code == 200, facts.text
    async with httpx.AsyncClient(base_url=base) as public:
        asked = await public.post(
            f"/api/incidents/{incident}/questions",
            json={"text": "花园路什么时候恢复供水？"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert asked.status_code == 201, asked.text
        report = await public.post(
            "/api/reports",
            json={"title": "路灯不亮", "body": "农业路东段路灯已坏三天。", "location": "农业路东段"},
            headers={"Idempotency-Key": uuid.uuid4().hex},
        )
        assert report.status_code == 201, report.text
    hooks = httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {admin_token}"})
    async with hooks:
        hook = await hooks.post("/api/webhooks", json={"url": "http://127.0.0.1:9/hooks", "events": ["*"]})
        assert hook.status_code == 201, hook.text
    return incident, report.json()["code"], hook.json()["webhook"]["id"]


async def test_the_zh_cn_console_has_no_english_left(
    new_page: NewPage, sqlite_server: ServerProcess, sqlite_url: str, sqlite_token: str, api: Api
) -> None:
    incident, report, hook = await stage(api, sqlite_server.url, sqlite_token)
    name = f"值班-{uuid.uuid4().hex[:6]}"
    _, link = add_operator_with_link(sqlite_url, name, True, sqlite_server.url)
    tab = await new_page(viewport=PHONE, lang="zh-CN")
    page = tab.page
    seen: dict[str, list[str]] = {}

    await page.goto(link)  # the setup page, then a refusal on it
    await check_page(page, "setup", seen)
    await page.fill("#password", PASSWORD)
    await page.fill("#repeat", PASSWORD + "x")
    await page.click("button[type=submit]")
    await expect(page.locator("p.error")).to_have_text("两次输入的密码不一致。")
    await check_page(page, "setup refused", seen)
    await log_in_with_link(page, link)

    pages = [
        "/console", "/console/incidents/new", "/console/incidents/new?template=water-main",
        f"/console/incidents/{incident}", "/console/reports", f"/console/reports/{report}",
        f"/console/reports/{report}/incident", "/console/tokens", "/console/admin/operators",
        "/console/admin/audit", "/console/admin/webhooks", f"/console/admin/webhooks/{hook}",
        "/console/admin/templates", "/console/admin/templates/new", "/console/admin/templates/water-main",
    ]  # fmt: skip
    for path in pages:
        response = await page.goto(path)
        assert response is not None and response.status == 200, path
        text = await check_page(page, path, seen)
        assert "时间：" in text, f"{path}: the zone is not named"
    await page.goto(f"/console/incidents/{incident}")
    workspace = await visible_text(page)
    for word in ("基础设施", "中等", "立即", "已发生"):
        assert word in workspace, word
    await screenshot(page, "i18n-workspace-phone-zh")
    await screenshot(page, "i18n-workspace-phone-zh-top", full_page=False)

    ws = f"/console/incidents/{incident}"
    details = f"form[action='{ws}/details']"
    problems = [
        (ws, f"form[action='{ws}/updates']", {"#body": "   "}, "更新内容：此项必填"),
        (ws, f"form[action='{ws}/updates']", {"#body": "稍后", "#publish_at": "2001-01-01T08:00"},
         "定时发布时间必须是将来的时间"),
        (ws, details, {"#area_shape": "文化路附近"}, "地图上的区域：无法识别"),
        (ws, details, {"#area_shape": "95,113 1"}, "纬度须在 -90 至 90 之间"),
        (ws, details, {"#expected_restoration": "2001-01-01T08:00"}, "预计恢复时间：必须是将来的时间"),
        (ws, details, {}, "没有改动"),
        (ws, f"form[action='{ws}/facts']", {"[name=label] >> nth=1": "", "[name=value] >> nth=1": "只有内容"},
         "每条关键信息都需要名称"),
        ("/console/incidents/new", "main form.stack", {"#title": " ", "#summary": "x"}, "标题：此项必填"),
        ("/console/admin/templates/new", "main form", {"[name=id]": "Bad Id"}, "1 至 40 个小写字母"),
        ("/console/admin/webhooks", "main form.stack", {"[name=url]": "ftp://example.org/x"},
         "须以 http:// 或 https:// 开头"),
        ("/console/admin/operators", "main form.stack", {"[name=name]": name}, "已有名为"),
    ]  # fmt: skip
    for path, form, fill, expected in problems:
        await page.goto(path)
        shown = await refuse(page, form, fill, f"{path} refusing {fill}", seen)
        assert expected in shown, f"{path} {fill}: {shown[-300:]}"
    await screenshot(page, "i18n-refused-phone-zh", full_page=False)
    assert not tab.page_errors  # the refusals' 4xx answers are the console errors expected

    out = await new_page(viewport=PHONE, lang="zh-CN")  # the login page, signed out
    await out.page.goto("/console/login")
    await out.page.fill("#name", name)
    await out.page.fill("#password", "wrong password")
    await out.page.click("button[type=submit]")
    await expect(out.page.locator("p.error")).to_have_count(1)
    await check_page(out.page, "login refused", seen)
    assert not out.page_errors
    assert not seen, "English in the zh-CN console:\n" + "\n".join(f"{k}: {v}" for k, v in seen.items())


async def test_the_english_console_shows_cap_values_in_english(
    new_page: NewPage, sqlite_server: ServerProcess, sqlite_url: str, api: Api
) -> None:
    incident = await api.create(
        "Water main burst on Wenhua Road", category="Infra", severity="moderate", urgency="immediate"
    )
    _, link = add_operator_with_link(sqlite_url, f"desk-{uuid.uuid4().hex[:6]}", False, sqlite_server.url)
    tab = await new_page(viewport=DESKTOP, lang="en")
    page = tab.page
    await log_in_with_link(page, link)
    await page.goto(f"/console/incidents/{incident}")
    await page.locator("#fold-details > summary").click()  # the alert fields are folded
    chosen = {
        "#d-severity": "Moderate", "#d-category": "Infrastructure",
        "#urgency": "Immediate", "#certainty": "Observed",
    }  # fmt: skip
    for select, label in chosen.items():
        assert await page.locator(f"{select} option:checked").inner_text() == label
    assert await page.locator("#d-category option[value=CBRNE]").inner_text() == (
        "Chemical, biological, radiological, nuclear or explosive"
    )
    text = await visible_text(page)
    assert not re.search(r"[\u4e00-\u9fff]", text.replace("中文", "")), "Chinese in the English console"
    assert "Times: " in text
    found = serious(await axe(page))
    assert not found, describe(found)
    await page.locator(f"form[action='/console/incidents/{incident}/details'] #area_shape").fill(
        "near the bridge"
    )
    await page.get_by_role("button", name="Save the details").click()
    await expect(page.locator("main p.error")).to_contain_text(
        "Area on the map: cannot read 'near the bridge'"
    )
    assert not tab.page_errors
