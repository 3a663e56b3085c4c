"""Drawing the affected area in the console (static/draw-area.js): a circle by tapping its centre
and edge, a polygon by tapping its corners, edited by dragging, cleared; what is drawn is what the
API returns as ``area_shape`` (the numbers compared with the map's own projection of the taps), and
the text field alone still works without JavaScript."""

from __future__ import annotations

import math
import uuid
from typing import Any

import httpx
import pytest
from playwright.async_api import Page, expect

from tests.browser.support import DESKTOP, PHONE, Viewport, axe, describe, screenshot, serious
from tests.browser.test_console_browser import log_in_with_link
from tests.support.server import ServerProcess, add_operator_with_link

EARTH_RADIUS_M = 6371000.0  # Leaflet's CRS.Earth.R, used by its distanceTo


async def console(
    new_page: Any, sqlite_url: str, server: ServerProcess, lang: str, viewport: Viewport
) -> Page:
    _, link = add_operator_with_link(sqlite_url, f"map-{uuid.uuid4().hex[:6]}", False, server.url)
    tab = await new_page(lang=lang, viewport=viewport)
    await log_in_with_link(tab.page, link)
    return tab.page


async def latlng_at(page: Page, x: float, y: float) -> tuple[float, float]:
    """Where the map puts a tap at (x, y) pixels from its box's top left: the map's own projection
    of that mouse position (Leaflet's mouseEventToLatLng, which allows for the border)."""
    box = await page.locator(".area-draw-map").bounding_box()
    assert box is not None
    found = await page.locator("#area-draw").evaluate(
        "(el, p) => { const q = el.leafletMap.mouseEventToLatLng({clientX: p[0], clientY: p[1]});"
        " return [q.lat, q.lng]; }",
        [round(box["x"] + x), round(box["y"] + y)],  # whole pixels, as the click below
    )
    return float(found[0]), float(found[1])


async def tap(page: Page, x: float, y: float) -> None:
    box = await page.locator(".area-draw-map").bounding_box()
    assert box is not None
    await page.mouse.click(round(box["x"] + x), round(box["y"] + y))


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lat2 = math.radians(a[0]), math.radians(b[0])
    dlat, dlon = lat2 - lat1, math.radians(b[1] - a[1])
    h = math.sin(dlat / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin(dlon / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(h))


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


@pytest.mark.parametrize(("lang", "viewport"), [("zh-CN", PHONE), ("en", DESKTOP)])
async def test_a_circle_drawn_is_the_area_saved(
    new_page: Any, sqlite_server: ServerProcess, sqlite_url: str, lang: str, viewport: Viewport
) -> None:
    page = await console(new_page, sqlite_url, sqlite_server, lang, viewport)
    await page.goto("/console/incidents/new")
    draw = page.locator("#area-draw")
    await expect(draw).to_be_visible()
    circle = draw.locator("[data-mode=circle]")
    await expect(circle).to_have_attribute("aria-pressed", "true")  # ready to draw at once
    await expect(page.locator("#area-draw-hint")).to_have_text(
        "请点按区域的中心。" if lang == "zh-CN" else "Tap the centre of the area."
    )
    await page.locator(".area-draw-map").scroll_into_view_if_needed()
    centre, edge = await latlng_at(page, 150, 120), await latlng_at(page, 230, 120)
    await tap(page, 150, 120)
    await tap(page, 230, 120)
    drawn = await page.input_value("#area_shape")
    lat, lon, radius = drawn.replace(",", " ").split()
    assert abs(float(lat) - centre[0]) < 1e-5 and abs(float(lon) - centre[1]) < 1e-5, (drawn, centre)
    assert abs(float(radius) * 1000 - distance_m(centre, edge)) < 1.5, (drawn, distance_m(centre, edge))
    assert await draw.locator("path.leaflet-interactive, path").count() >= 1  # the outline on the map
    violations = serious(await axe(page))
    assert not violations, describe(violations)
    await screenshot(page, f"console-draw-circle-{lang}")

    incident = await open_incident(page, f"文化路自来水爆管 {uuid.uuid4().hex[:4]}")
    saved = await area_of(sqlite_server, incident)
    assert saved["type"] == "circle"
    assert saved["center"] == pytest.approx([float(lat), float(lon)], abs=1e-6)
    assert saved["radius_km"] == pytest.approx(float(radius), abs=1e-3)


async def test_a_polygon_drawn_edited_and_cleared(
    new_page: Any, sqlite_server: ServerProcess, sqlite_url: str
) -> None:
    page = await console(new_page, sqlite_url, sqlite_server, "en", DESKTOP)
    await page.goto("/console/incidents/new")
    await page.locator("#area-draw [data-mode=polygon]").click()
    await page.locator(".area-draw-map").scroll_into_view_if_needed()
    taps = [(100, 80), (260, 90), (240, 220), (90, 200)]
    corners = [await latlng_at(page, x, y) for x, y in taps]
    for x, y in taps[:2]:
        await tap(page, x, y)
    assert await page.input_value("#area_shape") == ""  # two corners are not an area yet
    for x, y in taps[2:]:
        await tap(page, x, y)
    await page.locator("#area-draw [data-act=undo]").click()  # undo the fourth, tap it again
    await tap(page, *taps[3])
    drawn = [tuple(map(float, p.split(","))) for p in (await page.input_value("#area_shape")).split()]
    assert len(drawn) == 4
    for got, want in zip(drawn, corners, strict=True):
        assert got == pytest.approx(want, abs=1e-5)
    incident = await open_incident(page, f"Road closure {uuid.uuid4().hex[:4]}")
    saved = await area_of(sqlite_server, incident)
    assert saved["type"] == "polygon"
    assert [tuple(p) for p in saved["points"][:-1]] == drawn  # the numbers the field showed, exactly
    assert saved["points"][-1] == saved["points"][0]  # closed by the server

    # The workspace draws the saved polygon (its section folded: opened); drag a corner, save,
    # then clear and save.
    await page.locator("#fold-details > summary").click()
    draw = page.locator("#area-draw")
    await expect(draw.locator("[data-mode=polygon]")).to_have_attribute("aria-pressed", "true")
    corner = draw.locator(".area-corner").first
    await corner.scroll_into_view_if_needed()
    box = await corner.bounding_box()
    assert box is not None
    await page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    await page.mouse.down()
    await page.mouse.move(box["x"] + 40, box["y"] + 30, steps=8)
    await page.mouse.up()
    moved = [tuple(map(float, p.split(","))) for p in (await page.input_value("#area_shape")).split()]
    assert distance_m(moved[0], drawn[0]) > 100 and moved[1:] == drawn[1:]
    details = page.locator("form[action$='/details']")
    await details.locator("button[type=submit]").click()
    await page.wait_for_url("**done=details**")
    saved = await area_of(sqlite_server, incident)
    assert tuple(saved["points"][0]) == moved[0]

    await page.locator("#fold-details > summary").click()
    await page.locator("#area-draw [data-act=clear]").click()
    assert await page.input_value("#area_shape") == ""
    await expect(page.locator("#area-draw-hint")).to_have_text("Cleared: no area on the map.")
    await page.locator("form[action$='/details'] button[type=submit]").click()
    await page.wait_for_url("**done=details**")
    assert await area_of(sqlite_server, incident) is None


async def test_typing_draws_and_the_circle_is_resized_by_its_handle(
    new_page: Any, sqlite_server: ServerProcess, sqlite_url: str
) -> None:
    page = await console(new_page, sqlite_url, sqlite_server, "zh-CN", PHONE)
    await page.goto("/console/incidents/new")
    await page.fill("#area_shape", "34.7466,113.6253 1.5")
    await page.locator("#area_shape").press("Tab")  # leaving the field commits it (change)
    await expect(page.locator("#area-draw-hint")).to_have_text("已按文本框中的内容绘制。")
    edge = page.locator("#area-draw .area-edge")
    await edge.scroll_into_view_if_needed()
    box = await edge.bounding_box()
    assert box is not None
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    await page.mouse.move(x, y)
    await page.mouse.down()
    await page.mouse.move(x - 30, y, steps=6)  # towards the centre: smaller
    await page.mouse.up()
    lat, lon, radius = (await page.input_value("#area_shape")).replace(",", " ").split()
    assert (float(lat), float(lon)) == (34.7466, 113.6253)
    assert 0.3 < float(radius) < 1.5
    incident = await open_incident(page, f"文化路 {uuid.uuid4().hex[:4]}")
    assert (await area_of(sqlite_server, incident))["radius_km"] == pytest.approx(float(radius), abs=1e-3)


async def test_without_javascript_the_text_field_still_works(
    new_page: Any, sqlite_server: ServerProcess, sqlite_url: str
) -> None:
    _, link = add_operator_with_link(sqlite_url, f"nojs-{uuid.uuid4().hex[:6]}", False, sqlite_server.url)
    scripted = await new_page()
    await log_in_with_link(scripted.page, link)  # the setup page itself is fine without JS too
    cookies = await scripted.context.cookies()
    tab = await new_page(java_script_enabled=False)
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
