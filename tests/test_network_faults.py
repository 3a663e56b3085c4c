"""Network faults between the server processes and Redis (issue 6, fault test 6).

Two real server processes share one real ``redis-server`` (AOF on), each through its
own TCP proxy (``tests/support/tcpproxy.py``), so one process's link can be stalled,
cut, refused, slowed or black-holed while the other stays healthy, or both at once.
Resuming live readers sit on both processes; an operator posts at a steady rate and
retries with the same Idempotency-Key on a 503 or a timeout, the retry landing on
either process (as behind a load balancer). At the end: every acknowledged post is in
the log once, every reader holds 1..N once each in order, the only 5xx is 503, a post
into a stalled link is answered within ~5 s, and once a fault is healed posts succeed
at the first attempt.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from tests.support.client import Api, LiveReader
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess, add_operator, scaled
from tests.support.tcpproxy import TcpProxy

pytestmark = pytest.mark.slow

RATE = 50  # posts per second
READERS = 6  # per process
ATTEMPT_TIMEOUT = 10.0  # the operator's client gives up on one attempt after this (then retries)
STALL_ANSWER = 5.5  # a post into a stalled link is answered within this (503, or 201 once it heals)
SETTLE = 0.5  # this long after a fault is healed, posts succeed at the first attempt
CALM = 2.0  # the timelines leave this long between a fault's end and the next one
# A black-holed pub/sub link is replaced after 5 s of silence and a 2 s PING (the
# backend's KEEPALIVE and SOCKET_TIMEOUT), then refilled: readers wait at most this.
BLACK_HOLE_DELAY = 9.5


@dataclass
class Stack:
    token: str
    proxies: list[TcpProxy]
    servers: list[ServerProcess]


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    with RedisServer(appendonly=True) as redis, TcpProxy(redis.port) as one, TcpProxy(redis.port) as two:
        token = add_operator(redis.url, "ZZIC")
        with ServerProcess(one.url) as first, ServerProcess(two.url) as second:
            yield Stack(token, [one, two], [first, second])


@pytest.fixture
async def healthy(stack: Stack) -> Stack:
    """The stack with every link healed and both processes ready (whatever a failed
    test left behind)."""
    for proxy in stack.proxies:
        proxy.resume()
        proxy.accept()
        proxy.latency(0)
    async with httpx.AsyncClient() as http, asyncio.timeout(scaled(30)):
        for server in stack.servers:
            while (await http.get(f"{server.url}/readyz")).status_code != 200:
                await asyncio.sleep(0.1)
    return stack


@dataclass
class Attempt:
    post: int
    server: int
    started: float
    took: float
    outcome: int | str  # the HTTP status, or what went wrong on the client side


@dataclass
class Fault:
    """One injected fault: what, on which processes' links, and when (monotonic)."""

    name: str
    servers: tuple[int, ...]
    start: float
    end: float = float("inf")


@dataclass
class Reader:
    """A live reader on one process: what it received and when."""

    server: int
    messages: list[dict[str, Any]] = field(default_factory=list)
    arrived: dict[int, float] = field(default_factory=dict)  # seq -> when (monotonic)
    reconnects: int = 0

    @property
    def last(self) -> int:
        return self.messages[-1]["seq"] if self.messages else 0

    async def read_all(self, base_ws: str, incident: str, last: int) -> None:
        """Read until ``last``, resuming on the same process with ``since=`` whenever the
        socket is closed or cannot be opened."""
        while self.last < last:
            try:
                live = await LiveReader.open(base_ws, incident, since=self.last)
            except (OSError, InvalidHandshake, TimeoutError):
                self.reconnects += 1
                await asyncio.sleep(0.2)
                continue
            try:
                while self.last < last:
                    message = json.loads(await live.ws.recv())
                    self.messages.append(message)
                    self.arrived.setdefault(message["seq"], time.monotonic())
            except ConnectionClosed:
                self.reconnects += 1
                await asyncio.sleep(0.05)
            finally:
                await live.close()


@dataclass
class Run:
    incident: str
    apis: list[Api]
    proxies: list[TcpProxy]
    attempts: list[Attempt] = field(default_factory=list)
    acked: dict[int, tuple[int, float]] = field(default_factory=dict)  # post -> (seq, when)
    faults: list[Fault] = field(default_factory=list)

    def begin(self, name: str, servers: tuple[int, ...], action: Callable[[TcpProxy], object]) -> None:
        self.faults.append(Fault(name, servers, time.monotonic()))
        self.apply(action)

    def apply(self, action: Callable[[TcpProxy], object]) -> None:
        for server in self.faults[-1].servers:
            action(self.proxies[server])

    def end(self, action: Callable[[TcpProxy], object] = lambda proxy: None) -> None:
        self.apply(action)
        self.faults[-1].end = time.monotonic()

    async def post(self, n: int) -> None:
        """Post until a 201, with the same Idempotency-Key each time."""
        for attempt in range(10_000):
            server = (n + attempt) % 2
            started = time.monotonic()
            try:
                async with asyncio.timeout(scaled(ATTEMPT_TIMEOUT)):
                    answer = await self.apis[server].post(self.incident, f"第{n}条", key=f"net-{n}")
                outcome: int | str = answer.status_code
            except TimeoutError:
                outcome = "client timeout"
            except httpx.TransportError as exc:
                outcome = type(exc).__name__
            now = time.monotonic()
            self.attempts.append(Attempt(n, server, started, now - started, outcome))
            if outcome == 201:
                seq = answer.json()["seq"]
                assert self.acked.setdefault(n, (seq, now))[0] == seq, f"post {n} acknowledged twice"
                return
            await asyncio.sleep(0.1)

    def sent(self, servers: tuple[int, ...], start: float, end: float) -> list[Attempt]:
        """Attempts sent to these processes between start and end (monotonic)."""
        return [a for a in self.attempts if a.server in servers and start <= a.started < end]

    def calm(self, fault: Fault) -> list[Attempt]:
        """Attempts sent to the faulted processes once the fault settled, and long
        enough before the next one (which may catch an attempt in flight)."""
        later = [f.start for f in self.faults if f.start > fault.start]
        until = min([*later, fault.end + CALM]) - 0.5
        return self.sent(fault.servers, fault.end + SETTLE, until)

    def summary(self) -> str:
        lines = []
        for fault in self.faults:
            during = self.sent(fault.servers, fault.start, fault.end)
            worst = max((a.took for a in during), default=0.0)
            lines.append(
                f"{fault.name:<26} {fault.end - fault.start:4.1f}s:"
                f" {dict(Counter(str(a.outcome) for a in during))} slowest {worst:.2f}s;"
                f" after: {dict(Counter(str(a.outcome) for a in self.calm(fault)))}"
            )
        return "\n".join(lines)


async def whole_log(api: Api, incident: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    while True:
        answer = await api.http.get(f"/api/incidents/{incident}/events", params={"since": len(events)})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        events += page["events"]
        if page["seq"] >= page["head"]:
            return events


Timeline = list[tuple[float, Callable[[Run], None]]]


async def run_under_faults(stack: Stack, posts: int, timeline: Timeline) -> tuple[Run, list[Reader]]:
    """Post ``posts`` updates at RATE/s with readers on both processes, applying each
    ``(at seconds, action)`` of the timeline; then check nothing was lost or doubled."""
    # One connection per attempt: a pooled connection the server closed at its keep-alive timeout
    # (while posts waited out a stall) fails as a ReadError that no server sent; every outcome
    # counted here is then the server's own answer.
    apis = [Api(server.url, stack.token, keepalive=False) for server in stack.servers]
    try:
        return await _run(stack, apis, posts, timeline)
    finally:
        for api in apis:
            await api.aclose()


async def _run(stack: Stack, apis: list[Api], posts: int, timeline: Timeline) -> tuple[Run, list[Reader]]:
    run = Run(await apis[0].create(), apis, stack.proxies)
    last = posts + 1  # the incident's opening event is seq 1
    readers = [Reader(n % 2) for n in range(2 * READERS)]
    reading = [
        asyncio.ensure_future(reader.read_all(stack.servers[reader.server].ws_url(""), run.incident, last))
        for reader in readers
    ]
    await asyncio.sleep(0.5)  # readers connect

    started = time.monotonic()
    steps = sorted(timeline, key=lambda step: step[0])
    posting = []
    try:
        for n in range(posts):
            while steps and time.monotonic() - started >= steps[0][0]:
                steps.pop(0)[1](run)
            posting.append(asyncio.ensure_future(run.post(n)))
            await asyncio.sleep(max(0.0, started + (n + 1) / RATE - time.monotonic()))
        for _, step in steps:  # whatever was due after the last post (heals)
            step(run)
        async with asyncio.timeout(scaled(30)):
            await asyncio.gather(*posting, *reading)
    finally:
        for task in [*posting, *reading]:
            task.cancel()
        await asyncio.gather(*posting, *reading, return_exceptions=True)
        print(f"\n{run.summary()}")
    print(f"all acknowledged and read {time.monotonic() - started:.1f} s after the first post;"
          f" reader reconnects {[reader.reconnects for reader in readers]}")  # fmt: skip

    # Every acknowledged post is in the log exactly once, at the seq it was acknowledged with.
    assert len(run.acked) == posts
    log = await whole_log(apis[1], run.incident)
    assert [e["seq"] for e in log] == list(range(1, last + 1))
    bodies = Counter(e["data"]["body"] for e in log if e["type"] == "update.posted")
    assert bodies == Counter(f"第{n}条" for n in range(posts))
    for n, (seq, _) in run.acked.items():
        assert log[seq - 1]["data"]["body"] == f"第{n}条"
    # Every reader on both processes holds 1..N once each, in order, and was never reset.
    for reader in readers:
        assert [m["seq"] for m in reader.messages if m.get("type") != "reset"] == list(range(1, last + 1))
        assert all(m.get("type") != "reset" for m in reader.messages)
    # No answer but 201 and 503; no attempt that hung until the client gave up.
    assert {a.outcome for a in run.attempts} <= {201, 503}, Counter(str(a.outcome) for a in run.attempts)
    # A post into a stalled link is answered (503, or 201 once it heals) within ~5 s.
    for stall in [fault for fault in run.faults if fault.name.startswith(("stall", "black hole"))]:
        during = run.sent(stall.servers, stall.start, stall.end)
        assert any(a.outcome == 503 for a in during), f"{stall.name}: the fault had no effect"
        slow = sorted(round(a.took, 1) for a in during if a.took > scaled(STALL_ANSWER))
        assert not slow, f"{stall.name}: posts took {slow} s"
    # A slow link is not a broken one: every post through it succeeds at the first attempt.
    for slow_link in [fault for fault in run.faults if fault.name.startswith("latency")]:
        failed = Counter(str(a.outcome) for a in run.sent(slow_link.servers, slow_link.start, slow_link.end))
        del failed["201"]
        assert not failed, f"{slow_link.name}: {failed}"
    # Once a fault is healed, posts succeed at the first attempt: no connection broken
    # by the fault is used again.
    for fault in run.faults:
        calm = run.calm(fault)
        failed = Counter(str(a.outcome) for a in calm if a.outcome != 201)
        assert calm and not failed, f"after {fault.name}: {failed} of {len(calm)}"
    return run, readers


def cut(proxy: TcpProxy) -> None:
    assert proxy.cut() >= 2  # the pub/sub link and at least one pooled command connection


def refuse_and_cut(proxy: TcpProxy) -> None:
    proxy.refuse()
    proxy.cut()


async def test_one_process_link_stalled_cut_refused_and_slow(healthy: Stack) -> None:
    """Process 0's link to Redis: stalled 3 s, cut 3 times, refused 2.5 s (and cut),
    then 200 ms of round-trip latency for 2.5 s; process 1 stays healthy throughout.
    Each fault is followed by 2 s of calm."""
    first = (0,)
    timeline: Timeline = [
        (1.0, lambda run: run.begin("stall 0", first, TcpProxy.stall)),
        (4.0, lambda run: run.end(TcpProxy.resume)),
        (6.0, lambda run: run.begin("cut 0 (x3)", first, cut)),
        (7.0, lambda run: run.apply(cut)),
        (8.0, lambda run: run.apply(cut)),
        (8.01, lambda run: run.end()),
        (10.0, lambda run: run.begin("refuse 0 (+ cut)", first, refuse_and_cut)),
        (12.5, lambda run: run.end(TcpProxy.accept)),
        (14.5, lambda run: run.begin("latency 0 (200 ms RTT)", first, lambda proxy: proxy.latency(0.1))),
        (17.0, lambda run: run.end(lambda proxy: proxy.latency(0))),
    ]
    await run_under_faults(healthy, posts=19 * RATE, timeline=timeline)


async def test_both_process_links_stalled_cut_and_refused(healthy: Stack) -> None:
    """Both processes' links: stalled 3 s together, cut twice, refused 2 s (and cut)."""
    both = (0, 1)
    timeline: Timeline = [
        (1.0, lambda run: run.begin("stall both", both, TcpProxy.stall)),
        (4.0, lambda run: run.end(TcpProxy.resume)),
        (6.0, lambda run: run.begin("cut both (x2)", both, cut)),
        (7.0, lambda run: run.apply(cut)),
        (7.01, lambda run: run.end()),
        (9.0, lambda run: run.begin("refuse both (+ cut)", both, refuse_and_cut)),
        (11.0, lambda run: run.end(TcpProxy.accept)),
    ]
    await run_under_faults(healthy, posts=13 * RATE, timeline=timeline)


async def test_one_process_open_connections_black_holed(healthy: Stack) -> None:
    """Process 0's open connections to Redis go silent for 12 s (no RST, no FIN: a NAT
    entry lost) while new ones work. Its pub/sub link must be found dead and replaced
    well before that: its readers get each event within BLACK_HOLE_DELAY of its 201."""
    first = (0,)
    timeline: Timeline = [
        (
            1.0,
            lambda run: run.begin("black hole 0 (open only)", first, lambda p: p.stall(existing_only=True)),
        ),
        (13.0, lambda run: run.end(TcpProxy.resume)),
    ]
    run, readers = await run_under_faults(healthy, posts=15 * RATE, timeline=timeline)
    acked_at = dict(run.acked.values())  # seq -> when its 201 came
    waited = [max(reader.arrived[seq] - at for seq, at in acked_at.items()) for reader in readers]
    print(
        "longest wait for an event, per reader:",
        [f"{reader.server}: {w:.1f}s" for reader, w in zip(readers, waited, strict=True)],
    )
    for reader, longest in zip(readers, waited, strict=True):
        limit = scaled(BLACK_HOLE_DELAY if reader.server == 0 else 3)
        assert longest < limit, f"a reader on process {reader.server} waited {longest:.1f} s for an event"
