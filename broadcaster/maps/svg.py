"""An incident's area (or several incidents' areas) as a small inline SVG, drawn on the server.

No script, no third-party request, a few KB: a plain grid, the area filled half-transparent, a
scale bar of a round length and a north arrow, with a ``<title>`` and an ``aria-label`` saying what
it shows. Coordinates are rounded to 0.1 px, so the same shape always gives the same bytes. Styles
are presentation attributes (the CSP forbids ``style=""``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from broadcaster import i18n
from broadcaster.core import geometry
from broadcaster.core.types import JSON

WIDTH, HEIGHT = 320, 220
MARGIN = 0.18  # of the drawing, around the areas
MIN_EXTENT_M = 400.0  # the smallest stretch of ground the map shows
STEPS_M: tuple[int, ...] = (10, 20, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10_000, 20_000, 50_000)
STEPS_M += (100_000, 200_000, 500_000, 1_000_000, 2_000_000)
COLOUR = "#b3261e"
INK = "#1f1f1f"

Translate = Callable[[str], str]


@dataclass(frozen=True)
class Marked:
    """One incident on the overview map: its number, where its list entry is, its title, its area."""

    number: int
    href: str
    title: str
    shape: JSON


def _n(value: float) -> str:
    """A coordinate rounded to 0.1 (no ``-0``)."""
    text = f"{round(value, 1):.1f}".rstrip("0").rstrip(".")
    return "0" if text in {"-0", ""} else text


def _degrees(value: float) -> str:
    return f"{value:.2f}"


def length_text(metres: float, _: Translate) -> str:
    """``"500 m"``, ``"1.5 km"``, ``"2 km"`` (in the reader's language)."""
    if metres < 1000:
        return _("%(n)s m") % {"n": f"{metres:.0f}"}
    km = f"{metres / 1000:.1f}".removesuffix(".0")
    return _("%(n)s km") % {"n": km}


def scale_step(metres_across: float) -> float:
    """A round length near a quarter of the map's width."""
    target = metres_across / 4
    return min(STEPS_M, key=lambda step: abs(math.log(step / target)))


class Frame:
    """The local plane of the areas, fitted to the picture with a margin."""

    def __init__(self, shapes: Sequence[JSON]) -> None:
        box = geometry.bounding_box(shapes[0])
        for shape in shapes[1:]:
            box = box.union(geometry.bounding_box(shape))
        self.plane = geometry.plane_for(box)
        west, south = self.plane.project(box.south, box.west)
        east, north = self.plane.project(box.north, box.east)
        across = max(east - west, (north - south) * WIDTH / HEIGHT, MIN_EXTENT_M)
        self.scale = WIDTH * (1 - 2 * MARGIN) / across  # px per metre
        self.centre = ((west + east) / 2, (south + north) / 2)
        self.metres_across = WIDTH / self.scale

    def xy(self, lat: float, lon: float) -> tuple[float, float]:
        x, y = self.plane.project(lat, lon)
        return (
            WIDTH / 2 + (x - self.centre[0]) * self.scale,
            HEIGHT / 2 - (y - self.centre[1]) * self.scale,
        )


def _shape(frame: Frame, shape: JSON, extra: str = "") -> tuple[str, tuple[float, float]]:
    """The SVG element of one area, and the point where its label goes."""
    paint = f'fill="{COLOUR}" fill-opacity="0.25" stroke="{COLOUR}" stroke-width="2"{extra}'
    if shape["type"] == "circle":
        x, y = frame.xy(*shape["center"])
        r = max(3.0, shape["radius_km"] * 1000 * frame.scale)
        return f'<circle class="area" cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}" {paint}/>', (x, y)
    points = [frame.xy(lat, lon) for lat, lon in shape["points"]]
    drawn = " ".join(f"{_n(x)},{_n(y)}" for x, y in points[:-1])
    corners = points[:-1]
    middle = (sum(p[0] for p in corners) / len(corners), sum(p[1] for p in corners) / len(corners))
    return f'<polygon class="area" points="{drawn}" stroke-linejoin="round" {paint}/>', middle


def _grid(frame: Frame, step_m: float) -> str:
    step = step_m * frame.scale / 2
    while step < 16:
        step *= 2
    lines = [
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#f4f3ee"/>',
        '<g stroke="#d9d7cf" stroke-width="1">',
    ]
    x = (WIDTH / 2) % step
    while x < WIDTH:
        lines.append(f'<line x1="{_n(x)}" y1="0" x2="{_n(x)}" y2="{HEIGHT}"/>')
        x += step
    y = (HEIGHT / 2) % step
    while y < HEIGHT:
        lines.append(f'<line x1="0" y1="{_n(y)}" x2="{WIDTH}" y2="{_n(y)}"/>')
        y += step
    lines.append("</g>")
    return "".join(lines)


def _scale_bar(frame: Frame, step_m: float, _: Translate) -> str:
    length = step_m * frame.scale
    x0, y0 = 12.0, HEIGHT - 14.0
    label = escape(length_text(step_m, _))
    return (
        f'<g class="scale" stroke="{INK}" stroke-width="2" fill="none">'
        f'<path d="M{_n(x0)} {_n(y0 - 5)}V{_n(y0)}H{_n(x0 + length)}V{_n(y0 - 5)}"/></g>'
        f'<text class="scale-label" x="{_n(x0)}" y="{_n(y0 - 8)}" font-size="12" fill="{INK}" '
        f'font-family="sans-serif">{label}</text>'
    )


def _north(_: Translate) -> str:
    x, y = WIDTH - 22, 14
    return (
        f'<g class="north"><path d="M{x} {y}l7 20-7-5-7 5z" fill="{INK}"/>'
        f'<text x="{x}" y="{y + 34}" font-size="12" font-weight="bold" text-anchor="middle" fill="{INK}" '
        f'font-family="sans-serif">{escape(_("N"))}</text></g>'
    )


def _free_spot(at: tuple[float, float], taken: list[tuple[float, float]]) -> tuple[float, float]:
    """Where a number goes: at its area, or moved along until it hides no other number."""
    x, y = min(max(at[0], 12.0), WIDTH - 12.0), min(max(at[1], 12.0), HEIGHT - 34.0)
    for _ in range(len(taken) + 1):
        if all(math.hypot(x - tx, y - ty) >= 20 for tx, ty in taken):
            break
        x += 20
        if x > WIDTH - 12:
            x, y = 12.0, y + 20 if y + 20 <= HEIGHT - 34 else 12.0
    return x, y


def describe(shape: JSON, _: Translate) -> str:
    """What the map shows, in words (the SVG's title and accessible name)."""
    if shape["type"] == "circle":
        lat, lon = shape["center"]
        radius = length_text(shape["radius_km"] * 1000, _)
        words = _("circle of radius %(radius)s around %(lat)s, %(lon)s")
        return words % {"radius": radius, "lat": _degrees(lat), "lon": _degrees(lon)}
    box = geometry.bounding_box(shape)
    lat, lon = box.center
    east, north = geometry.plane_for(box).metres_per_degree()
    size = (
        f"{length_text((box.east - box.west) * east, _)} × {length_text((box.north - box.south) * north, _)}"
    )
    words = _("area of %(corners)s corners, %(size)s, around %(lat)s, %(lon)s")
    return words % {
        "corners": len(shape["points"]) - 1,
        "size": size,
        "lat": _degrees(lat),
        "lon": _degrees(lon),
    }


def _svg(ident: str, title: str, body: str, role: str = "img") -> Markup:
    """``role="img"`` for a picture; ``"group"`` when it holds links (an image's content is not read)."""
    title = escape(title)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="area-svg" id="{ident}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'role="{role}" aria-label="{title}">'
        f"<title>{title}</title>{body}</svg>"
    )


def area_map(shape: JSON, lang: str, ident: str = "area-map") -> Markup:
    """The map of one incident's area."""
    _ = i18n.translations(lang).gettext
    frame = Frame([shape])
    step = scale_step(frame.metres_across)
    drawn, _at = _shape(frame, shape)
    title = _("Map of the affected area: %(what)s") % {"what": describe(shape, _)}
    return _svg(ident, title, _grid(frame, step) + drawn + _scale_bar(frame, step, _) + _north(_))


def areas_map(marked: Sequence[Marked], lang: str, ident: str = "areas-map") -> Markup:
    """One map of several incidents' areas, each numbered and linked to its entry in the list."""
    _ = i18n.translations(lang).gettext
    frame = Frame([m.shape for m in marked])
    step = scale_step(frame.metres_across)
    shapes: list[str] = []
    labels: list[str] = []
    placed: list[tuple[float, float]] = []
    for m in marked:
        drawn, where = _shape(frame, m.shape)
        shapes.append(drawn)
        x, y = _free_spot(where, placed)
        placed.append((x, y))
        name = escape(f"{m.number}. {m.title}")
        labels.append(
            f'<a href="{escape(m.href)}" aria-label="{name}">'
            f'<circle cx="{_n(x)}" cy="{_n(y)}" r="9" fill="#fff" stroke="{INK}" stroke-width="1.5"/>'
            f'<text x="{_n(x)}" y="{_n(y + 4)}" font-size="12" font-weight="bold" text-anchor="middle" '
            f'fill="{INK}" font-family="sans-serif">{m.number}</text></a>'
        )
    # The areas first, the numbers (the links) on top, none hiding another.
    parts = [_grid(frame, step), '<g aria-hidden="true">', *shapes, "</g>", *labels]
    parts += [_scale_bar(frame, step, _), _north(_)]
    title = _("Map of the live incidents' areas, numbered as in the list")
    return _svg(ident, title, "".join(parts), role="group")
