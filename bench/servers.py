"""The servers under test, each a real process (group) started and stopped by the bench."""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
from pathlib import Path
from typing import Any

from bench.procs import Reaper, children_of, cpu_seconds, free_port, rss_kib, socket_count
from bench.publisher import http

ROOT = Path(__file__).resolve().parent.parent
PEERS = Path(__file__).resolve().parent / "peers"
HOST = "127.0.0.1"
ERROR_LINE = re.compile(r"Traceback|\bERROR\b|\bCRITICAL\b|Exception in|Task exception")

LABELS = {
    "product": "product (SQLite, 1 process)",
    "product-redis-1": "product (Redis, 1 process)",
    "product-redis-2": "product (Redis, --workers 2)",
    "starlette_broadcaster": "encode/broadcaster + Starlette",
    "socketio": "python-socketio (ASGI)",
    "websockets_floor": "websockets.broadcast() floor",
}
PEER_SCRIPTS = {
    "starlette_broadcaster": "starlette_broadcaster.py",
    "socketio": "socketio_server.py",
    "websockets_floor": "websockets_floor.py",
}


class ServerFailed(RuntimeError):
    pass


def _wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerFailed(f"exited with {proc.returncode}: {tail(log)}")
        with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
            http("GET", url, timeout=2)
            return
        time.sleep(0.2)
    raise ServerFailed(f"not answering {url} after {timeout:.0f} s: {tail(log)}")


def tail(log: Path, lines: int = 6) -> str:
    with contextlib.suppress(OSError):
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    return ""


class Redis:
    def __init__(self, reaper: Reaper, workdir: Path) -> None:
        self.reaper = reaper
        self.dir = workdir
        self.port = free_port()
        self.log = workdir / "redis.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.noise = 0

    def _client_noise(self) -> int:
        """Error replies one new redis-py connection causes by itself (``CLIENT SETINFO`` on a
        Redis without it): measured with the product's own redis-py."""
        before = self.health().get("errorstat_ERR", 0)
        with contextlib.suppress(Exception):
            subprocess.run(
                [sys.executable, "-c", f"import redis; redis.Redis(host='{HOST}', port={self.port}).ping()"],
                timeout=30,
                check=True,
                capture_output=True,
            )
        return int(self.health().get("errorstat_ERR", 0) - before)

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        # AOF as the README recommends for production (fsync every second).
        argv = [
            "redis-server",
            "--port",
            str(self.port),
            "--bind",
            HOST,
            "--save",
            "",
            "--appendonly",
            "yes",
            "--dir",
            str(self.dir),
            "--maxclients",
            "10000",
            "--logfile",
            str(self.log),
        ]
        self.proc = self.reaper.spawn(argv, log=self.dir / "redis.out", cwd=self.dir)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.command("PING").startswith("+PONG"):
                self.noise = self._client_noise()
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise ServerFailed(f"redis-server did not start: {tail(self.log)}")

    def command(self, *words: str) -> str:
        payload = b"*%d\r\n" % len(words) + b"".join(b"$%d\r\n%s\r\n" % (len(w), w.encode()) for w in words)
        try:
            with socket.create_connection((HOST, self.port), timeout=3) as sock:
                sock.sendall(payload)
                chunks = []
                sock.settimeout(1)
                while True:
                    try:
                        chunk = sock.recv(65536)
                    except TimeoutError:
                        break
                    if not chunk:
                        break
                    chunks.append(chunk)
                    data = b"".join(chunks)
                    if data.startswith(b"+") or data.startswith(b"-") or data.startswith(b":"):
                        if data.endswith(b"\r\n"):
                            break
                    elif data.startswith(b"$"):
                        length = int(data[1 : data.index(b"\r\n")])
                        if len(data) >= data.index(b"\r\n") + 2 + length + 2:
                            break
                return b"".join(chunks).decode(errors="replace")
        except OSError as exc:
            return f"-ERR {exc}"

    def health(self) -> dict[str, Any]:
        info = self.command("INFO", "all")
        stats: dict[str, Any] = {}
        for line in info.splitlines():
            key, _, value = line.partition(":")
            value = value.strip()
            if key in (
                "rejected_connections",
                "total_error_replies",
                "connected_clients",
                "used_memory",
                "total_connections_received",
            ):
                stats[key] = int(value) if value.isdigit() else value
            elif key.startswith("errorstat_"):
                stats[key] = int(value.partition("count=")[2] or 0)
            elif key.startswith("cmdstat_") and (
                "failed_calls=0" not in value or "rejected_calls=0" not in value
            ):
                stats[key] = value  # a command that failed: which one
        with contextlib.suppress(OSError):
            stats["log_warnings"] = sum(
                1 for line in self.log.read_text(errors="replace").splitlines() if " # " in line
            )
        return stats

    def new_errors(self, before: dict[str, Any], after: dict[str, Any]) -> dict[str, int]:
        """Error replies between two :meth:`health` calls, less the protocol's own noise:
        ``NOSCRIPT`` (a script loaded on first use) and the ``ERR`` replies to the
        ``CLIENT SETINFO`` redis-py sends on every new connection (Redis < 7.2 lacks it;
        :meth:`_client_noise` counts them per connection)."""
        out = {}
        connections = after.get("total_connections_received", 0) - before.get("total_connections_received", 0)
        for key, value in after.items():
            if not key.startswith("errorstat_") or key == "errorstat_NOSCRIPT":
                continue
            delta = value - before.get(key, 0)
            if key == "errorstat_ERR":
                delta -= self.noise * connections
            if delta > 0:
                out[key] = delta
        if after.get("rejected_connections", 0) > before.get("rejected_connections", 0):
            out["rejected_connections"] = after["rejected_connections"] - before.get(
                "rejected_connections", 0
            )
        return out

    def stop(self) -> None:
        if self.proc is not None:
            self.reaper.stop(self.proc)
            self.proc = None


class Server:
    """One server under test. ``name`` is a key of :data:`LABELS`."""

    def __init__(
        self,
        name: str,
        reaper: Reaper,
        workdir: Path,
        *,
        peers_python: Path,
        product_python: str,
        product_source: str,
    ) -> None:
        self.name = name
        self.label = LABELS[name]
        self.reaper = reaper
        number = 1
        while (workdir / f"{name}-{number}").exists():
            number += 1
        self.dir = workdir / f"{name}-{number}"  # a fresh database / Redis for every start
        self.dir.mkdir(parents=True)
        self.log = self.dir / "server.log"
        self.peers_python = peers_python
        self.product_python = product_python
        self.product_source = product_source
        self.product = name.startswith("product")
        self.port = free_port()
        self.http_port = self.port
        self.proc: subprocess.Popen[bytes] | None = None
        self.redis: Redis | None = None
        self.token = ""
        self.mode = "sio" if name == "socketio" else "ws"
        self.workers = 2 if name == "product-redis-2" else 1
        self.log_offset = 0

    # -- life -------------------------------------------------------------------------------

    def _product_argv(self, *args: str) -> list[str]:
        if self.product_source == "checkout":  # the working tree, as `python incidents.py` (CONTRACT)
            return [self.product_python, str(ROOT / "incidents.py"), *args]
        return [str(Path(self.product_python).parent / "incidents"), *args]

    def start(self) -> None:
        env = dict(os.environ)
        for key in list(env):
            if key.startswith("INCIDENTS_") or key in (
                "PYTHONPATH",
                "http_proxy",
                "https_proxy",
                "HTTP_PROXY",
                "HTTPS_PROXY",
                "all_proxy",
                "ALL_PROXY",
            ):
                env.pop(key)
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        if self.product:
            if self.name.startswith("product-redis"):
                self.redis = Redis(self.reaper, self.dir / "redis")
                self.redis.start()
                backend = self.redis.url
            else:
                backend = f"sqlite:///{self.dir / 'incidents.db'}"
            add = subprocess.run(
                self._product_argv("operator", "add", "bench", "--admin", "--backend", backend),
                cwd=self.dir,
                env=env,
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if add.returncode != 0 or not add.stdout.strip():
                raise ServerFailed(f"operator add failed ({add.returncode}): {add.stderr.strip()[-500:]}")
            self.token = add.stdout.strip().splitlines()[-1]
            argv = self._product_argv(
                "serve",
                "--host",
                HOST,
                "--port",
                str(self.port),
                "--backend",
                backend,
                "--workers",
                str(self.workers),
                "--log-level",
                "warning",
            )
            self.proc = self.reaper.spawn(argv, log=self.log, cwd=self.dir, env=env)
            _wait_http(f"http://{HOST}:{self.port}/healthz", self.proc, self.log, 60)
            if self.workers > 1:  # every worker up (uvicorn starts them one after the other)
                deadline = time.monotonic() + 30
                while len(self.worker_pids()) < self.workers and time.monotonic() < deadline:
                    time.sleep(0.2)
                time.sleep(1.0)
        else:
            argv = [
                str(self.peers_python),
                str(PEERS / PEER_SCRIPTS[self.name]),
                "--host",
                HOST,
                "--port",
                str(self.port),
            ]
            if self.name == "websockets_floor":
                self.http_port = free_port()
                argv += ["--http-port", str(self.http_port)]
            self.proc = self.reaper.spawn(argv, log=self.log, cwd=self.dir, env=env)
            _wait_http(f"http://{HOST}:{self.http_port}/stats", self.proc, self.log, 60)

    def stop(self) -> None:
        if self.proc is not None:
            self.reaper.stop(self.proc)
            self.proc = None
        if self.redis is not None:
            self.redis.stop()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    # -- measuring --------------------------------------------------------------------------

    def pids(self) -> list[int]:
        return children_of(self.proc.pid) if self.proc is not None else []

    def worker_pids(self) -> list[int]:
        """The processes that serve (uvicorn's workers under ``--workers N``, else the server)."""
        tree = self.pids()
        if len(tree) <= 1:
            return tree
        workers = []
        for pid in tree[1:]:
            with contextlib.suppress(OSError):
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"spawn_main" in cmd and b"resource_tracker" not in cmd:
                    workers.append(pid)
        return workers

    def cpu(self) -> float:
        return cpu_seconds(self.pids())

    def rss(self) -> int:
        return rss_kib(self.pids())

    def sockets_per_worker(self) -> list[int]:
        return [socket_count(pid) for pid in self.worker_pids()]

    def mark_log(self) -> None:
        with contextlib.suppress(OSError):
            self.log_offset = self.log.stat().st_size

    def log_errors(self) -> tuple[int, list[str]]:
        """Error lines in the server's log since :meth:`mark_log`."""
        try:
            with self.log.open("rb") as f:
                f.seek(self.log_offset)
                text = f.read().decode(errors="replace")
        except OSError:
            return 0, []
        lines = [line for line in text.splitlines() if ERROR_LINE.search(line)]
        return len(lines), lines[:5]

    # -- the API ----------------------------------------------------------------------------

    def base(self) -> str:
        return f"http://{HOST}:{self.http_port}"

    def make_topics(self, count: int, prefix: str = "t") -> dict[str, int]:
        """``count`` topics (incidents) to subscribe to: {id: current seq}."""
        if not self.product:
            return {f"{prefix}{i}": 0 for i in range(count)}
        topics = {}
        for i in range(count):
            made = http("POST", self.base() + "/api/incidents", {"title": f"bench {prefix}{i}"}, self.token)
            ident = made.get("id") or made.get("incident", {}).get("id")
            topics[ident] = self.head(ident)
        return topics

    def head(self, topic: str) -> int:
        """The topic's last seq, as the server has it (a peer counts the messages it sent)."""
        if not self.product:
            return int(http("GET", self.base() + "/stats", timeout=10)["seqs"].get(topic, 0))
        return int(http("GET", f"{self.base()}/api/incidents/{topic}")["seq"])

    def heads(self, topics: list[str]) -> dict[str, int]:
        if not self.product:
            seqs = http("GET", self.base() + "/stats", timeout=10)["seqs"]
            return {topic: int(seqs.get(topic, 0)) for topic in topics}
        return {topic: self.head(topic) for topic in topics}

    def ws_path(self, topic: str) -> str:
        if self.product:
            return f"/api/incidents/{topic}/live?since={{since}}"
        if self.mode == "sio":
            return f"/socket.io/?EIO=4&transport=websocket&topic={topic}"
        return f"/ws/{topic}"

    def publish_path(self) -> str:
        return "/api/incidents/{topic}/updates" if self.product else "/publish/{topic}"

    def subscribers(self) -> int | None:
        if self.product:
            return None
        with contextlib.suppress(Exception):
            return int(http("GET", self.base() + "/stats", timeout=5)["subscribers"])
        return None

    def calibrate(self, targets: list[int]) -> dict[int, dict[str, int]]:
        """Body length that makes an ``update.posted`` event about ``target`` bytes (product).

        Measured on a separate incident from two posts: an event is a fixed part plus
        (about) twice the body (``body`` and its rendering ``html``).
        """
        if not self.product:
            return {t: {"body_chars": 0, "event_bytes": t} for t in targets}
        ident = next(iter(self.make_topics(1, prefix="calibration")))

        def event_size(chars: int) -> int:
            text = ("bench 0 " + "x" * chars)[: max(chars, 8)]
            http("POST", f"{self.base()}/api/incidents/{ident}/updates", {"body": text}, self.token)
            events = http("GET", f"{self.base()}/api/incidents/{ident}/events?since=0&limit=1000")["events"]
            import json

            return len(json.dumps(events[-1], ensure_ascii=False, separators=(",", ":")).encode())

        small, large = event_size(10), event_size(410)
        slope = (large - small) / 400
        out = {}
        for target in targets:
            chars = max(10, round(10 + (target - small) / slope))
            out[target] = {"body_chars": chars, "event_bytes": event_size(chars)}
        return out


def versions(peers_python: Path) -> dict[str, Any]:
    import importlib.metadata as md

    product = {}
    for name in ("fastapi", "starlette", "uvicorn", "websockets", "uvloop", "httptools", "redis", "pydantic"):
        with contextlib.suppress(md.PackageNotFoundError):
            product[name] = md.version(name)
    peers: dict[str, str] = {}
    with contextlib.suppress(Exception):
        code = (
            "import importlib.metadata as m, json; "
            "names=['starlette','uvicorn','broadcaster','python-socketio',"
            "'python-engineio','websockets','uvloop','httptools','anyio','matplotlib']; out={}\n"
            "for n in names:\n try: out[n]=m.version(n)\n except Exception: pass\nprint(json.dumps(out))"
        )
        import json

        peers = json.loads(
            subprocess.run(
                [str(peers_python), "-c", code], capture_output=True, text=True, timeout=60, check=True
            ).stdout
        )
    redis_version = ""
    with contextlib.suppress(Exception):
        redis_version = subprocess.run(
            ["redis-server", "--version"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    return {
        "python": sys.version.split()[0],
        "product_venv": product,
        "peers_venv": peers,
        "redis": redis_version,
    }
