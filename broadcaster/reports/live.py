"""A report's page, live: ``GET /api/reports/{code}/stream`` (Server-Sent Events).

The stream follows the ``reports:all`` log through the hub (one upstream subscription
per process, however many pages are open) and picks out its own report's changes.
It never forwards an event as stored: each message is the report's public view
(``data: {...}``, ``id:`` its version), sent first on connecting and then after
every change, so a client that reconnects is simply up to date again. A report
hidden meanwhile sends ``{"code": ..., "gone": true}`` and the stream ends.
``static/reports.js`` uses it, and polls ``GET /api/reports/{code}`` where
EventSource is missing.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from broadcaster import metrics
from broadcaster.core.events import dumps
from broadcaster.core.timeline import NotFound
from broadcaster.live import Closed, Hub, HubDep, Opening, Overflow, Subscription
from broadcaster.reports.api import ReportsDep
from broadcaster.reports.desk import ReportDesk
from broadcaster.reports.rules import LOG
from broadcaster.web.deps import SettingsDep

router = APIRouter(prefix="/api/reports", tags=["reports"])
HEARTBEAT = 15.0


@router.get(
    "/{code}/stream",
    summary="Server-Sent Events: the report's public view, now and after every change",
    response_class=StreamingResponse,
)
async def stream(code: str, desk: ReportsDep, hub: HubDep, settings: SettingsDep) -> StreamingResponse:
    report = await desk.public(code)
    opening = await hub.open(LOG, None)
    return StreamingResponse(
        _follow(hub, desk, report.code, settings.organisation, opening),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def _message(desk: ReportDesk, code: str, organisation: str) -> tuple[bytes, int | None]:
    """The report's current public view as an SSE message, and its version (None: gone)."""
    try:
        report = await desk.public(code)
    except NotFound:
        return b"data: %s\n\n" % dumps({"code": code, "gone": True}).encode(), None
    view = dumps(report.public_json(organisation)).encode()
    return b"id: %d\ndata: %s\n\n" % (report.version, view), report.version


async def _follow(
    hub: Hub, desk: ReportDesk, code: str, organisation: str, opening: Opening[Subscription]
) -> AsyncIterator[bytes]:
    metrics.LIVE_CONNECTIONS.labels("sse").inc()
    try:
        yield b"retry: 2000\n\n"
        message, sent = await _message(desk, code, organisation)
        yield message
        while sent is not None:
            try:
                batch = await asyncio.wait_for(opening.sub.next_batch(), HEARTBEAT)
            except TimeoutError:
                yield b": keep-alive\n\n"
                continue
            # The code appears in every event about the report (and in a merge into it).
            if any(code in event.text for event in batch):
                message, version = await _message(desk, code, organisation)
                if version != sent:
                    yield message
                    sent = version
    except (Overflow, Closed):
        return  # EventSource reconnects and gets the current view first
    finally:
        hub.close(LOG, opening.sub)
        metrics.LIVE_CONNECTIONS.labels("sse").dec()
