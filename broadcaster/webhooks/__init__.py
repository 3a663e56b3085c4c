"""Webhooks: the endpoint rules, the registry, delivery (leased, ordered, at least once) and their routes."""

from __future__ import annotations

from broadcaster.webhooks.routes import webhook_notices

__all__ = [
    "webhook_notices",
]
