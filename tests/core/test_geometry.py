"""Where a point is relative to an area: the same table of cases for Python (core/geometry.py)
and the browser (static/area.js, run by node), so the two cannot drift apart."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from broadcaster.core import geometry

HERE = Path(__file__).resolve().parent
CASES_FILE = HERE / "geometry_cases.json"
AREA_JS = HERE.parents[1] / "static" / "area.js"
TABLE: dict[str, Any] = json.loads(CASES_FILE.read_text(encoding="utf-8"))
CASES: list[dict[str, Any]] = TABLE["cases"]


def test_the_table_covers_every_answer_for_both_shapes() -> None:
    seen = {(case["shape"]["type"], case["expected"]) for case in CASES}
    assert seen == {
        (kind, answer) for kind in ("circle", "polygon") for answer in ("inside", "near", "outside")
    }


@pytest.mark.parametrize("case", CASES, ids=[case["name"] for case in CASES])
def test_classify(case: dict[str, Any]) -> None:
    lat, lon = case["point"]
    assert geometry.classify(case["shape"], lat, lon, TABLE["near_m"]) == case["expected"]


def test_the_browser_answers_every_case_alike() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")  # CI turns a skip into a failure
    script = (
        "const area = require(process.argv[1]);"
        "const table = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));"
        "console.log(JSON.stringify(table.cases.map(c => ["
        "  area.classify(c.shape, c.point[0], c.point[1], table.near_m),"
        "  area.distanceToShapeM(c.shape, c.point[0], c.point[1])])));"
    )
    done = subprocess.run(
        [node, "-e", script, str(AREA_JS), str(CASES_FILE)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    answers = json.loads(done.stdout)
    assert [a[0] for a in answers] == [case["expected"] for case in CASES]
    for (_, js_distance), case in zip(answers, CASES, strict=True):
        py_distance = geometry.distance_to_shape_m(case["shape"], *case["point"])
        assert math.isclose(js_distance, py_distance, rel_tol=1e-9, abs_tol=1e-6), case["name"]


def test_haversine_against_known_distances() -> None:
    # One degree of latitude on the mean sphere; a quarter of the equator.
    assert geometry.distance_m(0, 0, 1, 0) == pytest.approx(111_195.08, abs=0.01)
    assert geometry.distance_m(0, 0, 0, 90) == pytest.approx(math.pi / 2 * geometry.EARTH_RADIUS_M)
    assert geometry.distance_m(34.7, 113.6, 34.7, 113.6) == 0.0
    # Zhengzhou to Beijing (about 620 km as the crow flies).
    assert 610_000 < geometry.distance_m(34.7466, 113.6253, 39.9042, 116.4074) < 630_000


def test_point_in_a_concave_polygon() -> None:
    # A "U": the notch (x 1..2, y 1..3) is outside though inside the bounding box.
    u = [
        (0.0, 0.0),
        (0.0, 3.0),
        (3.0, 3.0),
        (3.0, 2.0),
        (1.0, 2.0),
        (1.0, 1.0),
        (3.0, 1.0),
        (3.0, 0.0),
        (0.0, 0.0),
    ]
    assert geometry.in_polygon(u, 0.5, 0.5)
    assert geometry.in_polygon(u, 2.5, 2.5)
    assert not geometry.in_polygon(u, 2.0, 1.5)
    assert not geometry.in_polygon(u, -1.0, 1.0)


def test_distances_are_zero_inside_and_grow_outside() -> None:
    circle = {"type": "circle", "center": [34.7466, 113.6253], "radius_km": 1.5}
    assert geometry.distance_to_shape_m(circle, 34.7466, 113.6253) == 0.0
    one_km_north = 34.7466 + 2500 / 111_195.08
    assert geometry.distance_to_shape_m(circle, one_km_north, 113.6253) == pytest.approx(1000, abs=1)
    assert geometry.classify(circle, one_km_north, 113.6253) == "outside"
    assert geometry.classify(circle, one_km_north, 113.6253, near_m=1200) == "near"


def test_bounding_box_and_plane() -> None:
    circle = {"type": "circle", "center": [34.75, 113.63], "radius_km": 1.0}
    box = geometry.bounding_box(circle)
    assert box.center == pytest.approx((34.75, 113.63))
    plane = geometry.plane_for(box)
    north = plane.project(box.north, 113.63)
    east = plane.project(34.75, box.east)
    assert north == pytest.approx((0.0, 1000.0), abs=0.5)
    assert east == pytest.approx((1000.0, 0.0), abs=0.5)
    polygon = {"type": "polygon", "points": [[34.7, 113.6], [34.8, 113.6], [34.8, 113.7], [34.7, 113.6]]}
    assert geometry.bounding_box(polygon) == geometry.Box(34.7, 113.6, 34.8, 113.7)
    assert geometry.bounding_box(polygon).union(box) == geometry.Box(34.7, 113.6, 34.8, 113.7)
