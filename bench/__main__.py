"""``python -m bench``: the fan-out benchmark (issue 5). See docs/benchmarks.md.

Run from the repository root with the product's interpreter::

    .venv/bin/python -m bench            # the full run (about 30 minutes), writes docs/benchmarks.md
    .venv/bin/python -m bench --quick    # a two-minute smoke run with small N
    .venv/bin/python -m bench --scenarios reads   # the read path against its floor (issue 15)
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import platform
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench import reads

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
RESULTS = BENCH / "results"
DOCS = ROOT / "docs"
SCENARIOS = ("single", "multi", "scaleout", "storm")
OTHER_SCENARIOS = ("reads",)  # not in the default run: name it (see bench/reads.py)
PEER_NAMES = ("starlette_broadcaster", "socketio", "websockets_floor")
ALL_SERVERS = ("product", *PEER_NAMES)


def _ints(text: str) -> list[int]:
    return [int(part.replace("k", "000")) for part in text.split(",") if part]


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="a ~2-minute smoke run: small N, short phases")
    p.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help=f"comma list of {', '.join(SCENARIOS + OTHER_SCENARIOS)} (default: all but reads)",
    )
    p.add_argument(
        "--servers", default=",".join(ALL_SERVERS), help="servers for the single-incident scenario"
    )
    p.add_argument("--subscribers", type=_ints, help="single incident: N list (default 1000,5000,10000)")
    p.add_argument("--sizes", type=_ints, help="update sizes in bytes of JSON (default 200,2048)")
    p.add_argument("--rate", type=float, default=10.0, help="updates per second (default 10)")
    p.add_argument("--duration", type=float, help="seconds of publishing per phase (default 20)")
    p.add_argument("--multi", default=None, help="incidents x subscribers (default 100x100)")
    p.add_argument("--multi-rate", type=float, default=50.0, help="updates/s over all incidents (default 50)")
    p.add_argument(
        "--saturation-subscribers", type=int, help="scale-out scenario: N on one incident (default 2000)"
    )
    p.add_argument(
        "--saturation-duration", type=float, help="seconds of posting as fast as possible (default 15)"
    )
    p.add_argument("--storm-subscribers", type=int, help="reconnect storm: N (default 10000)")
    p.add_argument("--storm-servers", help="product variants for the storm (default product-redis-2,product)")
    p.add_argument("--storm-window", type=float, help="seconds of publishing after the drop (default 35)")
    p.add_argument(
        "--reconnect",
        choices=["livejs", "now"],
        default="livejs",
        help="client reconnect delays: like static/live.js (default) or at once",
    )
    p.add_argument("--clients", type=int, default=4, help="load-client processes (default 4)")
    p.add_argument(
        "--product",
        choices=["checkout", "installed"],
        default="checkout",
        help="run `python incidents.py serve` from this checkout (default) or .venv's `incidents`",
    )
    p.add_argument(
        "--docs", dest="docs", action="store_true", default=None, help="write docs/benchmarks.{md,png}"
    )
    p.add_argument("--no-docs", dest="docs", action="store_false", help="do not touch docs/")
    p.add_argument("--keep", action="store_true", help="keep the work directory (server logs, databases)")
    p.add_argument("--report", metavar="RESULTS.json", help="only render the report of an earlier run")
    reads.add_options(p)
    o = p.parse_args(argv)
    reads.finish_options(o)
    q = o.quick
    o.subscribers = o.subscribers or ([300] if q else [1000, 5000, 10000])
    o.sizes = o.sizes or [200, 2048]
    o.duration = o.duration or (5.0 if q else 20.0)
    o.multi = o.multi or ("10x30" if q else "100x100")
    o.saturation_subscribers = o.saturation_subscribers or (300 if q else 2000)
    o.saturation_duration = o.saturation_duration or (5.0 if q else 15.0)
    o.storm_subscribers = o.storm_subscribers or (300 if q else max(o.subscribers))
    o.storm_window = o.storm_window or (8.0 if q else 35.0)
    o.storm_servers = o.storm_servers or ("product-redis-2" if q else "product-redis-2,product")
    o.connect_deadline = 60.0 if q else 180.0
    o.drain_timeout = 20.0 if q else 120.0
    o.stall_timeout = 8.0 if q else 15.0
    o.settle = 1.0 if q else 3.0
    o.scenarios = [s for s in o.scenarios.split(",") if s]
    o.servers = [s for s in o.servers.split(",") if s]
    for s in o.scenarios:
        if s not in SCENARIOS + OTHER_SCENARIOS:
            p.error(f"unknown scenario {s!r}")
    for s in o.servers:
        if s not in ALL_SERVERS:
            p.error(f"unknown server {s!r}")
    o.product_python = sys.executable
    o.product_state = product_state
    if o.docs is None:
        o.docs = not q
    return o


# --- environment --------------------------------------------------------------------------------


def peers_python() -> Path:
    """bench/.venv-peers, made (or brought up to date) from bench/requirements-peers.txt."""
    venv = BENCH / ".venv-peers"
    python = venv / "bin" / "python"
    requirements = BENCH / "requirements-peers.txt"
    digest = hashlib.sha256(requirements.read_bytes()).hexdigest()
    stamp = venv / ".requirements.sha256"
    if python.exists() and stamp.exists() and stamp.read_text().strip() == digest:
        return python
    print(f"bench: preparing the peers' virtualenv {venv.relative_to(ROOT)} ...", flush=True)
    if not python.exists():
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(venv)], check=True, timeout=300)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(requirements),
        ],
        check=True,
        timeout=1200,
    )
    stamp.write_text(digest)
    return python


def machine() -> dict[str, Any]:
    mem = 0
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1])
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    import resource

    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(mem / 1024 / 1024, 1),
        "kernel": platform.release(),
        "os": _os_name(),
        "python": platform.python_version(),
        "fd_limit": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    }


def _os_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip('"')
    return platform.system()


PRODUCT_CODE = ("broadcaster", "templates", "static", "incidents.py", "pyproject.toml")


def product_state() -> dict[str, Any]:
    """The product's code as a server started now would run it: commit, and uncommitted
    changes to the product's own files (a hash of the diff, new files included)."""

    def git(*args: str) -> str:
        with contextlib.suppress(Exception):
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20, check=False
            ).stdout
        return ""

    status = git("status", "--porcelain", "--untracked-files=all", "--", *PRODUCT_CODE)
    changed = [line[3:] for line in status.splitlines() if len(line) > 3]
    digest = hashlib.sha256(git("diff", "HEAD", "--", *PRODUCT_CODE).encode())
    for name in changed:
        with contextlib.suppress(OSError):
            digest.update((ROOT / name).read_bytes())
    return {
        "commit": git("rev-parse", "HEAD").strip(),
        "changed_files": changed,
        "diff_sha256": digest.hexdigest()[:16] if changed else "",
    }


# --- the run --------------------------------------------------------------------------------------


def run(o: argparse.Namespace) -> int:
    from bench import report
    from bench.procs import Reaper, raise_fd_limit
    from bench.scenarios import Bench, log
    from bench.servers import versions

    raise_fd_limit()
    RESULTS.mkdir(parents=True, exist_ok=True)
    reaper = Reaper(RESULTS / ".running.json")
    leftovers = reaper.reap_leftovers()
    if leftovers:
        log(f"stopped leftovers of an interrupted run: {leftovers}")

    def on_signal(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):  # SIGINT too, even if started ignored
        signal.signal(sig, on_signal)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    workdir = RESULTS / f"tmp-{stamp}"
    workdir.mkdir(parents=True)
    command = "python -m bench" + ("" if len(sys.argv) <= 1 else " " + shlex.join(sys.argv[1:]))
    results: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "command": ".venv/bin/" + command,
        "quick": o.quick,
        "machine": machine(),
        "product": product_state(),
        "config": {
            k: v
            for k, v in vars(o).items()
            if k not in ("report", "docs", "keep", "product_python", "product_state")
        },
        "rows": [],
        "product_problems": [],
    }
    started = time.monotonic()
    interrupted = None
    bench = None
    try:
        python = peers_python()
        results["versions"] = versions(python)
        log(f"bench: {', '.join(o.scenarios)}; work directory {workdir.relative_to(ROOT)}")
        bench = Bench(o, workdir, reaper, python)
        rate_phases = [{"size": size, "rate": o.rate, "duration": o.duration} for size in o.sizes]
        if "single" in o.scenarios:
            for n in o.subscribers:
                for name in o.servers:
                    bench.run_server("single", name, n, 1, rate_phases)
        if "multi" in o.scenarios:
            topics, per = (int(x) for x in o.multi.split("x"))
            bench.run_server(
                "multi", "product", per, topics, [{"size": 200, "rate": o.multi_rate, "duration": o.duration}]
            )
        if "scaleout" in o.scenarios:
            sat = [{"size": 200, "rate": 0, "duration": o.saturation_duration, "concurrency": 16}]
            for name in ("product-redis-1", "product-redis-2"):
                bench.run_server("scaleout", name, o.saturation_subscribers, 1, sat)
        if "storm" in o.scenarios:
            storm = {"before": 5.0 if not o.quick else 3.0, "window": o.storm_window}
            phase = [
                {"size": 200, "rate": o.rate, "duration": storm["before"] + storm["window"], "storm": storm}
            ]
            for name in [s for s in o.storm_servers.split(",") if s]:
                bench.run_server("storm", name, o.storm_subscribers, 1, phase)
    except KeyboardInterrupt as exc:
        interrupted = str(exc) or "Ctrl-C"
        print(f"\nbench: interrupted ({interrupted}); stopping everything", flush=True)
    finally:
        reaper.stop_all()
        if bench is not None:
            results["rows"] = bench.rows
            results["product_problems"] = bench.incidents
        if not o.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    results["seconds"] = round(time.monotonic() - started)
    results["product_after"] = product_state()
    if results["product_after"] != results["product"]:
        results["product_problems"].append(
            "the product's code changed during the run (commit or working tree): "
            "rows carry the state each server started from (`product_code`)"
        )
    if interrupted:
        results["interrupted"] = interrupted
    if not results["rows"]:
        print("bench: no results", file=sys.stderr)
        return 130 if interrupted else 1
    path = RESULTS / f"{stamp}{'-quick' if o.quick else ''}.json"
    path.write_text(json.dumps(results, indent=1, default=str))
    latest = RESULTS / (
        "latest-quick.json" if o.quick else "latest.json"
    )  # a smoke run never hides the full one
    latest.write_text(json.dumps(results, indent=1, default=str))
    log(f"results: {path.relative_to(ROOT)} (and {latest.relative_to(ROOT)})")
    report.render(results, path, docs=o.docs and not interrupted)
    return 130 if interrupted else 0


def main(argv: list[str] | None = None) -> int:
    o = parse(argv)
    if o.report:
        from bench import reads_report, report

        source = Path(o.report).resolve()
        loaded = json.loads(source.read_text())
        renderer = reads_report.render if loaded.get("scenario") == "reads" else report.render
        renderer(loaded, source, docs=bool(o.docs))
        return 0
    code = 0
    wants_reads = "reads" in o.scenarios
    fan_out = [s for s in o.scenarios if s in SCENARIOS]
    if fan_out:
        o.scenarios = fan_out
        code = run(o)
    if wants_reads:
        code = reads.run(o, machine()) or code
    return code


if __name__ == "__main__":
    sys.exit(main())
