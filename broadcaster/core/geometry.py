"""Where a point is relative to an incident's area (:mod:`broadcaster.core.shapes`). Pure, no I/O.

Distances are on a sphere of the Earth's mean radius (haversine): at city scale the error
against the ellipsoid is well under 0.5 %. Inside/outside of a polygon is decided on the plane of
latitude and longitude (ray casting), as CAP's own polygons are drawn; the distance to its edge
is measured on a local equirectangular plane around the point, exact enough for the 500 m of
"near". ``static/area.js`` does the same in the browser; ``tests/core/geometry_cases.json`` holds
the cases both must answer alike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from broadcaster.core.types import JSON

EARTH_RADIUS_M = 6_371_008.8
NEAR_M = 500.0

Point = tuple[float, float]  # (latitude, longitude) in degrees
Placement = Literal["inside", "near", "outside"]


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def points_of(shape: JSON) -> list[Point]:
    """A polygon's corners as pairs (the closing point included)."""
    return [(float(lat), float(lon)) for lat, lon in shape["points"]]


def in_polygon(points: Sequence[Point], lat: float, lon: float) -> bool:
    """Ray casting (even-odd), on the latitude/longitude plane; a closed or open ring."""
    inside = False
    n = len(points)
    for i in range(n):
        lat_a, lon_a = points[i]
        lat_b, lon_b = points[i - 1]
        if (lat_a > lat) != (lat_b > lat):
            crossing = lon_a + (lat - lat_a) * (lon_b - lon_a) / (lat_b - lat_a)
            if lon < crossing:
                inside = not inside
    return inside


def _to_plane(origin: Point, lat: float, lon: float) -> tuple[float, float]:
    """Metres east and north of ``origin`` (equirectangular around it)."""
    k = math.radians(1) * EARTH_RADIUS_M
    return (lon - origin[1]) * k * math.cos(math.radians(origin[0])), (lat - origin[0]) * k


def _segment_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Distance from the plane's origin to the segment a-b, in metres."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else max(0.0, min(1.0, -(a[0] * dx + a[1] * dy) / length2))
    return math.hypot(a[0] + t * dx, a[1] + t * dy)


def distance_to_polygon_m(points: Sequence[Point], lat: float, lon: float) -> float:
    """0 inside, else the distance to the nearest edge in metres."""
    if in_polygon(points, lat, lon):
        return 0.0
    plane = [_to_plane((lat, lon), p_lat, p_lon) for p_lat, p_lon in points]
    return min(_segment_m(plane[i - 1], plane[i]) for i in range(1, len(plane)))


def distance_to_circle_m(center: Point, radius_km: float, lat: float, lon: float) -> float:
    """0 inside, else the distance to the circle's edge in metres."""
    return max(0.0, distance_m(center[0], center[1], lat, lon) - radius_km * 1000.0)


def distance_to_shape_m(shape: JSON, lat: float, lon: float) -> float:
    """0 inside the area, else the distance to its edge in metres."""
    if shape["type"] == "circle":
        center = (float(shape["center"][0]), float(shape["center"][1]))
        return distance_to_circle_m(center, float(shape["radius_km"]), lat, lon)
    return distance_to_polygon_m(points_of(shape), lat, lon)


def classify(shape: JSON, lat: float, lon: float, near_m: float = NEAR_M) -> Placement:
    """``inside`` the area, ``near`` it (outside, within ``near_m`` metres of its edge) or ``outside``."""
    distance = distance_to_shape_m(shape, lat, lon)
    if distance == 0.0:
        return "inside"
    return "near" if distance <= near_m else "outside"


@dataclass(frozen=True)
class Box:
    """A bounding box in degrees."""

    south: float
    west: float
    north: float
    east: float

    @property
    def center(self) -> Point:
        return (self.south + self.north) / 2, (self.west + self.east) / 2

    def union(self, other: Box) -> Box:
        return Box(
            min(self.south, other.south),
            min(self.west, other.west),
            max(self.north, other.north),
            max(self.east, other.east),
        )


def bounding_box(shape: JSON) -> Box:
    """The smallest latitude/longitude box holding the area (a circle's, from its radius)."""
    if shape["type"] == "circle":
        lat, lon = float(shape["center"][0]), float(shape["center"][1])
        dlat = math.degrees(float(shape["radius_km"]) * 1000.0 / EARTH_RADIUS_M)
        cos = max(math.cos(math.radians(lat)), 1e-6)
        dlon = min(180.0, dlat / cos)
        return Box(
            max(-90.0, lat - dlat), max(-180.0, lon - dlon), min(90.0, lat + dlat), min(180.0, lon + dlon)
        )
    points = points_of(shape)
    lats, lons = [p[0] for p in points], [p[1] for p in points]
    return Box(min(lats), min(lons), max(lats), max(lons))


@dataclass(frozen=True)
class Plane:
    """An equirectangular projection around ``origin``: (lat, lon) -> metres (x east, y north)."""

    origin: Point

    def project(self, lat: float, lon: float) -> tuple[float, float]:
        return _to_plane(self.origin, lat, lon)

    def metres_per_degree(self) -> tuple[float, float]:
        """(east, north) metres per degree of longitude and latitude at the origin."""
        k = math.radians(1) * EARTH_RADIUS_M
        return k * math.cos(math.radians(self.origin[0])), k


def plane_for(box: Box) -> Plane:
    """The local plane to draw a box on, around its centre."""
    return Plane(box.center)


# --- areas against areas (following an area: does an incident's area meet a subscriber's circle?) ---

_PIECE_KM = 2.0
"""Polygon edges are followed in pieces this long (at most :data:`_MAX_PIECES` per edge): an
edge is a straight line on the latitude/longitude plane, which near the poles is far from the
great circle between its ends."""
_MAX_PIECES = 256


def _unit(lat: float, lon: float) -> tuple[float, float, float]:
    p, lam = math.radians(lat), math.radians(lon)
    return math.cos(p) * math.cos(lam), math.cos(p) * math.sin(lam), math.sin(p)


def _cross(a: tuple[float, float, float], b: tuple[float, float, float]) -> tuple[float, float, float]:
    return a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]


def _dot(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


def _arc_m(a: tuple[float, float, float], b: tuple[float, float, float]) -> float:
    """The great-circle distance between two unit vectors, in metres."""
    return EARTH_RADIUS_M * math.atan2(math.sqrt(_dot(n := _cross(a, b), n)), _dot(a, b))


def distance_to_arc_m(p: Point, a: Point, b: Point) -> float:
    """The great-circle distance from ``p`` to the shorter great-circle arc a-b, in metres.
    Exact on the sphere: at the poles and across the antimeridian alike."""
    up, ua, ub = _unit(*p), _unit(*a), _unit(*b)
    normal = _cross(ua, ub)
    size = math.sqrt(_dot(normal, normal))
    ends = min(_arc_m(up, ua), _arc_m(up, ub))
    if size < 1e-15:  # a and b are one point (or opposite: never for an area's edge)
        return ends
    n = (normal[0] / size, normal[1] / size, normal[2] / size)
    # The foot of the perpendicular lies on the arc when it is on the inner side of both ends.
    if _dot(_cross(ua, up), n) >= 0 and _dot(_cross(up, ub), n) >= 0:
        return EARTH_RADIUS_M * abs(math.asin(max(-1.0, min(1.0, _dot(up, n)))))
    return ends


def unwrap(points: Sequence[Point], lon: float) -> list[Point]:
    """The ring with its longitudes made continuous (no edge jumps more than 180 degrees:
    a polygon drawn across the antimeridian), shifted by a multiple of 360 so that it lies
    nearest to ``lon``."""
    ring: list[Point] = []
    for lat, p_lon in points:
        if ring:
            previous = ring[-1][1]
            p_lon += 360.0 * round((previous - p_lon) / 360.0)
        ring.append((lat, p_lon))
    lons = [p[1] for p in ring]
    middle = (min(lons) + max(lons)) / 2
    shift = 360.0 * round((lon - middle) / 360.0)
    return [(lat, p_lon + shift) for lat, p_lon in ring]


def _edge_pieces(a: Point, b: Point) -> list[Point]:
    """Points along the straight (latitude/longitude plane) edge a-b, ends included."""
    count = min(_MAX_PIECES, max(1, math.ceil(distance_m(*a, *b) / 1000.0 / _PIECE_KM)))
    return [(a[0] + (b[0] - a[0]) * i / count, a[1] + (b[1] - a[1]) * i / count) for i in range(count + 1)]


def polygon_distance_m(points: Sequence[Point], lat: float, lon: float) -> float:
    """0 when the point is inside the polygon, else the distance to its nearest edge in
    metres; across the antimeridian and near the poles too (see :func:`unwrap`)."""
    ring = unwrap(points, lon)
    if in_polygon(ring, lat, lon):
        return 0.0
    best = math.inf
    for i in range(1, len(ring)):
        piece = _edge_pieces(ring[i - 1], ring[i])
        for j in range(1, len(piece)):
            best = min(best, distance_to_arc_m((lat, lon), piece[j - 1], piece[j]))
    return best


def circles_meet(a: JSON, b: JSON) -> bool:
    """Whether two circles (``{"center": [lat, lon], "radius_km"}``) overlap or touch."""
    (lat1, lon1), (lat2, lon2) = a["center"], b["center"]
    reach = (float(a["radius_km"]) + float(b["radius_km"])) * 1000.0
    return distance_m(float(lat1), float(lon1), float(lat2), float(lon2)) <= reach


def circle_meets_polygon(circle: JSON, points: Sequence[Point]) -> bool:
    """Whether a circle overlaps or touches a polygon (one inside the other counts)."""
    lat, lon = float(circle["center"][0]), float(circle["center"][1])
    radius = float(circle["radius_km"]) * 1000.0
    # A cheap refusal first: the polygon's edges are straight on the latitude/longitude plane,
    # so its latitudes and (unwrapped) longitudes lie between its corners'.
    reach = radius / EARTH_RADIUS_M  # the circle's angular radius
    ring = unwrap(points, lon)
    lats, lons = [p[0] for p in ring], [p[1] for p in ring]
    dlat = math.degrees(reach)
    if lat + dlat < min(lats) or lat - dlat > max(lats):
        return False
    if abs(lat) + dlat < 90.0:  # else the circle holds a pole: every longitude
        dlon = math.degrees(math.asin(min(1.0, math.sin(reach) / math.cos(math.radians(lat)))))
        if lon + dlon < min(lons) or lon - dlon > max(lons):
            return False
    return polygon_distance_m(points, lat, lon) <= radius


def areas_meet(shape: JSON, circle: JSON) -> bool:
    """Whether an incident's area (a circle or a polygon) meets a subscriber's circle."""
    if shape.get("type") == "circle":
        return circles_meet(shape, circle)
    return circle_meets_polygon(circle, points_of(shape))
