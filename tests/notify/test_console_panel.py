"""The operators' notifications panel against real parts: a server process, subscriptions made
through ``POST /api/subscriptions`` (Web Push to a local push service that decrypts nothing but
records and answers; e-mail to a real aiosmtpd server), the console over HTTP with its cookies
and CSRF tokens. Followers by channel, delivery figures after real sends and a failure, no
personal data on the page, the administrators' totals and pause (audited once), the post
form's notify switch end to end."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from broadcaster.config import Settings
from broadcaster.notify.console import Panel
from broadcaster.notify.subscriptions import Subscriptions
from broadcaster.stores import open_backend
from tests.notify.consolekit import FAR, HERE, NEAR, Agent, Site, eventually, panel, running_site, table
from tests.support.console import Browser, csrf_of, nonce_of
from tests.support.server import add_operator_with_link, scaled

EN = {"Accept-Language": "en"}


@pytest.fixture
async def site(tmp_path: Path) -> AsyncIterator[Site]:
    async with running_site(tmp_path) as running:
        yield running


async def test_followers_and_delivery_by_channel_without_personal_data(site: Site) -> None:
    incident = await site.api.create("文化路自来水爆管", area="文化路", area_shape=HERE)
    agents = {name: Agent(site.push, name) for name in ("one", "two", "broken", "near", "far")}
    site.push.statuses["broken"] = 500
    for name in ("one", "two", "broken"):
        await site.subscribe_push(agents[name], incident=incident)
    await site.subscribe_push(agents["near"], area=NEAR)
    await site.subscribe_push(agents["far"], area=FAR)
    await site.subscribe_mail("ann@example.org", incident=incident)
    await site.subscribe_mail("bob@example.org", area=NEAR)
    await site.subscribe_mail("cat@example.org", confirm=False, incident=incident)  # never confirmed

    page = await site.workspace(incident)
    followers = table(page, "Who would be told of an important update now")
    assert followers == {"Channel": ["Follow this incident", "Follow its area"], "Web Push": ["3", "1"],
                         "E-mail": ["1", "1"]}  # fmt: skip
    assert table(page, "Delivery, every incident")["Web Push"] == ["0", "0", "0"]

    assert (await site.api.post(incident, "文化路停水，抢修中。")).status_code == 201  # the first: important

    async def delivered() -> bool:
        rows = table(await site.workspace(incident), "Delivery, every incident")
        return rows["Web Push"] == ["3", "1", "0"] and rows["E-mail"] == ["2", "0", "0"]

    await eventually(delivered, 20, lambda: str([(m.name, m.answered) for m in site.push.messages]))
    assert sorted(m.name for m in site.push.messages if m.answered == 201) == ["near", "one", "two"]
    assert [m.name for m in site.push.messages if m.answered == 500] == ["broken"]
    page = await site.workspace(incident)
    shown = panel(page)
    assert "<dt>Web Push</dt>" in shown and "<code>HTTP 500</code>" in shown  # the last error, per channel
    # Nothing personal anywhere on the page: no address, no endpoint, no key, no token.
    personal = ["example.org", f":{site.push.port}", "/push/", "/subscriptions/"]
    personal += [a.subscription()["keys"]["p256dh"][:20] for a in agents.values()]
    assert not [p for p in personal if p in page], [p for p in personal if p in page]

    dashboard = (await site.admin.http.get("/console", headers=EN)).text
    assert not [p for p in personal if p in dashboard]
    subscribers = table(dashboard, "Subscriptions, every incident")
    assert subscribers["Web Push"] == ["3", "2", "—"]  # every area, the far one too
    assert subscribers["E-mail"] == ["1", "1", "1"]  # cat has not confirmed
    delivery = table(dashboard, "Delivery, every incident")
    assert delivery["Total"] == ["5", "1", "0"]
    assert "Pause all notifications" in dashboard

    zh = await site.workspace(incident, lang="zh-CN")
    assert "现在发布重要更新会通知到的人数" in panel(zh) and "浏览器推送" in panel(zh)
    for english in (
        "Who would be told",
        "Delivery, every incident",
        "Last error",
        "Follow its area",
        "Web Push</th><td",
    ):
        assert english not in panel(zh), english


async def test_pause_stops_pushes_is_audited_once_and_only_for_administrators(site: Site) -> None:
    incident = await site.api.create("花园路燃气泄漏")
    agent = Agent(site.push, "reader")
    await site.subscribe_push(agent, incident=incident)
    name = f"desk-{uuid.uuid4().hex[:6]}"
    _, link = add_operator_with_link(site.backend_url, name, admin=False)
    desk = Browser(site.url)
    try:
        assert (await desk.setup(link.replace("http://127.0.0.1:8000", site.url))).status_code == 303
        page = await site.workspace(incident, desk)
        assert "Pause all notifications" not in page and "/console/notify/pause" not in page
        refused = await desk.http.post("/console/notify/pause", data={"csrf": csrf_of(page)})
        assert refused.status_code == 403
        assert "Pause all notifications" not in (await desk.http.get("/console", headers=EN)).text
    finally:
        await desk.aclose()

    page = await site.workspace(incident)
    assert (await site.admin.http.post("/console/notify/pause", data={"csrf": "forged"})).status_code == 403
    paused = await site.admin.http.post(
        f"/console/notify/pause?back=/console/incidents/{incident}", data={"csrf": csrf_of(page)}
    )
    assert paused.status_code == 303 and paused.headers["location"] == (
        f"/console/incidents/{incident}?done=notify-paused"
    )
    page = await site.workspace(incident)
    assert "All notifications are paused." in panel(page) and "Paused by chief at" in panel(page)
    assert "Resume notifications" in page
    assert (await site.api.post(incident, "第一条：已关闭燃气阀门。")).status_code == 201  # important
    await asyncio.sleep(scaled(3))
    assert site.push.messages == []  # passed over, and not sent later

    resumed = await site.admin.http.post(
        "/console/notify/resume?back=//evil.example/x", data={"csrf": csrf_of(page)}
    )
    assert resumed.status_code == 303 and resumed.headers["location"] == "/console?done=notify-resumed"
    assert (await site.api.post(incident, "燃气已恢复供应。", notify=True)).status_code == 201

    async def pushed() -> bool:
        return len(site.push.messages) >= 1

    await eventually(pushed, 20, lambda: "no push after resuming")
    await asyncio.sleep(scaled(1))
    (message,) = site.push.messages
    assert agent.decrypt(message)["body"] == "燃气已恢复供应。"

    backend = open_backend(site.backend_url)
    await backend.start()
    try:
        actions = [e.decode()["data"]["action"] for e in await backend.read("audit:all")]
    finally:
        await backend.close()
    notify_actions = [a for a in actions if "pause" in a or "resume" in a]
    assert notify_actions == ["notifications.paused", "notifications.resumed"]  # once each


async def test_the_notify_switch_of_the_post_form_end_to_end(site: Site) -> None:
    incident = await site.api.create("东风路交通管制")
    agent = Agent(site.push, "commuter")
    await site.subscribe_push(agent, incident=incident)
    path = f"/console/incidents/{incident}"

    async def post(body: str, notify: str) -> None:
        page = (await site.admin.http.get(path)).text
        form = {"csrf": csrf_of(page), "nonce": nonce_of(page), "body": body, "notify": notify, "promise": ""}
        answer = await site.admin.http.post(f"{path}/updates", data=form)
        assert answer.status_code == 303, answer.text

    await post("第一条，但不通知。", "0")  # the first update, whose default is yes: "no" wins
    await post("一条普通更新。", "")  # the default for a later update without a promise: no
    await asyncio.sleep(scaled(3))
    assert site.push.messages == []
    await post("交通管制解除。", "1")  # a plain update marked important

    async def pushed() -> bool:
        return len(site.push.messages) >= 1

    await eventually(pushed, 20, lambda: "nothing pushed")
    await asyncio.sleep(scaled(1))
    assert [agent.decrypt(m)["body"] for m in site.push.messages] == ["交通管制解除。"]


async def test_bad_input_to_the_pause_routes_is_a_clear_answer(site: Site) -> None:
    page = (await site.admin.http.get("/console")).text
    token = csrf_of(page)
    assert (await site.admin.http.get("/console/notify/pause")).status_code == 405
    for back in ("https://evil.example/", "/console/../x\\y", "/console/x?y=1", "\x00", "%"):
        answer = await site.admin.http.post(
            "/console/notify/pause", params={"back": back}, data={"csrf": token}
        )
        assert answer.status_code == 303, (back, answer.text)
        assert answer.headers["location"].startswith("/console"), answer.headers["location"]
        assert "evil" not in answer.headers["location"]
    assert (await site.admin.http.post("/console/notify/resume", content=b"\xff\xfe", headers={
        "Content-Type": "application/x-www-form-urlencoded"})).status_code in (400, 403, 422)  # fmt: skip
    anonymous = httpx.AsyncClient(base_url=site.url)
    try:
        answer = await anonymous.post("/console/notify/pause", data={"csrf": token})
        assert answer.status_code in (303, 401, 403) and "Traceback" not in answer.text
    finally:
        await anonymous.aclose()
    assert "Traceback" not in site.server.log()


async def test_the_delivery_figures_come_from_the_store_where_no_notifier_runs(tmp_path: Path) -> None:
    """A web process that does not send (no ``app.state.notifier``) shows what the sending
    process saved in ``notify:progress:{channel}``; e-mail is "off" without an SMTP server."""
    backend = open_backend(f"sqlite:///{tmp_path / 'progress.db'}")
    await backend.start()
    try:
        progress = {"cursors": {}, "sent": 7, "undelivered": 2, "queued": 3, "last_error": "HTTP 503",
                    "last_sent_at": "2026-11-22T07:00:00Z", "removed": 1}  # fmt: skip
        assert await backend.put_doc("notify:progress:webpush", progress, expect_version=0)
        state = SimpleNamespace(backend=backend, subscriptions=Subscriptions(backend, Settings()))
        figures = await Panel(state).delivery()
        assert figures == {
            "webpush": {"on": True, "sent": 7, "queued": 3, "failed": 2, "last_error": "HTTP 503",
                        "last_sent_at": "2026-11-22T07:00:00Z"},
            "email": {"on": False, "sent": 0, "queued": 0, "failed": 0, "last_error": None,
                      "last_sent_at": None},
        }  # fmt: skip
        totals = await Panel(state).totals()
        assert totals["total"] == {"sent": 7, "queued": 3, "failed": 2} and totals["paused"] is False
        assert await Panel(SimpleNamespace()).delivery() is None  # no notifications here at all
    finally:
        await backend.close()
