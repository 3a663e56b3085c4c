"""The affected area in a real browser, on a phone: the SVG (with and without JavaScript), "am I
affected?" at a point inside, near and outside (the position never leaves the page), a refused
permission, the list's overview map, a live edit of the area, and map tiles from a local tile server."""

from __future__ import annotations

import math
import struct
import threading
import uuid
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, Request, WebSocket, expect

from tests.browser.support import PHONE, NewPage, axe, describe, screenshot, serious
from tests.support.client import Api
from tests.support.server import ServerProcess, add_operator

CENTRE = (34.7466, 113.6253)
CIRCLE = {"type": "circle", "center": list(CENTRE), "radius_km": 1.5}
METRES_PER_DEGREE = math.radians(1) * 6_371_008.8
ANSWERS = {
    "en": {
        "button": "Am I affected?",
        "inside": "You are inside the affected area.",
        "near": "You are near the affected area (within 500 m of its edge).",
        "outside": "You are outside the affected area (more than 500 m from its edge).",
        "denied": "permission was refused",
        "label": "Map of the affected area: circle of radius 1.5 km around 34.75, 113.63",
    },
    "zh-CN": {
        "button": "我受影响吗？",
        "inside": "您在受影响区域内。",
        "near": "您在受影响区域附近（距边界 500 米以内）。",
        "outside": "您在受影响区域外（距边界超过 500 米）。",
        "denied": "定位权限被拒绝",
        "label": "受影响区域地图：以 34.75, 113.63 为中心、半径 1.5 公里的圆形区域",
    },
}


def north_of_centre(metres: float, east: float = 0.0) -> dict[str, float]:
    """A position ``metres`` north (and ``east``) of the circle's centre, for Playwright."""
    lat = CENTRE[0] + metres / METRES_PER_DEGREE
    lon = CENTRE[1] + east / (METRES_PER_DEGREE * math.cos(math.radians(CENTRE[0])))
    return {"latitude": round(lat, 6), "longitude": round(lon, 6)}


# 1.4 km north (inside), 1.8 km (300 m beyond the edge: near), 3 km (outside); a little east so
# that no digit string of the position is also the circle's centre, which the page does carry.
POSITIONS = {
    "inside": north_of_centre(1400, 123),
    "near": north_of_centre(1800, 321),
    "outside": north_of_centre(3000, 231),
}


def traces(position: dict[str, float]) -> list[str]:
    """How a position could appear in a request: its digits at a few roundings."""
    found = []
    for value in position.values():
        found += [f"{value:.6f}".rstrip("0"), f"{value:.4f}", f"{value:.3f}"]
    return found


class Recorder:
    """Every request the page makes, with its body, and every WebSocket frame it sends."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    def request(self, request: Request) -> None:
        self.sent.append(f"{request.method} {request.url} {request.post_data or ''}")

    def websocket(self, socket: WebSocket) -> None:
        self.sent.append(f"WS {socket.url}")
        socket.on("framesent", lambda frame: self.sent.append(f"WS frame {frame}"))

    def carrying(self, position: dict[str, float]) -> list[str]:
        return [line for line in self.sent if any(trace in line for trace in traces(position))]


async def live(page: Page) -> None:
    """Wait until the page receives updates live."""
    await expect(page.locator("#conn")).to_be_visible()
    await expect(page.locator("#conn")).to_have_class("conn")


async def shaped_incident(api: Api, shape: dict[str, Any] = CIRCLE, title: str = "文化路自来水爆管") -> str:
    incident = await api.create(
        f"{title} {uuid.uuid4().hex[:6]}", area="文化路 花园路-东风路段", area_shape=shape
    )
    assert (await api.post(incident, "自来水公司工作人员已前往现场。")).status_code == 201
    return incident


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_the_map_shows_the_area_without_javascript(api: Api, new_page: NewPage, lang: str) -> None:
    incident = await shaped_incident(api)
    tab = await new_page(lang=lang, viewport=PHONE, java_script_enabled=False)
    await tab.page.goto(f"/incidents/{incident}")
    svg = tab.page.locator("#where svg#area-map")
    await expect(svg).to_be_visible()
    await expect(svg).to_have_attribute("role", "img")
    await expect(svg).to_have_attribute("aria-label", ANSWERS[lang]["label"])
    assert await svg.locator("circle.area").count() == 1
    await expect(svg.locator(".north text")).to_have_text("北" if lang == "zh-CN" else "N")
    await expect(svg.locator(".scale-label")).to_have_text("2 公里" if lang == "zh-CN" else "2 km")
    box = await svg.bounding_box()
    assert box is not None and 300 <= box["width"] <= PHONE["width"], box  # fills the phone's width
    await expect(tab.page.locator("#am-i-affected")).to_be_hidden()  # no script, no button
    tab.assert_clean()


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
async def test_am_i_affected_inside_near_outside_and_the_position_stays_on_the_phone(
    api: Api, new_page: NewPage, lang: str
) -> None:
    incident = await shaped_incident(api)
    tab = await new_page(
        lang=lang, viewport=PHONE, geolocation=POSITIONS["inside"], permissions=["geolocation"]
    )
    recorder = Recorder()
    tab.page.on("request", recorder.request)
    tab.page.on("websocket", recorder.websocket)
    answer = await tab.page.goto(f"/incidents/{incident}")
    assert answer is not None
    assert "img-src 'self' data:;" in answer.headers["content-security-policy"]  # no tile server named
    await live(tab.page)
    button = tab.page.get_by_role("button", name=ANSWERS[lang]["button"])
    status = tab.page.locator("#area-answer[role=status]")
    for where in ("inside", "near", "outside"):
        await tab.context.set_geolocation(POSITIONS[where])
        await button.click()
        await expect(status).to_have_text(ANSWERS[lang][where])
        await expect(status).to_have_class(f"area-answer {where}")
        if where == "inside" and lang == "zh-CN":
            shot = await screenshot(tab.page, "maps-phone-zh-CN", full_page=False)
            assert shot.stat().st_size > 10_000
    assert len(recorder.sent) > 3  # the recorder saw the page's own requests
    assert not any("leaflet" in line for line in recorder.sent)  # no tiles configured: no Leaflet
    for where, position in POSITIONS.items():
        assert recorder.carrying(position) == [], where
    violations = serious(await axe(tab.page, context="#where"))
    assert violations == [], describe(violations)
    tab.assert_clean()


async def test_a_refused_permission_says_so_and_breaks_nothing(api: Api, new_page: NewPage) -> None:
    incident = await shaped_incident(api)
    tab = await new_page(lang="zh-CN", viewport=PHONE, geolocation=POSITIONS["inside"], permissions=[])
    await tab.page.goto(f"/incidents/{incident}")
    await tab.page.get_by_role("button", name=ANSWERS["zh-CN"]["button"]).click()
    status = tab.page.locator("#area-answer[role=status]")
    await expect(status).to_contain_text(ANSWERS["zh-CN"]["denied"])
    await expect(tab.page.get_by_role("button", name=ANSWERS["zh-CN"]["button"])).to_be_enabled()
    await expect(tab.page.locator("#area-map")).to_be_visible()
    tab.assert_clean()


async def test_an_area_edited_live_is_redrawn_and_answered_for(api: Api, new_page: NewPage) -> None:
    incident = await shaped_incident(api)
    tab = await new_page(
        lang="en", viewport=PHONE, geolocation=POSITIONS["outside"], permissions=["geolocation"]
    )
    await tab.page.goto(f"/incidents/{incident}")
    await live(tab.page)
    bigger = {**CIRCLE, "radius_km": 5.0}
    edited = await api.http.patch(f"/api/incidents/{incident}", json={"area_shape": bigger})
    assert edited.status_code == 200, edited.text
    svg = tab.page.locator("#area-map")
    await expect(svg).to_have_attribute(
        "aria-label", "Map of the affected area: circle of radius 5 km around 34.75, 113.63"
    )
    await tab.page.get_by_role("button", name="Am I affected?").click()
    await expect(tab.page.locator("#area-answer")).to_have_text(ANSWERS["en"]["inside"])
    tab.assert_clean()


async def test_the_list_maps_every_live_area(api: Api, new_page: NewPage) -> None:
    first = await shaped_incident(api, title="燃气泄漏")
    polygon = {
        "type": "polygon",
        "points": [[34.75, 113.62], [34.76, 113.64], [34.73, 113.65], [34.75, 113.62]],
    }
    second = await shaped_incident(api, polygon, title="道路塌陷")
    tab = await new_page(lang="zh-CN", viewport=PHONE)
    await tab.page.goto("/")
    svg = tab.page.locator("svg#areas-map")
    await expect(svg).to_be_visible()
    for incident in (first, second):
        link = svg.locator(f'a[href="#i-{incident}"]')
        assert await link.count() == 1
        number = await link.locator("text").text_content()
        entry = tab.page.locator(f"li#i-{incident}")
        await expect(entry.locator(".map-no")).to_contain_text(str(number))
    await svg.locator(f'a[href="#i-{second}"] circle').last.click()
    assert tab.page.url.endswith(f"#i-{second}")
    violations = serious(await axe(tab.page, context="svg#areas-map"))
    assert violations == [], describe(violations)
    tab.assert_clean()


def png(size: int = 256, rgb: tuple[int, int, int] = (200, 220, 200)) -> bytes:
    """A plain PNG tile."""
    row = b"\x00" + bytes(rgb) * size
    raw = zlib.compress(row * size)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


class TileServer:
    """One PNG for every path, on a free loopback port; remembers the paths asked for."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        tile, paths = png(), self.paths

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                paths.append(self.path)
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(tile)))
                self.end_headers()
                self.wfile.write(tile)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tiled(tmp_path: Path) -> Iterator[tuple[ServerProcess, str, TileServer]]:
    """A server whose INCIDENTS_MAP_TILES names a local tile server; its URL, a token, the tile server."""
    tiles = TileServer()
    url = f"sqlite:///{tmp_path / 'tiles.db'}"
    token = add_operator(url, "ZZIC")
    env = {"INCIDENTS_MAP_TILES": tiles.origin + "/{z}/{x}/{y}.png"}
    try:
        with ServerProcess(url, env=env) as server:
            yield server, token, tiles
    finally:
        tiles.close()


async def test_tiles_from_the_configured_server_with_the_area_on_top(
    tiled: tuple[ServerProcess, str, TileServer], new_page: NewPage
) -> None:
    server, token, tiles = tiled
    api = Api(server.url, token)
    try:
        incident = await shaped_incident(api)
    finally:
        await api.aclose()
    tab = await new_page(lang="zh-CN", viewport=PHONE, base_url=server.url)
    answer = await tab.page.goto(f"/incidents/{incident}")
    assert answer is not None
    assert f"img-src 'self' data: {tiles.origin};" in answer.headers["content-security-policy"]
    map_box = tab.page.locator("#area-figure .area-tiles")
    await expect(map_box.locator("img.leaflet-tile-loaded").first).to_be_visible()
    await expect(map_box.locator("path.leaflet-interactive")).to_have_count(
        1
    )  # the circle, drawn over the tiles
    await expect(tab.page.locator("#area-figure")).to_have_class("area-figure tiled")
    await expect(tab.page.locator("#area-map")).to_be_hidden()  # the SVG gave way to the tiles
    await expect(map_box.get_by_role("button", name="放大")).to_be_visible()
    assert tiles.paths and all(p.count("/") == 3 and p.endswith(".png") for p in tiles.paths), tiles.paths
    zooms = {int(p.split("/")[1]) for p in tiles.paths}
    assert min(zooms) >= 12, zooms  # fitted to a 3 km circle, not the whole world
    # The list never loads tiles: it still gets only the SVG.
    async with httpx.AsyncClient(base_url=server.url) as http:
        home = await http.get("/")
    assert "leaflet" not in home.text and 'id="areas-map"' in home.text
    violations = serious(await axe(tab.page, context="#where"))
    assert violations == [], describe(violations)
    await screenshot(tab.page, "maps-tiles-phone-zh-CN", full_page=False)
    tab.assert_clean()
