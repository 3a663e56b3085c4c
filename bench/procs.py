"""Processes: starting and always stopping them, and reading their CPU and memory from /proc."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")
PR_SET_PDEATHSIG = 1


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def die_with_parent(sig: int = signal.SIGKILL) -> None:
    """In a child: get ``sig`` when the process that started us dies (even by SIGKILL)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, int(sig))


def _server_preexec() -> None:
    die_with_parent(signal.SIGTERM)  # a server's supervisor then stops its own workers


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args!r} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:.0f} s")


# --- /proc --------------------------------------------------------------------------------


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # fields from 3 (state) on: index = field - 3


def children_of(root: int) -> list[int]:
    """``root`` and all its descendants alive now."""
    parents: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(int(entry.name))
        if fields is not None:
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        tree.append(pid)
        todo.extend(parents.get(pid, []))
    return tree


def cpu_seconds(pids: Iterable[int]) -> float:
    """user + sys CPU of these processes (all their threads), in seconds."""
    ticks = 0
    for pid in pids:
        fields = _stat_fields(pid)
        if fields is not None:
            ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return ticks / CLK_TCK


def rss_kib(pids: Iterable[int]) -> int:
    """Sum of VmRSS (KiB) of these processes."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
                    break
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    total = sum(values[:8])
    return float(total - idle), float(total)


def socket_count(pid: int) -> int:
    count = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(entry.path).startswith("socket:"):
                    count += 1
    return count


# --- process groups that are always stopped -------------------------------------------------


class Reaper:
    """Every server process group we start is registered here and killed on the way out.

    A crashed run (kill -9) leaves a list in ``pidfile``; the next run stops those
    groups first, if they still run the command we recorded.
    """

    def __init__(self, pidfile: Path) -> None:
        self.pidfile = pidfile
        self.groups: dict[int, str] = {}
        self.hooks: list[Callable[[], None]] = []

    def reap_leftovers(self) -> list[int]:
        """Stop what a killed run left behind, and remove its work directory."""
        killed = []
        with contextlib.suppress(OSError, ValueError):
            recorded = json.loads(self.pidfile.read_text())
            results = self.pidfile.parent.resolve()
            for cmd in recorded.values():
                for word in cmd.split():
                    if "/tmp-" in word and results in Path(word).parents:
                        shutil.rmtree(results / Path(word).relative_to(results).parts[0], ignore_errors=True)
            for pid, cmd in recorded.items():
                try:
                    alive = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                except OSError:
                    continue
                if alive.strip() == cmd.strip():
                    self._kill_group(int(pid))
                    killed.append(int(pid))
        with contextlib.suppress(OSError):
            self.pidfile.unlink()
        return killed

    def _save(self) -> None:
        with contextlib.suppress(OSError):
            self.pidfile.write_text(json.dumps({str(k): v for k, v in self.groups.items()}))

    def spawn(
        self, argv: list[str], *, log: Path, cwd: Path, env: dict[str, str] | None = None
    ) -> subprocess.Popen[bytes]:
        out = open(log, "ab")  # noqa: SIM115 (closed with the process)
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: no Ctrl-C of ours, one kill for all
            preexec_fn=_server_preexec,
        )
        out.close()
        self.groups[proc.pid] = " ".join(argv)
        self._save()
        return proc

    @staticmethod
    def _group_alive(pgid: int) -> bool:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True

    def _kill_group(self, pgid: int, grace: float = 6.0) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pgid, os.WNOHANG)
            if not self._group_alive(pgid):
                return
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pgid, 0)

    def stop(self, proc: subprocess.Popen[bytes], grace: float = 6.0) -> None:
        self._kill_group(proc.pid, grace)
        with contextlib.suppress(Exception):
            proc.wait(1)
        self.groups.pop(proc.pid, None)
        self._save()

    def stop_all(self) -> None:
        for hook in reversed(self.hooks):
            with contextlib.suppress(Exception):
                hook()
        self.hooks.clear()
        for pgid in list(self.groups):
            self._kill_group(pgid, 3.0)
            self.groups.pop(pgid, None)
        with contextlib.suppress(OSError):
            self.pidfile.unlink()
