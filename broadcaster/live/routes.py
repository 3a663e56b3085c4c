"""Live delivery: WebSocket ``/live`` and Server-Sent Events ``/stream``.

Both start a reader with :meth:`Hub.open` (history after ``since``, then live) and
send the events' shared encodings. WebSocket close codes (documented in docs/api.md):

* ``4000`` resume: this connection fell behind (or the server is going away);
  reconnect with ``since=`` the last seq you hold. ``1012`` (service restart) means the same.
* ``4404`` no such incident; ``1008`` a malformed ``since``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, WebSocket, WebSocketDisconnect
from fastapi.responses import StreamingResponse
from starlette.websockets import WebSocketState

from broadcaster import metrics
from broadcaster.core.events import Event, dumps
from broadcaster.incidents import IncidentId, incident_log
from broadcaster.live.deps import HubDep
from broadcaster.live.hub import Hub, Opening
from broadcaster.live.readers import Closed, Overflow, Subscription
from broadcaster.stores.base import BackendError
from broadcaster.web.models import MAX_SEQ

log = logging.getLogger("incidents.live")
router = APIRouter(prefix="/api/incidents", tags=["live"])

CLOSE_RESUME = 4000
CLOSE_NOT_FOUND = 4404
CLOSE_BAD_REQUEST = 1008
CLOSE_RESTART = 1012
SSE_HEARTBEAT = 15.0
MAX_CLIENT_MESSAGE = 1024


def parse_since(raw: str | None) -> int | None:
    """Raises ValueError unless ``raw`` is absent or a non-negative integer."""
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 18:
        raise ValueError("since must be a non-negative integer (the last seq you hold)")
    return int(raw)


def reset_message(seq: int) -> str:
    return dumps({"type": "reset", "seq": seq})


async def _open(hub: Hub, incident_id: str, since: int | None) -> Opening[Subscription] | None:
    """None when there is no such incident."""
    log_name = incident_log(incident_id)
    if not await hub.exists(log_name):
        return None
    return await hub.open(log_name, since)


def _in_order(events: list[Event], cursor: int) -> tuple[list[Event], int]:
    """Drop what the reader holds already; raises Overflow on a gap (cannot happen
    with the hub's ordering, but a reader must never be handed one silently)."""
    fresh = []
    for event in events:
        if event.seq <= cursor:
            continue
        if event.seq != cursor + 1:
            raise Overflow
        fresh.append(event)
        cursor = event.seq
    return fresh, cursor


@router.websocket("/{incident_id}/live")
async def live(websocket: WebSocket, incident_id: str, hub: HubDep) -> None:
    await websocket.accept()
    try:
        since = parse_since(websocket.query_params.get("since"))
    except ValueError as exc:
        await websocket.close(CLOSE_BAD_REQUEST, str(exc))
        return
    try:
        opening = await _open(hub, incident_id, since)
    except BackendError:
        await websocket.close(CLOSE_RESTART, "store unavailable; retry shortly")
        return
    if opening is None:
        await websocket.close(CLOSE_NOT_FOUND, f"no incident {incident_id}"[:120])
        return
    metrics.LIVE_CONNECTIONS.labels("websocket").inc()
    listener = asyncio.ensure_future(_drain_client(websocket, opening))
    task = asyncio.current_task()
    assert task is not None
    opening.sub.on_overflow = task.cancel  # interrupts a send blocked on a stalled client
    code, reason = CLOSE_RESUME, "resume with since"
    try:
        await _send_all(websocket, opening)
    except asyncio.CancelledError:
        if not opening.sub.overflowed:
            raise
        task.uncancel()
        reason = "too slow: resume with since"
    except Overflow:
        reason = "too slow: resume with since"
    except Closed:
        code, reason = CLOSE_RESTART, "server restarting: resume with since"
    except (WebSocketDisconnect, RuntimeError, OSError):
        code = 0  # the client is gone
    finally:
        opening.sub.on_overflow = None
        listener.cancel()
        hub.close(incident_log(incident_id), opening.sub)
        metrics.LIVE_CONNECTIONS.labels("websocket").dec()
    if code and websocket.application_state == WebSocketState.CONNECTED:
        # A stalled client may never take the close frame: give up after a moment.
        with contextlib.suppress(RuntimeError, OSError, TimeoutError, WebSocketDisconnect):
            await asyncio.wait_for(websocket.close(code, reason), 1)


async def _send_all(websocket: WebSocket, opening: Opening[Subscription]) -> None:
    if opening.reset is not None:
        await websocket.send_text(reset_message(opening.reset))
    cursor = opening.cursor - len(opening.history)
    batch = opening.history
    while True:
        fresh, cursor = _in_order(batch, cursor)
        for event in fresh:
            await websocket.send_text(event.text)
        batch = await opening.sub.next_batch()


async def _drain_client(websocket: WebSocket, opening: Opening[Subscription]) -> None:
    """Read (and ignore) what the client sends, so a vanished client is noticed
    while its incident is quiet; a client that floods or sends binary is closed."""
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                break
            text, data = message.get("text"), message.get("bytes")
            if data is not None or (text is not None and len(text) > MAX_CLIENT_MESSAGE):
                await websocket.close(CLOSE_BAD_REQUEST, "clients send nothing but small text")
                break
    except (WebSocketDisconnect, RuntimeError, OSError):
        pass
    opening.sub.close()


@router.get(
    "/{incident_id}/stream",
    summary="Server-Sent Events: the same events, id = seq",
    response_class=StreamingResponse,
)
async def stream(
    incident_id: IncidentId,
    hub: HubDep,
    since: Annotated[int | None, Query(ge=0, le=MAX_SEQ)] = None,
    last_event_id: Annotated[str | None, Header(max_length=20)] = None,
) -> StreamingResponse:
    if last_event_id is not None:
        try:
            since = parse_since(last_event_id.strip())
        except ValueError as exc:
            raise HTTPException(422, f"Last-Event-ID: {exc}") from exc
    opening = await _open(hub, incident_id, since)
    if opening is None:
        raise HTTPException(404, f"no incident {incident_id}")
    return StreamingResponse(
        _sse(hub, incident_id, opening),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def sse_frame(event: Event) -> bytes:
    return b"id: %d\ndata: %s\n\n" % (event.seq, event.payload)


async def _sse(hub: Hub, incident_id: str, opening: Opening[Subscription]) -> AsyncIterator[bytes]:
    metrics.LIVE_CONNECTIONS.labels("sse").inc()
    try:
        yield b"retry: 2000\n\n"
        if opening.reset is not None:
            yield b"data: %s\n\n" % reset_message(opening.reset).encode()
        cursor = opening.cursor - len(opening.history)
        batch = opening.history
        while True:
            fresh, cursor = _in_order(batch, cursor)
            if fresh:
                yield b"".join(sse_frame(event) for event in fresh)
            try:
                batch = await asyncio.wait_for(opening.sub.next_batch(), SSE_HEARTBEAT)
            except TimeoutError:
                batch = []
                yield b": keep-alive\n\n"
    except (Overflow, Closed):
        return  # the stream ends; EventSource reconnects with Last-Event-ID
    finally:
        hub.close(incident_log(incident_id), opening.sub)
        metrics.LIVE_CONNECTIONS.labels("sse").dec()
