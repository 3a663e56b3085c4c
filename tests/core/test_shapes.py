"""The area drawn on the map: checked strictly, read from what operators type, written as CAP."""

from __future__ import annotations

from typing import Any

import pytest

from broadcaster.core import shapes
from tests.support.places import POLYGON

CIRCLE = {"type": "circle", "center": [34.7466, 113.6253], "radius_km": 1.5}


def test_a_valid_circle_and_polygon_come_back_in_their_stored_form() -> None:
    assert shapes.check(CIRCLE) == CIRCLE
    assert shapes.check({"type": "circle", "center": (34, 113), "radius_km": 2}) == {
        "type": "circle",
        "center": [34.0, 113.0],
        "radius_km": 2.0,
    }
    assert shapes.check(POLYGON) == POLYGON


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ({"type": "circle", "center": [90.5, 113], "radius_km": 1}, "latitude must be between -90 and 90"),
        (
            {"type": "circle", "center": [34, -180.1], "radius_km": 1},
            "longitude must be between -180 and 180",
        ),
        ({"type": "circle", "center": [34, 113], "radius_km": 0}, "radius_km must be above 0"),
        ({"type": "circle", "center": [34, 113], "radius_km": -2}, "radius_km must be above 0"),
        ({"type": "circle", "center": [34, 113], "radius_km": 5000}, "at most 1000"),
        ({"type": "circle", "center": [float("nan"), 113], "radius_km": 1}, "latitude"),
        ({"type": "circle", "center": [34, 113], "radius_km": float("inf")}, "radius_km"),
        ({"type": "circle", "center": [34, True], "radius_km": 1}, "must be numbers"),
        ({"type": "circle", "center": "34,113", "radius_km": 1}, "pair"),
        ({"type": "polygon", "points": [[1, 1], [1, 2], [2, 2]]}, "at least 4 points"),
        ({"type": "polygon", "points": [[1, 1], [1, 2], [2, 2], [2, 1]]}, "must be closed"),
        ({"type": "polygon", "points": [[1, 1], [1, 2], [1, 1], [1, 1]]}, "3 different corners"),
        ({"type": "polygon", "points": [[0, 0], *[[1, i / 10] for i in range(100)], [0, 0]]}, "at most 100"),
        ({"type": "polygon", "points": [[1, 1], [1, 2], [91, 2], [1, 1]]}, "polygon point 3: latitude"),
        ({"type": "square", "points": []}, "'circle' or 'polygon'"),
        ({"type": "circle", "center": [1, 2], "radius_km": 1, "extra": 1}, "exactly"),
    ],
)
def test_a_bad_shape_is_refused_with_a_clear_message(shape: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        shapes.check(shape)


def test_operators_type_the_cap_text_form() -> None:
    assert shapes.parse("34.7466,113.6253 1.5") == CIRCLE
    assert shapes.parse("  34.7466 , 113.6253   1.5 ") == CIRCLE  # spaces around the comma
    assert shapes.parse("34.7466，113.6253 1.5") == CIRCLE  # a full-width comma
    typed = "34.7712,113.6558 34.7712,113.6641\n34.7905,113.6641; 34.7905,113.6558"
    assert shapes.parse(typed) == POLYGON  # closed for the operator
    assert shapes.parse(typed + " 34.7712,113.6558") == POLYGON
    assert shapes.parse("   ") is None


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("here", "cannot read"),
        ("34.7,113.6", "at least 4 points"),
        ("34.7,113.6 one", "cannot read"),
        ("34.7,113.6,5 1", "cannot read"),
        ("34.7,113.6 nan", "cannot read"),
        ("34.7,213.6 1", "longitude"),
        ("34.7,113.6 0", "radius_km must be above 0"),
    ],
)
def test_what_cannot_be_read_says_what_is_expected(typed: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        shapes.parse(typed)


def test_cap_text_is_lat_lon_pairs_and_a_radius_in_km() -> None:
    assert shapes.cap_text(CIRCLE) == ("circle", "34.7466,113.6253 1.5")
    element, text = shapes.cap_text(POLYGON)
    assert element == "polygon"
    assert text.split() == ["34.7712,113.6558", "34.7712,113.6641", "34.7905,113.6641", "34.7905,113.6558",
                            "34.7712,113.6558"]  # fmt: skip
    assert shapes.cap_text({"type": "circle", "center": [-0.0, 1 / 3], "radius_km": 10.0}) == (
        "circle",
        "0,0.333333 10",
    )
    assert shapes.parse(shapes.as_text(POLYGON)) == POLYGON  # what the console shows reads back
    assert shapes.as_text(None) == ""
