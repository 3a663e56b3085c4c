"""Debian's ``wrk``: one run against one URL, and its text output parsed.

``wrk -t1 -c50 -dNs --latency`` prints (numbers in its own units: ``us``/``ms``/``s``/``m``,
``B``/``KB``/``MB``/``GB``, ``k``/``M`` counts)::

      Latency Distribution
         50%    5.00ms
         99%    9.00ms
      96000 requests in 10.00s, 1.20GB read
      Socket errors: connect 0, read 0, write 0, timeout 5
      Non-2xx or 3xx responses: 10
    Requests/sec:   9600.00
"""

from __future__ import annotations

import re
import shutil
import subprocess
from typing import Any

from bench.procs import die_with_parent

WRK = shutil.which("wrk") or "/usr/bin/wrk"
TIME_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
SIZE_UNITS = {"B": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}
_TIME = r"([\d.]+)(us|ms|s|m|h)"


def ms(value: str, unit: str) -> float:
    return float(value) * TIME_UNITS[unit]


def parse(text: str) -> dict[str, Any]:
    """The numbers of one wrk run (``--latency`` for the percentiles); missing ones are None."""
    out: dict[str, Any] = {
        "rps": None,
        "p50_ms": None,
        "p99_ms": None,
        "avg_ms": None,
        "max_ms": None,
        "requests": None,
        "seconds": None,
        "bytes_read": None,
        "socket_errors": {},
        "non_2xx_3xx": 0,
    }
    if m := re.search(r"Requests/sec:\s+([\d.]+)", text):
        out["rps"] = float(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        if m := re.search(rf"^\s*{pct}(?:\.000)?%\s+{_TIME}\s*$", text, re.M):
            out[key] = round(ms(m.group(1), m.group(2)), 3)
    if m := re.search(rf"^\s*Latency\s+{_TIME}\s+{_TIME}\s+{_TIME}", text, re.M):
        out["avg_ms"] = round(ms(m.group(1), m.group(2)), 3)
        out["max_ms"] = round(ms(m.group(5), m.group(6)), 3)
    if m := re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m|h), ([\d.]+)(B|KB|MB|GB|TB) read", text):
        out["requests"] = int(m.group(1))
        out["seconds"] = round(ms(m.group(2), m.group(3)) / 1000, 3)
        out["bytes_read"] = int(float(m.group(4)) * SIZE_UNITS[m.group(5)])
    if m := re.search(r"Socket errors: (.*)", text):
        for name, count in re.findall(r"(\w+) (\d+)", m.group(1)):
            if int(count):
                out["socket_errors"][name] = int(count)
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", text):
        out["non_2xx_3xx"] = int(m.group(1))
    return out


def command(
    url: str, duration: float, headers: dict[str, str] | None = None, connections: int = 50
) -> list[str]:
    argv = [WRK, "-t1", f"-c{connections}", f"-d{max(1, round(duration))}s", "--latency", "--timeout", "10s"]
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    return [*argv, url]


def start(
    url: str, duration: float, headers: dict[str, str] | None = None, connections: int = 50
) -> subprocess.Popen[str]:
    """wrk in the background (the page storm runs it alongside the live fan-out)."""
    return subprocess.Popen(
        command(url, duration, headers, connections),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        preexec_fn=die_with_parent,
    )


def finish(proc: subprocess.Popen[str], duration: float) -> dict[str, Any]:
    try:
        text, _ = proc.communicate(timeout=duration + 60)
    except subprocess.TimeoutExpired:
        proc.kill()
        text, _ = proc.communicate()
    result = parse(text)
    result["exit"] = proc.returncode
    if result["rps"] is None:
        result["output"] = text[-800:]
    return result


def run(
    url: str, duration: float, headers: dict[str, str] | None = None, connections: int = 50
) -> dict[str, Any]:
    proc = start(url, duration, headers, connections)
    try:
        return finish(proc, duration)
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[str]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(5)
