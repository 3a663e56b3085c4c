"""Templates in the console, over HTTP on a real server: the administrators' pages (CSRF,
roles, problems shown with the input kept, every change audited) and a new incident from a
template with its first notice and promise in one submit."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import httpx
import lxml.html
import pytest

from broadcaster.playbooks import shipped
from tests.support.client import Api
from tests.support.console import Browser
from tests.support.server import ServerProcess, add_operator_with_link


@pytest.fixture
async def people(
    sqlite_server: ServerProcess, sqlite_url: str
) -> AsyncIterator[tuple[Browser, Browser, Api]]:
    """An administrator and an operator, signed in, and the administrator's API client."""
    tag = uuid.uuid4().hex[:6]
    admin_token, admin_link = add_operator_with_link(sqlite_url, f"tpl-admin-{tag}", True, sqlite_server.url)
    _, operator_link = add_operator_with_link(sqlite_url, f"tpl-desk-{tag}", False, sqlite_server.url)
    admin, operator = Browser(sqlite_server.url), Browser(sqlite_server.url)
    assert (await admin.setup(admin_link)).status_code == 303
    assert (await operator.setup(operator_link)).status_code == 303
    api = Api(sqlite_server.url, admin_token)
    yield admin, operator, api
    await admin.aclose()
    await operator.aclose()
    await api.aclose()


def form_of(html: str, action: str) -> list[tuple[str, str]]:
    """What a browser would send from the page's form with this action, as the page fills it."""
    page = lxml.html.fromstring(html)
    found = [f for f in page.forms if f.get("action") == action]
    assert found, f"no form posting to {action}"
    return [(name, str(value)) for name, value in found[0].form_values()]


async def post_pairs(browser: Browser, path: str, pairs: list[tuple[str, Any]]) -> httpx.Response:
    """A form with repeated names (the key facts' rows), as a browser sends it."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    return await browser.http.post(path, content=urlencode(pairs), headers=headers)


def template_form(tid: str, zh_name: str, **changes: str) -> dict[str, str]:
    raw = shipped()["road-closure"].to_json()
    fields = {"id": tid, "category": "Transport", "severity": "minor", "urgency": "expected",
              "certainty": "likely", "next_update_minutes": "45"}  # fmt: skip
    for lang, words in raw["texts"].items():
        for name, value in words.items():
            fields[f"{lang}.{name}"] = "\n".join(value) if name == "facts" else value
    fields["zh-CN.name"] = zh_name
    return {**fields, **changes}


async def audit_actions(api: Api, target: str) -> list[str]:
    entries = (await api.http.get("/api/audit", params={"limit": 500})).json()["entries"]
    return [
        e["action"]
        for e in reversed(entries)
        if e["target"] == target and e["action"].startswith("template.")
    ]


async def test_administrators_create_edit_delete_templates_audited(
    people: tuple[Browser, Browser, Api],
) -> None:
    admin, _, api = people
    tid = f"marathon-{uuid.uuid4().hex[:6]}"
    made = await admin.form("/console/admin/templates/new", "/console/admin/templates",
                            **template_form(tid, "马拉松交通管制"))  # fmt: skip
    assert made.status_code == 303, made.text
    listed = await admin.http.get("/console/admin/templates")
    assert "马拉松交通管制" in listed.text and f'id="t-{tid}"' in listed.text
    assert (await api.http.get(f"/api/templates/{tid}")).json()["template"]["next_update_minutes"] == 45

    edit_page = await admin.http.get(f"/console/admin/templates/{tid}")
    sent = dict(form_of(edit_page.text, f"/console/admin/templates/{tid}"))
    assert sent["zh-CN.name"] == "马拉松交通管制" and sent["severity"] == "minor"
    sent.update(
        {"zh-CN.name": "马拉松赛事交通管制", "zh-CN.facts": "管制路段\n管制时间", "severity": "moderate"}
    )
    saved = await admin.http.post(f"/console/admin/templates/{tid}", data=sent)
    assert saved.status_code == 303, saved.text
    got = (await api.http.get(f"/api/templates/{tid}")).json()["template"]
    assert got["texts"]["zh-CN"]["name"] == "马拉松赛事交通管制"
    assert got["texts"]["zh-CN"]["facts"] == ["管制路段", "管制时间"] and got["severity"] == "moderate"

    gone = await admin.form("/console/admin/templates", f"/console/admin/templates/{tid}/delete")
    assert gone.status_code == 303
    assert (await api.http.get(f"/api/templates/{tid}")).status_code == 404
    assert await audit_actions(api, tid) == ["template.created", "template.edited", "template.deleted"]
    log = await admin.http.get("/console/admin/audit", params={"action": "template.edited"})
    assert tid in log.text


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"id": "Not An Id"}, "编号：1 至 40 个小写字母"),
        ({"id": "water-main"}, "编号：已有编号为"),
        ({"en.title": ""}, "英文文本 · 标题：此项必填"),
        ({"zh-CN.title": "{地点}封路"}, "唯一可用的占位符是 {area}"),
        ({"next_update_minutes": "0"}, "1 至 1440 之间的整数分钟"),
        ({"severity": "apocalyptic"}, "严重程度：不在可选范围内"),
    ],
)
async def test_a_bad_template_form_is_shown_again_with_the_input(
    people: tuple[Browser, Browser, Api], changes: dict[str, str], problem: str
) -> None:
    admin, _, api = people
    before = (await api.http.get("/api/templates")).json()
    fields = template_form(f"bad-{uuid.uuid4().hex[:6]}", "保留的名称", **changes)
    answer = await admin.form("/console/admin/templates/new", "/console/admin/templates", **fields)
    assert answer.status_code == 422
    assert 'role="alert"' in answer.text and problem in answer.text
    assert "保留的名称" in answer.text  # nothing typed is lost
    assert (await api.http.get("/api/templates")).json() == before


async def test_templates_pages_are_for_administrators_with_csrf(people: tuple[Browser, Browser, Api]) -> None:
    admin, operator, _ = people
    for path in (
        "/console/admin/templates",
        "/console/admin/templates/new",
        "/console/admin/templates/water-main",
    ):
        assert (await operator.http.get(path)).status_code == 403
    base = "/console/admin/templates"
    for action in (base, f"{base}/water-main", f"{base}/water-main/delete", f"{base}/water-main/restore"):
        refused = await operator.form("/console", action)
        assert refused.status_code == 403, action
    forged = await admin.http.post("/console/admin/templates/water-main/delete", data={"csrf": "forged"})
    assert forged.status_code == 403
    assert (await admin.http.get("/console/admin/templates/water-main")).status_code == 200  # still there
    unknown = await admin.http.get("/console/admin/templates/no-such-one")
    assert unknown.status_code == 404 and "no-such-one" in unknown.text


async def test_a_shipped_template_deleted_or_edited_is_restored(people: tuple[Browser, Browser, Api]) -> None:
    admin, _, api = people
    page = await admin.http.get("/console/admin/templates/road-closure")
    sent = dict(form_of(page.text, "/console/admin/templates/road-closure"))
    assert (
        await admin.http.post("/console/admin/templates/road-closure", data={**sent, "severity": "extreme"})
    ).status_code == 303
    listed = await admin.http.get("/console/admin/templates")
    assert "/console/admin/templates/road-closure/restore" in listed.text
    assert (
        await admin.form("/console/admin/templates", "/console/admin/templates/road-closure/restore")
    ).status_code == 303
    restored = (await api.http.get("/api/templates/road-closure")).json()["template"]
    assert restored == {**shipped()["road-closure"].to_json(), "shipped": True}
    assert (
        await admin.form("/console/admin/templates", "/console/admin/templates/road-closure/delete")
    ).status_code == 303
    assert (await api.http.get("/api/templates/road-closure")).status_code == 404
    new_page = await admin.http.get("/console/incidents/new")
    assert "template=road-closure" not in new_page.text
    assert (
        await admin.form("/console/admin/templates", "/console/admin/templates/road-closure/restore")
    ).status_code == 303
    assert (await api.http.get("/api/templates/road-closure")).status_code == 200
    assert (await audit_actions(api, "road-closure"))[-4:] == [
        "template.edited",
        "template.restored",
        "template.deleted",
        "template.restored",
    ]


async def test_new_incident_from_a_template_with_its_first_notice_in_one_submit(
    people: tuple[Browser, Browser, Api],
) -> None:
    _, operator, api = people
    water = shipped()["water-main"]
    dashboard = await operator.http.get("/console")
    assert 'href="/console/incidents/new?template=water-main"' in dashboard.text
    page = await operator.http.get("/console/incidents/new", params={"template": "water-main"})
    assert page.status_code == 200
    sent = form_of(page.text, "/console/incidents")
    values = dict(sent)
    assert values["template"] == "water-main" and values["promise"] == "30"
    assert values["instruction"] == water.words("zh-CN").instruction
    assert values["first_notice"] == water.words("zh-CN").first_notice
    assert [v for k, v in sent if k == "label"] == list(water.words("zh-CN").facts)
    assert (values["category"], values["severity"], values["urgency"]) == ("Infra", "moderate", "immediate")
    # The operator adds the area and one fact, and opens it: one submit.
    sent = [(k, "文化路（花园路—东风路段）" if k == "area" else v) for k, v in sent]
    labels = [v for k, v in sent if k == "label"]
    value_index = [i for i, (k, _) in enumerate(sent) if k == "value"][labels.index("送水点")]
    sent[value_index] = ("value", "文化路与农业路交叉口东北角")
    opened = await post_pairs(operator, "/console/incidents", sent)
    again = await post_pairs(operator, "/console/incidents", sent)  # a double submit
    assert opened.status_code == again.status_code == 303, opened.text
    assert opened.headers["location"] == again.headers["location"]
    incident_id = opened.headers["location"].split("/")[3].split("?")[0]
    snapshot = (await api.http.get(f"/api/incidents/{incident_id}")).json()
    incident = snapshot["incident"]
    assert incident["title"] == "文化路（花园路—东风路段）供水管道爆裂 滚动播报"
    assert incident["category"] == "Infra" and incident["instruction"] == water.words("zh-CN").instruction
    facts = {f["label"]: f["value"] for f in snapshot["facts"]}
    assert list(facts) == list(water.words("zh-CN").facts) and facts["送水点"] == "文化路与农业路交叉口东北角"
    assert [u["body"] for u in snapshot["updates"]] == [water.words("zh-CN").first_notice]
    promised = datetime.fromisoformat(incident["next_update_at"].replace("Z", "+00:00"))
    assert timedelta(minutes=28) < promised - datetime.now(UTC) <= timedelta(minutes=30)
    events = [e["type"] for e in await api.events(incident_id)]
    assert events == ["incident.opened", "facts.changed", "update.posted"]  # once each
    workspace = await operator.http.get(opened.headers["location"])
    assert "供水管道爆裂" in workspace.text and "文化路与农业路交叉口东北角" in workspace.text


async def test_english_texts_and_what_the_operator_changed_win(people: tuple[Browser, Browser, Api]) -> None:
    _, operator, api = people
    page = await operator.http.get("/console/incidents/new", params={"template": "gas-leak", "in": "en"})
    sent: list[tuple[str, Any]] = form_of(page.text, "/console/incidents")
    values = dict(sent)
    assert values["lang"] == "en" and values["first_notice"].startswith("**Gas leak")
    sent = [(k, v) for k, v in sent if k not in {"first_notice", "promise", "title", "severity"}]
    sent += [("title", "Gas smell reported on Jinshui Road"), ("severity", "extreme"), ("promise", "")]
    opened = await post_pairs(operator, "/console/incidents", sent)
    assert opened.status_code == 303, opened.text
    snapshot = (
        await api.http.get(opened.headers["location"].split("?")[0].replace("/console", "/api"))
    ).json()
    assert snapshot["incident"]["title"] == "Gas smell reported on Jinshui Road"
    assert snapshot["incident"]["severity"] == "extreme" and snapshot["incident"]["lang"] == "en"
    assert snapshot["updates"] == [] and snapshot["incident"]["next_update_at"] is None
    assert snapshot["facts"][0] == {"label": "Leak location", "value": ""}


async def test_template_problems_on_the_new_incident_form(
    people: tuple[Browser, Browser, Api], sqlite_server: ServerProcess
) -> None:
    _, operator, api = people
    before = (await api.http.get("/api/incidents")).json()
    unknown = await operator.http.get("/console/incidents/new", params={"template": "no-such"})
    assert unknown.status_code == 404 and "no-such" in unknown.text and 'role="alert"' in unknown.text
    page = await operator.http.get("/console/incidents/new", params={"template": "power-outage"})
    sent = dict(form_of(page.text, "/console/incidents"))
    bad = await operator.http.post("/console/incidents", data={**sent, "template": "no-such"})
    assert bad.status_code == 422 and "no-such" in bad.text
    unpromised = await operator.http.post(
        "/console/incidents", data={**sent, "first_notice": "", "promise": "30"}
    )
    assert unpromised.status_code == 422 and "请填写首条通报" in unpromised.text
    blank = await operator.http.post("/console/incidents", data={**sent, "template": "", "title": ""})
    assert blank.status_code == 422 and "title" in blank.text
    assert "停电范围" in blank.text  # the key facts typed are kept
    assert (await api.http.get("/api/incidents")).json() == before
    async with httpx.AsyncClient(base_url=sqlite_server.url) as anonymous:
        assert (await anonymous.get("/console/incidents/new?template=water-main")).status_code == 303
