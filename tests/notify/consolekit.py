"""A server process with everything notifications need, for the console's tests: Web Push to a
local push service (INCIDENTS_PUSH_ALLOW_PRIVATE), e-mail to a real aiosmtpd server, an
administrator's console session, and subscriptions made through ``POST /api/subscriptions``."""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.notify.mailbox import Mailbox, free_port
from tests.notify.pushkit import Browser as Agent
from tests.notify.pushkit import PushService
from tests.support.client import Api
from tests.support.console import Browser
from tests.support.server import ServerProcess, add_operator_with_link, scaled

CENTRE = (34.7466, 113.6253)
HERE = {"type": "circle", "center": list(CENTRE), "radius_km": 1.5}
NEAR = {"type": "circle", "center": [34.75, 113.63], "radius_km": 2}
FAR = {"type": "circle", "center": [31.23, 121.47], "radius_km": 2}  # Shanghai


async def eventually(check: Callable[[], Any], within: float, what: Callable[[], str]) -> None:
    deadline = time.monotonic() + scaled(within)
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what()}")
        await asyncio.sleep(0.2)


def table(page: str, caption: str) -> dict[str, list[str]]:
    """The rows of the table with this caption: row header -> the other cells' text."""
    found = re.search(rf"<caption>{re.escape(caption)}</caption>(.*?)</table>", page, re.S)
    assert found is not None, f"no table {caption!r} in the page"
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", found.group(1), re.S):
        cells = [
            html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)
        ]
        rows[cells[0]] = cells[1:]
    return rows


def panel(page: str) -> str:
    found = re.search(r'<section aria-labelledby="notify-h".*?</section>', page, re.S)
    assert found is not None, "no notifications panel"
    return found.group(0)


@dataclass
class Site:
    server: ServerProcess
    url: str
    api: Api
    admin: Browser
    push: PushService
    box: Mailbox
    backend_url: str

    async def subscribe_push(self, agent: Agent, **where: Any) -> None:
        body = {"channel": "webpush", "level": "important", "lang": "zh-CN", "incident": None, "area": None,
                "push": agent.subscription(), **where}  # fmt: skip
        answer = await self.api.http.post("/api/subscriptions", json=body)
        assert answer.status_code == 201, answer.text

    async def subscribe_mail(self, address: str, confirm: bool = True, **where: Any) -> None:
        body = {"channel": "email", "level": "important", "lang": "en", "incident": None, "area": None,
                "email": address, **where}  # fmt: skip
        answer = await self.api.http.post("/api/subscriptions", json=body)
        assert answer.status_code == 202, answer.text
        (mail,) = await self.box.wait(address, 1, seconds=scaled(10))
        if confirm:
            plain = mail.get_body(("plain",))
            assert plain is not None
            link = re.search(r"http://\S+/subscriptions/confirm/\S+", plain.get_content())  # type: ignore[attr-defined]
            assert link is not None
            async with httpx.AsyncClient() as reader:
                assert (await reader.post(link.group(0))).status_code == 303

    async def workspace(self, incident: str, who: Browser | None = None, lang: str = "en") -> str:
        page = await (who or self.admin).http.get(
            f"/console/incidents/{incident}", headers={"Accept-Language": lang}
        )
        assert page.status_code == 200, page.text
        return page.text


@asynccontextmanager
async def running_site(tmp_path: Path) -> AsyncIterator[Site]:
    backend_url = f"sqlite:///{tmp_path / 'panel.db'}"
    push = await PushService().start()
    port = free_port()
    with Mailbox() as box:
        env = {"INCIDENTS_PUBLIC_URL": f"http://127.0.0.1:{port}",
               "INCIDENTS_PUSH_ALLOW_PRIVATE": "true", "INCIDENTS_SUBSCRIBE_LIMIT": "100000",
               "INCIDENTS_SMTP_URL": box.url, "INCIDENTS_MAIL_FROM": "alerts@zzic.example",
               "INCIDENTS_WEBHOOK_LEASE_SECONDS": "4", "INCIDENTS_WEBHOOK_TIMEOUT": "1.5"}  # fmt: skip
        token, link = add_operator_with_link(backend_url, "chief")
        with ServerProcess(backend_url, env=env, port=port) as server:
            admin = Browser(server.url)
            assert (await admin.setup(link.replace("http://127.0.0.1:8000", server.url))).status_code == 303
            api = Api(server.url, token)
            try:
                yield Site(server, server.url, api, admin, push, box, backend_url)
            finally:
                await api.aclose()
                await admin.aclose()
                await push.down()
