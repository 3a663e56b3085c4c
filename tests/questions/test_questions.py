"""Readers' questions against a real server process: asking (public), the operators' list,
public and private answers, merging, hiding, corrections of an answer, access and abuse limits,
and what stays out of public view (unanswered questions, contacts).

The module's server allows many questions per address (the tests ask dozens from 127.0.0.1);
the rate limit has a server of its own with a limit of two.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.support.console import Browser, csrf_of, nonce_of
from tests.support.server import ServerProcess, add_operator_with_link, scaled

CONTACT = "13800138000 王先生"


class Desk:
    """An operator's token and console session, and a citizen, on the module's server."""

    def __init__(self, server: ServerProcess, token: str, console: Browser) -> None:
        self.ops = httpx.AsyncClient(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=scaled(20)
        )
        self.citizen = httpx.AsyncClient(base_url=server.url, timeout=scaled(20), follow_redirects=False)
        self.console = console

    async def incident(self, **fields: Any) -> str:
        answer = await self.ops.post(
            "/api/incidents", json={"title": f"文化路爆管 {uuid.uuid4().hex[:4]}", **fields}
        )
        assert answer.status_code == 201, answer.text
        return str(answer.json()["id"])

    async def ask(self, incident: str, text: str = "文化路什么时候来水？", **fields: Any) -> dict[str, Any]:
        answer = await self.citizen.post(
            f"/api/incidents/{incident}/questions", json={"text": text, **fields}
        )
        assert answer.status_code == 201, answer.text
        found: dict[str, Any] = answer.json()
        return found

    async def do(
        self, incident: str, qid: str, command: str, expect: int = 200, **body: Any
    ) -> dict[str, Any]:
        answer = await self.ops.post(
            f"/api/incidents/{incident}/questions/{qid}/{command}", json=body or None
        )
        assert answer.status_code == expect, (command, answer.status_code, answer.text)
        found: dict[str, Any] = answer.json()
        return found

    async def listed(self, incident: str) -> dict[str, Any]:
        answer = await self.ops.get(f"/api/incidents/{incident}/questions")
        assert answer.status_code == 200, answer.text
        found: dict[str, Any] = answer.json()
        return found

    async def events(self, incident: str) -> list[dict[str, Any]]:
        answer = await self.ops.get(f"/api/incidents/{incident}/events")
        events: list[dict[str, Any]] = answer.json()["events"]
        return events

    async def aclose(self) -> None:
        await self.ops.aclose()
        await self.citizen.aclose()
        await self.console.aclose()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('questions') / 'incidents.db'}"


@pytest.fixture(scope="module")
def server(store: str) -> Iterator[ServerProcess]:
    with ServerProcess(store, env={"INCIDENTS_REPORT_LIMIT": "100000"}) as found:
        yield found
    assert "Traceback" not in found.log(), found.log()[-5000:]


@pytest.fixture
async def desk(server: ServerProcess, store: str) -> AsyncIterator[Desk]:
    token, link = add_operator_with_link(store, f"desk-{uuid.uuid4().hex[:6]}", True, server.url)
    console = Browser(server.url)
    assert (await console.setup(link)).status_code == 303
    found = Desk(server, token, console)
    yield found
    await found.aclose()


# --- asking ---------------------------------------------------------------------------------------


async def test_a_question_is_filed_and_stays_private_until_answered(desk: Desk) -> None:
    incident = await desk.incident()
    asked = await desk.ask(incident, "停水到几点？", contact=CONTACT)
    assert asked["status_url"].endswith(f"/questions/{asked['id']}")
    page = await desk.citizen.get(f"/questions/{asked['id']}", params={"lang": "zh-CN"})
    assert page.status_code == 200 and "停水到几点？" in page.text and "等待答复" in page.text
    assert CONTACT not in page.text
    # Not public anywhere yet: the incident's log, snapshot, page and feeds know nothing of it.
    assert await desk.events(incident) == (await desk.events(incident))[:1]
    for path in ("", "/embed", "/feed.atom", "/feed.json"):
        shown = await desk.citizen.get(f"/incidents/{incident}{path}")
        assert "停水到几点" not in shown.text, path
    listed = await desk.listed(incident)
    assert listed["waiting"] == 1 and listed["oldest_waiting_at"]
    (entry,) = listed["questions"]
    assert entry["status"] == "waiting" and entry["contact"] is True and entry["age_seconds"] >= 0
    assert CONTACT not in str(listed)  # the API says a contact was left, not what it is


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"text": ""}, 422),
        ({"text": "   "}, 422),
        ({"text": "问" * 1001}, 422),
        ({"text": "ok", "name": "王先生"}, 422),
        ({"text": "ok", "contact": "x" * 201}, 422),
        ({"text": "bad\x00"}, 422),
        ({}, 422),
    ],
)
async def test_bad_questions_are_refused(desk: Desk, body: dict[str, Any], status: int) -> None:
    incident = await desk.incident()
    answer = await desk.citizen.post(f"/api/incidents/{incident}/questions", json=body)
    assert answer.status_code == status, answer.text
    assert "detail" in answer.json()
    assert (await desk.listed(incident))["questions"] == []


async def test_unknown_and_resolved_incidents(desk: Desk) -> None:
    missing = await desk.citizen.post("/api/incidents/nosuchincident/questions", json={"text": "在吗？"})
    assert missing.status_code == 404
    incident = await desk.incident()
    assert (await desk.ops.post(f"/api/incidents/{incident}/resolve", json={})).status_code == 200
    closed = await desk.citizen.post(f"/api/incidents/{incident}/questions", json={"text": "还停水吗？"})
    assert closed.status_code == 409 and "resolved" in closed.json()["detail"]
    page = await desk.citizen.get(f"/incidents/{incident}", params={"lang": "en"})
    assert "Questions are closed" in page.text and 'id="ask-text"' not in page.text
    form = await desk.citizen.post(f"/incidents/{incident}/questions?lang=en", data={"text": "还停水吗？"})
    assert form.status_code == 409 and "closed" in form.text


async def test_a_repeated_idempotency_key_files_once(desk: Desk) -> None:
    incident = await desk.incident()
    url, key = f"/api/incidents/{incident}/questions", {"Idempotency-Key": uuid.uuid4().hex}
    first = await desk.citizen.post(url, json={"text": "哪里有送水车？"}, headers=key)
    again = await desk.citizen.post(url, json={"text": "哪里有送水车？"}, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["idempotent-replayed"] == "true"
    other = await desk.citizen.post(url, json={"text": "另一个问题"}, headers=key)
    assert other.status_code == 422
    assert len((await desk.listed(incident))["questions"]) == 1


async def test_operator_routes_need_a_token(desk: Desk, server: ServerProcess) -> None:
    incident = await desk.incident()
    qid = (await desk.ask(incident))["id"]
    async with httpx.AsyncClient(base_url=server.url) as stranger:
        for headers in ({}, {"Authorization": "Bearer 0000.0000.forged"}):
            assert (
                await stranger.get(f"/api/incidents/{incident}/questions", headers=headers)
            ).status_code == 401
            for command, body in (
                ("answer", {"text": "x", "public": True}),
                ("merge", {"into": qid}),
                ("hide", {}),
            ):
                answer = await stranger.post(
                    f"/api/incidents/{incident}/questions/{qid}/{command}", json=body, headers=headers
                )
                assert answer.status_code == 401, (command, answer.text)
    # The console refuses a form without the session's CSRF token (403) and strangers (to the login).
    csrf_less = await desk.console.http.post(
        f"/console/incidents/{incident}/questions/{qid}/hide", data={"nonce": "x"}
    )
    assert csrf_less.status_code == 403
    async with httpx.AsyncClient(base_url=server.url, follow_redirects=False) as stranger:
        anonymous = await stranger.post(f"/console/incidents/{incident}/questions/{qid}/hide", data={})
        assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/console/login")
    assert (await desk.listed(incident))["questions"][0]["status"] == "waiting"


# --- answering --------------------------------------------------------------------------------------


async def test_a_public_answer_is_an_event_of_the_incident_and_corrected_like_an_update(desk: Desk) -> None:
    incident = await desk.incident()
    promise = (datetime.now(UTC) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    posted = await desk.ops.post(
        f"/api/incidents/{incident}/updates", json={"body": "正在抢修。", "next_update_at": promise}
    )
    assert posted.status_code == 201
    qid = (await desk.ask(incident, "花园路<b>也</b>停水吗？", contact=CONTACT))["id"]
    answered = await desk.do(incident, qid, "answer", text="是的，**花园路**东段也停水。", public=True)
    assert answered["question"]["status"] == "answered_public"
    update_id = answered["question"]["answer"]["update"]

    events = await desk.events(incident)
    last = events[-1]
    assert last["type"] == "question.answered"
    assert last["data"]["question"] == "花园路<b>也</b>停水吗？" and last["data"]["question_id"] == qid
    assert last["data"]["id"] == update_id and "<strong>花园路</strong>" in last["data"]["html"]
    assert CONTACT not in str(events) and "王先生" not in str(events)

    snapshot = (await desk.ops.get(f"/api/incidents/{incident}")).json()
    assert snapshot["updates"][0]["question"] == "花园路<b>也</b>停水吗？"
    assert snapshot["updates"][1]["question"] is None
    assert snapshot["incident"]["next_update_at"] == promise.replace("Z", ".000Z")  # the promise stands
    assert snapshot["incident"]["last_update_at"] == last["data"]["published_at"]

    page = (await desk.citizen.get(f"/incidents/{incident}", params={"lang": "zh-CN"})).text
    assert "网友提问" in page and "花园路&lt;b&gt;也&lt;/b&gt;停水吗？" in page and "<b>也</b>" not in page
    atom = (await desk.citizen.get(f"/incidents/{incident}/feed.atom")).text
    assert "花园路&amp;lt;b&amp;gt;也" in atom or "花园路&lt;b&gt;也" in atom
    feed = (await desk.citizen.get(f"/incidents/{incident}/feed.json")).json()
    assert feed["items"][0]["_incidents"]["question"] == "花园路<b>也</b>停水吗？"
    asker = await desk.citizen.get(f"/questions/{qid}", params={"lang": "zh-CN"})
    assert "已公开答复" in asker.text and "<strong>花园路</strong>" in asker.text

    # Once only; then it is corrected (and withdrawn) like any update.
    again = await desk.do(incident, qid, "answer", 409, text="再答一次", public=True)
    assert "correct" in again["detail"]
    fixed = await desk.ops.patch(
        f"/api/incidents/{incident}/updates/{update_id}",
        json={"body": "花园路东段今晚恢复。", "reason": "时间更新"},
    )
    assert fixed.status_code == 200, fixed.text
    corrected = (await desk.ops.get(f"/api/incidents/{incident}")).json()["updates"][0]
    assert corrected["status"] == "corrected" and corrected["question"] == "花园路<b>也</b>停水吗？"
    assert "今晚恢复" in (await desk.citizen.get(f"/questions/{qid}")).text
    withdrawn = await desk.ops.request(
        "DELETE", f"/api/incidents/{incident}/updates/{update_id}", json={"reason": "答错了"}
    )
    assert withdrawn.status_code == 200
    cap = await desk.citizen.get(f"/incidents/{incident}/cap.xml")
    assert cap.status_code == 200 and "花园路<b>" not in cap.text


async def test_a_private_answer_writes_nothing_public(desk: Desk) -> None:
    incident = await desk.incident()
    with_contact = (await desk.ask(incident, "我家老人需要送水", contact=CONTACT))["id"]
    without = (await desk.ask(incident, "能送水吗？"))["id"]
    before = await desk.events(incident)
    refused = await desk.do(incident, without, "answer", 409, text="好的", public=False)
    assert "contact" in refused["detail"]
    answered = await desk.do(incident, with_contact, "answer", text="稍后电话联系您。", public=False)
    assert answered["question"]["status"] == "answered_private"
    assert await desk.events(incident) == before
    asker = await desk.citizen.get(f"/questions/{with_contact}", params={"lang": "zh-CN"})
    assert "稍后电话联系您。" in asker.text and "仅您可见" in asker.text
    page = await desk.citizen.get(f"/incidents/{incident}")
    assert "稍后电话联系您" not in page.text and "我家老人" not in page.text
    # Then it can still be answered in public.
    await desk.do(incident, with_contact, "answer", text="已安排送水车。", public=True)
    assert (await desk.events(incident))[-1]["type"] == "question.answered"


async def test_merge_into_a_public_answer_and_hide(desk: Desk) -> None:
    incident = await desk.incident()
    first = (await desk.ask(incident, "什么时候来水？"))["id"]
    second = (await desk.ask(incident, "几点恢复供水？"))["id"]
    third = (await desk.ask(incident, "骂人的话"))["id"]
    not_yet = await desk.do(incident, second, "merge", 409, into=first)
    assert "not answered in public" in not_yet["detail"]
    await desk.do(incident, first, "answer", text="预计22时恢复供水。", public=True)
    merged = await desk.do(incident, second, "merge", into=first.lower().replace("-", ""))
    assert merged["question"]["status"] == "merged" and merged["question"]["merged_into"] == first
    assert merged["question"]["answer"]["text"] == "预计22时恢复供水。"
    asker = await desk.citizen.get(f"/questions/{second}", params={"lang": "zh-CN"})
    assert "预计22时恢复供水。" in asker.text and "之前有人问过" in asker.text
    assert (await desk.do(incident, second, "answer", 409, text="x", public=True))["detail"]

    other = await desk.incident()
    elsewhere = (await desk.ask(other, "别的事件"))["id"]
    assert (await desk.do(other, elsewhere, "merge", 404, into=first))["detail"]

    hidden = await desk.do(incident, third, "hide", reason="辱骂")
    assert hidden["question"]["status"] == "hidden"
    assert (await desk.citizen.get(f"/questions/{third}")).status_code == 404
    listed = await desk.listed(incident)
    assert [q["status"] for q in listed["questions"]] == ["hidden", "merged", "answered_public"]
    assert listed["waiting"] == 0 and listed["oldest_waiting_at"] is None
    # Asked on another incident, the code is not found here.
    assert (await desk.do(incident, elsewhere, "hide", 404))["detail"]


async def test_questions_are_not_reports_in_the_inbox_or_statistics(desk: Desk) -> None:
    before = (await desk.citizen.get("/api/reports/stats")).json()["received"]
    incident = await desk.incident()
    qid = (await desk.ask(incident, "统计里不该有我"))["id"]
    inbox = (await desk.ops.get("/api/reports/inbox", params={"limit": 500})).json()
    assert qid not in str(inbox)
    assert (await desk.citizen.get("/api/reports/stats")).json()["received"] == before
    report_page = await desk.citizen.get(f"/reports/{qid}")
    assert report_page.status_code == 303 and report_page.headers["location"] == f"/questions/{qid}"


# --- the form and the console --------------------------------------------------------------------------


async def test_the_form_without_javascript(desk: Desk) -> None:
    incident = await desk.incident()
    url = f"/incidents/{incident}/questions?lang=en"
    empty = await desk.citizen.post(url, data={"text": "", "contact": "138"})
    assert empty.status_code == 422 and 'aria-invalid="true"' in empty.text and 'value="138"' in empty.text
    trapped = await desk.citizen.post(url, data={"text": "买药吗", "website": "http://spam"})
    assert trapped.status_code == 400 and "could not be accepted" in trapped.text
    done = await desk.citizen.post(url, data={"text": "东风路有水吗？", "contact": ""})
    assert done.status_code == 303
    page = await desk.citizen.get(done.headers["location"])
    assert page.status_code == 200 and "东风路有水吗？" in page.text and "Waiting for an answer" in page.text
    assert [q["text"] for q in (await desk.listed(incident))["questions"]] == ["东风路有水吗？"]


async def test_the_console_answers_merges_and_shows_what_waits(desk: Desk) -> None:
    incident = await desk.incident()
    qid = (await desk.ask(incident, "控制台里能看到吗？", contact=CONTACT))["id"]
    later = (await desk.ask(incident, "同样的问题"))["id"]
    dashboard = (await desk.console.http.get("/console", params={"lang": "en"})).text
    entry = dashboard[dashboard.index(f'href="/console/incidents/{incident}"') :]
    assert "2 questions waiting" in entry[: entry.index("</li>")]
    workspace = await desk.console.http.get(f"/console/incidents/{incident}", params={"lang": "en"})
    assert "控制台里能看到吗？" in workspace.text and CONTACT in workspace.text
    assert "2 questions waiting" in workspace.text and "Answer privately" in workspace.text
    csrf, nonce = csrf_of(workspace.text), nonce_of(workspace.text)
    action = f"/console/incidents/{incident}/questions/{qid}/answer"
    blank = await desk.console.http.post(
        action, data={"csrf": csrf, "nonce": nonce + "a", "text": "", "public": "1"}
    )
    assert blank.status_code == 422
    answered = await desk.console.http.post(
        action, data={"csrf": csrf, "nonce": nonce + "b", "text": "可以看到。", "public": "1"}
    )
    assert answered.status_code == 303 and "answered-public" in answered.headers["location"]
    merged = await desk.console.http.post(
        f"/console/incidents/{incident}/questions/{later}/merge",
        data={"csrf": csrf, "nonce": nonce + "c", "into": qid},
    )
    assert merged.status_code == 303
    statuses = {q["id"]: q["status"] for q in (await desk.listed(incident))["questions"]}
    assert statuses == {qid: "answered_public", later: "merged"}
    dashboard = (await desk.console.http.get("/console", params={"lang": "en"})).text
    entry = dashboard[dashboard.index(f'href="/console/incidents/{incident}"') :]
    assert "waiting" not in entry[: entry.index("</li>")]  # none waits any more


# --- limits ------------------------------------------------------------------------------------------


async def test_asking_is_limited_per_address(tmp_path_factory: pytest.TempPathFactory) -> None:
    store = f"sqlite:///{tmp_path_factory.mktemp('questions-limit') / 'incidents.db'}"
    token, _ = add_operator_with_link(store, "limit-desk", True)
    with ServerProcess(
        store, env={"INCIDENTS_REPORT_LIMIT": "2", "INCIDENTS_REPORT_WINDOW": "600"}
    ) as server:
        async with httpx.AsyncClient(base_url=server.url, timeout=scaled(20)) as client:
            made = await client.post(
                "/api/incidents", json={"title": "限流"}, headers={"Authorization": f"Bearer {token}"}
            )
            url = f"/api/incidents/{made.json()['id']}/questions"
            assert [(await client.post(url, json={"text": f"问题 {n}"})).status_code for n in range(2)] == [
                201,
                201,
            ]
            limited = await client.post(url, json={"text": "第三个"})
            assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
            form = await client.post(
                f"/incidents/{made.json()['id']}/questions?lang=en", data={"text": "第四个"}
            )
            assert form.status_code == 429 and "try again in" in form.text and form.headers["retry-after"]
            report = await client.post(
                "/api/reports", json={"title": "路灯", "body": "不亮", "location": "天伦路"}
            )
            assert report.status_code == 201  # reports count apart
        assert "Traceback" not in server.log()
