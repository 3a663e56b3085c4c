"""The Redis backend on a 3-master Redis Cluster (issue 6, item 5), named by
``redis+cluster://SEED/`` (see tests/support/redis_cluster.py for the cluster).

* The whole backend contract suite runs again here, on the cluster.
* Logs whose hash tags land on different masters all work, side by side.
* The one pub/sub link per process survives its node dropping it (moves on to
  another node and refills), and a node restart.
* End to end: two ``incidents serve`` processes on the cluster; readers bouncing
  between them (dropping and resuming) all end with seq 1..N once, in order.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from redis.crc import key_slot

from broadcaster.stores import open_backend
from broadcaster.stores.base import Backend, BackendError
from broadcaster.stores.redis import RedisBackend, log_keys
from tests.live.test_live import run_race
from tests.stores import test_backend_contract as contract
from tests.support.client import Api, LiveReader
from tests.support.listening import Recorder, until
from tests.support.redis_cluster import RedisClusterServers
from tests.support.server import ServerProcess, add_operator

# The contract suite, collected again in this module: its tests take the `backend`
# fixture defined below (the cluster), so every contract test also runs on the
# cluster, including ones added to the contract later.
for _name, _test in vars(contract).items():
    if _name.startswith("test_") and callable(_test):
        globals()[_name] = _test


@pytest.fixture(scope="module")
def cluster() -> Iterator[RedisClusterServers]:
    with RedisClusterServers(3) as servers:
        yield servers


@pytest.fixture
async def backend(cluster: RedisClusterServers) -> AsyncIterator[Backend]:
    store = open_backend(cluster.url)
    await store.start()
    yield store
    await store.close()


async def started(url: str) -> tuple[RedisBackend, Recorder]:
    store = RedisBackend(url)
    recorder = Recorder()
    store.set_listener(recorder)
    await store.start()
    return store, recorder


def log_on_each_master(cluster: RedisClusterServers, per_node: int = 1) -> list[str]:
    """Fresh incident logs, ``per_node`` on each master (by their hash tag's slot)."""
    wanted = {node.port: per_node for node in cluster.nodes}
    logs: list[str] = []
    while any(wanted.values()):
        log = f"incident:c-{uuid.uuid4().hex[:12]}"
        port = cluster.node_for_key(f"{{{log}}}").port
        if wanted[port]:
            wanted[port] -= 1
            logs.append(log)
    return logs


def pubsub_links(cluster: RedisClusterServers) -> list[int]:
    """The port of the node of each pub/sub connection (a link with subscriptions)."""
    ports = []
    for node in cluster.nodes:
        with node.client() as client:
            ports += [node.port] * len(client.client_list(_type="pubsub"))
    return sorted(ports)


async def test_logs_on_every_master_work_side_by_side(cluster: RedisClusterServers) -> None:
    writer, _ = await started(cluster.url)
    reader, recorder = await started(cluster.url)  # another "process"
    try:
        logs = log_on_each_master(cluster, per_node=2)
        slots = {key_slot(f"{{{log}}}".encode()) for log in logs}
        assert len({cluster.node_for_slot(slot).port for slot in slots}) == 3
        for log in logs:
            await reader.subscribe(log)

        async def fill(log: str) -> None:
            for n in range(10):
                backend = writer if n % 2 else reader
                await backend.append(log, "update.posted", {"n": n}, idem_key=f"k{n}")

        await asyncio.gather(*(fill(log) for log in logs))
        await until(lambda: all(len(recorder.of(log)) == 10 for log in logs))
        for log in logs:
            stored = await reader.read(log)
            assert [e.seq for e in stored] == list(range(1, 11))
            assert recorder.of(log) == stored  # published = stored, in order
            assert await writer.head(log) == 10
            again = await writer.append(log, "update.posted", {"n": 3}, idem_key="k3")
            assert not again.created and again.event == stored[3]
            assert await writer.find_idem(log, "k7") == stored[7]
            assert [e.seq for e in await writer.read(log, since=8)] == [9, 10]
            # Every key of the log lives on the master that owns its hash tag.
            owner = cluster.node_for_key(f"{{{log}}}")
            with owner.client() as client:
                assert client.exists(*log_keys(log)) == 3
        listed = await writer.logs("incident")
        assert all(log in listed for log in logs)
        # One subscription link per process, on one node, whatever master a log is on.
        assert len(pubsub_links(cluster)) == 1
    finally:
        await writer.close()
        await reader.close()


async def test_warnings_check_every_master(cluster: RedisClusterServers) -> None:
    store, _ = await started(cluster.url)
    node = cluster.nodes[1]
    try:
        assert await store.warnings() == []
        with node.client() as client:
            client.config_set("appendonly", "no")
        try:
            found = await store.warnings()
        finally:
            with node.client() as client:
                client.config_set("appendonly", "yes")
        assert len(found) == 1
        assert node.address in found[0] and "does not persist" in found[0]
    finally:
        await store.close()


async def test_plain_url_to_a_cluster_node_is_refused_with_a_hint(cluster: RedisClusterServers) -> None:
    store = open_backend(cluster.nodes[0].url)
    try:
        with pytest.raises(BackendError, match=r"Redis Cluster node: use redis\+cluster://127\.0\.0\.1:"):
            await store.start()
    finally:
        await store.close()


async def test_pubsub_link_dropped_moves_to_another_node_and_resyncs(cluster: RedisClusterServers) -> None:
    store, recorder = await started(cluster.url)
    writer, _ = await started(cluster.url)
    try:
        logs = log_on_each_master(cluster)
        for log in logs:
            await store.subscribe(log)
            await writer.append(log, "incident.opened", {})
        await until(lambda: len(recorder.events) == 3)
        [first] = pubsub_links(cluster)  # the writer subscribed nothing: no link shown
        owner = next(node for node in cluster.nodes if node.port == first)
        with owner.client() as client:
            assert client.client_kill_filter(_type="pubsub") == 1

        await until(lambda: recorder.resyncs == 1)
        [second] = pubsub_links(cluster)
        assert second != first  # the next attempt went to the next node
        for log in logs:
            await writer.append(log, "update.posted", {"body": "after"})
        await until(lambda: len(recorder.events) == 6)
        for log in logs:
            assert [e.seq for e in recorder.of(log)] == [1, 2]
    finally:
        await store.close()
        await writer.close()


async def test_node_restart_keeps_every_acknowledged_event() -> None:
    with RedisClusterServers(3) as cluster:
        store, recorder = await started(cluster.url)
        try:
            logs = log_on_each_master(cluster)
            for log in logs:
                await store.subscribe(log)
                for n in range(5):
                    await store.append(log, "update.posted", {"n": n})
            await until(lambda: len(recorder.events) == 15)
            [linked] = pubsub_links(cluster)
            node = next(node for node in cluster.nodes if node.port == linked)
            victim = next(log for log in logs if cluster.node_for_key(f"{{{log}}}") is node)

            node.kill()  # a crash of the node holding the pub/sub link (AOF fsync always)
            await until(lambda: recorder.resyncs == 1)  # relinked on another node
            with pytest.raises(BackendError):
                await store.append(victim, "update.posted", {"body": "down"})
            node.restart()
            cluster.wait_ok()

            for log in logs:
                assert [e.seq for e in await store.read(log)] == [1, 2, 3, 4, 5]
                appended = await store.append(log, "update.posted", {"body": "back"})
                assert appended.event.seq == 6
            await until(lambda: all(len(recorder.of(log)) == 6 for log in logs))
        finally:
            await store.close()


# --- end to end: two server processes on the cluster -----------------------------------


@pytest.fixture(scope="module")
def cluster_pair(cluster: RedisClusterServers) -> Iterator[tuple[ServerProcess, ServerProcess, str]]:
    token = add_operator(cluster.url, "cluster-" + str(random.randrange(10**6)))
    with ServerProcess(cluster.url) as one, ServerProcess(cluster.url) as two:
        yield one, two, token


async def test_resume_across_processes_on_the_cluster(
    cluster_pair: tuple[ServerProcess, ServerProcess, str],
) -> None:
    one, two, token = cluster_pair
    api = Api(one.url, token)
    try:
        incident = await api.create()
        reader = await LiveReader.open(two.ws_url(""), incident, since=0)
        for n in range(3):
            assert (await api.post(incident, f"进展 {n}")).status_code == 201
        assert await reader.until_seq(4) == [1, 2, 3, 4]
        await reader.close()
        for n in range(3, 6):  # while the reader is away
            assert (await api.post(incident, f"进展 {n}")).status_code == 201
        back = await LiveReader.open(one.ws_url(""), incident, since=4)  # the other server
        assert await back.until_seq(7) == [5, 6, 7]
        await back.close()
    finally:
        await api.aclose()


async def test_race_two_processes_on_the_cluster(
    cluster_pair: tuple[ServerProcess, ServerProcess, str],
) -> None:
    one, two, token = cluster_pair
    urls = [one.url, two.url]
    await run_race(urls, [one.ws_url(""), two.ws_url("")], token, readers=30, posts=300)


async def test_race_survives_pubsub_links_dropped_on_every_node(
    cluster: RedisClusterServers, cluster_pair: tuple[ServerProcess, ServerProcess, str]
) -> None:
    one, two, token = cluster_pair

    async def drop_links() -> int:
        killed = 0
        for _ in range(3):
            await asyncio.sleep(0.4)
            for node in cluster.nodes:
                with node.client() as client:
                    killed += int(client.client_kill_filter(_type="pubsub"))
        return killed

    race = run_race([one.url, two.url], [one.ws_url(""), two.ws_url("")], token, readers=20, posts=200)
    _, killed = await asyncio.gather(race, drop_links())
    assert killed >= 2  # the links of both servers were cut at least once
    async with httpx.AsyncClient(timeout=5) as http:
        for server in (one, two):
            deadline = time.monotonic() + 10
            while (await http.get(f"{server.url}/readyz")).status_code != 200:
                assert time.monotonic() < deadline, f"{server.url} did not link again"
                await asyncio.sleep(0.05)
