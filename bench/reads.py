"""``python -m bench --scenarios reads``: the public read path against its floor (issue 15, part 7).

One product process (SQLite) gets an incident of 200 updates and one of 5,000 (the demo's Chinese
text); every read path's bytes are fetched from it once and served again from memory by the floor
(bench/floor_app.py: Starlette + uvicorn); ``wrk -t1 -c50`` then loads each path on the product and
on the floor, alternating, in the same run; the page and feed paths also through nginx
(bench/nginx.py); the 5,000-update incident's first page is fetched in each content coding; and
the page is loaded by wrk while live subscribers receive 10 updates/s (bench/scenarios.py's
machinery). Results: bench/results/*-reads.json and the "Read path" section of docs/benchmarks.md
(bench/reads_report.py).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import traceback
import zlib
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from bench import wrk
from bench.procs import Reaper, children_of, cpu_seconds, free_port, raise_fd_limit, wait_port
from bench.publisher import HTTPConnection
from bench.publisher import http as http_json
from bench.servers import HOST, Server, ServerFailed

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
DEMO = ROOT / "broadcaster" / "demo" / "zzic-2010.json"
KEPT_HEADERS = ("content-type", "etag", "cache-control", "vary", "content-encoding", "last-modified")
ENCODED = "gzip, br"  # what the page rows with compression ask for (a browser asks for more)
CODINGS = ("identity", "gzip", "br", "zstd")


def log(message: str) -> None:
    print(time.strftime("%H:%M:%S ") + message, flush=True)


def add_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("reads (issue 15)")
    g.add_argument(
        "--wrk-duration", type=float, help="reads: seconds of wrk per path and server (default 10)"
    )
    g.add_argument("--reads-updates", type=int, help="reads: updates of the long incident (default 5000)")
    g.add_argument(
        "--reads-subscribers", type=int, help="reads: live subscribers in the page storm (default 5000)"
    )
    g.add_argument(
        "--reads-storm-duration", type=float, help="reads: seconds of each storm phase (default 30)"
    )


def finish_options(o: argparse.Namespace) -> None:
    q = o.quick
    o.wrk_duration = o.wrk_duration or (3.0 if q else 10.0)
    o.reads_updates = o.reads_updates or 5000
    o.reads_subscribers = o.reads_subscribers or (500 if q else 5000)
    o.reads_storm_duration = o.reads_storm_duration or (8.0 if q else 30.0)


# --- talking to a server ------------------------------------------------------------------------


def fetch(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One GET; the body as received (never decoded), headers lower-cased."""
    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        conn.request("GET", path, headers={"Accept-Encoding": "identity", **(headers or {})})
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        conn.close()


class Assets(HTMLParser):
    """The stylesheets and scripts a page refers to."""

    def __init__(self) -> None:
        super().__init__()
        self.css: list[str] = []
        self.js: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "link" and "stylesheet" in (a.get("rel") or "").split() and a.get("href"):
            self.css.append(str(a["href"]))
        elif tag == "script" and a.get("src"):
            self.js.append(str(a["src"]))


def local(urls: list[str]) -> list[str]:
    out = []
    for url in urls:
        parts = urlsplit(url)
        if parts.netloc in ("", f"{HOST}") or parts.netloc.startswith(HOST + ":"):
            out.append(parts.path + (f"?{parts.query}" if parts.query else ""))
    return [u for u in out if u.startswith("/static/")]


def pick(urls: list[str], stem: str) -> str | None:
    """The main asset: ``/static/<stem>.css``, ``/static/<stem>.<hash>.js``, ... else the first."""
    for url in urls:
        if url.rsplit("/", 1)[-1].startswith(stem + "."):
            return url
    return urls[0] if urls else None


def demo_texts() -> tuple[dict[str, Any], list[str]]:
    story = json.loads(DEMO.read_text())
    incident = next(s["incident"] for s in story["steps"] if s["do"] == "open")
    bodies = [s["body"] for s in story["steps"] if s["do"] in ("update", "edit") and s.get("body")]
    return incident, bodies


def create_incident(srv: Server, title_suffix: str) -> str:
    incident, _ = demo_texts()
    body = dict(incident, title=incident["title"] + title_suffix)
    try:
        made = http_json("POST", srv.base() + "/api/incidents", body, srv.token)
    except Exception:  # the demo has fields this version may not take: the CONTRACT ones
        keys = ("title", "summary", "area", "severity", "category", "lang", "exercise")
        made = http_json(
            "POST", srv.base() + "/api/incidents", {k: body[k] for k in keys if k in body}, srv.token
        )
    return str(made.get("id") or made.get("incident", {}).get("id"))


async def _post_updates(port: int, token: str, incident: str, count: int, concurrency: int) -> dict[str, Any]:
    _, bodies = demo_texts()
    headers = f"Authorization: Bearer {token}\r\n"
    statuses: dict[int, int] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker() -> None:
        conn = HTTPConnection(HOST, port)
        try:
            while not queue.empty():
                i = queue.get_nowait()
                text = f"{bodies[i % len(bodies)]}\n\n（第 {i + 1} 条）"
                status, _ = await conn.request(
                    "POST", f"/api/incidents/{incident}/updates", json.dumps({"body": text}).encode(), headers
                )
                statuses[status] = statuses.get(status, 0) + 1
        finally:
            conn.close()

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.monotonic() - started
    return {"statuses": statuses, "seconds": round(seconds, 2), "posts_per_s": round(count / seconds, 1)}


def post_updates(srv: Server, incident: str, count: int) -> dict[str, Any]:
    done = asyncio.run(_post_updates(srv.port, srv.token, incident, count, 16))
    bad = {k: v for k, v in done["statuses"].items() if not 200 <= k < 300}
    if bad:
        raise ServerFailed(f"posting updates to {incident}: statuses {bad}")
    return done


# --- the paths ----------------------------------------------------------------------------------


def read_paths(srv: Server, ident: str) -> list[dict[str, Any]]:
    """Every read path of issue 15, with its goal group (page / feed / none)."""
    status, _, page = fetch(srv.port, f"/incidents/{ident}")
    if status != 200:
        raise ServerFailed(f"/incidents/{ident} answered {status}")
    assets = Assets()
    assets.feed(page.decode("utf-8", "replace"))
    css, js = pick(local(assets.css), "site"), pick(local(assets.js), "live")
    _, _, cap_index = fetch(srv.port, f"/incidents/{ident}/cap.atom")
    messages = re.findall(rb"/incidents/[^/\"<]+/cap/(\d+)\.xml", cap_index)
    timeline_url = f"{srv.base()}/incidents/{ident}"
    paths = [
        ("timeline page", f"/incidents/{ident}", "page"),
        ("embed", f"/incidents/{ident}/embed", "page"),
        ("index", "/", "page"),
        ("stylesheet", css, "page"),
        ("script", js, "page"),
        ("Atom", f"/incidents/{ident}/feed.atom", "feed"),
        ("JSON Feed", f"/incidents/{ident}/feed.json", "feed"),
        ("CAP (current)", f"/incidents/{ident}/cap.xml", "feed"),
        (
            "CAP (one message)",
            f"/incidents/{ident}/cap/{messages[-1].decode()}.xml" if messages else None,
            "feed",
        ),
        ("CAP index", f"/incidents/{ident}/cap.atom", "feed"),
        ("JSON snapshot", f"/api/incidents/{ident}", "feed"),
        ("oEmbed", f"/oembed?url={quote(timeline_url, safe='')}", "feed"),
        ("/healthz", "/healthz", "none"),
    ]
    return [{"name": n, "path": p, "group": g} for n, p, g in paths if p]


def capture(srv: Server, paths: list[dict[str, Any]]) -> dict[str, Any]:
    """The product's answer for each path (and the compressed one of the page): the floor's spec."""
    spec: dict[str, Any] = {"paths": {}}

    def entry(status: int, headers: dict[str, str], body: bytes) -> dict[str, Any]:
        kept = {k: headers[k] for k in KEPT_HEADERS if k in headers}
        return {"status": status, "headers": kept, "body": base64.b64encode(body).decode()}

    for item in paths:
        status, headers, body = fetch(srv.port, item["path"])
        item.update(
            status=status,
            bytes=len(body),
            content_type=headers.get("content-type"),
            etag=headers.get("etag"),
            cache_control=headers.get("cache-control"),
        )
        route = urlsplit(item["path"]).path
        spec["paths"][route] = entry(status, headers, body)
        if item["group"] == "page":
            status2, headers2, body2 = fetch(srv.port, item["path"], {"Accept-Encoding": ENCODED})
            item["encoding"] = headers2.get("content-encoding") or "identity"
            item["encoded_bytes"] = len(body2)
            if headers2.get("content-encoding"):
                spec["paths"][route]["encoded"] = entry(status2, headers2, body2)
        if item["etag"]:
            status3, _, _ = fetch(srv.port, item["path"], {"If-None-Match": item["etag"]})
            item["revalidation_status"] = status3
    return spec


class Floor:
    def __init__(self, reaper: Reaper, workdir: Path, spec: dict[str, Any]) -> None:
        self.reaper = reaper
        self.dir = workdir / "floor"
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "spec.json").write_text(json.dumps(spec))
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "bench.floor_app",
            str(self.dir / "spec.json"),
            "--port",
            str(self.port),
        ]
        self.proc = self.reaper.spawn(argv, log=self.dir / "floor.log", cwd=ROOT)
        wait_port(self.port, self.proc, 30)

    def cpu(self) -> float:
        return cpu_seconds(children_of(self.proc.pid)) if self.proc else 0.0

    def stop(self) -> None:
        if self.proc is not None:
            self.reaper.stop(self.proc)
            self.proc = None


# --- measuring ----------------------------------------------------------------------------------


def rows_for(paths: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The wrk rows: each path; the page asking for compression; a 304 row per path with a goal."""
    rows = []
    for item in paths:
        base = {"name": item["name"], "path": item["path"], "headers": {}}
        rows.append(dict(base, group=item["group"]))
        if item["name"] == "timeline page":
            rows.append(
                dict(base, name=f"{item['name']}, `Accept-Encoding: {ENCODED}`", group="page",
                     headers={"Accept-Encoding": ENCODED}, encoding=item.get("encoding"))
            )  # fmt: skip
        if item["group"] == "none":
            continue
        row = dict(base, name=f"{item['name']}, `If-None-Match` (304)", group="304")
        if not item.get("etag"):
            row["skipped"] = "no ETag"
        elif item.get("revalidation_status") != 304:
            row["skipped"] = f"ETag, but a matching If-None-Match got {item.get('revalidation_status')}"
        else:
            row["headers"] = {"If-None-Match": item["etag"]}
        rows.append(row)
    return rows


def load(port: int, path: str, duration: float, headers: dict[str, str], cpu: Any) -> dict[str, Any]:
    """One wrk run, with the CPU the server spent meanwhile (% of one core)."""
    c0, t0 = cpu(), time.monotonic()
    result = wrk.run(f"http://{HOST}:{port}{path}", duration, headers)
    result["server_cpu_pct"] = round((cpu() - c0) / (time.monotonic() - t0) * 100)
    time.sleep(0.3)  # let the 50 connections close before the next run
    return result


def short(result: dict[str, Any]) -> str:
    rps, p99 = result.get("rps"), result.get("p99_ms")
    return f"{rps or 0:,.0f} req/s, p99 {p99 if p99 is not None else '-'} ms"


def current_etag(port: int, path: str, duration: float) -> str:
    """The ETag a reader holds right now, fetched just before a 304 row, at a time when the row
    will not cross a minute boundary: HTML pages say "3 minutes ago", so their bytes (and ETag)
    change each minute, and a stale If-None-Match would measure full 200 answers instead."""
    into_minute = time.time() % 60
    if into_minute > 60 - duration - 2:
        time.sleep(60 - into_minute + 0.5)
    status, headers, _ = fetch(port, path)
    if status != 200 or "etag" not in headers:
        raise RuntimeError(f"{path}: no ETag to revalidate with (status {status})")
    return headers["etag"]


def measure_rows(rows: list[dict[str, Any]], srv: Server, floor: Floor, duration: float) -> None:
    """Product and floor for every row, one after the other, the order alternating by row."""
    targets = {"product": (srv.port, srv.cpu), "floor": (floor.port, floor.cpu)}
    for number, row in enumerate(rows):
        if row.get("skipped"):
            log(f"  {row['name']}: {row['skipped']}")
            continue
        order = ("product", "floor") if number % 2 == 0 else ("floor", "product")
        for who in order:
            port, cpu = targets[who]
            headers = row["headers"]
            if row["group"] == "304":
                headers = {"If-None-Match": current_etag(port, row["path"], duration)}
            row[who] = load(port, row["path"], duration, headers, cpu)
            if row["group"] == "304" and row[who].get("requests"):
                row[who]["bytes_per_response"] = round(row[who]["bytes_read"] / row[who]["requests"])
        log(f"  {row['name']}: product {short(row['product'])}; floor {short(row['floor'])}")


NGINX_PATHS = (
    "timeline page",
    "embed",
    "index",
    "Atom",
    "JSON Feed",
    "CAP (current)",
    "JSON snapshot",
    "oEmbed",
)


def behind_nginx(
    reaper: Reaper, workdir: Path, srv: Server, paths: list[dict[str, Any]], o: Any
) -> dict[str, Any]:
    from bench.nginx import Nginx

    proxy = Nginx(reaper, workdir, srv.port)
    out: dict[str, Any] = {"version": proxy.version(), "rows": []}
    proxy.start()
    out["config"] = proxy.source
    try:
        for item in paths:
            if item["name"] not in NGINX_PATHS:
                continue
            answers = [fetch(proxy.port, item["path"])[1] for _ in range(2)]
            # The minimal config names it X-Cache; deploy/nginx.conf X-Cache-Status.
            seen = [h.get("x-cache") or h.get("x-cache-status", "") for h in answers]
            row = {"name": item["name"], "path": item["path"], "cache": seen[-1] or "-"}
            row["nginx"] = load(proxy.port, item["path"], o.wrk_duration, {}, srv.cpu)
            log(f"  nginx {item['name']}: {short(row['nginx'])} (cache {row['cache']})")
            out["rows"].append(row)
    finally:
        proxy.stop()
    return out


def compression(srv: Server, ident: str, updates: int) -> dict[str, Any]:
    """The first page of the long incident as each content coding puts it on the wire."""
    path = f"/incidents/{ident}"
    out: dict[str, Any] = {"path": path, "updates": updates, "codings": {}}
    identity = b""
    for coding in (*CODINGS, "gzip, deflate, br, zstd"):
        status, headers, body = fetch(srv.port, path, {"Accept-Encoding": coding})
        got = headers.get("content-encoding") or "identity"
        out["codings"][coding] = {"status": status, "content_encoding": got, "bytes": len(body)}
        if coding == "identity":
            identity = body
    out["identity_bytes"] = len(identity)
    out["zlib6_bytes"] = len(zlib.compress(identity, 6))  # what gzip would make of it (less 18 B)
    sizes = [c["bytes"] for c in out["codings"].values() if c["content_encoding"] in ("gzip", "br", "zstd")]
    out["smallest_compressed"] = min(sizes) if sizes else None
    return out


def storm(o: Any, reaper: Reaper, workdir: Path, srv: Server, ident: str) -> dict[str, Any]:
    """Live delivery on ``ident`` at ``o.rate`` updates/s, then the same with wrk loading its page."""
    from bench.scenarios import Bench

    bench = Bench(o, workdir, reaper, Path(sys.executable))
    keep = ("connected", "wanted", "lat_p50_ms", "lat_p99_ms", "lat_max_ms", "lost", "dup", "ooo", "resets",
            "reconnects", "expected", "deliveries", "posts_per_s", "post_p99_ms", "server_cpu_pct",
            "client_cpu_pct", "machine_busy_pct", "drained", "drain_s")  # fmt: skip
    out: dict[str, Any] = {
        "subscribers": o.reads_subscribers,
        "rate": o.rate,
        "duration_s": o.reads_storm_duration,
    }
    try:
        size = srv.calibrate([200])[200]
        topics = {ident: srv.head(ident)}
        out.update(bench.connect(srv, topics, o.reads_subscribers))
        log(f"  connected {out['connected']}/{out['wanted']} in {out['connect_s']} s")
        time.sleep(o.settle)
        d = o.reads_storm_duration
        quiet = bench.phase(srv, topics, size=size, rate=o.rate, duration=d, concurrency=16)
        out["without"] = {k: quiet.get(k) for k in keep}
        log(
            f"  without the storm: p50/p99 {quiet['lat_p50_ms']}/{quiet['lat_p99_ms']} ms, "
            f"lost {quiet['lost']}"
        )
        page = wrk.start(f"http://{HOST}:{srv.port}/incidents/{ident}", d)
        try:
            loud = bench.phase(srv, topics, size=size, rate=o.rate, duration=d, concurrency=16)
            out["page_load"] = wrk.finish(page, d)
        finally:
            wrk.stop(page)
        out["with"] = {k: loud.get(k) for k in keep}
        log(
            f"  with the storm: p50/p99 {loud['lat_p50_ms']}/{loud['lat_p99_ms']} ms, lost {loud['lost']}; "
            f"page {short(out['page_load'])}"
        )
        bench.pool.ask("close", {}, timeout=60)
    finally:
        bench.pool.stop()
    return out


# --- the run ------------------------------------------------------------------------------------


def versions() -> dict[str, Any]:
    import importlib.metadata as md

    out: dict[str, Any] = {"python": sys.version.split()[0]}
    for name in (
        "fastapi",
        "starlette",
        "uvicorn",
        "uvloop",
        "httptools",
        "websockets",
        "brotli",
        "zstandard",
    ):
        with contextlib.suppress(md.PackageNotFoundError):
            out[name] = md.version(name)
    with contextlib.suppress(Exception):
        text = subprocess.run([wrk.WRK, "-v"], capture_output=True, text=True, timeout=10, check=False)
        out["wrk"] = (text.stdout or text.stderr).split("Copyright")[0].strip()
    return out


def check_floor(floor: Floor, paths: list[dict[str, Any]]) -> list[str]:
    """The floor answers each path with the product's status, type and length."""
    problems = []
    for item in paths:
        status, headers, body = fetch(floor.port, item["path"])
        if (status, headers.get("content-type"), len(body)) != (
            item["status"],
            item["content_type"],
            item["bytes"],
        ):
            problems.append(
                f"{item['path']}: floor {status} {headers.get('content-type')} {len(body)} B, "
                f"product {item['status']} {item['content_type']} {item['bytes']} B"
            )
    return problems


def run(o: argparse.Namespace, machine: dict[str, Any]) -> int:
    import shlex
    import shutil

    from bench import reads_report

    raise_fd_limit()
    RESULTS.mkdir(parents=True, exist_ok=True)
    reaper = Reaper(RESULTS / ".running.json")
    if leftovers := reaper.reap_leftovers():
        log(f"stopped leftovers of an interrupted run: {leftovers}")

    def on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, on_signal)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    workdir = RESULTS / f"tmp-{stamp}-reads"
    workdir.mkdir(parents=True)
    results: dict[str, Any] = {
        "scenario": "reads",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": ".venv/bin/python -m bench " + shlex.join(sys.argv[1:]),
        "quick": o.quick,
        "machine": machine,
        "versions": versions(),
        "product": o.product_state(),
        "config": {k: getattr(o, k) for k in ("wrk_duration", "reads_updates", "reads_subscribers",
                                              "reads_storm_duration", "rate", "clients", "product")},
        "problems": [],
        "load_average_before": os.getloadavg(),
    }  # fmt: skip
    started = time.monotonic()
    try:
        srv = Server("product", reaper, workdir, peers_python=Path(sys.executable),
                     product_python=o.product_python, product_source=o.product)  # fmt: skip
        srv.start()
        log(f"reads: product on port {srv.port}; work directory {workdir.relative_to(ROOT)}")
        seeded = {}
        for label, count in (("short", 200), ("long", o.reads_updates)):
            ident = create_incident(srv, f"（{count} 条更新）")
            seeded[label] = {"id": ident, "updates": count, **post_updates(srv, ident, count)}
            log(f"  incident {ident}: {count} updates posted at {seeded[label]['posts_per_s']}/s")
        results["incidents"] = seeded
        paths = read_paths(srv, seeded["short"]["id"])
        floor = Floor(reaper, workdir, capture(srv, paths))
        results["paths"] = paths
        floor.start()
        if wrong := check_floor(floor, paths):
            raise RuntimeError("the floor does not answer as the product did: " + "; ".join(wrong))
        rows = rows_for(paths)
        results["rows"] = rows
        log(f"wrk -t1 -c50 -d{o.wrk_duration:g}s on {len(rows)} rows, product and floor alternating")
        measure_rows(rows, srv, floor, o.wrk_duration)
        floor.stop()
        log("behind nginx")
        results["nginx"] = behind_nginx(reaper, workdir, srv, paths, o)
        results["compression"] = compression(srv, seeded["long"]["id"], o.reads_updates)
        log(f"  first page of {o.reads_updates} updates: {results['compression']['codings']}")
        log(f"page storm: {o.reads_subscribers} live subscribers, {o.rate:g} updates/s")
        results["storm"] = storm(o, reaper, workdir, srv, seeded["short"]["id"])
        srv.stop()
    except KeyboardInterrupt as exc:
        results["interrupted"] = str(exc) or "Ctrl-C"
        print(f"\nreads: interrupted ({results['interrupted']}); stopping everything", flush=True)
    except Exception as exc:  # a partial report is still worth writing
        results["error"] = f"{type(exc).__name__}: {exc}"[:2000]
        log(f"reads: FAILED: {results['error']}")
        traceback.print_exc()
    finally:
        reaper.stop_all()
        if not o.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    results["seconds"] = round(time.monotonic() - started)
    results["load_average_after"] = os.getloadavg()
    path = RESULTS / f"{stamp}-reads{'-quick' if o.quick else ''}.json"
    text = json.dumps(results, indent=1, default=str)
    path.write_text(text)
    (RESULTS / f"latest-reads{'-quick' if o.quick else ''}.json").write_text(text)
    log(f"results: {path.relative_to(ROOT)}")
    reads_report.render(results, path, docs=bool(o.docs) and "interrupted" not in results)
    if "interrupted" in results:
        return 130
    return 1 if "error" in results else 0
