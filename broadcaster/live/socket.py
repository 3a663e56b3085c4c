"""The live WebSocket served straight from the transport: the fan-out hot path.

``incidents serve`` gives uvicorn this class as its WebSocket protocol, so HTTP and
live sockets share one port while each live connection costs no task, no queue and
no per-send encoding: the hub calls :meth:`LiveSocket.push`, which writes the event's
pre-built frame (``Event.frame``, made once per process) to the transport. A reader
whose unsent bytes pass the limit is closed with 4000 ("resume"), never awaited.

The handshake and the client's frames (pings, close, stray messages) go through the
``websockets`` sans-I/O server protocol; no permessage-deflate is offered. The same
route also exists as an ASGI endpoint (``web/live.py``) for other ASGI servers.
"""

from __future__ import annotations

import asyncio
import re
import time
import weakref
from collections import deque
from enum import Enum
from typing import Any, cast
from urllib.parse import parse_qs, urlsplit

from websockets.frames import Frame, Opcode
from websockets.http11 import Request
from websockets.protocol import State
from websockets.server import ServerProtocol

from broadcaster import metrics
from broadcaster.core.addresses import TrustedProxies
from broadcaster.core.events import Event, text_frame
from broadcaster.incidents import incident_log
from broadcaster.live.hub import Hub, Opening
from broadcaster.live.routes import (
    CLOSE_BAD_REQUEST,
    CLOSE_NOT_FOUND,
    CLOSE_RESTART,
    CLOSE_RESUME,
    MAX_CLIENT_MESSAGE,
    parse_since,
    reset_message,
)
from broadcaster.stores.base import BackendError

LIVE_PATH = re.compile(r"/api/incidents/([A-Za-z0-9_-]{1,64})/live")
PING_EVERY = 20.0
SILENT_LIMIT = 60.0  # no byte from the client for this long (pongs included): gone
CLOSE_GRACE = 2.0  # after our close frame, how long a stalled client may keep the socket
PING_FRAME = b"\x89\x00"
CLIENT_MESSAGES = 100  # text messages a client may send per connection (it has nothing to say)


class Phase(Enum):
    HANDSHAKE = "handshake"
    OPENING = "opening"  # accepted; history being read, live events held
    OPEN = "open"
    CLOSED = "closed"


_open_sockets: weakref.WeakSet[LiveSocket] = weakref.WeakSet()
_per_address: dict[str, int] = {}  # live connections per client address, this process
_keepalive: asyncio.TimerHandle | None = None


def _ping_all() -> None:
    """One timer for every connection of the process (not one task each)."""
    global _keepalive
    now = time.monotonic()
    for sock in list(_open_sockets):
        if now - sock.heard > SILENT_LIMIT:
            sock.abort()
        elif sock.phase is Phase.OPEN:
            sock.transport_write(PING_FRAME)
    _keepalive = asyncio.get_running_loop().call_later(PING_EVERY, _ping_all) if _open_sockets else None


class LiveSocket(asyncio.Protocol):
    """One live connection; also a hub reader (``push``/``close``)."""

    def __init__(self, config: Any, server_state: Any, app_state: dict[str, Any], _loop: Any = None) -> None:
        self.server_state = server_state
        self.app_state = app_state
        self.protocol = ServerProtocol(max_size=MAX_CLIENT_MESSAGE)
        self.phase = Phase.HANDSHAKE
        self.transport: asyncio.Transport | None = None
        self.log_name = ""
        self.cursor = 0
        self.held: deque[Event] = deque()
        self.heard = time.monotonic()
        self.counted: str | None = None  # the address this connection counts against
        self.messages = 0
        hub: Hub | None = app_state.get("hub")
        self.hub = hub
        self.limit = int(app_state.get("live_buffer", 1 << 20))

    # --- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, but behave as one.
        self.transport = cast(asyncio.Transport, transport)
        self.server_state.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server_state.connections.discard(self)
        self._detach()

    def data_received(self, data: bytes) -> None:
        self.heard = time.monotonic()
        self.protocol.receive_data(data)
        for event in self.protocol.events_received():
            if isinstance(event, Request):
                self._handshake(event)
            elif isinstance(event, Frame) and event.opcode in (Opcode.BINARY, Opcode.CONT):
                self.protocol.send_close(CLOSE_BAD_REQUEST, "clients send nothing but small text")
            elif isinstance(event, Frame) and event.opcode is Opcode.TEXT:
                self.messages += 1
                if self.messages > CLIENT_MESSAGES and self.protocol.state is State.OPEN:
                    self.protocol.send_close(CLOSE_BAD_REQUEST, "too many messages: clients only listen")
        self._flush_protocol()

    def eof_received(self) -> bool | None:
        self.protocol.receive_eof()
        self._flush_protocol()
        return None

    # --- uvicorn's server calls these on shutdown ----------------------------------------------

    def shutdown(self) -> None:
        self.close()

    # --- the handshake and the opening ---------------------------------------------------------

    def _handshake(self, request: Request) -> None:
        url = urlsplit(request.path)
        found = LIVE_PATH.fullmatch(url.path)
        if found is None or self.hub is None:
            response = self.protocol.reject(404, "Not Found: live sockets are at /api/incidents/{id}/live\n")
            self.protocol.send_response(response)
            self._flush_protocol()
            return
        address = self._address(request)
        if _per_address.get(address, 0) >= int(self.app_state.get("live_per_address", 2000)):
            response = self.protocol.reject(429, "Too many live connections from this address\n")
            response.headers["Retry-After"] = "30"
            self.protocol.send_response(response)
            self._flush_protocol()
            return
        _per_address[address] = _per_address.get(address, 0) + 1
        self.counted = address
        self.protocol.send_response(self.protocol.accept(request))
        self._flush_protocol()
        if self.protocol.state is not State.OPEN:
            return
        try:
            since = parse_since(parse_qs(url.query).get("since", [""])[0])
        except ValueError as exc:
            return self._close(CLOSE_BAD_REQUEST, str(exc))
        self.phase = Phase.OPENING
        self.log_name = incident_log(found.group(1))
        asyncio.get_running_loop().create_task(self._open(found.group(1), since))

    async def _open(self, incident_id: str, since: int | None) -> None:
        hub = self.hub
        assert hub is not None
        try:
            if not await hub.exists(self.log_name):
                return self._close(CLOSE_NOT_FOUND, f"no incident {incident_id}"[:120])
            opening = await hub.attach(self.log_name, since, self)
        except BackendError:
            return self._close(CLOSE_RESTART, "store unavailable; retry shortly")
        if self.phase is not Phase.OPENING:  # the client left meanwhile
            hub.close(self.log_name, self)
            return
        self._start(opening)

    def _start(self, opening: Opening[LiveSocket]) -> None:
        frames = []
        if opening.reset is not None:
            frames.append(text_frame(reset_message(opening.reset).encode()))
        self.cursor = opening.cursor - len(opening.history)
        for event in opening.history:
            if event.seq == self.cursor + 1:
                frames.append(event.frame)
                self.cursor = event.seq
        self.phase = Phase.OPEN
        metrics.LIVE_CONNECTIONS.labels("websocket").inc()
        _open_sockets.add(self)
        global _keepalive
        if _keepalive is None:
            _keepalive = asyncio.get_running_loop().call_later(PING_EVERY, _ping_all)
        self.transport_write(b"".join(frames))  # the whole history in one write
        held, self.held = self.held, deque()
        for event in held:
            if not self.push(event):
                break

    # --- the hub's reader side -------------------------------------------------------------------

    def push(self, event: Event) -> bool:
        """Write the event's frame now; never waits. False: drop this reader."""
        if self.phase is Phase.OPENING:
            self.held.append(event)
            return len(self.held) <= 10_000 or self._resume("too far behind")
        if self.phase is not Phase.OPEN or self.transport is None:
            return False
        if event.seq <= self.cursor:
            return True  # already sent (history and live overlap)
        if event.seq != self.cursor + 1:
            return self._resume("gap")
        if self.transport.get_write_buffer_size() > self.limit:
            metrics.SLOW_CONSUMERS.inc()  # counted here: the socket leaves the hub itself
            return self._resume("too slow: resume with since")
        self.transport.write(event.frame)
        self.cursor = event.seq
        return True

    def close(self) -> None:
        """The hub is closing (server shutdown): tell the client to resume elsewhere."""
        if self.phase is not Phase.CLOSED:
            self._close(CLOSE_RESTART, "server restarting: resume with since")

    # --- closing ------------------------------------------------------------------------------------

    def _resume(self, reason: str) -> bool:
        self._close(CLOSE_RESUME, reason)
        return False

    def _close(self, code: int, reason: str) -> None:
        if self.phase is Phase.CLOSED or self.transport is None:
            return
        self._detach()
        if self.protocol.state is State.OPEN:
            self.protocol.send_close(code, reason)
            self._flush_protocol()
        # A client that stopped reading may never take the close frame: do not wait.
        transport = self.transport
        asyncio.get_running_loop().call_later(CLOSE_GRACE, transport.abort)

    def _address(self, request: Request) -> str:
        """The client's address: the peer's, or what a trusted proxy forwarded (core/addresses.py)."""
        peer = self.transport.get_extra_info("peername") if self.transport else None
        address = str(peer[0]) if peer else "unknown"
        proxies: TrustedProxies | None = self.app_state.get("proxies")
        if proxies is None or address not in proxies:
            return address
        return proxies.client(address, request.headers.get_all("X-Forwarded-For"))

    def _detach(self) -> None:
        """Leave the hub, the keepalive set and the per-address count (idempotent)."""
        if self.counted is not None:
            left = _per_address.get(self.counted, 1) - 1
            if left > 0:
                _per_address[self.counted] = left
            else:
                _per_address.pop(self.counted, None)
            self.counted = None
        if self.phase is Phase.CLOSED:
            return
        was_open = self.phase is Phase.OPEN
        self.phase = Phase.CLOSED
        self.held.clear()
        _open_sockets.discard(self)
        if was_open:
            metrics.LIVE_CONNECTIONS.labels("websocket").dec()
        if self.hub is not None and self.log_name:
            self.hub.close(self.log_name, self)

    def abort(self) -> None:
        self._detach()
        if self.transport is not None:
            self.transport.abort()

    def transport_write(self, data: bytes) -> None:
        if self.transport is not None and data:
            self.transport.write(data)

    def _flush_protocol(self) -> None:
        """Send what the sans-I/O protocol wants sent (handshake, pongs, close)."""
        for data in self.protocol.data_to_send():
            if data:
                self.transport_write(data)
            elif self.transport is not None:  # b"" means: half-close, the closing handshake ended
                self._detach()
                self.transport.close()
        if self.protocol.state is State.CLOSED and self.transport is not None:
            self._detach()
            self.transport.close()
