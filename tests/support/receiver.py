"""A webhook receiver for tests: a tiny HTTP/1.1 server on a loopback port.

It runs in the test's event loop (``asyncio.start_server``) and can answer 200
(``ok``), 500 (``fail``) or not at all until released (``stall``), be down (its port
closed) and come back on the same port. It records every request it read, and which
ones it answered with a 2xx.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.server import scaled

Mode = Literal["ok", "fail", "stall"]


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float
    answered: int | None = None  # the status sent back (None: none yet, or the client left)

    @property
    def json(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value

    def signed_by(self, secret: str) -> bool:
        """Verified as a receiver would, with the official Standard Webhooks package: the
        signature for this secret, and a timestamp within its tolerance (5 minutes)."""
        try:
            Webhook(secret).verify(self.body, self.headers)
        except WebhookVerificationError:
            return False
        return True


@dataclass
class Receiver:
    mode: Mode = "ok"
    delay: float = 0.0  # seconds before answering (ok and fail)
    port: int = 0
    requests: list[Received] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)
    _released: asyncio.Event = field(default_factory=asyncio.Event)
    _closing: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def start(self) -> Receiver:
        """Listen (on the same port again after :meth:`down`)."""
        self._closing = False
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port, reuse_address=True)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def down(self) -> None:
        """Close the port and every open connection: connections are refused."""
        if self._server is not None:
            self._closing = True
            self._server.close()
            for _ in range(3):  # connections accepted just before may not be served yet
                for writer in list(self._writers):
                    writer.close()
                await asyncio.sleep(0.02)
            await self._server.wait_closed()
            self._server = None

    def release(self) -> None:
        """Let stalled requests be answered (200) and answer at once from now on."""
        self.mode = "ok"
        self._released.set()

    # --- what it got ----------------------------------------------------------------

    def acknowledged(self, incident: str | None = None) -> list[dict[str, Any]]:
        """Bodies answered with a 2xx, in the order they arrived (repeats included)."""
        found = [r.json for r in self.requests if r.answered is not None and 200 <= r.answered < 300]
        return [body for body in found if incident is None or body["incident"] == incident]

    def seqs(self, incident: str, *, all_attempts: bool = False) -> list[int]:
        bodies = [r.json for r in self.requests] if all_attempts else self.acknowledged()
        return [b["seq"] for b in bodies if b["incident"] == incident]

    async def until(self, incident: str, seq: int, within: float = 15) -> None:
        """Wait until the event ``seq`` of ``incident`` was acknowledged."""
        deadline = time.monotonic() + scaled(within)
        while seq not in self.seqs(incident):
            if time.monotonic() > deadline:
                raise AssertionError(f"event {seq} of {incident} not received; got {self.seqs(incident)}")
            await asyncio.sleep(0.02)

    # --- HTTP -----------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while not self._closing:
                _, headers, body = await read_request(reader)
                received = Received(headers, body, time.monotonic())
                self.requests.append(received)
                status = await self._answer()
                if reader.at_eof():  # the sender gave up waiting: this answer reaches no one
                    break
                writer.write(f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\n\r\nok".encode())
                await writer.drain()
                received.answered = status
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self) -> int:
        if self.mode == "stall":
            await self._released.wait()
        elif self.delay:
            await asyncio.sleep(self.delay)
        return 500 if self.mode == "fail" else 200


async def read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    """One HTTP/1.1 request: its request line, headers (lower-case names) and body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name:
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return lines[0], headers, body
