"""Maps: an incident's area drawn as a small inline SVG on the server (the timeline, the list
of live incidents, the console), the optional tile server, and what the timeline's "am I affected?"
needs. The geometry itself is pure, in ``core/geometry.py``; the browser's copy is ``static/area.js``.
"""

from broadcaster.maps.svg import Marked, area_map, areas_map
from broadcaster.maps.tiles import area_data, tile_origin

__all__ = ["Marked", "area_data", "area_map", "areas_map", "tile_origin"]
