"""The delivery figures the console shows, for a process that does not send.

With ``INCIDENTS_NOTIFY_PROCESS=child`` (the default) or ``off`` no web process runs a
:class:`~broadcaster.notify.dispatch.Notifier`: the notifier process (or ``incidents notifier``
on another machine) sends, and the web processes only read what it wrote to the store: each
channel's progress document (``notify:progress:{channel}``), the e-mail digests held
(``notify:email:due``) and the digests the flush loop sent (``notify:flushed:{channel}``).
:class:`StatusReader` has the same ``status()`` as the Notifier (awaitable here).
"""

from __future__ import annotations

from typing import Any

from broadcaster.config import Settings
from broadcaster.core.types import JSON
from broadcaster.incidents import KIND
from broadcaster.notify.email import DUE_KEY
from broadcaster.notify.types import ChannelName
from broadcaster.relay import Progress
from broadcaster.stores.base import Backend


def progress_key(channel: ChannelName) -> str:
    return f"notify:progress:{channel}"


def flushed_key(channel: ChannelName) -> str:
    """Digests sent by a channel's own flush loop (not by the dispatcher), a running count."""
    return f"notify:flushed:{channel}"


def figures(value: JSON, queued: int, held: int, flushed: int, here: bool) -> JSON:
    """One channel's line of ``status()`` from its progress document's ``value``."""
    return {
        "sent": int(value.get("sent", 0)) + flushed,
        "queued": int(queued) + held,
        "failed": int(value.get("undelivered", 0)),
        "last_error": value.get("last_error"),
        "last_sent_at": value.get("last_sent_at"),
        "removed": int(value.get("removed", 0)),
        "passed_over": int(value.get("passed_over", 0)),
        "here": here,
    }


async def add_flushed(backend: Backend, channel: ChannelName, count: int) -> int:
    """Add ``count`` to the channel's flushed digests (compare-and-set); the new total."""
    while True:
        doc = await backend.get_doc(flushed_key(channel))
        total = int(doc.value.get("count", 0)) + count if doc else count
        if count == 0 or await backend.put_doc(
            flushed_key(channel), {"count": total}, expect_version=doc.version if doc else 0
        ):
            return total


async def begin_now(backend: Backend, settings: Settings) -> None:
    """Where each channel starts the first time: at the incident logs' current heads (nothing
    from before is sent). The web processes write it before they serve, so that an update
    posted while the notifier process is still starting is not taken for history (the
    notifier does the same when it finds no progress; the first write wins)."""
    for name in StatusReader(backend, settings).channels:
        if await backend.get_doc(progress_key(name)) is None:
            start = Progress(cursors=await backend.heads(KIND)).to_json()
            await backend.put_doc(progress_key(name), start, expect_version=0)


class StatusReader:
    """``status()`` read from the store: the console's delivery panel in a process that does not
    send (``here`` is always false)."""

    def __init__(self, backend: Backend, settings: Settings) -> None:
        self.backend = backend
        self.channels = [ChannelName.WEBPUSH] + ([ChannelName.EMAIL] if settings.smtp_url else [])

    async def status(self) -> dict[ChannelName, JSON]:
        found: dict[ChannelName, JSON] = {}
        for name in self.channels:
            doc = await self.backend.get_doc(progress_key(name))
            value: dict[str, Any] = dict(doc.value) if doc else {}
            held = flushed = 0
            if name is ChannelName.EMAIL:
                due = await self.backend.get_doc(DUE_KEY)
                held = len(due.value.get("held", {})) if due else 0
                flushed = await add_flushed(self.backend, name, 0)
            found[name] = figures(value, int(value.get("queued", 0)), held, flushed, False)
        return found
