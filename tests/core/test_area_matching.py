"""Following an area: does an incident's area (a circle or a polygon) meet a subscriber's
circle? Pure functions, checked against distances worked out by hand, also across the
antimeridian and near the poles."""

from __future__ import annotations

import math

import pytest

from broadcaster.core import geometry
from broadcaster.core.types import JSON

KM_PER_DEGREE = math.radians(1) * geometry.EARTH_RADIUS_M / 1000.0  # along a meridian: ~111.195 km


def circle(lat: float, lon: float, radius_km: float) -> JSON:
    return {"type": "circle", "center": [lat, lon], "radius_km": radius_km}


def square(south: float, west: float, north: float, east: float) -> JSON:
    points = [[south, west], [south, east], [north, east], [north, west], [south, west]]
    return {"type": "polygon", "points": points}


def test_circles_meet_when_their_centres_are_closer_than_both_radii() -> None:
    # Two centres 0.1 degree of latitude apart: 11.12 km.
    gap = 0.1 * KM_PER_DEGREE
    assert geometry.areas_meet(circle(34.7, 113.6, 5.0), circle(34.8, 113.6, gap - 5.0 + 0.01))
    assert not geometry.areas_meet(circle(34.7, 113.6, 5.0), circle(34.8, 113.6, gap - 5.0 - 0.01))


def test_circles_across_the_antimeridian() -> None:
    # 179.95 E and 179.95 W are 0.1 degree of longitude apart at the equator: 11.12 km, not 40,000.
    assert geometry.areas_meet(circle(0.0, 179.95, 6.0), circle(0.0, -179.95, 6.0))
    assert not geometry.areas_meet(circle(0.0, 179.95, 5.0), circle(0.0, -179.95, 5.0))


def test_circles_near_a_pole_are_close_whatever_their_longitudes() -> None:
    # 89.95 N at 0 and at 180 degrees: 0.1 degree apart across the pole (11.12 km).
    assert geometry.areas_meet(circle(89.95, 0.0, 6.0), circle(89.95, 180.0, 6.0))
    assert not geometry.areas_meet(circle(89.95, 0.0, 5.0), circle(89.95, 180.0, 5.0))
    # At 89.95 N, 90 degrees of longitude apart: 0.05 * sqrt(2) degrees = 7.86 km.
    assert geometry.areas_meet(circle(89.95, 0.0, 4.0), circle(89.95, 90.0, 4.0))
    assert not geometry.areas_meet(circle(89.95, 0.0, 3.8), circle(89.95, 90.0, 3.8))


def test_a_circle_inside_a_polygon_and_a_polygon_inside_a_circle_meet() -> None:
    area = square(34.0, 113.0, 35.0, 114.0)
    assert geometry.areas_meet(area, circle(34.5, 113.5, 0.5))  # the circle inside
    assert geometry.areas_meet(square(34.70, 113.60, 34.71, 113.61), circle(34.705, 113.605, 20.0))


def test_a_circle_meets_a_polygon_when_it_reaches_an_edge() -> None:
    area = square(34.0, 113.0, 35.0, 114.0)
    # 0.05 degree north of the northern edge: 5.56 km.
    gap = 0.05 * KM_PER_DEGREE
    assert geometry.areas_meet(area, circle(35.05, 113.5, gap + 0.01))
    assert not geometry.areas_meet(area, circle(35.05, 113.5, gap - 0.01))
    # East of the eastern edge: 0.05 degree of longitude at 34.5 N is shorter (cos 34.5).
    east = 0.05 * KM_PER_DEGREE * math.cos(math.radians(34.5))
    assert geometry.areas_meet(area, circle(34.5, 114.05, east + 0.01))
    assert not geometry.areas_meet(area, circle(34.5, 114.05, east - 0.01))


def test_a_corner_is_nearer_than_a_rectangle_of_the_edges_would_say() -> None:
    area = square(34.0, 113.0, 35.0, 114.0)
    # Diagonally off the north-east corner: 0.03 degree north and 0.03 degree east.
    north, east = 0.03 * KM_PER_DEGREE, 0.03 * KM_PER_DEGREE * math.cos(math.radians(35.0))
    corner = math.hypot(north, east)
    assert geometry.areas_meet(area, circle(35.03, 114.03, corner + 0.02))
    assert not geometry.areas_meet(area, circle(35.03, 114.03, corner - 0.02))


def test_a_polygon_drawn_across_the_antimeridian() -> None:
    # From 179.9 E to 179.9 W: 0.2 degree wide, across 180, not 359.8 degrees the other way.
    area = {"type": "polygon", "points": [[-17.0, 179.9], [-17.0, -179.9], [-16.9, -179.9],
                                           [-16.9, 179.9], [-17.0, 179.9]]}  # fmt: skip
    assert geometry.areas_meet(area, circle(-16.95, 180.0, 0.5))  # inside, on the line itself
    assert geometry.areas_meet(area, circle(-16.95, -179.99, 0.5))
    assert not geometry.areas_meet(area, circle(-16.95, 0.0, 20.0))  # the other side of the Earth
    # 0.05 degree of longitude east of its eastern edge (179.9 W) at 16.95 S: 5.32 km.
    gap = 0.05 * KM_PER_DEGREE * math.cos(math.radians(16.95))
    assert geometry.areas_meet(area, circle(-16.95, -179.85, gap + 0.02))
    assert not geometry.areas_meet(area, circle(-16.95, -179.85, gap - 0.02))
    # And from the west, a circle given at 179.85 E.
    assert geometry.areas_meet(area, circle(-16.95, 179.85, gap + 0.02))
    assert not geometry.areas_meet(area, circle(-16.95, 179.85, gap - 0.02))


def test_a_polygon_near_a_pole() -> None:
    # A band near the north pole between 89.8 and 89.9 N, from 0 to 90 E.
    area = square(89.8, 0.0, 89.9, 90.0)
    assert geometry.areas_meet(area, circle(89.85, 45.0, 0.5))  # inside
    # The pole itself is 0.1 degree north of the band's northern edge (11.12 km), whatever longitude.
    gap = 0.1 * KM_PER_DEGREE
    assert geometry.areas_meet(area, circle(90.0, 0.0, gap + 0.05))
    assert not geometry.areas_meet(area, circle(90.0, 0.0, gap - 0.05))
    # Across the pole, at 89.95 N 135 W: the band's nearest points are its corners at 89.9 N,
    # 0 E and 90 E (both 135 degrees of longitude away), each at the haversine distance below.
    corner = geometry.distance_m(89.95, -135.0, 89.9, 0.0) / 1000.0  # 15.56 km
    assert geometry.areas_meet(area, circle(89.95, -135.0, corner + 0.05))
    assert not geometry.areas_meet(area, circle(89.95, -135.0, corner - 0.05))


def test_a_polygon_near_the_south_pole_against_a_circle_over_the_pole() -> None:
    area = square(-89.9, -10.0, -89.8, 10.0)
    assert geometry.areas_meet(area, circle(-90.0, 0.0, 11.2))  # 0.1 degree: 11.12 km
    assert not geometry.areas_meet(area, circle(-90.0, 0.0, 11.0))


@pytest.mark.parametrize(
    ("p", "a", "b", "expected_km"),
    [
        ((0.1, 0.5), (0.0, 0.0), (0.0, 1.0), 0.1 * KM_PER_DEGREE),  # over the middle of the arc
        ((0.0, 2.0), (0.0, 0.0), (0.0, 1.0), 1.0 * KM_PER_DEGREE),  # beyond an end
        ((0.0, -179.5), (0.0, 179.0), (0.0, -179.0), 0.0),  # on an arc across the antimeridian
        ((89.0, 0.0), (89.0, 90.0), (89.0, 90.0), geometry.distance_m(89, 0, 89, 90) / 1000),
    ],
)
def test_distance_to_an_arc(p: tuple[float, float], a: tuple[float, float], b: tuple[float, float],
                            expected_km: float) -> None:  # fmt: skip
    assert geometry.distance_to_arc_m(p, a, b) / 1000.0 == pytest.approx(expected_km, abs=1e-3)
