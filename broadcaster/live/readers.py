"""What the hub hands events to: a :class:`Reader`, most often a :class:`Subscription`.

A subscription is one reader's bounded queue, filled by the hub without ever awaiting.
A reader too slow to keep up overflows and is told to resume elsewhere (:class:`Overflow`);
when the hub shuts down, readers are told to resume on another process (:class:`Closed`).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Protocol

from broadcaster.core.events import Event

__all__ = ["Closed", "Overflow", "Reader", "Subscription"]


class Overflow(Exception):
    """The reader fell too far behind; it must reconnect and resume from its last seq."""


class Closed(Exception):
    """The hub is shutting down; the reader should resume on another process."""


class Reader(Protocol):
    """Anything the hub hands events to: a queue (:class:`Subscription`) or a socket
    that writes them straight out (``broadcaster.live.socket``)."""

    def push(self, event: Event) -> bool:
        """Take an event without waiting; False if this reader must be dropped."""
        ...

    def close(self) -> None:
        """The hub is done with this reader (it closes, or the reader left)."""
        ...


class Subscription:
    """One reader's bounded queue of events."""

    __slots__ = ("_items", "_limit", "_wake", "closed", "on_overflow", "overflowed")

    def __init__(self, limit: int) -> None:
        self._items: deque[Event] = deque()
        self._limit = limit
        self._wake = asyncio.Event()
        self.overflowed = False
        self.closed = False
        # Called once on overflow: the reader may be stuck in a send to a client that
        # stopped reading, where it would never look at its queue again.
        self.on_overflow: Callable[[], object] | None = None

    def push(self, event: Event) -> bool:
        """Queue an event without waiting; False if the reader has overflowed."""
        if self.overflowed:
            return False
        if len(self._items) >= self._limit:
            self.overflowed = True
            self._items.clear()
            self._wake.set()
            if self.on_overflow is not None:
                self.on_overflow()
            return False
        self._items.append(event)
        self._wake.set()
        return True

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    async def next_batch(self) -> list[Event]:
        """Wait for and take every queued event (a burst goes out together).

        Raises:
            Overflow: the reader fell behind and must resume.
            Closed: the hub closed this subscription.
        """
        while not self._items:
            if self.overflowed:
                raise Overflow
            if self.closed:
                raise Closed
            self._wake.clear()
            await self._wake.wait()
        if self.overflowed:
            raise Overflow
        batch = list(self._items)
        self._items.clear()
        return batch
