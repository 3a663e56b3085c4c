"""The console over HTTP: accounts, sessions, CSRF, roles, tokens, audit, double submits."""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.client import Api
from tests.support.console import PASSWORD, Browser, csrf_of, nonce_of
from tests.support.server import ServerProcess, add_operator_with_link


@pytest.fixture
async def people(
    sqlite_server: ServerProcess, sqlite_url: str
) -> AsyncIterator[tuple[Browser, str, Browser, str, str]]:
    """An admin and an operator, each logged in; their names; the operator's token."""
    tag = uuid.uuid4().hex[:6]
    admin_name, operator_name = f"admin-{tag}", f"desk-{tag}"
    _, admin_link = add_operator_with_link(sqlite_url, admin_name, True, sqlite_server.url)
    token, operator_link = add_operator_with_link(sqlite_url, operator_name, False, sqlite_server.url)
    admin, operator = Browser(sqlite_server.url), Browser(sqlite_server.url)
    assert (await admin.setup(admin_link)).status_code == 303
    assert (await operator.setup(operator_link)).status_code == 303
    yield admin, admin_name, operator, operator_name, token
    await admin.aclose()
    await operator.aclose()


async def test_setup_link_sets_a_password_once(sqlite_server: ServerProcess, sqlite_url: str) -> None:
    name = f"new-{uuid.uuid4().hex[:6]}"
    _, link = add_operator_with_link(sqlite_url, name, False, sqlite_server.url)
    browser = Browser(sqlite_server.url)
    try:
        short = await browser.setup(link, "short")
        assert short.status_code == 422
        done = await browser.setup(link)
        assert done.status_code == 303
        assert done.headers["location"] == "/console"
        cookie = done.headers["set-cookie"]
        assert "HttpOnly" in cookie
        assert "SameSite=lax" in cookie
        assert (await browser.http.get("/console")).status_code == 200
        again = await browser.http.get(link[link.index("/console/") :])
        assert again.status_code == 404  # one use only
    finally:
        await browser.aclose()


async def test_passwords_are_stored_with_scrypt(
    people: tuple[Browser, str, Browser, str, str], sqlite_url: str
) -> None:
    path = Path(sqlite_url.removeprefix("sqlite:///"))
    with sqlite3.connect(path) as db:
        bodies = [row[0] for row in db.execute("SELECT body FROM docs WHERE key LIKE 'operator:%'")]
    assert not any(PASSWORD in body for body in bodies)
    assert any('"n": 16384' in body and '"salt"' in body for body in bodies)


async def test_login_wrong_password_then_rate_limited(people: tuple[Browser, str, Browser, str, str]) -> None:
    _, _, _, operator_name, _ = people
    stranger = Browser(str(people[0].http.base_url))
    try:
        for _ in range(5):
            wrong = await stranger.login(operator_name, "not the password")
            assert wrong.status_code == 401
            assert "set-cookie" not in wrong.headers or "incidents_session" not in wrong.headers["set-cookie"]
        limited = await stranger.login(operator_name)  # even the right password waits now
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) > 0
    finally:
        await stranger.aclose()


async def test_login_never_redirects_off_site(people: tuple[Browser, str, Browser, str, str]) -> None:
    admin, admin_name, _, _, _ = people
    fresh = Browser(str(admin.http.base_url))
    try:
        for target in ("https://evil.example/", "//evil.example/", "/console/../../x\\y"):
            answer = await fresh.login(admin_name, next=target)
            assert answer.status_code == 303
            assert answer.headers["location"] == "/console"
    finally:
        await fresh.aclose()


async def test_forms_without_the_csrf_token_are_refused(
    people: tuple[Browser, str, Browser, str, str], api: Api
) -> None:
    _, _, operator, _, _ = people
    incident = await api.create()
    action = f"/console/incidents/{incident}/updates"
    for data in ({"body": "伪造"}, {"body": "伪造", "csrf": "wrong"}):
        refused = await operator.http.post(action, data=data)
        assert refused.status_code == 403
    assert [e["type"] for e in await api.events(incident)] == ["incident.opened"]  # nothing posted
    anonymous = httpx.AsyncClient(base_url=str(operator.http.base_url))
    try:
        redirected = await anonymous.post(action, data={"body": "x"})
        assert redirected.status_code == 303
        assert redirected.headers["location"].startswith("/console/login")
    finally:
        await anonymous.aclose()


async def test_operators_cannot_reach_admin_pages_or_routes(
    people: tuple[Browser, str, Browser, str, str], sqlite_server: ServerProcess
) -> None:
    admin, _, operator, _, operator_token = people
    for path in ("/console/admin/operators", "/console/admin/audit", "/console/admin/webhooks"):
        assert (await operator.http.get(path)).status_code == 403
        assert (await admin.http.get(path)).status_code == 200
    refused = await operator.http.post("/console/admin/operators", data={"name": "x", "csrf": "anything"})
    assert refused.status_code == 403
    api = Api(sqlite_server.url, operator_token)
    try:
        assert (await api.http.get("/api/audit")).status_code == 403
        assert (await api.http.get("/api/operators")).status_code == 403
        assert (await api.http.post("/api/operators", json={"name": "sneaky"})).status_code == 403
    finally:
        await api.aclose()


async def test_admin_invites_an_operator_who_sets_a_password(
    people: tuple[Browser, str, Browser, str, str], sqlite_server: ServerProcess
) -> None:
    admin, _, _, _, _ = people
    name = f"invited-{uuid.uuid4().hex[:6]}"
    invited = await admin.form("/console/admin/operators", "/console/admin/operators", name=name)
    assert invited.status_code == 201
    link = re.search(r'<code id="setup-link">([^<]+)</code>', invited.text)
    assert link is not None
    newcomer = Browser(sqlite_server.url)
    try:
        assert (await newcomer.setup(link.group(1))).status_code == 303
        dashboard = await newcomer.http.get("/console")
        assert name in dashboard.text
    finally:
        await newcomer.aclose()


async def test_tokens_are_shown_once_listed_and_revoked(
    people: tuple[Browser, str, Browser, str, str], sqlite_server: ServerProcess
) -> None:
    _, _, operator, _, _ = people
    created = await operator.form("/console/tokens", "/console/tokens", label="发布脚本")
    assert created.status_code == 201
    found = re.search(r'<code id="new-token">([^<]+)</code>', created.text)
    assert found is not None
    token = found.group(1)
    listing = await operator.http.get("/console/tokens")
    assert "发布脚本" in listing.text
    assert token.split(".")[2] not in listing.text  # never shown again
    api = Api(sqlite_server.url, token)
    try:
        assert (await api.http.post("/api/incidents", json={"title": "经由令牌"})).status_code == 201
        token_id = token.split(".")[1]
        revoked = await operator.form("/console/tokens", f"/console/tokens/{token_id}/revoke")
        assert revoked.status_code == 303
        assert (await api.http.post("/api/incidents", json={"title": "吊销后"})).status_code == 401
    finally:
        await api.aclose()


async def test_logout_everywhere_ends_every_session(
    people: tuple[Browser, str, Browser, str, str], sqlite_server: ServerProcess
) -> None:
    _, _, operator, operator_name, _ = people
    second = Browser(sqlite_server.url)
    try:
        assert (await second.login(operator_name)).status_code == 303
        assert (await second.http.get("/console")).status_code == 200
        done = await operator.form("/console/tokens", "/console/logout", everywhere="1")
        assert done.status_code == 303
        assert (await second.http.get("/console")).status_code == 303  # back to the login page
    finally:
        await second.aclose()


async def test_double_submit_posts_once_and_the_audit_log_has_it(
    people: tuple[Browser, str, Browser, str, str], api: Api
) -> None:
    admin, _, operator, operator_name, _ = people
    incident = await api.create()
    workspace = await operator.http.get(f"/console/incidents/{incident}")
    fields = {
        "csrf": csrf_of(workspace.text),
        "nonce": nonce_of(workspace.text),
        "body": "一次",
        "promise": "30",
    }
    first = await operator.http.post(f"/console/incidents/{incident}/updates", data=fields)
    second = await operator.http.post(f"/console/incidents/{incident}/updates", data=fields)
    assert first.status_code == second.status_code == 303
    events = await api.events(incident)
    assert [e["type"] for e in events] == ["incident.opened", "update.posted"]
    assert events[1]["data"]["next_update_at"] is not None  # the +30 min promise
    log = await admin.http.get("/console/admin/audit", params={"incident": incident})
    assert operator_name in log.text
    assert "update.posted" in log.text
    assert "127.0.0.1" in log.text
    page = await api.http.get(f"/incidents/{incident}")
    feed = await api.http.get(f"/incidents/{incident}/feed.json")
    assert operator_name not in page.text + feed.text + str(events)  # the public sees the organisation only


async def test_workspace_shows_problems_with_the_input_kept(
    people: tuple[Browser, str, Browser, str, str], api: Api
) -> None:
    _, _, operator, _, _ = people
    incident = await api.create()
    await api.http.post(f"/api/incidents/{incident}/resolve", json={})
    workspace = await operator.http.get(f"/console/incidents/{incident}")
    refused = await operator.http.post(
        f"/console/incidents/{incident}/updates",
        data={"csrf": csrf_of(workspace.text), "nonce": "n1", "body": "晚了"},
    )
    assert refused.status_code == 409
    assert "请先重新开启" in refused.text  # "reopen it before posting", in the console's language
    wrong_time = await operator.http.post(
        f"/console/incidents/{incident}/facts",
        data={"csrf": csrf_of(workspace.text), "label": "", "value": "无标签"},
    )
    assert wrong_time.status_code == 422, (wrong_time.headers, wrong_time.text[:300])
    assert "label" in wrong_time.text


async def test_schedule_draft_publish_now_and_cancel_from_the_console(
    people: tuple[Browser, str, Browser, str, str], api: Api
) -> None:
    _, _, operator, _, _ = people
    incident = await api.create()
    path = f"/console/incidents/{incident}"
    later = await operator.form(path, f"{path}/updates", body="晚上九点再报", publish_at="2031-01-01T21:00")
    assert later.status_code == 303
    draft = await operator.form(path, f"{path}/updates", body="草稿内容", draft="1")
    assert draft.status_code == 303
    items = (await api.http.get(f"/api/incidents/{incident}/scheduled")).json()["scheduled"]
    by_body = {item["body"]: item for item in items}
    assert by_body["晚上九点再报"]["status"] == "scheduled"
    assert by_body["晚上九点再报"]["publish_at"] == "2031-01-01T13:00:00.000Z"  # 21:00 in Asia/Shanghai
    assert by_body["草稿内容"]["status"] == "draft"
    workspace = await operator.http.get(path)
    assert "晚上九点再报" in workspace.text
    assert "草稿内容" in workspace.text
    dashboard = await operator.http.get("/console")
    assert dashboard.status_code == 200
    assert "晚上九点再报" in dashboard.text  # drafts and scheduled items, all incidents

    published = await operator.form(path, f"{path}/scheduled/{by_body['草稿内容']['id']}/publish")
    assert published.status_code == 303
    cancelled = await operator.form(path, f"{path}/scheduled/{by_body['晚上九点再报']['id']}/cancel")
    assert cancelled.status_code == 303
    events = await api.events(incident)
    assert [e["data"].get("body") for e in events if e["type"] == "update.posted"] == ["草稿内容"]
    items = (await api.http.get(f"/api/incidents/{incident}/scheduled")).json()["scheduled"]
    assert {item["body"]: item["status"] for item in items} == {
        "草稿内容": "published",
        "晚上九点再报": "cancelled",
    }


async def test_a_scheduled_update_is_edited_before_it_is_due(
    people: tuple[Browser, str, Browser, str, str], api: Api
) -> None:
    _, _, operator, _, _ = people
    incident = await api.create()
    path = f"/console/incidents/{incident}"
    await operator.form(path, f"{path}/updates", body="原定内容", publish_at="2031-01-01T21:00")
    (item,) = (await api.http.get(f"/api/incidents/{incident}/scheduled")).json()["scheduled"]
    edited = await operator.form(
        path, f"{path}/scheduled/{item['id']}/edit", body="改后内容", publish_at="2031-01-02T08:30"
    )
    assert edited.status_code == 303
    (item,) = (await api.http.get(f"/api/incidents/{incident}/scheduled")).json()["scheduled"]
    assert item["body"] == "改后内容"
    assert item["publish_at"] == "2031-01-02T00:30:00.000Z"
    assert item["status"] == "scheduled"


async def test_the_workspace_sets_the_area_drawn_the_alert_fields_and_the_restoration(
    people: tuple[Browser, str, Browser, str, str], api: Api
) -> None:
    _, _, operator, _, _ = people
    incident = await api.create()
    path = f"/console/incidents/{incident}"
    fields = {
        "area": "文化路 花园路—东风路段",
        "severity": "severe",
        "category": "Infra",
        "area_shape": "34.7808,113.6603 1.2",
        "urgency": "immediate",
        "certainty": "likely",
        "instruction": "请绕行文化路",
        "expected_restoration": "2031-01-01T22:00",
    }

    async def details(**changed: str) -> httpx.Response:
        return await operator.form(path, f"{path}/details", **{**fields, **changed})

    assert (await details()).status_code == 303
    shown = (await api.http.get(f"/api/incidents/{incident}")).json()["incident"]
    assert shown["area_shape"] == {"type": "circle", "center": [34.7808, 113.6603], "radius_km": 1.2}
    assert shown["expected_restoration"] == "2031-01-01T14:00:00.000Z"  # 22:00 in Asia/Shanghai
    assert [shown[k] for k in ("urgency", "certainty", "severity")] == ["immediate", "likely", "severe"]
    assert shown["instruction"] == "请绕行文化路"
    workspace = (await operator.http.get(path)).text
    assert 'value="34.7808,113.6603 1.2"' in workspace and 'value="2031-01-01T22:00"' in workspace

    assert (await details(expected_restoration="2031-01-02T02:00")).status_code == 303
    changes = (await api.http.get(f"/api/incidents/{incident}")).json()["incident"]["restoration_changes"]
    assert [(c["before"], c["after"]) for c in changes] == [
        ("2031-01-01T14:00:00.000Z", "2031-01-01T18:00:00.000Z")
    ]
    assert "Expected restoration revised from" in (await api.http.get(f"/incidents/{incident}?lang=en")).text

    unread = await details(area_shape="34.7808,113.6603")
    assert unread.status_code == 422
    assert "地图上的区域：多边形至少需要 3 个顶点" in unread.text
    assert 'value="34.7808,113.6603"' in unread.text  # what was typed is shown again
    past = await details(expected_restoration="2020-01-01T08:00")
    assert past.status_code == 422 and "预计恢复时间：必须是将来的时间" in past.text
    assert (await details(expected_restoration="2031-01-02T02:00")).status_code == 409  # nothing changed


async def test_a_new_incident_takes_the_area_drawn_and_an_update_its_second_language(
    people: tuple[Browser, str, Browser, str, str], api: Api
) -> None:
    _, _, operator, _, _ = people
    created = await operator.form(
        "/console/incidents/new",
        "/console/incidents",
        title="文化路自来水爆管",
        area_shape="34.7712,113.6558 34.7712,113.6641 34.7905,113.6641 34.7905,113.6558",  # closed for us
        urgency="expected",
        certainty="observed",
        expected_restoration="2031-01-01T22:00",
        nonce=uuid.uuid4().hex,
    )
    assert created.status_code == 303, created.text
    path = created.headers["location"].partition("?")[0]
    incident = path.rpartition("/")[2]
    points = (await api.http.get(f"/api/incidents/{incident}")).json()["incident"]["area_shape"]["points"]
    assert len(points) == 5 and points[0] == points[-1]

    english = "Crews are on site."
    posted = await operator.form(path, f"{path}/updates", body="已到场", translation=english, nonce="t1")
    assert posted.status_code == 303
    update = (await api.events(incident))[-1]["data"]
    assert update["translations"] == {"en": {"body": english, "html": f"<p>{english}</p>"}}
    corrected = await operator.form(
        path,
        f"{path}/updates/{update['id']}/correct",
        body="已到达现场",
        reason="措辞",
        translation="On site.",
    )
    assert corrected.status_code == 303
    assert (await api.events(incident))[-1]["data"]["translations"]["en"]["body"] == "On site."
    # A draft and a scheduled update keep their second language, and show it in the list.
    drafted = await operator.form(path, f"{path}/updates", body="草稿", translation="Draft", draft="1")
    assert drafted.status_code == 303, drafted.text
    planned = await operator.form(
        path, f"{path}/updates", body="计划", translation="Planned", publish_at="2031-01-01T21:00"
    )
    assert planned.status_code == 303, planned.text
    items = (await api.http.get(f"/api/incidents/{incident}/scheduled")).json()["scheduled"]
    kept = {i["body"]: i["translations"] for i in items}
    assert kept == {"计划": {"en": "Planned"}, "草稿": {"en": "Draft"}}
    page = await operator.http.get(path)
    assert page.text.count('<span class="tag">英文</span>') == 2
