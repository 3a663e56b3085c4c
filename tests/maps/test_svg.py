"""The area drawn on the server: a small, deterministic, accessible SVG (parsed with lxml)."""

from __future__ import annotations

import math
import re

import pytest
from lxml import etree
from pydantic import ValidationError

from broadcaster.config import Settings
from broadcaster.maps import Marked, area_data, area_map, areas_map, tile_origin
from broadcaster.maps.svg import HEIGHT, WIDTH, scale_step

NS = {"s": "http://www.w3.org/2000/svg"}
CIRCLE = {"type": "circle", "center": [34.7466, 113.6253], "radius_km": 1.5}
POLYGON = {
    "type": "polygon",
    "points": [[34.75, 113.62], [34.76, 113.64], [34.73, 113.65], [34.74, 113.63], [34.75, 113.62]],
}


def parsed(svg: str) -> etree._Element:
    return etree.fromstring(svg.encode())


def test_a_circle_is_drawn_round_with_its_radius_to_scale() -> None:
    svg = parsed(area_map(CIRCLE, "en"))
    assert svg.get("role") == "img"
    label = "Map of the affected area: circle of radius 1.5 km around 34.75, 113.63"
    assert svg.get("aria-label") == label
    assert svg.find("s:title", NS).text == label
    (circle,) = svg.findall(".//s:circle[@class='area']", NS)
    # Centred; its radius in px is 1500 m times the px per metre the scale bar shows.
    assert (float(circle.get("cx")), float(circle.get("cy"))) == (WIDTH / 2, HEIGHT / 2)
    bar = svg.find(".//s:g[@class='scale']/s:path", NS).get("d")
    start, end = float(bar.split("V")[0][1:].split()[0]), float(bar.split("H")[1].split("V")[0])
    scale_label = svg.find(".//s:text[@class='scale-label']", NS).text
    assert scale_label == "2 km"
    assert float(circle.get("r")) == pytest.approx(1500 * (end - start) / 2000, abs=0.2)
    assert float(circle.get("fill-opacity")) < 1  # the grid shows through
    assert svg.find(".//s:g[@class='north']/s:text", NS).text == "N"


def test_a_polygon_keeps_its_corners_and_the_chinese_labels() -> None:
    svg = parsed(area_map(POLYGON, "zh-CN"))
    (polygon,) = svg.findall(".//s:polygon[@class='area']", NS)
    corners = [tuple(map(float, p.split(","))) for p in polygon.get("points").split()]
    assert len(corners) == 4  # the closing point is implied
    assert all(0 <= x <= WIDTH and 0 <= y <= HEIGHT for x, y in corners)
    # North is up: the northernmost corner (34.76) is the highest on the picture.
    assert min(corners, key=lambda c: c[1]) == corners[1]
    assert svg.find(".//s:g[@class='north']/s:text", NS).text == "北"
    assert svg.find(".//s:text[@class='scale-label']", NS).text.endswith("公里")
    assert svg.get("aria-label").startswith("受影响区域地图：4 个角的区域")


def test_the_svg_is_small_deterministic_and_asks_for_nothing() -> None:
    first, again = str(area_map(POLYGON, "en")), str(area_map(POLYGON, "en"))
    assert first == again
    assert len(first.encode()) < 4096
    assert "http" not in first.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no third-party request
    assert "style=" not in first  # the CSP forbids inline style
    coordinates = re.findall(r' (?:x1|x2|y1|y2|cx|cy|r|x|y|points|d)="([^"]*)"', first)
    numbers = [float(n) for text in coordinates for n in re.findall(r"-?\d+(?:\.\d+)?", text)]
    assert len(numbers) > 20
    assert all(math.isclose(n * 10, round(n * 10), abs_tol=1e-9) for n in numbers)  # rounded to 0.1 px


def test_the_text_is_escaped() -> None:
    marked = [Marked(1, "#i-a", '<script>alert("x")</script>', CIRCLE)]
    svg = str(areas_map(marked, "en"))
    assert "<script>" not in svg
    parsed(svg)  # still well-formed


def test_the_overview_numbers_and_links_every_area() -> None:
    far = {"type": "circle", "center": [34.80, 113.70], "radius_km": 0.3}
    svg = parsed(areas_map([Marked(1, "#i-a", "水管爆裂", POLYGON), Marked(3, "#i-c", "Gas", far)], "en"))
    links = svg.findall("s:a", NS)
    assert [a.get("href") for a in links] == ["#i-a", "#i-c"]
    assert [a.get("aria-label") for a in links] == ["1. 水管爆裂", "3. Gas"]
    assert [a.find("s:text", NS).text for a in links] == ["1", "3"]
    areas = svg.find("s:g[@aria-hidden='true']", NS)
    assert areas.find("s:polygon", NS) is not None
    assert areas.find("s:circle[@class='area']", NS) is not None
    assert svg.find(".//s:g[@class='north']", NS) is not None


def test_numbers_of_areas_in_one_place_do_not_hide_each_other() -> None:
    same = [Marked(n, f"#i-{n}", str(n), CIRCLE) for n in range(1, 30)]
    svg = parsed(areas_map(same, "en"))
    spots = [(float(c.get("cx")), float(c.get("cy"))) for c in svg.findall("s:a/s:circle", NS)]
    assert len(spots) == 29
    assert all(math.dist(a, b) >= 18 for i, a in enumerate(spots) for b in spots[i + 1 :])
    assert all(0 < x < WIDTH and 0 < y < HEIGHT for x, y in spots)


def test_scale_steps_are_round() -> None:
    assert scale_step(4000) == 1000
    assert scale_step(1900) == 500
    assert scale_step(90_000) == 20_000


def test_area_data_and_tile_origin() -> None:
    data = area_data(CIRCLE, "zh-CN", "https://tile.example.org/{z}/{x}/{y}.png", "© OSM")
    assert data["shape"] == CIRCLE and data["tiles"].startswith("https://")
    assert data["t"]["inside"] == "您在受影响区域内。"
    assert tile_origin("https://tile.example.org:8443/{z}/{x}/{y}.png") == "https://tile.example.org:8443"
    assert tile_origin("https://{s}.tile.example.org/{z}/{x}/{y}.png") == "https://*.tile.example.org"
    assert tile_origin(None) is None


@pytest.mark.parametrize(
    "template",
    [
        "ftp://tile.example.org/{z}/{x}/{y}.png",
        "https://tile.example.org/{z}/{x}.png",
        "javascript:alert(1)//{z}/{x}/{y}",
        "https://user@tile.example.org/{z}/{x}/{y}.png",
        "https://tile.example.org/{z}/{x}/{y}.png' ; img-src *",
    ],
)
def test_bad_tile_templates_are_refused(template: str) -> None:
    with pytest.raises(ValidationError, match="map_tiles"):
        Settings(map_tiles=template)


def test_a_good_tile_template_is_kept() -> None:
    assert (
        Settings(map_tiles="http://127.0.0.1:9/{z}/{x}/{y}.png").map_tiles
        == "http://127.0.0.1:9/{z}/{x}/{y}.png"
    )
    assert Settings(map_tiles="").map_tiles is None
