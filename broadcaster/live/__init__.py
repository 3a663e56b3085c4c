"""Live delivery: the hub (one upstream per process, bytes to every reader), WebSocket, SSE and polling."""

from __future__ import annotations

from broadcaster.live.deps import HubDep
from broadcaster.live.hub import Hub, Opening
from broadcaster.live.presence import Presence
from broadcaster.live.readers import Closed, Overflow, Subscription

__all__ = [
    "Closed",
    "Hub",
    "HubDep",
    "Opening",
    "Overflow",
    "Presence",
    "Subscription",
]
