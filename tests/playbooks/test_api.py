"""Incident templates over the API, on a real server: GET /api/templates, and POST
/api/incidents with ``template`` (fills what the request leaves out, in its language)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from broadcaster.playbooks import shipped
from tests.support.client import Api
from tests.support.server import ServerProcess

SHIPPED_IDS = ["water-main", "power-outage", "road-closure", "gas-leak"]


async def snapshot(api: Api, incident_id: str) -> dict[str, Any]:
    answer = await api.http.get(f"/api/incidents/{incident_id}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def test_templates_are_listed_for_operators_only(api: Api, sqlite_server: ServerProcess) -> None:
    answer = await api.http.get("/api/templates")
    assert answer.status_code == 200, answer.text
    listed = {t["id"]: t for t in answer.json()["templates"]}
    assert set(SHIPPED_IDS) <= set(listed)
    water = listed["water-main"]
    assert water["shipped"] is True
    assert water["texts"]["zh-CN"]["name"] == "供水管道爆裂"
    assert water["texts"]["en"]["facts"][:3] == ["Location", "Traffic", "Water off in"]
    one = await api.http.get("/api/templates/gas-leak")
    assert one.status_code == 200 and one.json()["template"]["category"] == "Safety"
    assert (await api.http.get("/api/templates/no-such")).status_code == 404
    async with httpx.AsyncClient(base_url=sqlite_server.url) as anonymous:
        assert (await anonymous.get("/api/templates")).status_code == 401


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
@pytest.mark.parametrize("template_id", SHIPPED_IDS)
async def test_each_shipped_template_fills_an_incident(api: Api, template_id: str, lang: str) -> None:
    template = shipped()[template_id]
    words = template.words(lang)
    area = "文化路（花园路—东风路段）" if lang == "zh-CN" else "Wenhua Road"
    answer = await api.http.post("/api/incidents", json={"template": template_id, "area": area, "lang": lang})
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert made["title"] == words.title.replace("{area}", area)
    assert made["area"] == area and made["lang"] == lang
    for name in ("category", "severity", "urgency", "certainty"):
        assert made[name] == getattr(template, name), name
    assert made["instruction"] == words.instruction
    facts = (await snapshot(api, made["id"]))["facts"]
    assert facts == [{"label": label, "value": ""} for label in words.facts]


async def test_the_request_wins_over_the_template(api: Api) -> None:
    sent = {
        "template": "water-main", "title": "文化路自来水爆管", "severity": "severe", "category": "Env",
        "urgency": "expected", "certainty": "likely", "instruction": "请绕行。", "summary": "网民报告",
    }  # fmt: skip
    answer = await api.http.post("/api/incidents", json=sent)
    assert answer.status_code == 201, answer.text
    made = answer.json()
    assert {k: made[k] for k in sent if k != "template"} == {k: v for k, v in sent.items() if k != "template"}
    # What the request left out still comes from the template: its key facts, here.
    facts = (await snapshot(api, made["id"]))["facts"]
    assert [f["label"] for f in facts] == list(shipped()["water-main"].words("zh-CN").facts)


async def test_an_empty_instruction_sent_is_kept(api: Api) -> None:
    answer = await api.http.post("/api/incidents", json={"template": "road-closure", "instruction": ""})
    assert answer.status_code == 201, answer.text
    assert answer.json()["instruction"] == ""
    assert answer.json()["title"] == "道路封闭 滚动播报"  # no area: the pattern without it


async def test_a_retry_with_its_key_opens_one_incident_with_one_facts_event(api: Api) -> None:
    key = {"Idempotency-Key": f"tpl-{uuid.uuid4().hex}"}
    body = {"template": "power-outage", "area": "金水区"}
    first = await api.http.post("/api/incidents", json=body, headers=key)
    again = await api.http.post("/api/incidents", json=body, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert first.json()["id"] == again.json()["id"]
    types = [e["type"] for e in await api.events(first.json()["id"])]
    assert types == ["incident.opened", "facts.changed"]


@pytest.mark.parametrize(
    "body", [{"template": "no-such-template"}, {"template": "Water Main"}, {"template": ""}, {"template": 7}]
)
async def test_an_unknown_template_is_422_naming_the_field(api: Api, body: dict[str, Any]) -> None:
    before = (await api.http.get("/api/incidents")).json()["incidents"]
    answer = await api.http.post("/api/incidents", json={**body, "area": "文化路"})
    assert answer.status_code == 422, answer.text
    assert "template" in str(answer.json()["detail"])
    assert (await api.http.get("/api/incidents")).json()["incidents"] == before


async def test_without_a_template_the_title_is_still_required(api: Api) -> None:
    answer = await api.http.post("/api/incidents", json={"area": "文化路"})
    assert answer.status_code == 422
    assert "title" in str(answer.json()["detail"])


async def test_facts_not_filled_in_are_not_shown_to_the_public(
    api: Api, sqlite_server: ServerProcess
) -> None:
    made = (await api.http.post("/api/incidents", json={"template": "water-main", "area": "文化路"})).json()
    labels = shipped()["water-main"].words("zh-CN").facts
    public = f"/incidents/{made['id']}"
    first = await api.http.post(f"/api/incidents/{made['id']}/updates", json={"body": "抢修人员已到场。"})
    assert first.status_code == 201, first.text  # CAP has a message from the first update on
    async with httpx.AsyncClient(base_url=sqlite_server.url) as citizen:
        page = (await citizen.get(public)).text
        assert 'id="facts" class="facts" aria-labelledby="facts-h" hidden' in page
        assert not any(f"<dt>{label}</dt>" in page for label in labels)
        atom, feed = (
            (await citizen.get(f"{public}/feed.atom")).text,
            (await citizen.get(f"{public}/feed.json")).json(),
        )
        cap = (await citizen.get(f"{public}/cap.xml")).text
        assert "抢修人员已到场" in cap and "抢修人员已到场" in atom
        assert not any(f"{label}:" in text for label in labels for text in (atom, cap))
        assert feed["_incidents"]["facts"] == []
        filled = [{"label": label, "value": "文化路两侧" if n == 0 else ""} for n, label in enumerate(labels)]
        assert (
            await api.http.put(f"/api/incidents/{made['id']}/facts", json={"facts": filled})
        ).status_code == 200
        page = (await citizen.get(public)).text
        assert f"<dt>{labels[0]}</dt><dd>文化路两侧</dd>" in page
        assert not any(f"<dt>{label}</dt>" in page for label in labels[1:])
        assert f"{labels[0]}: 文化路两侧" in (await citizen.get(f"{public}/cap.xml")).text
