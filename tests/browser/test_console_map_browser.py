"""Drawing the affected area in the console (static/draw-area.js): a circle by tapping its centre
and then its edge, or by dragging outwards from the centre, or by typing its radius; a polygon by
tapping its corners (undo, finish); edited by dragging (centre, edge, corners), cleared. What is
drawn is what the API returns as ``area_shape``: the numbers are compared with the map's own
projection of the pixels tapped. On a phone the taps and drags are touches, on a desktop the mouse.
With tiles configured the drawing is over them; the text field alone still works without JavaScript."""

from __future__ import annotations

import math
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Locator, Page, expect

from tests.browser.support import DESKTOP, PHONE, Viewport, axe, describe, screenshot, serious
from tests.browser.test_console_browser import log_in_with_link
from tests.browser.test_maps_browser import TileServer
from tests.support.server import ServerProcess, add_operator_with_link

EARTH_RADIUS_M = 6371000.0  # Leaflet's CRS.Earth.R, used by its distanceTo
Point = tuple[float, float]


async def console(
    new_page: Any, sqlite_url: str, server: ServerProcess, lang: str, viewport: Viewport
) -> Page:
    _, link = add_operator_with_link(sqlite_url, f"map-{uuid.uuid4().hex[:6]}", False, server.url)
    tab = await new_page(lang=lang, viewport=viewport, base_url=server.url)
    await log_in_with_link(tab.page, link)
    return tab.page


def touching(page: Page) -> bool:
    """Phones (the fixture gives them has_touch) are driven by touch, desktops by the mouse."""
    viewport = page.viewport_size
    return viewport is not None and viewport["width"] < 600


async def origin(page: Page) -> Point:
    box = await page.locator(".area-draw-map").bounding_box()
    assert box is not None
    return box["x"], box["y"]


async def latlng_at(page: Page, x: float, y: float) -> Point:
    """Where the map puts a pointer at (x, y) pixels from its box's top left, now: the map's own
    projection of that position (Leaflet's mouseEventToLatLng, which allows for the border)."""
    ox, oy = await origin(page)
    found = await page.locator("#area-draw").evaluate(
        "(el, p) => { const q = el.leafletMap.mouseEventToLatLng({clientX: p[0], clientY: p[1]});"
        " return [q.lat, q.lng]; }",
        [round(ox + x), round(oy + y)],  # whole pixels, as the taps below
    )
    return float(found[0]), float(found[1])


async def tap(page: Page, x: float, y: float) -> Point:
    """Tap the map at (x, y) from its top left (a touch on a phone, a click on a desktop); returns
    the position the map gives that pixel just before the tap."""
    where = await latlng_at(page, x, y)
    ox, oy = await origin(page)
    if touching(page):
        await page.touchscreen.tap(round(ox + x), round(oy + y))
    else:
        await page.mouse.click(round(ox + x), round(oy + y))
    return where


async def drag(page: Page, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drag from one page position to another: a finger on a phone (Chromium's touch events, as
    a real screen sends them), the mouse on a desktop."""
    steps = 8
    if touching(page):
        cdp = await page.context.new_cdp_session(page)
        await cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [point(start)]})
        for i in range(1, steps + 1):
            at = (start[0] + (end[0] - start[0]) * i / steps, start[1] + (end[1] - start[1]) * i / steps)
            await cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [point(at)]})
        await cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
        await cdp.detach()
    else:
        await page.mouse.move(*start)
        await page.mouse.down()
        await page.mouse.move(*end, steps=steps)
        await page.mouse.up()


def point(at: tuple[float, float]) -> dict[str, float]:
    return {"x": round(at[0]), "y": round(at[1])}


async def middle(handle: Locator) -> tuple[float, float]:
    await handle.scroll_into_view_if_needed()
    box = await handle.bounding_box()
    assert box is not None
    return round(box["x"] + box["width"] / 2), round(box["y"] + box["height"] / 2)


async def metres_per_pixel(page: Page) -> float:
    return distance_m(await latlng_at(page, 100, 100), await latlng_at(page, 101, 100))


def distance_m(a: Point, b: Point) -> float:
    lat1, lat2 = math.radians(a[0]), math.radians(b[0])
    dlat, dlon = lat2 - lat1, math.radians(b[1] - a[1])
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


def circle_in(text: str) -> tuple[float, float, float]:
    lat, lon, radius = text.replace(",", " ").split()
    return float(lat), float(lon), float(radius)


def corners_in(text: str) -> list[Point]:
    return [(float(p.split(",")[0]), float(p.split(",")[1])) for p in text.split()]


async def area_of(server: ServerProcess, incident: str) -> Any:
    async with httpx.AsyncClient(base_url=server.url) as client:
        answer = await client.get(f"/api/incidents/{incident}")
    assert answer.status_code == 200, answer.text
    return answer.json()["incident"]["area_shape"]


async def open_incident(page: Page, title: str) -> str:
    await page.fill("#title", title)
    await page.locator("form.stack button[type=submit].primary").click()
    await page.wait_for_url("**/console/incidents/*?done=created**")
    return page.url.split("/console/incidents/")[1].split("?")[0]


async def open_area_fold(page: Page) -> None:
    """The workspace folds "Area, alert and restoration": open it (the map is sized when it opens)."""
    if await page.locator("#fold-details").get_attribute("open") is None:
        await page.locator("#fold-details > summary").click()
    await expect(page.locator("#area-draw")).to_be_visible()


async def save_area(page: Page) -> None:
    await page.locator("form[action$='/details'] button[type=submit]").click()
    await page.wait_for_url("**done=details**")


async def check_axe(page: Page) -> None:
    violations = serious(await axe(page))
    assert not violations, describe(violations)


HINTS = {
    "zh-CN": {
        "start": "请点按区域的中心。",
        "cleared": "已清除：地图上没有标出区域。",
        "typed": "已按文本框中的内容绘制。",
    },
    "en": {
        "start": "Tap the centre of the area.",
        "cleared": "Cleared: no area on the map.",
        "typed": "Drawn from the text field.",
    },
}


@pytest.mark.parametrize(("lang", "viewport"), [("zh-CN", PHONE), ("en", DESKTOP)])
async def test_a_circle_tapped_or_pulled_out_is_the_area_saved(
    new_page: Any, sqlite_server: ServerProcess, sqlite_url: str, lang: str, viewport: Viewport
) -> None:
    page = await console(new_page, sqlite_url, sqlite_server, lang, viewport)
    await page.goto("/console/incidents/new")
    draw = page.locator("#area-draw")
    await expect(draw).to_be_visible()
    await expect(draw.locator("[data-mode=circle]")).to_have_attribute("aria-pressed", "true")  # at once
    await expect(page.locator("#area-draw-hint")).to_have_text(HINTS[lang]["start"])
    await expect(draw.locator(".area-draw-radius")).to_be_hidden()  # no centre yet
    await page.locator(".area-draw-map").scroll_into_view_if_needed()

    # Tap the centre, tap the edge.
    centre = await tap(page, 150, 120)
    assert await page.input_value("#area_shape") == ""  # a centre alone is no area
    edge = await tap(page, 230, 120)
    lat, lon, radius = circle_in(await page.input_value("#area_shape"))
    assert (lat, lon) == pytest.approx(centre, abs=1e-5)
    assert radius * 1000 == pytest.approx(distance_m(centre, edge), abs=1.5)
    await expect(draw.locator("path.leaflet-interactive, path")).to_have_count(1)  # the outline
    await expect(page.locator("#area-radius")).to_have_value(str(radius))
    await check_axe(page)
    await screenshot(page, f"console-draw-circle-{lang}", full_page=False)

    # Clear, then the other gesture: tap the centre and pull the radius out of it.
    await draw.locator("[data-act=clear]").click()
    assert await page.input_value("#area_shape") == ""
    await expect(page.locator("#area-draw-hint")).to_have_text(HINTS[lang]["cleared"])
    await expect(draw.locator("path")).to_have_count(0)
    centre = await tap(page, 120, 150)
    start = await middle(draw.locator(".area-center"))
    release = (start[0] + 60, start[1] + 45)
    ox, oy = await origin(page)
    edge = await latlng_at(page, release[0] - ox, release[1] - oy)
    await drag(page, start, release)
    lat, lon, radius = circle_in(await page.input_value("#area_shape"))
    assert (lat, lon) == pytest.approx(centre, abs=1e-5)  # the centre stayed where it was tapped
    # The handle moves by the finger's offset from where the (whole-pixel) marker sat: within 1.5 px.
    assert radius * 1000 == pytest.approx(distance_m(centre, edge), abs=1.5 * await metres_per_pixel(page))
    await expect(draw.locator(".area-edge")).to_have_count(1)  # the edge's handle, for resizing
    assert await middle(draw.locator(".area-center")) == pytest.approx(start, abs=1)  # back on the centre

    incident = await open_incident(page, f"文化路自来水爆管 {uuid.uuid4().hex[:4]}")
    saved = await area_of(sqlite_server, incident)
    assert saved == {"type": "circle", "center": [lat, lon], "radius_km": radius}


@pytest.mark.parametrize(("lang", "viewport"), [("zh-CN", PHONE), ("en", DESKTOP)])
async def test_a_polygon_drawn_finished_edited_and_cleared(
    new_page: Any, sqlite_server: ServerProcess, sqlite_url: str, lang: str, viewport: Viewport
) -> None:
    page = await console(new_page, sqlite_url, sqlite_server, lang, viewport)
    await page.goto("/console/incidents/new")
    draw = page.locator("#area-draw")
    undo, finish = draw.locator("[data-act=undo]"), draw.locator("[data-act=finish]")
    await draw.locator("[data-mode=polygon]").click()
    await page.locator(".area-draw-map").scroll_into_view_if_needed()
    await expect(undo).to_be_hidden()
    taps = [(100, 80), (260, 90), (240, 220), (90, 200)]
    corners = [await tap(page, x, y) for x, y in taps[:2]]
    assert await page.input_value("#area_shape") == ""  # two corners are not an area yet
    await expect(undo).to_be_visible()
    await expect(finish).to_be_hidden()
    corners += [await tap(page, x, y) for x, y in taps[2:]]
    await expect(finish).to_be_visible()
    await undo.click()  # take the fourth back, tap it again
    assert len(corners_in(await page.input_value("#area_shape"))) == 3
    corners[3] = await tap(page, *taps[3])
    if touching(page):  # a tap on the first corner finishes it too
        first = await middle(draw.locator(".area-first"))
        await page.touchscreen.tap(*first)
    else:
        await finish.click()
    await expect(finish).to_be_hidden()
    await tap(page, 170, 150)  # finished: a tap no longer adds a corner
    drawn = corners_in(await page.input_value("#area_shape"))
    assert len(drawn) == 4
    for got, want in zip(drawn, corners, strict=True):
        assert got == pytest.approx(want, abs=1e-5)
    await check_axe(page)
    await screenshot(page, f"console-draw-polygon-{lang}", full_page=False)
    incident = await open_incident(page, f"Road closure {uuid.uuid4().hex[:4]}")
    saved = await area_of(sqlite_server, incident)
    assert saved["type"] == "polygon"
    assert [tuple(p) for p in saved["points"][:-1]] == drawn  # the numbers the field showed, exactly
    assert saved["points"][-1] == saved["points"][0]  # closed by the server

    # The workspace draws the saved polygon, finished; drag a corner, save; clear, save.
    await open_area_fold(page)
    await expect(draw.locator("[data-mode=polygon]")).to_have_attribute("aria-pressed", "true")
    await expect(draw.locator(".area-corner")).to_have_count(4)
    await expect(finish).to_be_hidden()
    await check_axe(page)
    start = await middle(draw.locator(".area-corner").first)
    await drag(page, start, (start[0] + 40, start[1] + 30))
    moved = corners_in(await page.input_value("#area_shape"))
    assert distance_m(moved[0], drawn[0]) > 100 and moved[1:] == drawn[1:]
    await save_area(page)
    saved = await area_of(sqlite_server, incident)
    assert tuple(saved["points"][0]) == moved[0]

    await open_area_fold(page)
    await draw.locator("[data-act=clear]").click()
    assert await page.input_value("#area_shape") == ""
    await expect(page.locator("#area-draw-hint")).to_have_text(HINTS[lang]["cleared"])
    await save_area(page)
    assert await area_of(sqlite_server, incident) is None


async def test_typing_draws_and_the_circle_is_resized_and_moved(
    new_page: Any, sqlite_server: ServerProcess, sqlite_url: str
) -> None:
    page = await console(new_page, sqlite_url, sqlite_server, "zh-CN", PHONE)
    await page.goto("/console/incidents/new")
    draw = page.locator("#area-draw")
    await page.locator("#area_shape").press_sequentially("34.7466,113.6253 1.5")
    await expect(page.locator("#area-draw-hint")).to_have_text(HINTS["zh-CN"]["typed"])  # as it is typed
    await expect(draw.locator("path")).to_have_count(1)
    await expect(page.locator("#area-radius")).to_have_value("1.5")

    # The edge's handle towards the centre: smaller.
    start = await middle(draw.locator(".area-edge"))
    await drag(page, start, (start[0] - 30, start[1]))
    lat, lon, radius = circle_in(await page.input_value("#area_shape"))
    assert (lat, lon) == (34.7466, 113.6253) and 0.3 < radius < 1.5
    await expect(page.locator("#area-radius")).to_have_value(str(radius))

    # The radius typed in its own field.
    await page.fill("#area-radius", "0.8")
    assert await page.input_value("#area_shape") == "34.7466,113.6253 0.8"

    # Text the map cannot draw is said so; the drawing stays until the text makes a shape again.
    await page.fill("#area_shape", "文化路一带")
    await page.locator("#area_shape").press("Tab")
    await expect(page.locator("#area-draw-hint")).to_have_text("地图无法绘制此内容，保存时将进行校验。")
    await page.fill("#area_shape", "34.7466,113.6253 0.8")  # back to what the map shows
    await expect(page.locator("#area-draw-hint")).to_contain_text("半径 0.8 公里")
    incident = await open_incident(page, f"文化路 {uuid.uuid4().hex[:4]}")
    assert await area_of(sqlite_server, incident) == {
        "type": "circle",
        "center": [34.7466, 113.6253],
        "radius_km": 0.8,
    }

    # In the workspace: drag the centre; the circle moves whole, its radius kept.
    await open_area_fold(page)
    start = await middle(draw.locator(".area-center"))
    await drag(page, start, (start[0] - 50, start[1] + 40))
    lat, lon, radius = circle_in(await page.input_value("#area_shape"))
    assert radius == 0.8 and distance_m((lat, lon), (34.7466, 113.6253)) > 200
    await save_area(page)
    saved = await area_of(sqlite_server, incident)
    assert saved == {"type": "circle", "center": [lat, lon], "radius_km": 0.8}


async def test_without_javascript_the_text_field_still_works(
    new_page: Any, sqlite_server: ServerProcess, sqlite_url: str
) -> None:
    _, link = add_operator_with_link(sqlite_url, f"nojs-{uuid.uuid4().hex[:6]}", False, sqlite_server.url)
    scripted = await new_page()
    await log_in_with_link(scripted.page, link)  # the setup page itself is fine without JS too
    cookies = await scripted.context.cookies()
    tab = await new_page(java_script_enabled=False, viewport=PHONE)
    await tab.context.add_cookies(cookies)  # type: ignore[arg-type]
    page = tab.page
    await page.goto("/console/incidents/new")
    await expect(page.locator("#area-draw")).to_be_hidden()
    await page.fill("#area_shape", "34.75,113.62 34.76,113.64 34.73,113.65")
    incident = await open_incident(page, f"燃气泄漏 {uuid.uuid4().hex[:4]}")
    saved = await area_of(sqlite_server, incident)
    assert saved == {
        "type": "polygon",
        "points": [[34.75, 113.62], [34.76, 113.64], [34.73, 113.65], [34.75, 113.62]],
    }
    await page.locator("#fold-details > summary").click()  # a <details>: opens without JavaScript
    await page.fill("#area_shape", "34.7466,113.6253 2")
    await save_area(page)
    saved = await area_of(sqlite_server, incident)
    assert saved == {"type": "circle", "center": [34.7466, 113.6253], "radius_km": 2}


@pytest.fixture
def tiled(tmp_path: Path) -> Iterator[tuple[ServerProcess, str, TileServer]]:
    """A server whose INCIDENTS_MAP_TILES names a local tile server; its URL, the database, the tiles."""
    tiles = TileServer()
    url = f"sqlite:///{tmp_path / 'tiles.db'}"
    try:
        with ServerProcess(url, env={"INCIDENTS_MAP_TILES": tiles.origin + "/{z}/{x}/{y}.png"}) as server:
            yield server, url, tiles
    finally:
        tiles.close()


async def test_with_tiles_the_circle_is_drawn_over_them(
    new_page: Any, tiled: tuple[ServerProcess, str, TileServer]
) -> None:
    server, url, tiles = tiled
    page = await console(new_page, url, server, "zh-CN", PHONE)
    answer = await page.goto("/console/incidents/new")
    assert answer is not None
    assert f"img-src 'self' data: {tiles.origin};" in answer.headers["content-security-policy"]
    draw = page.locator("#area-draw")
    await expect(draw.locator("img.leaflet-tile-loaded").first).to_be_visible()
    await expect(draw.locator("canvas")).to_have_count(0)  # no grid under tiles
    await expect(draw.locator(".leaflet-control-attribution")).to_contain_text("OpenStreetMap")
    await page.locator(".area-draw-map").scroll_into_view_if_needed()
    centre = await tap(page, 180, 170)
    edge = await tap(page, 250, 170)
    lat, lon, radius = circle_in(await page.input_value("#area_shape"))
    assert (lat, lon) == pytest.approx(centre, abs=1e-5)
    assert radius * 1000 == pytest.approx(distance_m(centre, edge), abs=1.5)
    await expect(draw.locator(".leaflet-overlay-pane path")).to_have_count(1)  # over the tile pane
    zooms = {int(p.split("/")[1]) for p in tiles.paths}
    assert zooms == {13}, zooms  # the city at zoom 13, not the world
    await check_axe(page)
    await screenshot(page, "console-draw-tiles-zh-CN", full_page=False)
    incident = await open_incident(page, f"停电 {uuid.uuid4().hex[:4]}")
    assert await area_of(server, incident) == {"type": "circle", "center": [lat, lon], "radius_km": radius}
