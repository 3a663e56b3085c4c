"""A minimal live reader on a raw socket, for tests with thousands of connections.

The ``websockets`` client costs a task and a parser per connection; this one is an
asyncio Protocol that does the RFC 6455 handshake itself and reads server frames
(unmasked) into a list of seqs. It can also *stop reading* (``stall()``): the socket
is left with a tiny receive buffer and asyncio stops taking bytes from it, so the
server's writes pile up exactly as they do for a phone that went into a tunnel.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import socket

SEQ = re.compile(rb'"seq":\s*(\d+)')


class RawLiveReader(asyncio.Protocol):
    def __init__(self, path: str, host: str) -> None:
        self.path = path
        self.host = host
        self.transport: asyncio.Transport | None = None
        self.opened: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self.closed: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self.buffer = bytearray()
        self.handshaken = False
        self.seqs: list[int] = []
        self.close_code: int | None = None

    @classmethod
    async def open(
        cls, host: str, port: int, path: str, *, receive_buffer: int | None = None
    ) -> RawLiveReader:
        """Connect and finish the handshake (status 101), else raise AssertionError."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer is not None:  # before connect(), so the advertised window is small
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        await loop.sock_connect(sock, (host, port))
        _, reader = await loop.create_connection(lambda: cls(path, f"{host}:{port}"), sock=sock)
        status = await reader.opened
        assert status == 101, status
        return reader

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write(
            f"GET {self.path} HTTP/1.1\r\nHost: {self.host}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.handshaken:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = int(self.buffer[: self.buffer.find(b"\r\n")].split()[1])
            del self.buffer[: end + 4]
            self.handshaken = True
            if not self.opened.done():
                self.opened.set_result(status)
        self._frames()

    def _frames(self) -> None:
        buf = self.buffer
        while len(buf) >= 2:
            opcode, length, start = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    return
                length, start = int.from_bytes(buf[2:4], "big"), 4
            elif length == 127:
                if len(buf) < 10:
                    return
                length, start = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < start + length:
                return
            payload = bytes(buf[start : start + length])
            del buf[: start + length]
            if opcode == 1:
                found = SEQ.search(payload, 0, 200)
                if found is None:
                    raise AssertionError(f"a text frame without a seq: {json.loads(payload)!r}")
                self.seqs.append(int(found.group(1)))
            elif opcode == 8:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed during the handshake"))
        if not self.closed.done():
            self.closed.set_result(self.close_code)

    def stall(self) -> None:
        """Stop reading: the kernel buffers fill, then the server's."""
        assert self.transport is not None
        self.transport.pause_reading()

    def unstall(self) -> None:
        assert self.transport is not None
        self.transport.resume_reading()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
