"""Debian's nginx in front of the product: a reverse proxy with micro-caching, on a free port.

The configuration: the deploy file of issue 15 if the checkout has one (``docs/deploy/nginx.conf``
or ``deploy/nginx.conf``: its ``server`` blocks, with ``listen`` moved to our port, TLS lines
dropped and every ``127.0.0.1:8000`` pointed at the product under test), else :data:`MINIMAL`: a
proxy whose cache keeps what the server allows (``Cache-Control``/``Expires`` honoured, nothing
cached without them), serving stale while one request revalidates.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

from bench.procs import Reaper, free_port, wait_port

ROOT = Path(__file__).resolve().parent.parent
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DEPLOY_FILES = (ROOT / "docs" / "deploy" / "nginx.conf", ROOT / "deploy" / "nginx.conf")

MAIN = """\
worker_processes 1;
{user}pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
{servers}
}}
"""

MINIMAL = """\
    map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
    proxy_cache_path {prefix}/cache levels=1:2 keys_zone=bench_reads:10m max_size=256m inactive=10m
                     use_temp_path=off;
    upstream incidents {{
        server 127.0.0.1:{upstream};
        keepalive 64;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://incidents;
            proxy_http_version 1.1;
            proxy_set_header Host 127.0.0.1:{upstream};
            proxy_set_header Connection $connection_upgrade;
            proxy_set_header Upgrade $http_upgrade;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_cache bench_reads;
            proxy_cache_lock on;
            proxy_cache_use_stale updating error timeout;
            proxy_cache_background_update on;
            proxy_cache_revalidate on;
            add_header X-Cache $upstream_cache_status always;
        }}
    }}
"""


def adapt(text: str, port: int, upstream: int, prefix: Path) -> str:
    """A deploy configuration's ``server``/``upstream`` blocks made to run here: its placeholders
    (``{{LISTEN}}``, ``{{UPSTREAM}}``, ``{{CACHE_DIR}}``) filled, or a concrete file's values moved."""
    text = text.replace("{{LISTEN}}", f"127.0.0.1:{port}").replace("{{UPSTREAM}}", f"127.0.0.1:{upstream}")
    text = text.replace("{{CACHE_DIR}}", str(prefix / "cache"))
    text = re.sub(r"^\s*(ssl_\w+|http2|listen\s+\[::\])[^;]*;\s*$", "", text, flags=re.M)
    text = re.sub(r"\blisten\s+[^;]+;", f"listen 127.0.0.1:{port};", text)
    text = re.sub(r"\b(127\.0\.0\.1|localhost):8000\b", f"127.0.0.1:{upstream}", text)
    text = re.sub(r"^\s*(access_log|error_log)\b[^;]*;\s*$", "", text, flags=re.M)
    return re.sub(r"\bproxy_cache_path\s+\S+", f"proxy_cache_path {prefix}/cache", text)


class Nginx:
    def __init__(self, reaper: Reaper, workdir: Path, upstream: int) -> None:
        self.reaper = reaper
        self.prefix = workdir / "nginx"
        self.upstream = upstream
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.source = "bench/nginx.py (minimal)"  # what was run

    def config(self, deploy: bool = True) -> str:
        for path in DEPLOY_FILES if deploy else ():
            if path.exists():
                self.source = str(path.relative_to(ROOT))
                servers = adapt(path.read_text(), self.port, self.upstream, self.prefix)
                break
        else:
            servers = MINIMAL.format(port=self.port, upstream=self.upstream, prefix=self.prefix)
        user = "user root;\n" if os.geteuid() == 0 else ""  # workers write the cache in our directory
        return MAIN.format(prefix=self.prefix, user=user, servers=servers)

    def version(self) -> str:
        done = subprocess.run([NGINX, "-v"], capture_output=True, text=True, timeout=10, check=False)
        return (done.stderr or done.stdout).strip()

    def start(self) -> None:
        for sub in ("tmp", "cache"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        conf = self.prefix / "nginx.conf"
        argv = [NGINX, "-p", str(self.prefix), "-c", str(conf), "-e", str(self.prefix / "error.log")]
        for deploy in (True, False):
            conf.write_text(self.config(deploy))
            test = subprocess.run([*argv, "-t"], capture_output=True, text=True, timeout=30, check=False)
            if test.returncode == 0:
                break
            if not deploy or self.source.startswith("bench/"):
                raise RuntimeError(f"nginx -t: {test.stderr.strip()[-600:]}")
            failed = test.stderr.strip().splitlines()[-2:]
            self.source = f"bench/nginx.py (minimal: {self.source} did not load here: {' '.join(failed)})"
        self.proc = self.reaper.spawn(
            [*argv, "-g", "daemon off;"], log=self.prefix / "nginx.out", cwd=self.prefix
        )
        wait_port(self.port, self.proc, 15)

    def stop(self) -> None:
        if self.proc is not None:
            self.reaper.stop(self.proc)
            self.proc = None
