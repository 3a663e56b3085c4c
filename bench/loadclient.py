"""Load client: one process holding thousands of WebSocket subscribers.

A hand-written client (RFC 6455 handshake and frame parsing on an ``asyncio.Protocol``),
so that its own CPU per message stays small: per text message it finds ``"seq":N`` and
``"at":"..."`` with two bounded regex searches (no JSON parsing), parses each distinct
``at`` once per process, and marks the seq in a per-connection bitmap. That gives, per
connection: lost (a seq of the phase never received), duplicated, out of order.

Modes: ``ws`` (one event JSON per text message: the product and two peers) and ``sio``
(Engine.IO v4 over WebSocket: ``0{...}`` open, we send ``40``, ``40{...}`` ack, ``2`` ping
answered ``3``, events ``42["update",{...}]``).

Reconnects behave like the product's ``static/live.js``: after a close or a failed
attempt, wait ``min(30, 0.5 * 2**failures) * (0.5 + random())`` seconds, then resume with
``since=`` the last seq held without a gap (peers have no resume: they just reconnect).

The orchestrator drives it through a ``multiprocessing`` pipe (see :func:`main`).
"""

from __future__ import annotations

import array
import asyncio
import base64
import contextlib
import gc
import hashlib
import os
import random
import signal
import socket
import time
from collections import Counter
from datetime import datetime
from typing import Any

IP_BIND_ADDRESS_NO_PORT = getattr(socket, "IP_BIND_ADDRESS_NO_PORT", 24)
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
HANDSHAKE, OPEN, SUBSCRIBED, CLOSED = 0, 1, 2, 3
_now = time.time


def mask_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (payloads here are tiny: pongs, closes, ``40``, ``3``)."""
    key = os.urandom(4)
    masked = bytes(b ^ key[i & 3] for i, b in enumerate(payload))
    size = len(payload)
    head = (
        bytes((0x80 | opcode, 0x80 | size))
        if size < 126
        else bytes((0x80 | opcode, 0xFE)) + size.to_bytes(2, "big")
    )
    return head + key + masked


class Conn(asyncio.Protocol):
    __slots__ = (
        "base",
        "buf",
        "c",
        "closing",
        "failures",
        "frag",
        "host",
        "key",
        "last",
        "mode",
        "path",
        "port",
        "seen",
        "src",
        "state",
        "t_caught",
        "t_open",
        "target",
        "topic",
        "transport",
        "waiter",
    )

    def __init__(self, c: Client, spec: dict[str, Any], src: str, last: int) -> None:
        self.c = c
        self.host, self.port, self.path = spec["host"], spec["port"], spec["path"]
        self.mode, self.topic = spec["mode"], spec["topic"]
        self.src = src
        self.last = last  # highest seq received (or the head we start from)
        self.base = last  # the phase counts seqs above this
        self.seen = bytearray(256)
        self.state = CLOSED
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.frag: list[bytes] | None = None
        self.failures = 0
        self.waiter: asyncio.Future[None] | None = None
        self.key = b""
        self.closing = False
        self.t_open = 0.0
        self.t_caught = 0.0
        self.target = 0

    # -- the resume point -------------------------------------------------------------------

    def held(self) -> int:
        """The last seq held with nothing missing before it (what ``since=`` says)."""
        if self.last <= self.base:
            return self.last
        gap = self.seen.find(0)
        upto = self.base + (gap if gap >= 0 else len(self.seen))
        return min(self.last, upto)

    def url_path(self) -> str:
        return self.path.replace("{since}", str(self.held()))

    # -- asyncio.Protocol -------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  (uvloop's is not a subclass)
        self.state = HANDSHAKE
        self.buf = b""
        self.frag = None
        key = base64.b64encode(os.urandom(16))
        self.key = base64.b64encode(hashlib.sha1(key + GUID).digest())
        transport.write(
            b"GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
            % (self.url_path().encode(), self.host.encode(), self.port, key)
        )

    def connection_lost(self, exc: Exception | None) -> None:
        was = self.state
        self.state = CLOSED
        self.transport = None
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError(f"closed during handshake ({was})"))
        if not self.closing and not self.c.stopping:
            self.c.on_lost(self, was)

    def _subscribed(self) -> None:
        self.state = SUBSCRIBED
        self.failures = 0
        self.t_open = _now()
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)

    def handshake(self, data: bytes) -> bytes | None:
        """The HTTP answer to our upgrade; what follows it, or None while incomplete/refused."""
        data = self.buf + data
        end = data.find(b"\r\n\r\n")
        if end < 0:
            self.buf = data
            return None
        head = data[:end]
        status = head[9:12]
        self.buf = b""
        if status != b"101" or self.key not in head:
            self.c.errors["http " + status.decode("latin-1", "replace")] += 1
            if self.transport is not None:
                self.transport.close()
            return None
        self.state = OPEN
        if self.mode == "ws":
            self._subscribed()
        return data[end + 4 :]

    def data_received(self, data: bytes) -> None:
        if self.state == HANDSHAKE:
            rest = self.handshake(data)
            if not rest:
                return
            data = rest
        buf = self.buf + data if self.buf else data
        n = len(buf)
        pos = 0
        now = _now()
        got = 0
        while n - pos >= 2:
            size = buf[pos + 1] & 127
            if size < 126:
                start = pos + 2
            elif size == 126:
                if n - pos < 4:
                    break
                size = (buf[pos + 2] << 8) | buf[pos + 3]
                start = pos + 4
            else:
                if n - pos < 10:
                    break
                size = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start = pos + 10
            end = start + size
            if end > n:
                break
            b0 = buf[pos]
            opcode = b0 & 15
            pos = end
            if opcode == 1 and b0 & 128:
                if self.mode == "ws":
                    got += self.on_event(buf, start, end, now)
                else:
                    got += self.on_sio(buf, start, end, now)
            elif opcode in (0, 1):  # fragmented text: rare, never on the hot path
                self.frag = [*(self.frag or []), buf[start:end]]
                if b0 & 128:
                    whole = b"".join(self.frag)
                    self.frag = None
                    got += (self.on_event if self.mode == "ws" else self.on_sio)(whole, 0, len(whole), now)
            elif opcode == 9 and self.transport is not None:
                self.transport.write(mask_frame(10, buf[start:end]))
            elif opcode == 8:
                code = int.from_bytes(buf[start : start + 2], "big") if size >= 2 else 1005
                self.c.closes[code] += 1
                if self.transport is not None:
                    self.transport.write(mask_frame(8, buf[start : start + 2]))
                    self.transport.close()
                self.buf = b""
                return
        self.buf = buf[pos:] if pos < n else b""
        if got:
            c = self.c
            c.msgs += got
            second = int(now)
            c.per_second[second] = c.per_second.get(second, 0) + got
            if now > c.t_last:
                c.t_last = now

    def on_sio(self, buf: bytes, start: int, end: int, now: float) -> int:
        """Engine.IO v4 / Socket.IO v5 packets over one WebSocket."""
        if buf.startswith(b"42", start):
            return self.on_event(buf, start, end, now)
        assert self.transport is not None
        kind = buf[start : start + 1]
        if kind == b"2":  # ping: answer pong with the same payload
            self.transport.write(mask_frame(1, b"3" + buf[start + 1 : end]))
        elif kind == b"0":  # Engine.IO open: connect to the default namespace
            self.transport.write(mask_frame(1, b"40"))
        elif buf.startswith(b"40", start):  # namespace connected: joined the room
            self._subscribed()
        elif kind == b"1" or buf.startswith((b"41", b"44"), start):
            self.c.closes["sio " + buf[start:end][:40].decode("utf-8", "replace")] += 1
            self.transport.close()
        return 0

    def on_event(self, buf: bytes, start: int, end: int, now: float) -> int:
        """Account one event message; 1 if it is new to this connection in this phase.

        Reads ``"seq":N`` and ``"at":"..."`` with ``bytes.find`` (no JSON parsing): the
        product's events and the peers' messages both carry them near the start.
        """
        c = self.c
        i = buf.find(b'"seq":', start, end)
        if i < 0:
            c.errors["no seq"] += 1
            return 0
        i += 6
        j = buf.find(b",", i, end)
        if j < 0:
            j = buf.find(b"}", i, end)
        seq = int(buf[i:j])
        if buf.startswith(b'{"type":"reset"', start):
            c.resets += 1  # the server says: reload; we have lost what lies in between
            if seq > self.last:
                self.last = seq
            return 0
        size = end - start
        if size > c.size_max:
            c.size_max = size
        if size < c.size_min:
            c.size_min = size
        if seq <= self.base:
            c.stale += 1
            if seq > self.last:
                self.last = seq
            return 0
        k = seq - self.base - 1
        seen = self.seen
        if k >= len(seen):
            seen.extend(bytes(k + 1))
        if seen[k]:
            c.dup += 1
            return 0
        seen[k] = 1
        if seq < self.last:
            c.ooo += 1
        else:
            self.last = seq
        k = buf.find(b'"at":"', j, j + 200)
        if k >= 0:
            k += 6
            raw = buf[k : buf.find(b'"', k, k + 40)]
            at = c.at_cache.get(raw)
            if at is None:
                at = c.at_cache[raw] = datetime.fromisoformat(raw.decode().replace("Z", "+00:00")).timestamp()
            c.lat.append(now - at)
        else:
            c.errors["no at"] += 1
        if self.target and seq >= self.target and not self.t_caught:
            self.t_caught = now
        return 1


class Client:
    """All connections of this process, and the counters of the current phase."""

    def __init__(self, index: int, sources: list[str]) -> None:
        self.index = index
        self.sources = sources
        self.conns: list[Conn] = []
        self.loop = asyncio.get_running_loop()
        self.stopping = False
        self.connect_timeout = 15.0
        self.reconnect = "livejs"
        self.at_cache: dict[bytes, float] = {}
        self.t_drop = 0.0
        self.reset_phase()
        self.errors: Counter[str] = Counter()
        self.closes: Counter[Any] = Counter()

    def reset_phase(self) -> None:
        self.msgs = self.dup = self.ooo = self.stale = self.resets = self.reconnects = 0
        self.size_min, self.size_max = 1 << 30, 0
        self.lat = array.array("d")
        self.per_second: dict[int, int] = {}
        self.t_last = 0.0
        self.errors = Counter()
        self.closes = Counter()
        if len(self.at_cache) > 100_000:
            self.at_cache.clear()

    # -- connecting -------------------------------------------------------------------------

    async def attempt(self, conn: Conn) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            sock.bind((conn.src, 0))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.waiter = self.loop.create_future()
            async with asyncio.timeout(self.connect_timeout):
                await self.loop.sock_connect(sock, (conn.host, conn.port))
                await self.loop.create_connection(lambda: conn, sock=sock)
                await conn.waiter
        except BaseException:
            if conn.transport is not None:
                conn.transport.abort()  # connection_lost sees a handshake state: no reconnect
            sock.close()
            raise
        finally:
            conn.waiter = None

    async def keep_trying(self, conn: Conn, first_delay: float) -> None:
        delay = first_delay
        while not self.stopping and not conn.closing:
            if delay:
                await asyncio.sleep(delay)
            try:
                await self.attempt(conn)
                return
            except asyncio.CancelledError:
                raise
            except BaseException as exc:
                self.errors[type(exc).__name__] += 1
                conn.failures += 1
                delay = self.backoff(conn.failures)

    def backoff(self, failures: int) -> float:
        if self.reconnect == "now":
            return 0.05 * failures
        return min(30.0, 0.5 * 2 ** min(failures, 6)) * (0.5 + random.random())

    def on_lost(self, conn: Conn, was: int) -> None:
        if was != SUBSCRIBED:
            return  # a handshake that failed: keep_trying's attempt raises and retries
        self.reconnects += 1
        conn.failures += 1
        delay = 0.0 if self.t_drop and self.reconnect == "now" else self.backoff(conn.failures)
        self.loop.create_task(self.keep_trying(conn, delay))

    async def connect(
        self, groups: list[dict[str, Any]], concurrency: int, deadline: float
    ) -> dict[str, Any]:
        started = time.monotonic()
        new: list[Conn] = []
        for group in groups:
            for _ in range(group["count"]):
                src = self.sources[(len(self.conns) + len(new)) % len(self.sources)]  # round-robin
                new.append(Conn(self, group, src, group["last"]))
        gate = asyncio.Semaphore(concurrency)

        async def one(conn: Conn) -> bool:
            async with gate:
                while time.monotonic() < started + deadline and not self.stopping:
                    try:
                        await self.attempt(conn)
                        return True
                    except BaseException as exc:
                        self.errors["connect " + type(exc).__name__] += 1
                        await asyncio.sleep(0.2 + random.random() * 0.3)
                return False

        results = await asyncio.gather(*(one(conn) for conn in new))
        self.conns.extend(conn for conn, ok in zip(new, results, strict=True) if ok)
        for conn, ok in zip(new, results, strict=True):
            if not ok and conn.transport is not None:
                conn.closing = True
                conn.transport.abort()
        gc.collect()
        gc.freeze()
        return {
            "ok": sum(results),
            "failed": len(results) - sum(results),
            "seconds": time.monotonic() - started,
            "errors": dict(self.errors),
        }

    # -- phases -----------------------------------------------------------------------------

    def phase(self, lows: dict[str, int], expect: int) -> None:
        self.reset_phase()
        self.t_drop = 0.0
        for conn in self.conns:
            conn.base = lows[conn.topic]
            if conn.last < conn.base:
                conn.last = conn.base  # nothing published between phases but what we saw
            conn.seen = bytearray(max(expect, 16))
            conn.target = 0
            conn.t_caught = 0.0

    def progress(self, highs: dict[str, int]) -> dict[str, Any]:
        done = sum(1 for conn in self.conns if conn.last >= highs[conn.topic] and conn.state == SUBSCRIBED)
        return {"done": done, "conns": len(self.conns), "msgs": self.msgs, "t_last": self.t_last}

    def collect(self, highs: dict[str, int]) -> dict[str, Any]:
        expected = received = 0
        worst = 0
        for conn in self.conns:
            span = highs[conn.topic] - conn.base
            if span <= 0:
                continue
            expected += span
            have = span - conn.seen.count(0, 0, span) - max(0, span - len(conn.seen))
            received += have
            worst = max(worst, span - have)
        return {
            "conns": len(self.conns),
            "expected": expected,
            "received": received,
            "lost": expected - received,
            "worst_conn_lost": worst,
            "msgs": self.msgs,
            "dup": self.dup,
            "ooo": self.ooo,
            "stale": self.stale,
            "resets": self.resets,
            "reconnects": self.reconnects,
            "closes": {str(k): v for k, v in self.closes.items()},
            "errors": dict(self.errors),
            "lat": self.lat.tobytes(),
            "per_second": self.per_second,
            "t_last": self.t_last,
            "size_min": self.size_min if self.size_max else 0,
            "size_max": self.size_max,
            "open": sum(1 for conn in self.conns if conn.state == SUBSCRIBED),
        }

    # -- the storm --------------------------------------------------------------------------

    def drop(self, targets: dict[str, int]) -> float:
        """Every connection dropped at once (TCP reset, no close frame); each resumes by itself."""
        self.t_drop = _now()
        for conn in self.conns:
            conn.target = targets[conn.topic]
            conn.t_caught = 0.0
            conn.t_open = 0.0
            conn.failures = 0
            if conn.transport is not None:
                conn.transport.abort()
        return self.t_drop

    def storm_status(self) -> dict[str, Any]:
        opened = [conn.t_open - self.t_drop for conn in self.conns if conn.t_open >= self.t_drop]
        caught = [conn.t_caught - self.t_drop for conn in self.conns if conn.t_caught >= self.t_drop]
        return {
            "conns": len(self.conns),
            "resumed": len(opened),
            "caught_up": len(caught),
            "resumed_max": max(opened, default=None),
            "caught_up_max": max(caught, default=None),
        }

    async def close_all(self) -> int:
        count = 0
        for conn in self.conns:
            conn.closing = True
            if conn.transport is not None and conn.state == SUBSCRIBED:
                conn.transport.write(mask_frame(8, (1000).to_bytes(2, "big")))
                count += 1
        await asyncio.sleep(0.5)
        for conn in self.conns:
            if conn.transport is not None:
                conn.transport.abort()
        self.conns = []
        gc.unfreeze()
        gc.collect()
        return count


async def serve(index: int, pipe: Any, sources: list[str]) -> None:
    client = Client(index, sources)
    loop = asyncio.get_running_loop()
    os.set_blocking(pipe.fileno(), True)  # replies may be megabytes: send them whole

    async def next_command() -> Any:
        try:  # read in a thread: the event loop must not touch the pipe's blocking mode
            return await loop.run_in_executor(None, pipe.recv)
        except (EOFError, OSError):
            return ("exit", {})

    while True:
        command, args = await next_command()
        try:
            if command == "connect":
                client.connect_timeout = args.get("timeout", 15.0)
                client.reconnect = args.get("reconnect", "livejs")
                reply: Any = await client.connect(args["groups"], args["concurrency"], args["deadline"])
            elif command == "phase":
                client.phase(args["lows"], args["expect"])
                reply = True
            elif command == "progress":
                reply = client.progress(args["highs"])
            elif command == "collect":
                reply = client.collect(args["highs"])
            elif command == "drop":
                reply = client.drop(args["targets"])
            elif command == "storm":
                reply = client.storm_status()
            elif command == "close":
                reply = await client.close_all()
            elif command == "exit":
                client.stopping = True
                await client.close_all()
                pipe.send(True)
                return
            else:
                reply = {"error": f"unknown command {command}"}
        except Exception as exc:
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        pipe.send(reply)


def main(index: int, pipe: Any, sources: list[str]) -> None:
    """Entry point of a load process (multiprocessing, spawn)."""
    from bench.procs import die_with_parent, raise_fd_limit

    die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the orchestrator's to handle
    raise_fd_limit()
    try:
        import uvloop

        uvloop.run(serve(index, pipe, sources))
    except ImportError:
        asyncio.run(serve(index, pipe, sources))
