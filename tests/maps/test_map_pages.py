"""The map on the pages, over HTTP: the timeline (with and without an area), the list, the console."""

from __future__ import annotations

import json
import re
import uuid

from tests.support.client import Api
from tests.support.console import Browser
from tests.support.server import ServerProcess, add_operator_with_link

CIRCLE = {"type": "circle", "center": [34.7466, 113.6253], "radius_km": 1.5}


async def test_the_timeline_draws_the_area_and_gives_it_to_the_script(api: Api) -> None:
    incident = await api.create("文化路自来水爆管", area_shape=CIRCLE)
    page = await api.http.get(f"/incidents/{incident}", headers={"Accept-Language": "en"})
    assert page.status_code == 200
    assert '<svg xmlns="http://www.w3.org/2000/svg" class="area-svg" id="area-map"' in page.text
    data = re.search(r'<script type="application/json" id="area-data">(.*?)</script>', page.text, re.S)
    assert data is not None
    assert json.loads(data.group(1))["shape"] == CIRCLE
    assert '<div id="affected" class="affected" hidden>' in page.text  # shown by area.js only
    assert "never sent anywhere" in page.text
    assert "leaflet" not in page.text  # no tile server configured
    assert "img-src 'self' data:;" in page.headers["content-security-policy"]


async def test_no_area_no_map(api: Api) -> None:
    incident = await api.create("没有区域的事件")
    page = await api.http.get(f"/incidents/{incident}")
    assert 'id="where"' not in page.text and "area-data" not in page.text
    # area.js is still there, so an area added later (the page reloads in place) gets its button.
    assert re.search(r'<script src="/static/area\.[0-9a-f]{10}\.js" defer></script>', page.text)


async def test_the_list_shows_the_live_areas_on_one_map(api: Api) -> None:
    shaped = await api.create(f"有区域 {uuid.uuid4().hex[:6]}", area_shape=CIRCLE)
    page = await api.http.get("/", headers={"Accept-Language": "zh-CN"})
    assert 'id="areas-map"' in page.text
    assert f'<a href="#i-{shaped}"' in page.text and f'<li id="i-{shaped}">' in page.text
    await api.http.post(f"/api/incidents/{shaped}/resolve", json={"reason": "修复"})
    page = await api.http.get("/")
    assert f'href="#i-{shaped}"' not in page.text  # a resolved incident leaves the map


async def test_the_console_shows_the_area_where_it_is_edited(
    api: Api, sqlite_server: ServerProcess, sqlite_url: str
) -> None:
    incident = await api.create("控制台地图", area_shape=CIRCLE)
    _, link = add_operator_with_link(sqlite_url, f"map-{uuid.uuid4().hex[:6]}", False, sqlite_server.url)
    browser = Browser(sqlite_server.url)
    try:
        assert (await browser.setup(link)).status_code == 303
        page = await browser.http.get(f"/console/incidents/{incident}", headers={"Accept-Language": "zh-CN"})
        assert page.status_code == 200
        details = page.text[page.text.index('id="details-h"') :]
        svg = details.index('id="area-map"')
        assert svg < details.index('id="area_shape"')  # right above the field
        assert "受影响区域地图" in details[: svg + 400]
    finally:
        await browser.aclose()
