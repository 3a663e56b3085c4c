"""The operators' side of notifications: people watching counted across two server processes
on a real redis-server, the notify switch on the post form with its default shown, and the
notifications panel and the administrators' pause (which needs the subscription store)."""

from __future__ import annotations

import asyncio
import random
import re
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.support.client import Api
from tests.support.console import Browser
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess, add_operator_with_link, scaled

WATCHING = re.compile(r"(\d+) people watching now|(\d+) person watching now")


async def watching(console: Browser, incident: str) -> int:
    page = await console.http.get(f"/console/incidents/{incident}", headers={"Accept-Language": "en"})
    assert page.status_code == 200, page.text
    found = WATCHING.search(page.text)
    assert found is not None, page.text
    return int(found.group(1) or found.group(2))


async def until(console: Browser, incident: str, expected: int) -> int:
    seen = -1
    for _ in range(int(scaled(20) / 0.5)):
        seen = await watching(console, incident)
        if seen == expected:
            return seen
        await asyncio.sleep(0.5)
    return seen


@pytest.fixture
async def pair(redis_server: RedisServer) -> AsyncIterator[tuple[ServerProcess, ServerProcess, str, Browser]]:
    name = "watch-" + str(random.randrange(10**6))
    token, link = add_operator_with_link(redis_server.url, name)
    with ServerProcess(redis_server.url) as one, ServerProcess(redis_server.url) as two:
        console = Browser(one.url)
        assert (await console.setup(link.replace("http://127.0.0.1:8000", one.url))).status_code == 303
        try:
            yield one, two, token, console
        finally:
            await console.aclose()


async def test_watchers_are_counted_across_processes(
    pair: tuple[ServerProcess, ServerProcess, str, Browser],
) -> None:
    one, two, token, console = pair
    api = Api(one.url, token)
    incident = await api.create("文化路自来水爆管")
    sockets: list[ClientConnection] = []
    try:
        sockets += [await connect(one.ws_url(f"/api/incidents/{incident}/live")) for _ in range(2)]
        sockets += [await connect(two.ws_url(f"/api/incidents/{incident}/live")) for _ in range(3)]
        assert await until(console, incident, 5) == 5  # 2 here + 3 on the other process
        for ws in sockets[2:4]:
            await ws.close()
        assert await until(console, incident, 3) == 3
    finally:
        for ws in sockets:
            await ws.close()
        await api.aclose()
    assert await until(console, incident, 0) == 0


async def test_post_form_has_the_notify_switch_with_its_default(
    pair: tuple[ServerProcess, ServerProcess, str, Browser],
) -> None:
    one, _two, token, console = pair
    api = Api(one.url, token)
    incident = await api.create("文化路自来水爆管")
    en = {"Accept-Language": "en"}
    page = (await console.http.get(f"/console/incidents/{incident}", headers=en)).text
    assert "Notify followers" in page
    assert re.search(r'name="notify" value="" checked> Default: yes \(the first update\)', page)
    assert (await api.post(incident, "抢修人员已到场")).status_code == 201
    page = (await console.http.get(f"/console/incidents/{incident}", headers=en)).text
    default = r'name="notify" value="" checked> Default: yes if a next update is promised, else no'
    assert re.search(default, page)
    zh = (await console.http.get(f"/console/incidents/{incident}", headers={"Accept-Language": "zh-CN"})).text
    assert "通知关注者" in zh and "默认：承诺了下次更新时间则通知，否则不通知" in zh
    await api.aclose()
