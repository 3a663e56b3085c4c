"""What the timeline's scripts get about the area: the shape, their strings, the tile server.

``static/area.js`` ("am I affected?") and ``static/map.js`` (tiles, only with
``INCIDENTS_MAP_TILES``) read it from ``<script type="application/json" id="area-data">``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from broadcaster import i18n
from broadcaster.core.types import JSON


def tile_origin(template: str | None) -> str | None:
    """``https://tile.example.org`` for ``https://tile.example.org/{z}/{x}/{y}.png`` (None: no tiles).
    A ``{s}`` subdomain placeholder widens it to every subdomain (``https://*.example.org``)."""
    if not template:
        return None
    parts = urlsplit(template)
    host = parts.netloc.rpartition("@")[2]
    if host.startswith("{s}."):
        host = "*." + host.removeprefix("{s}.")
    return f"{parts.scheme}://{host}"


def area_data(shape: JSON, lang: str, tiles: str | None = None, attribution: str = "") -> dict[str, Any]:
    """The JSON the timeline's map and "am I affected?" scripts read."""
    _ = i18n.translations(lang).gettext
    return {
        "shape": shape,
        "tiles": tiles,
        "attribution": attribution,
        "t": {
            "locating": _("Finding where you are…"),
            "inside": _("You are inside the affected area."),
            "near": _("You are near the affected area (within 500 m of its edge)."),
            "outside": _("You are outside the affected area (more than 500 m from its edge)."),
            "denied": _(
                "Your location is not available: permission was refused. "
                "Compare the map with where you are instead."
            ),
            "failed": _(
                "Your location could not be found. Try again, or compare the map with where you are."
            ),
            "unsupported": _("This browser cannot tell where you are. Compare the map with where you are."),
            "map": _("Map of the affected area over a street map"),
            "zoom_in": _("Zoom in"),
            "zoom_out": _("Zoom out"),
        },
    }
