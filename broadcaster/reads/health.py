"""``/healthz`` and ``/readyz``: what they answer, for the route table and the read path."""

from __future__ import annotations

from typing import Any

from broadcaster.stores.base import Backend, BackendError

__all__ = ["LIVE", "readiness"]

LIVE = (200, {"status": "ok"})


async def readiness(backend: Backend) -> tuple[int, dict[str, Any]]:
    """200 ``ready``, or 503 with what is wrong (with ``Retry-After: 2``)."""
    try:
        await backend.ping()
    except BackendError as exc:
        return 503, {"status": "unavailable", "detail": str(exc)}
    if getattr(backend, "pubsub_connected", True) is False:
        return 503, {"status": "degraded", "detail": "the store answers, but live fan-out is reconnecting"}
    return 200, {"status": "ready"}
