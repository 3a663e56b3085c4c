"""Real server processes for tests: ``incidents serve`` from the installed project.

The server runs the console script of the test virtualenv from a temporary
directory, so what is tested is the installed wheel (templates and static files
included), not the checkout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Self

import httpx

from tests.support.redis_server import free_port

SCALE = float(os.environ.get("INCIDENTS_TEST_TIMEOUT_SCALE", "1"))
CHECKOUT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# What every test server gets unless a test says otherwise: webhook tests deliver to
# receivers on loopback ports, which a real deployment refuses (INCIDENTS_WEBHOOK_ALLOW_PRIVATE).
TEST_DEFAULTS = {"INCIDENTS_WEBHOOK_ALLOW_PRIVATE": "true"}


def scaled(seconds: float) -> float:
    """A timeout, stretched by INCIDENTS_TEST_TIMEOUT_SCALE on slow machines."""
    return seconds * SCALE


def wait_up(
    proc: subprocess.Popen[bytes], probe: Callable[[], bool], within: float, failure: type[Exception]
) -> bool:
    """Try ``probe`` until it holds (True), or ``proc`` exits or ``within`` seconds pass (False);
    ``failure``, raised by the probe, counts as not yet."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if probe():
                return True
        except failure:
            pass
        time.sleep(0.05)
    return False


def incidents_command() -> list[str]:
    script = BIN / "incidents"
    if not script.exists():
        raise RuntimeError(f"{script} is missing: run ./scripts/test (it installs the project)")
    return [str(script)]


def add_operator(backend: str, name: str, admin: bool = True) -> str:
    """Create an operator through the CLI; returns the token it printed."""
    return add_operator_with_link(backend, name, admin)[0]


def add_operator_with_link(
    backend: str, name: str, admin: bool = True, url: str = "http://127.0.0.1:8000"
) -> tuple[str, str]:
    """Create an operator through the CLI: the API token (stdout) and the console
    setup link (stderr)."""
    args = [*incidents_command(), "operator", "add", name, "--backend", backend, "--url", url]
    done = subprocess.run(
        [*args, "--admin"] if admin else args,
        capture_output=True,
        text=True,
        timeout=scaled(30),
        check=True,
        cwd=tempfile.gettempdir(),
    )
    link = next(word for word in done.stderr.split() if "/console/setup/" in word)
    return done.stdout.strip(), link


class ServerProcess:
    """``incidents serve`` on a free loopback port."""

    def __init__(
        self,
        backend: str,
        *,
        workers: int = 1,
        env: dict[str, str] | None = None,
        port: int = 0,
        args: list[str] | None = None,
    ) -> None:
        self.backend = backend
        self.args = args or []  # more options of ``incidents serve``
        self.workers = workers
        self.env = {**TEST_DEFAULTS, **os.environ, **(env or {})}
        self.dir = tempfile.mkdtemp(prefix="incidents-server-")
        self.port = port  # 0: a free one; restart() keeps the port it got
        self.proc: subprocess.Popen[bytes] | None = None
        self._log = Path(self.dir) / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def start(self) -> Self:
        fixed = self.port
        for _ in range(5):
            self.port = fixed or free_port()
            cmd = [*incidents_command(), "serve", "--port", str(self.port), "--backend", self.backend,
                   "--workers", str(self.workers), "--log-level", "warning", *self.args]  # fmt: skip
            with self._log.open("ab") as log:
                self.proc = subprocess.Popen(
                    cmd, cwd=self.dir, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            if self._wait_ready():
                return self
            self.kill()
        raise RuntimeError(f"server did not start:\n{self.log()}")

    def _wait_ready(self) -> bool:
        assert self.proc is not None

        def healthy() -> bool:
            return httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200

        return wait_up(self.proc, healthy, scaled(30), httpx.HTTPError)

    def restart(self) -> Self:
        """Start again on the same port (after stop() or kill()), as a supervisor would."""
        fixed, self.port = self.port, self.port
        self.proc = None
        deadline = time.monotonic() + scaled(20)
        while True:  # the old socket may linger a moment
            try:
                return self.start()
            except RuntimeError:
                if time.monotonic() > deadline:
                    raise
                self.port = fixed
                time.sleep(0.2)

    def log(self) -> str:
        return self._log.read_text(errors="replace") if self._log.exists() else ""

    def stop(self) -> None:
        self._signal(signal.SIGTERM, wait=scaled(15))

    def kill(self) -> None:
        """SIGKILL the whole process group (all workers), as a crash would."""
        self._signal(signal.SIGKILL, wait=scaled(10))

    def _signal(self, sig: signal.Signals, wait: float) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            self.proc.wait(wait)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def installed_is_current() -> bool:
    """Whether the installed project has exactly the checkout's files."""
    code = "import broadcaster as b, incidents as i; print(b.__file__); print(i.__file__)"
    probe = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tempfile.gettempdir()
    )
    if probe.returncode != 0:
        return False
    package = Path(probe.stdout.splitlines()[0]).parent
    if package == CHECKOUT / "broadcaster":
        return True  # an editable install runs the checkout itself
    pairs = [(CHECKOUT / "incidents.py", Path(probe.stdout.splitlines()[1]))]
    for top, inside in (("broadcaster", ""), ("templates", "templates"), ("static", "static")):
        for path in (CHECKOUT / top).rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts:
                pairs.append((path, package / inside / path.relative_to(CHECKOUT / top)))
    return all(b.exists() and a.read_bytes() == b.read_bytes() for a, b in pairs)


def ensure_installed() -> None:
    """Reinstall the project into the test virtualenv if the checkout changed."""
    if not installed_is_current():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--disable-pip-version-check",
             str(CHECKOUT)],
            check=True, cwd=tempfile.gettempdir(), timeout=scaled(300),
        )  # fmt: skip
