"""A TCP proxy that injects network faults between a process and its Redis (toxiproxy-style).

It listens on a free loopback port and forwards every connection to a target. It runs
its own event loop in a daemon thread, so the test's loop (``asyncio_mode=auto``) and
sync fixtures can both drive it, and a test that blocks its own loop for a moment does
not stall the proxy by accident. Each control returns once it is in effect.

Faults:

* :meth:`TcpProxy.stall` / :meth:`TcpProxy.resume`: a black hole. Sockets stay open,
  no byte moves in either direction and a new connection is held without reaching the
  target. Bytes are delayed, never dropped: TCP delivers in order or breaks, so
  dropping bytes on a live connection would be a fault no real network produces (it
  would corrupt the stream). On ``resume`` what was held is delivered, late; an
  endpoint that gave up and closed meanwhile sees its close delivered after its bytes.
  ``stall(existing_only=True)`` black-holes only the connections open now, while new
  ones flow: a NAT or conntrack entry lost without a reset.
* :meth:`TcpProxy.cut`: every current connection is reset (RST to both ends, as a
  dropped NAT entry or a restarted firewall would); new connections are accepted.
* :meth:`TcpProxy.refuse` / :meth:`TcpProxy.accept`: new connections are reset at once.
  Current ones are left alone (``cut`` them too to force every link to reconnect).
* :meth:`TcpProxy.latency`: each chunk is delivered that many seconds late, in each
  direction (a request/reply round trip gets twice that), order and throughput kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable, Coroutine
from types import TracebackType
from typing import Any, Self, TypeVar

CHUNK = 65536
CONTROL_TIMEOUT = 5.0  # a control that takes longer means the proxy's loop is stuck

T = TypeVar("T")


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), not FIN: the peer sees ECONNRESET."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class _Link:
    """One proxied connection: the client's side and the target's side."""

    def __init__(self, client: asyncio.StreamWriter, flowing: bool) -> None:
        self.client = client
        self.target: asyncio.StreamWriter | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.flowing = asyncio.Event()  # set: bytes move on this connection
        if flowing:
            self.flowing.set()

    def reset(self) -> None:
        """RST both ends and stop every task of this link (but the one calling)."""
        current = asyncio.current_task()
        for task in self.tasks:
            if task is not current:
                task.cancel()
        _reset(self.client)
        if self.target is not None:
            _reset(self.target)


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``host:target_port`` until closed; see the module doc."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.accepted = 0  # connections accepted so far (refused ones included)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcpproxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._links: set[_Link] = set()
        self._flowing: asyncio.Event | None = None  # set: new connections start flowing
        self._refusing = False
        self._latency = 0.0

    @property
    def url(self) -> str:
        """The proxy as a Redis URL (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    # --- lifecycle ------------------------------------------------------------------

    def start(self) -> Self:
        self._thread.start()
        self._call(self._start)
        return self

    def close(self) -> None:
        """Reset every connection, stop listening and stop the thread."""
        if not self._thread.is_alive():
            return
        try:
            self._call(self._close)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(CONTROL_TIMEOUT)
            if not self._thread.is_alive():
                self._loop.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- faults ---------------------------------------------------------------------

    def stall(self, *, existing_only: bool = False) -> None:
        """Stop moving bytes both ways; sockets stay open (a black hole). With
        ``existing_only``, new connections are not affected."""
        self._call(self._set_flowing, False, existing_only)

    def resume(self) -> None:
        """Deliver what was held and go on forwarding."""
        self._call(self._set_flowing, True, False)

    def cut(self) -> int:
        """Reset every current connection (RST to both ends); returns how many."""
        return self._call(self._cut)

    def refuse(self) -> None:
        """Reset every new connection as soon as it is accepted."""
        self._call(self._set_refusing, True)

    def accept(self) -> None:
        """Forward new connections again."""
        self._call(self._set_refusing, False)

    def latency(self, seconds: float) -> None:
        """Deliver each chunk ``seconds`` late in each direction (0: no added latency)."""
        self._call(self._set_latency, seconds)

    @property
    def connections(self) -> int:
        """Connections open through the proxy right now."""
        return self._call(self._count)

    # --- on the proxy's loop --------------------------------------------------------

    def _call(self, fn: Callable[..., Coroutine[Any, Any, T]], *args: Any) -> T:
        if threading.current_thread() is self._thread:
            raise RuntimeError("TcpProxy controls are for other threads (they wait for the proxy)")
        return asyncio.run_coroutine_threadsafe(fn(*args), self._loop).result(CONTROL_TIMEOUT)

    async def _start(self) -> None:
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        if self._server is not None:
            self._server.close()
        tasks = [task for link in self._links for task in link.tasks]
        await self._cut()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _set_flowing(self, on: bool, existing_only: bool) -> None:
        assert self._flowing is not None
        for event in [link.flowing for link in self._links] + ([] if existing_only else [self._flowing]):
            if on:
                event.set()
            else:
                event.clear()

    async def _set_refusing(self, on: bool) -> None:
        self._refusing = on

    async def _set_latency(self, seconds: float) -> None:
        self._latency = max(0.0, seconds)

    async def _count(self) -> int:
        return len(self._links)

    async def _cut(self) -> int:
        links, self._links = self._links, set()
        for link in links:
            link.reset()
        return len(links)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        if self._refusing:
            _reset(writer)
            return
        assert self._flowing is not None
        link = _Link(writer, self._flowing.is_set())
        self._links.add(link)
        task = asyncio.current_task()
        assert task is not None
        link.tasks.add(task)
        try:
            await link.flowing.wait()  # a black hole answers no SYN: hold before connecting
            try:
                target_reader, target_writer = await asyncio.open_connection(*self.target)
            except OSError:
                link.reset()
                return
            link.target = target_writer
            if link not in self._links:  # cut while connecting
                link.reset()
                return
            up = asyncio.ensure_future(self._pump(reader, target_writer, link))
            down = asyncio.ensure_future(self._pump(target_reader, writer, link))
            link.tasks |= {up, down}
            await asyncio.gather(up, down)
        except asyncio.CancelledError:
            pass  # cut: the sockets were reset already
        finally:
            self._links.discard(link)
            if link.target is not None:
                link.target.transport.abort()
            writer.transport.abort()

    async def _pump(self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, link: _Link) -> None:
        """One direction: read chunks, hold them for the latency and while stalled, write.

        A chunk of None stands for a broken source: the link is reset. b"" is a clean
        end of stream: passed on as a half-close.
        """
        queue: asyncio.Queue[tuple[float, bytes | None]] = asyncio.Queue()

        async def read() -> None:
            while True:
                await link.flowing.wait()  # while stalled the kernel buffers fill: backpressure
                try:
                    data: bytes | None = await src.read(CHUNK)
                except OSError:
                    data = None
                await queue.put((time.monotonic() + self._latency, data))
                if not data:
                    return

        reading = asyncio.ensure_future(read())
        link.tasks.add(reading)
        try:
            while True:
                due, data = await queue.get()
                await link.flowing.wait()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                await link.flowing.wait()  # a stall that began during the latency wait
                if data is None:
                    raise ConnectionResetError("the other side reset the connection")
                if not data:
                    if dst.can_write_eof():
                        dst.write_eof()  # half-close, as the source did
                    return
                dst.write(data)
                await dst.drain()
        except OSError:
            self._links.discard(link)
            link.reset()  # one side broke: the other sees a reset too
        finally:
            reading.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reading
