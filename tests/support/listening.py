"""A backend listener that records what it gets, and a wait for a condition."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from broadcaster.core.events import Event
from tests.support.server import scaled


class Recorder:
    """A Listener that records what it gets."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.resyncs = 0

    def on_event(self, event: Event) -> None:
        self.events.append(event)

    def on_resync(self) -> None:
        self.resyncs += 1

    def of(self, log: str) -> list[Event]:
        return [event for event in self.events if event.log == log]


async def until(condition: Callable[[], bool], within: float = 10.0) -> None:
    """Wait until ``condition()`` holds; fail after ``within`` seconds (scaled)."""
    deadline = time.monotonic() + scaled(within)
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)
