"""Debian's nginx for tests, in front of a server, with the shipped configuration.

It runs as the test's user: its own prefix, pid file, temporary paths, cache and logs in
a temporary directory, ``daemon off``, on a free loopback port. ``deploy/nginx.conf`` is
included as an operator would, its placeholders filled in.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Self

from tests.support.redis_server import free_port
from tests.support.server import CHECKOUT, scaled, wait_up

TEMPLATE = CHECKOUT / "deploy" / "nginx.conf"
CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx")


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((path for path in CANDIDATES if os.access(path, os.X_OK)), None)


def render(template: str, listen: str, upstream: str, cache_dir: Path) -> str:
    """The shipped configuration with its placeholders filled in."""
    text = template.replace("{{LISTEN}}", listen).replace("{{UPSTREAM}}", upstream)
    text = text.replace("{{CACHE_DIR}}", str(cache_dir))
    if "{{" in text:
        raise ValueError(f"{TEMPLATE}: a placeholder is left: {text[text.index('{{') :][:40]}")
    return text


class NginxProcess:
    """``nginx -p DIR -c nginx.conf`` in the foreground, proxying to ``upstream`` (host:port)."""

    def __init__(self, binary: str, upstream: str) -> None:
        self.binary = binary
        self.upstream = upstream
        self.dir = Path(tempfile.mkdtemp(prefix="incidents-nginx-"))
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def _write_config(self) -> Path:
        d = self.dir
        for name in ("body", "proxy", "fastcgi", "uwsgi", "scgi", "cache", "logs"):
            (d / name).mkdir(exist_ok=True)
        site = render(TEMPLATE.read_text(), f"127.0.0.1:{self.port}", self.upstream, d / "cache")
        (d / "incidents.conf").write_text(site)
        main = d / "nginx.conf"
        # As root, nginx's workers would run as nobody, who cannot enter this private directory.
        user = "user root root;\n" if os.geteuid() == 0 else ""
        main.write_text(
            f"""daemon off;
{user}master_process on;
worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/logs/error.log info;
events {{ worker_connections 1024; }}
http {{
    access_log {d}/logs/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    include {d}/incidents.conf;
}}
"""
        )
        return main

    def start(self) -> Self:
        for _ in range(5):
            self.port = free_port()
            config = self._write_config()
            command = [self.binary, "-p", str(self.dir), "-e", str(self.dir / "logs/error.log"),
                       "-c", str(config)]  # fmt: skip
            test = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=scaled(30))
            if test.returncode != 0:
                raise RuntimeError(f"nginx refuses the configuration:\n{test.stderr}")
            self.proc = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
            if self._wait_ready():
                return self
            self.stop()
        raise RuntimeError(f"nginx did not start:\n{self.log()}")

    def _wait_ready(self) -> bool:
        assert self.proc is not None

        def listening() -> bool:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True

        return wait_up(self.proc, listening, scaled(15), OSError)

    def log(self) -> str:
        path = self.dir / "logs" / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)  # fast shutdown: open connections are closed
        try:
            self.proc.wait(scaled(5))
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
