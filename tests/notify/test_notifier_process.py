"""The notifier process (``INCIDENTS_NOTIFY_PROCESS=child``, the default): ``incidents serve``
starts one child at a lower priority that sends the pushes (within a second or two of the post,
by polling the heads), is started again when it dies (SIGKILL mid-batch: every subscriber still
gets every important event), and goes away with the server, also when the server is SIGKILLed.
Real server processes, a real push service (tests/notify/pushkit.py), a real redis-server."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import time
from pathlib import Path

from tests.notify.pushkit import Browser, PushService
from tests.notify.test_webpush import ENV, eventually, send_to_many, subscribe, tally
from tests.support.client import Api
from tests.support.console import Browser as Console
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess, add_operator, add_operator_with_link, scaled

DEFAULTS = {k: v for k, v in ENV.items() if "LEASE" not in k and "TIMEOUT" not in k}
"""The test settings, but the default lease and poll times (what the latency is measured with)."""


def notifiers(parent: int) -> list[int]:
    """The pids of ``incidents notifier`` processes whose parent is ``parent``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        if ppid == parent and b"notifier" in cmdline and stat.rpartition(")")[2].split()[0] != "Z":
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


async def until(check: object, within: float) -> None:
    deadline = time.monotonic() + scaled(within)
    while not check():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"not within {within} s"
        await asyncio.sleep(0.05)


async def test_the_child_sends_soon_at_a_lower_priority_and_goes_with_the_server(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'child.db'}"
    admin, link = add_operator_with_link(url, "admin")
    service = await PushService().start()
    server = ServerProcess(url, env=DEFAULTS).start()
    api = Api(server.url, admin)
    console = Console(server.url)
    try:
        assert server.proc is not None
        web = server.proc.pid
        await until(lambda: len(notifiers(web)) == 1, 10)
        (child,) = notifiers(web)
        assert os.getpriority(os.PRIO_PROCESS, child) == os.getpriority(os.PRIO_PROCESS, web) + 10

        incident = await api.create("文化路停水")
        browser = Browser(service, "reader")
        await subscribe(api.http, browser, incident)
        delays = []
        for n in range(5):
            before = len(service.to("reader"))
            posted = time.monotonic()
            assert (await api.post(incident, f"第{n}次通报", notify=True)).status_code == 201
            await eventually(lambda: len(service.to("reader")) > before, 10, lambda: "no push")  # noqa: B023
            delays.append(time.monotonic() - posted)
        print(f"\npost -> push (child notifier, default poll): {[round(d, 2) for d in delays]} s")
        assert max(delays) < scaled(2.0), delays
        assert [browser.decrypt(m)["body"] for m in service.to("reader")] == [
            f"第{n}次通报" for n in range(5)
        ]

        # The console's delivery panel: no web process sends, the figures come from the store.
        assert (await console.setup(link.replace("http://127.0.0.1:8000", server.url))).status_code == 303
        en = {"Accept-Language": "en"}
        page = (await console.http.get(f"/console/incidents/{incident}", headers=en)).text
        assert re.search(
            r'<th scope="row">Web Push</th>(<td class="num">5</td>)(<td class="num">0</td>){2}', page
        ), page

        # SIGKILL the child: the server starts another, which sends at once (same lease owner).
        os.kill(child, signal.SIGKILL)
        await until(lambda: notifiers(web) not in ([], [child]), 10)
        (again,) = notifiers(web)
        assert (
            again != child
            and os.getpriority(os.PRIO_PROCESS, again) == os.getpriority(os.PRIO_PROCESS, web) + 10
        )
        posted = time.monotonic()
        assert (await api.post(incident, "重启之后", notify=True)).status_code == 201
        await eventually(lambda: len(service.to("reader")) == 6, 10, lambda: "no push after the restart")
        print(f"after a restart of the child: {time.monotonic() - posted:.2f} s")

        server.stop()  # SIGTERM to the server (its process group, as a terminal or systemd does)
        await until(lambda: not alive(again), 10)
        server.start()  # and SIGTERM to the server's process only: it stops its child
        web = server.proc.pid
        await until(lambda: len(notifiers(web)) == 1, 10)
        (child,) = notifiers(web)
        os.kill(web, signal.SIGTERM)
        server.proc.wait(scaled(15))
        await until(lambda: not alive(child), 10)
    finally:
        await api.aclose()
        await console.aclose()
        await service.down()
        server.stop()


async def test_the_child_does_not_outlive_a_killed_server(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'orphan.db'}"
    server = ServerProcess(url, env=DEFAULTS).start()
    try:
        assert server.proc is not None
        web = server.proc.pid
        await until(lambda: len(notifiers(web)) == 1, 10)
        (child,) = notifiers(web)
        os.kill(web, signal.SIGKILL)  # the server only, not its process group
        server.proc.wait(scaled(10))
        assert alive(child)  # orphaned for now...
        await until(lambda: not alive(child), 5)  # ...it sees its parent gone and stops
    finally:
        server.kill()


async def test_sigkill_of_the_child_mid_batch_misses_nobody(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'kill-child.db'}"
    admin = add_operator(url, "admin")
    service = await PushService(delay=0.15).start()
    count, batch = 300, 20
    server = ServerProcess(url, env={**ENV, "INCIDENTS_NOTIFY_CONCURRENCY": str(batch)}).start()
    api = None
    try:
        assert server.proc is not None
        api, incident, browsers = await send_to_many(server, admin, service, count)
        (child,) = notifiers(server.proc.pid)
        assert (await api.post(incident, "第一次通报")).status_code == 201
        await eventually(lambda: len(service.messages) >= 100, 30, lambda: str(len(service.messages)))
        os.kill(child, signal.SIGKILL)  # mid-batch: 300 recipients, 20 at a time
        sent_before = len(service.messages)
        assert sent_before < count
        assert (await api.post(incident, "第二次通报", notify=True)).status_code == 201
        await eventually(lambda: len(tally(service, browsers)) >= 2 * count, 60,
                         lambda: f"{len(tally(service, browsers))} of {2 * count}")  # fmt: skip
        await asyncio.sleep(scaled(1))
        counts = tally(service, browsers)
        assert set(counts) == {(b.name, text) for b in browsers for text in ("第一次通报", "第二次通报")}
        duplicates = sum(n - 1 for n in counts.values())
        print(f"\nchild SIGKILLed after {sent_before} of {count}: {duplicates} duplicate(s) (batch {batch})")
        assert duplicates <= batch
        assert all(counts[(b.name, "第二次通报")] == 1 for b in browsers)
        assert notifiers(server.proc.pid) not in ([], [child])  # another child sent the rest
    finally:
        if api is not None:
            await api.aclose()
        await service.down()
        server.stop()


async def test_workers_share_one_child() -> None:
    with RedisServer() as redis, ServerProcess(redis.url, workers=2, env=DEFAULTS) as server:
        assert server.proc is not None
        await until(lambda: len(notifiers(server.proc.pid)) == 1, 10)  # type: ignore[union-attr]
        await asyncio.sleep(scaled(1))
        assert len(notifiers(server.proc.pid)) == 1
