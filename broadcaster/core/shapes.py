"""An incident's structured area: a circle or a polygon on the map, as CAP 1.2 draws them.

Pure, no I/O. The stored (and API) form is JSON, latitude before longitude as in CAP:

* ``{"type": "circle", "center": [LAT, LON], "radius_km": R}``
* ``{"type": "polygon", "points": [[LAT, LON], ...]}``: closed (the last point repeats the
  first), 4 to :data:`MAX_POINTS` points.

Operators may type the CAP text form instead (the console): ``"34.7466,113.6253 1.5"`` for a
circle, ``"34.75,113.62 34.76,113.63 34.74,113.64 34.75,113.62"`` for a polygon.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from broadcaster.core.types import JSON

MAX_POINTS = 100
MAX_RADIUS_KM = 1_000.0
DIGITS = 6  # about 0.1 m: more would only be noise
TEXT_HELP = "expected 'lat,lon radius_km' for a circle or 'lat,lon lat,lon lat,lon ...' for a polygon"


def _coordinate(value: Any, where: str) -> tuple[float, float]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or len(value) != 2:
        raise ValueError(f"{where}: expected a [latitude, longitude] pair")
    lat, lon = value
    for number in (lat, lon):
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ValueError(f"{where}: latitude and longitude must be numbers")
    lat, lon = float(lat), float(lon)
    # Written so that NaN fails too (every comparison with NaN is false).
    if not -90.0 <= lat <= 90.0:
        raise ValueError(f"{where}: latitude must be between -90 and 90, not {lat:g}")
    if not -180.0 <= lon <= 180.0:
        raise ValueError(f"{where}: longitude must be between -180 and 180, not {lon:g}")
    return lat, lon


def check(shape: Mapping[str, Any]) -> JSON:
    """``shape`` checked and in its stored form (floats, lists).

    Raises:
        ValueError: a message naming what is wrong (a point out of range, an open
        polygon, too few or too many points, a radius that is not positive, ...).
    """
    kind = shape.get("type")
    if kind == "circle":
        if set(shape) != {"type", "center", "radius_km"}:
            raise ValueError("a circle has exactly: type, center [lat, lon], radius_km")
        lat, lon = _coordinate(shape["center"], "circle center")
        radius = shape["radius_km"]
        if isinstance(radius, bool) or not isinstance(radius, int | float):
            raise ValueError("circle radius_km must be a number")
        if not 0.0 < float(radius) <= MAX_RADIUS_KM:
            limit = f"above 0 and at most {MAX_RADIUS_KM:g}"
            raise ValueError(f"circle radius_km must be {limit}, not {radius:g}")
        return {"type": "circle", "center": [lat, lon], "radius_km": float(radius)}
    if kind == "polygon":
        if set(shape) != {"type", "points"}:
            raise ValueError("a polygon has exactly: type, points [[lat, lon], ...]")
        points = shape["points"]
        if isinstance(points, str | bytes) or not isinstance(points, Sequence):
            raise ValueError("polygon points must be a list of [latitude, longitude] pairs")
        if len(points) < 4:
            raise ValueError(
                f"a polygon needs at least 4 points (3 corners, then the first again), not {len(points)}"
            )
        if len(points) > MAX_POINTS:
            raise ValueError(f"a polygon has at most {MAX_POINTS} points, not {len(points)}")
        pairs = [_coordinate(point, f"polygon point {n}") for n, point in enumerate(points, 1)]
        if pairs[0] != pairs[-1]:
            raise ValueError("a polygon must be closed: its last point must repeat its first")
        if len(set(pairs)) < 3:
            raise ValueError("a polygon needs at least 3 different corners")
        return {"type": "polygon", "points": [[lat, lon] for lat, lon in pairs]}
    raise ValueError("type must be 'circle' or 'polygon'")


def parse(text: str) -> JSON | None:
    """A shape from its CAP text form (None for blank text). A polygon that is not closed
    is closed here, since typing the first point again is easy to forget.

    Raises:
        ValueError: not a circle or polygon, or one that :func:`check` refuses.
    """
    text = text.replace("，", ",").replace(";", " ").replace("；", " ")
    text = re.sub(r"\s*,\s*", ",", text.strip())
    if not text:
        return None
    words = text.split()
    try:
        if len(words) == 2 and "," not in words[1]:
            lat, lon = (_number(part) for part in _pair(words[0]))
            circle: JSON = {"type": "circle", "center": [lat, lon], "radius_km": _number(words[1])}
            return check(circle)
        pairs = [[_number(part) for part in _pair(word)] for word in words]
    except _Unreadable:
        raise ValueError(f"cannot read {text[:60]!r}: {TEXT_HELP}") from None
    if len(pairs) >= 3 and pairs[0] != pairs[-1]:
        pairs.append(list(pairs[0]))
    return check({"type": "polygon", "points": pairs})


class _Unreadable(Exception):
    """The text is not numbers in the expected places."""


def _pair(word: str) -> list[str]:
    parts = word.split(",")
    if len(parts) != 2:
        raise _Unreadable(word)
    return parts


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _Unreadable(text) from None
    if not math.isfinite(value):
        raise _Unreadable(text)
    return value


def _text(value: float) -> str:
    written = f"{value:.{DIGITS}f}".rstrip("0").rstrip(".")
    return "0" if written == "-0" else written


def cap_text(shape: JSON) -> tuple[str, str]:
    """``("circle", "lat,lon radius")`` or ``("polygon", "lat,lon lat,lon ...")``: the CAP
    element name and its content."""
    if shape["type"] == "circle":
        lat, lon = shape["center"]
        return "circle", f"{_text(lat)},{_text(lon)} {_text(shape['radius_km'])}"
    return "polygon", " ".join(f"{_text(lat)},{_text(lon)}" for lat, lon in shape["points"])


def as_text(shape: JSON | None) -> str:
    """The CAP text form of a shape, as an operator types it ("" for none)."""
    return "" if shape is None else cap_text(shape)[1]
