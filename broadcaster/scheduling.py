"""Scheduled updates (being written)."""

from __future__ import annotations

from broadcaster.backends.base import Backend
from broadcaster.publishing import Publisher


class Scheduler:
    """Publishes due scheduled updates exactly once (being written)."""

    def __init__(self, backend: Backend, publisher: Publisher) -> None:
        self.backend = backend
        self.publisher = publisher

    async def start(self) -> None:
        """Start the background loop."""

    async def aclose(self) -> None:
        """Stop the background loop."""
