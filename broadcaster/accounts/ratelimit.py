"""A fixed-window counter per key, kept in the store so every process shares it.

One document per key (``{"start": t, "count": n}``) changed with compare-and-set: a
window opens with the first hit and allows ``limit`` hits until it ends.
"""

from __future__ import annotations

import math
import time

from broadcaster.stores.base import Backend

ATTEMPTS = 20


class RateLimited(Exception):
    """Too many attempts; ``retry_after`` seconds until the window ends (HTTP 429)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many requests; try again in {retry_after} seconds")
        self.retry_after = retry_after


async def hit(backend: Backend, key: str, limit: int, window: float, now: float | None = None) -> None:
    """Count one attempt under ``key``.

    Raises:
        RateLimited: ``limit`` attempts were counted already in the current window
            (this one is not counted).
        BackendError: the store failed.
    """
    for _ in range(ATTEMPTS):
        moment = time.time() if now is None else now
        doc = await backend.get_doc(key)
        value = dict(doc.value) if doc else {}
        if value.get("start", 0.0) + window <= moment:
            value = {"start": moment, "count": 0}
        if value["count"] >= limit:
            raise RateLimited(max(1, math.ceil(value["start"] + window - moment)))
        value["count"] += 1
        if await backend.put_doc(key, value, expect_version=doc.version if doc else 0):
            return
    raise RateLimited(1)  # contended beyond reason: the caller may try again at once
