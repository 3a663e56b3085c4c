"""The subscription API and the subscriber's pages against a real server process, with a
real SMTP server (aiosmtpd): 201 / 202 / 422 / 429, the confirmation link, the manage page,
RFC 8058 one-click, DELETE, the pause switch; and personal data kept out of the log, the
pages, the feeds and the export (unless --include-personal)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from broadcaster.stores import open_backend
from tests.notify.mailbox import Mailbox, free_port, parts
from tests.notify.test_rules import AUTH, KEY
from tests.support.server import ServerProcess, add_operator, incidents_command, scaled

PUSH = {"endpoint": "https://8.8.8.8/push/very-secret-endpoint", "keys": {"p256dh": KEY, "auth": AUTH}}
EMAIL = "citizen.li@example.org"


@pytest.fixture(scope="module")
def mailbox() -> Iterator[Mailbox]:
    with Mailbox() as box:
        yield box


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('notify') / 'store.db'}"


@pytest.fixture(scope="module")
def token(store: str) -> str:
    return add_operator(store, "ZZIC")


@pytest.fixture(scope="module")
def server(store: str, token: str, mailbox: Mailbox) -> Iterator[ServerProcess]:
    port = free_port()
    env = {"INCIDENTS_SMTP_URL": mailbox.url, "INCIDENTS_MAIL_FROM": "alerts@example.org",
           "INCIDENTS_PUBLIC_URL": f"http://127.0.0.1:{port}",
           "INCIDENTS_SUBSCRIBE_LIMIT": "100"}  # fmt: skip
    with ServerProcess(store, env=env, port=port) as process:
        yield process


@pytest.fixture
async def http(server: ServerProcess, token: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.url, timeout=scaled(20)) as client:
        yield client


async def new_incident(http: httpx.AsyncClient, token: str) -> str:
    auth = {"Authorization": f"Bearer {token}"}
    answer = await http.post("/api/incidents", json={"title": "文化路停水"}, headers=auth)
    assert answer.status_code == 201, answer.text
    return str(answer.json()["id"])


async def test_push_key_is_an_uncompressed_p256_point(http: httpx.AsyncClient) -> None:
    key = (await http.get("/api/push/key")).json()["public_key"]
    raw = base64.urlsafe_b64decode(key + "=" * (-len(key) % 4))
    assert len(raw) == 65 and raw[0] == 4 and "=" not in key


async def test_web_push_201_manage_page_and_delete(http: httpx.AsyncClient, token: str) -> None:
    iid = await new_incident(http, token)
    answer = await http.post("/api/subscriptions", json={"channel": "webpush", "incident": iid,
                             "level": "all", "lang": "en", "push": PUSH})  # fmt: skip
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert set(body) == {"id", "manage_url"}
    secret = body["manage_url"].rsplit("/", 1)[1]
    assert body["manage_url"].startswith("http://127.0.0.1:") and len(secret) >= 32
    page = await http.get(f"/subscriptions/{secret}?lang=en")
    assert page.status_code == 200 and "文化路停水" in page.text and "every update" in page.text
    assert "very-secret-endpoint" not in page.text and "8.8.8.8" not in page.text
    assert f'action="/subscriptions/{secret}/unsubscribe' in page.text and "<script" not in page.text
    zh = await http.get(f"/subscriptions/{secret}?lang=zh-CN")
    assert "你的通知" in zh.text
    assert (await http.delete(f"/api/subscriptions/{secret}")).status_code == 204
    after = await http.get(f"/subscriptions/{secret}?lang=en")
    assert after.status_code == 200 and "You follow nothing here any more" in after.text
    assert (await http.delete("/api/subscriptions/" + "x" * 32)).status_code == 404
    assert (await http.get("/subscriptions/" + "x" * 32)).status_code == 404


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"channel": "webpush", "incident": "nosuch", "lang": "en", "push": PUSH}, "incident:", 422),
        ({"channel": "webpush", "lang": "en", "push": PUSH}, "incident:", 422),
        (
            {
                "channel": "webpush",
                "area": {"type": "circle", "center": [34.7, 113.6], "radius_km": 25},
                "lang": "en",
                "push": PUSH,
            },
            "area.radius_km:",
            422,
        ),
        (
            {
                "channel": "webpush",
                "area": {"type": "circle", "center": [34.7, 113.6], "radius_km": 2},
                "lang": "en",
                "push": {**PUSH, "endpoint": "https://10.0.0.1/x"},
            },
            "push.endpoint:",
            422,
        ),
        (
            {
                "channel": "webpush",
                "area": {"type": "circle", "center": [34.7, 113.6], "radius_km": 2},
                "lang": "en",
                "push": {**PUSH, "endpoint": "http://8.8.8.8/x"},
            },
            "push.endpoint:",
            422,
        ),
        (
            {
                "channel": "email",
                "area": {"type": "circle", "center": [34.7, 113.6], "radius_km": 2},
                "lang": "en",
                "email": "nobody",
            },
            "email:",
            422,
        ),
        ({"channel": "pigeon"}, "channel:", 422),
    ],
)
async def test_bad_input_is_422_naming_the_field_and_stores_nothing(
    http: httpx.AsyncClient, store: str, body: dict[str, object], field: str, status: int
) -> None:
    backend = open_backend(store)
    await backend.start()
    try:
        before = await backend.head("subscriptions:all")
        answer = await http.post("/api/subscriptions", json=body)
        assert answer.status_code == status, answer.text
        assert answer.json()["detail"].startswith(field)
        assert await backend.head("subscriptions:all") == before
    finally:
        await backend.close()
    assert (await http.post("/api/subscriptions", content=b"{not json")).status_code == 422


def link(text: str, path: str) -> str:
    found = re.search(rf"https?://\S+{path}\S+", text)
    assert found, text
    return found.group(0).rstrip(".,)>")


async def test_email_double_opt_in_confirm_link_and_one_click(
    http: httpx.AsyncClient, token: str, mailbox: Mailbox, store: str
) -> None:
    iid = await new_incident(http, token)
    answer = await http.post("/api/subscriptions", json={"channel": "email", "incident": iid,
                             "lang": "zh-CN", "email": EMAIL})  # fmt: skip
    assert answer.status_code == 202, answer.text
    secret = answer.json()["manage_url"].rsplit("/", 1)[1]
    [message] = await mailbox.wait(EMAIL, 1)
    plain, _html = parts(message)
    confirm = link(plain, "/subscriptions/confirm/")
    path = confirm.replace(http.base_url.join("/").__str__().rstrip("/"), "")
    # Opening the link (as a mail scanner or a link preview would) confirms nothing.
    page = await http.get(path)
    assert page.status_code == 200 and "文化路停水" in page.text and "请确认订阅" in page.text
    assert EMAIL not in page.text and page.headers["Cache-Control"] == "no-store"
    manage = await http.get(f"/subscriptions/{secret}?lang=en")
    assert "waiting for you to confirm" in manage.text
    pressed = await http.post(path)
    assert pressed.status_code == 303
    page = await http.get(pressed.headers["Location"])
    assert page.status_code == 200 and "订阅已确认" in page.text and "文化路停水" in page.text
    again = await http.post(path)  # a second press is harmless
    assert again.status_code == 303
    manage = await http.get(f"/subscriptions/{secret}?lang=en")
    assert "waiting for you to confirm" not in manage.text and "important updates" in manage.text
    # RFC 8058: a mail client posts List-Unsubscribe=One-Click, no cookie, no CSRF token.
    one_click = await http.post(f"/subscriptions/{secret}/unsubscribe",
                                content=b"List-Unsubscribe=One-Click",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert one_click.status_code == 303
    backend = open_backend(store)
    await backend.start()
    try:
        sub_id = answer.json()["id"]
        doc = await backend.get_doc(f"subscription-personal:{sub_id}")
        assert doc is not None and doc.value == {}  # deleted, not flagged
        types = [e.decode()["type"] for e in await backend.read("subscriptions:all")
                 if e.decode()["data"]["id"] == sub_id]  # fmt: skip
        assert types == ["subscription.created", "subscription.confirmed", "subscription.removed"]
    finally:
        await backend.close()


async def test_at_most_three_confirmation_mails_an_hour_per_address(
    http: httpx.AsyncClient, mailbox: Mailbox
) -> None:
    address = "Mail.Bomb.Target@example.org"
    for n in range(4):
        area = {"type": "circle", "center": [34.7 + n / 100, 113.6], "radius_km": 1}
        answer = await http.post("/api/subscriptions", json={"channel": "email", "area": area, "lang": "en",
                                 "email": address if n % 2 else address.lower()})  # fmt: skip
        assert answer.status_code == (202 if n < 3 else 429), answer.text
    assert int(answer.headers["Retry-After"]) > 3000
    await mailbox.wait(address.lower(), 2)  # the same address, however it is written: one limit
    await mailbox.wait(address, 1)
    await asyncio.sleep(0.3)
    assert len(mailbox.to(address.lower())) + len(mailbox.to(address)) == 3
    other = await http.post("/api/subscriptions", json={"channel": "email", "area": area, "lang": "en",
                            "email": "someone.else@example.org"})  # fmt: skip
    assert other.status_code == 202


async def test_pause_and_resume_need_an_administrator_and_are_audited(
    http: httpx.AsyncClient, token: str, store: str
) -> None:
    assert (await http.post("/api/notifications/pause")).status_code == 401
    auth = {"Authorization": f"Bearer {token}"}
    paused = await http.post("/api/notifications/pause", headers=auth)
    assert paused.status_code == 200 and paused.json()["paused"] is True and paused.json()["by"] == "ZZIC"
    resumed = await http.post("/api/notifications/resume", headers=auth)
    assert resumed.json()["paused"] is False
    backend = open_backend(store)
    await backend.start()
    try:
        actions = [e.decode()["data"]["action"] for e in await backend.read("audit:all")]
        assert actions[-2:] == ["notifications.paused", "notifications.resumed"]
    finally:
        await backend.close()


def test_rate_limit_per_client_address_is_shared(tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'limited.db'}"
    add_operator(store, "ZZIC")
    env = {"INCIDENTS_SUBSCRIBE_LIMIT": "2", "INCIDENTS_SUBSCRIBE_WINDOW": "600"}
    with ServerProcess(store, env=env) as one, ServerProcess(store, env=env) as two:
        body = {"channel": "webpush", "area": {"type": "circle", "center": [1.0, 2.0], "radius_km": 1},
                "lang": "en", "push": PUSH}  # fmt: skip
        assert httpx.post(f"{one.url}/api/subscriptions", json=body).status_code == 201
        assert httpx.post(f"{two.url}/api/subscriptions", json=body).status_code == 201
        refused = httpx.post(f"{one.url}/api/subscriptions", json=body)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        # Both processes serve one VAPID key, kept in the store.
        assert httpx.get(f"{one.url}/api/push/key").json() == httpx.get(f"{two.url}/api/push/key").json()


async def test_personal_data_stays_out_of_log_pages_feeds_and_export(
    http: httpx.AsyncClient, token: str, store: str, server: ServerProcess
) -> None:
    iid = await new_incident(http, token)
    address = "private.person@example.org"
    for body in ({"channel": "webpush", "incident": iid, "lang": "en", "push": PUSH},
                 {"channel": "email", "incident": iid, "lang": "en", "email": address}):  # fmt: skip
        assert (await http.post("/api/subscriptions", json=body)).status_code in (201, 202)
    auth = {"Authorization": f"Bearer {token}"}
    assert (
        await http.post(f"/api/incidents/{iid}/updates", json={"body": "进展"}, headers=auth)
    ).status_code == 201
    secrets = ("very-secret-endpoint", address, KEY, AUTH)
    for path in ("/", f"/incidents/{iid}", f"/api/incidents/{iid}", f"/api/incidents/{iid}/events",
                 "/feed.xml", "/feed.json", f"/incidents/{iid}/feed.xml", "/metrics"):  # fmt: skip
        text = (await http.get(path)).text
        assert not any(s in text for s in secrets), path
    backend = open_backend(store)
    await backend.start()
    try:
        for log in ("subscriptions:all", "audit:all", f"incident:{iid}"):
            logged = json.dumps([e.text for e in await backend.read(log)])
            assert not any(s in logged for s in secrets), log
    finally:
        await backend.close()

    def export(*extra: str) -> str:
        done = subprocess.run([*incidents_command(), "export", "--backend", store, *extra],
                              capture_output=True, timeout=scaled(60), check=True)  # fmt: skip
        return done.stdout.decode()

    public = export()
    assert not any(s in public for s in secrets) and '"doc":"subscription-personal:' not in public
    assert '"doc":"notify:key"' not in public  # with it, anyone could test whether an address subscribed
    assert "personal data of subscribers" in public.splitlines()[0]
    full = export("--include-personal")
    assert address in full and "very-secret-endpoint" in full and '"doc":"notify:key"' in full


async def test_the_notify_flag_of_a_posted_update(http: httpx.AsyncClient, token: str) -> None:
    iid = await new_incident(http, token)
    auth = {"Authorization": f"Bearer {token}"}
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()

    async def post(**fields: object) -> None:
        answer = await http.post(
            f"/api/incidents/{iid}/updates", json={"body": "进展", **fields}, headers=auth
        )
        assert answer.status_code == 201, answer.text

    await post()  # the first update: true
    await post()  # false
    await post(next_update_at=later)  # true: it promises the next
    await post(notify=True)
    await post(next_update_at=later, notify=False)
    bad = await http.post(f"/api/incidents/{iid}/updates", json={"body": "x", "notify": "yes"}, headers=auth)
    assert bad.status_code == 422
    events = (await http.get(f"/api/incidents/{iid}/events")).json()["events"]
    flags = [e["data"]["notify"] for e in events if e["type"] == "update.posted"]
    assert flags == [True, False, True, True, False]
