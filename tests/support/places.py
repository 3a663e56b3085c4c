"""Places the tests draw on the map: real ones, in Zhengzhou."""

from __future__ import annotations

from typing import Any

# Around 文化路 between 花园路 and 东风路, closed (first point repeated last).
POLYGON: dict[str, Any] = {
    "type": "polygon",
    "points": [
        [34.7712, 113.6558],
        [34.7712, 113.6641],
        [34.7905, 113.6641],
        [34.7905, 113.6558],
        [34.7712, 113.6558],
    ],
}
