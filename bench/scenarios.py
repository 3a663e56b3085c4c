"""The scenarios: connect, measure idle memory, publish, drain, account. One row per phase."""

from __future__ import annotations

import array
import contextlib
import multiprocessing
import time
from pathlib import Path
from typing import Any

from bench import loadclient, publisher
from bench.procs import Reaper, cpu_seconds, machine_cpu
from bench.servers import LABELS, Server, ServerFailed

SOURCES = [f"127.0.0.{i}" for i in range(2, 10)]
SIO_OVERHEAD = len('42["update",]')  # socket.io wraps the same object in an event packet


class BenchError(RuntimeError):
    pass


def log(message: str) -> None:
    print(time.strftime("%H:%M:%S ") + message, flush=True)


class ClientPool:
    """Load-client processes (spawned once, reused for every server)."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.ctx = multiprocessing.get_context("spawn")
        self.procs: list[Any] = []
        self.pipes: list[Any] = []
        self.start()

    def start(self) -> None:
        for i in range(self.count):
            mine = [s for j, s in enumerate(SOURCES) if j % self.count == i % len(SOURCES)] or SOURCES
            parent, child = self.ctx.Pipe()
            proc = self.ctx.Process(
                target=loadclient.main, args=(i, child, mine), daemon=True, name=f"bench-load-{i}"
            )
            proc.start()
            child.close()
            self.procs.append(proc)
            self.pipes.append(parent)

    def pids(self) -> list[int]:
        return [proc.pid for proc in self.procs]

    def ask(self, command: str, args: Any, timeout: float = 60) -> list[Any]:
        """Send to every process (one ``args`` for all, or a list with one each); gather replies."""
        each = args if isinstance(args, list) else [args] * self.count
        for pipe, arg in zip(self.pipes, each, strict=True):
            pipe.send((command, arg))
        deadline = time.monotonic() + timeout
        replies = []
        for i, pipe in enumerate(self.pipes):
            if not pipe.poll(max(0.0, deadline - time.monotonic())):
                raise BenchError(f"load client {i} did not answer {command!r} within {timeout:.0f} s")
            reply = pipe.recv()
            if isinstance(reply, dict) and "error" in reply and len(reply) == 1:
                raise BenchError(f"load client {i}: {reply['error']}")
            replies.append(reply)
        return replies

    def stop(self) -> None:
        for pipe in self.pipes:
            with contextlib.suppress(OSError, ValueError):
                pipe.send(("exit", {}))
        deadline = time.monotonic() + 5
        for proc in self.procs:
            proc.join(max(0.1, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join(2)
        for pipe in self.pipes:
            pipe.close()
        self.procs, self.pipes = [], []

    def restart(self) -> None:
        self.stop()
        self.start()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, int(q * len(values)))]


def split(total: int, parts: int) -> list[int]:
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


class Bench:
    def __init__(self, options: Any, workdir: Path, reaper: Reaper, peers_python: Path) -> None:
        self.o = options
        self.workdir = workdir
        self.reaper = reaper
        self.peers_python = peers_python
        self.pool = ClientPool(options.clients)
        reaper.hooks.append(self.pool.stop)
        self.rows: list[dict[str, Any]] = []
        self.event_bytes: dict[int, int] = {}  # nominal size -> the product's event size
        self.incidents: list[str] = []  # product problems seen (reported, not worked around)

    # -- helpers ----------------------------------------------------------------------------

    def server(self, name: str) -> Server:
        return Server(
            name,
            self.reaper,
            self.workdir,
            peers_python=self.peers_python,
            product_python=self.o.product_python,
            product_source=self.o.product,
        )

    def connect(self, srv: Server, topics: dict[str, int], per_topic: int) -> dict[str, Any]:
        per_proc: list[list[dict[str, Any]]] = [[] for _ in range(self.pool.count)]
        for topic, head in topics.items():
            for i, count in enumerate(split(per_topic, self.pool.count)):
                if count:
                    per_proc[i].append(
                        {
                            "count": count,
                            "host": "127.0.0.1",
                            "port": srv.port,
                            "mode": srv.mode,
                            "path": srv.ws_path(topic),
                            "topic": topic,
                            "last": head,
                        }
                    )
        deadline = self.o.connect_deadline
        args = [
            {
                "groups": groups,
                "concurrency": 64,
                "deadline": deadline,
                "timeout": 30.0,
                "reconnect": self.o.reconnect,
            }
            for groups in per_proc
        ]
        started = time.monotonic()
        replies = self.pool.ask("connect", args, timeout=deadline + 30)
        ok = sum(r["ok"] for r in replies)
        errors: dict[str, int] = {}
        for r in replies:
            for k, v in r["errors"].items():
                errors[k] = errors.get(k, 0) + v
        wanted = per_topic * len(topics)
        if not srv.product:  # a peer counts its subscriptions: publish only once all are in
            limit = time.monotonic() + 30
            while time.monotonic() < limit and (srv.subscribers() or 0) < ok:
                time.sleep(0.2)
        return {
            "wanted": wanted,
            "connected": ok,
            "connect_s": round(time.monotonic() - started, 2),
            "connect_errors": errors,
        }

    def size_for(self, srv: Server, target: int, calib: dict[int, dict[str, int]]) -> dict[str, int]:
        if srv.product:
            return calib[target]
        size = self.event_bytes.get(target, target)
        return {
            "body_chars": 0,
            "event_bytes": size,
            "size": size - (SIO_OVERHEAD if srv.mode == "sio" else 0),
        }

    def warm_up(self, srv: Server) -> None:
        """A few connections and posts first, so lazy imports and caches are not counted as
        per-connection memory."""
        topics = srv.make_topics(1, prefix="warm")
        self.connect(srv, topics, 8)
        self.pool.ask("phase", {"lows": topics, "expect": 16})
        self.publish(
            srv, topics, rate=10, duration=0.5, size=self.size_for(srv, 200, self.calib), concurrency=2
        )
        self.pool.ask("close", {})
        time.sleep(1.0)

    def publish(
        self,
        srv: Server,
        topics: dict[str, int],
        *,
        rate: float,
        duration: float,
        size: dict[str, int],
        concurrency: int,
    ) -> tuple[Any, Any]:
        cfg = {
            "kind": "product" if srv.product else "peer",
            "host": "127.0.0.1",
            "port": srv.http_port,
            "token": srv.token,
            "topics": list(topics),
            "path": srv.publish_path(),
            "rate": rate,
            "duration": duration,
            "concurrency": concurrency,
            "body_chars": size.get("body_chars", 0),
            "size": size.get("size", size["event_bytes"]),
        }
        ctx = multiprocessing.get_context("spawn")
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=publisher.main, args=(cfg, child), daemon=True, name="bench-publisher")
        proc.start()
        child.close()
        if duration < 1:  # the warm-up: wait here
            self.finish_publisher(proc, parent, duration)
        return proc, parent

    @staticmethod
    def finish_publisher(proc: Any, pipe: Any, duration: float) -> dict[str, Any]:
        try:
            if not pipe.poll(duration + 90):
                raise BenchError("publisher did not finish")
            result: dict[str, Any] = pipe.recv()
        finally:
            proc.join(5)
            if proc.is_alive():
                proc.kill()
                proc.join(2)
            pipe.close()
        if "error" in result:
            raise BenchError(f"publisher: {result['error']}")
        return result

    # -- one measured phase -----------------------------------------------------------------

    def phase(
        self,
        srv: Server,
        topics: dict[str, int],
        *,
        size: dict[str, int],
        rate: float,
        duration: float,
        concurrency: int,
        storm: dict[str, float] | None = None,
    ) -> dict[str, Any]:
        lows = srv.heads(list(topics))  # what the server has sent so far, whatever we were told
        expect = int((rate or 200) * duration / len(topics)) + 64
        self.pool.ask("phase", {"lows": lows, "expect": expect})
        srv.mark_log()
        redis_before = srv.redis.health() if srv.redis else None
        client_pids = self.pool.pids()
        c0 = {pid: cpu_seconds([pid]) for pid in client_pids}
        redis_pids = [srv.redis.proc.pid] if srv.redis is not None and srv.redis.proc is not None else []
        r0 = cpu_seconds(redis_pids)
        s0, m0, t0 = srv.cpu(), machine_cpu(), time.time()
        proc, pipe = self.publish(
            srv, topics, rate=rate, duration=duration, size=size, concurrency=concurrency
        )
        storm_out: dict[str, Any] = {}
        if storm:
            time.sleep(storm["before"])
            targets = {topic: srv.head(topic) + 1 for topic in topics}
            drops = self.pool.ask("drop", {"targets": targets})
            storm_out["t_drop"] = min(drops)
            log(f"    storm: {sum(1 for _ in drops)} load processes dropped every connection")
        result = self.finish_publisher(proc, pipe, duration)
        # Every event the server published must arrive, acknowledged to the publisher or not.
        heads = srv.heads(list(topics))
        highs = {topic: max(lows[topic], heads[topic], result["finals"].get(topic, 0)) for topic in topics}
        drained, drain_s = self.drain(highs)
        s1, m1, t1 = srv.cpu(), machine_cpu(), time.time()
        redis_cpu = cpu_seconds(redis_pids) - r0
        c1 = {pid: cpu_seconds([pid]) for pid in client_pids}
        if storm:
            status = self.pool.ask("storm", {})
            storm_out.update(
                {
                    "conns": sum(s["conns"] for s in status),
                    "resumed": sum(s["resumed"] for s in status),
                    "caught_up": sum(s["caught_up"] for s in status),
                    "resumed_max_s": max(
                        (s["resumed_max"] for s in status if s["resumed_max"] is not None), default=None
                    ),
                    "caught_up_max_s": max(
                        (s["caught_up_max"] for s in status if s["caught_up_max"] is not None), default=None
                    ),
                }
            )
        stats = self.pool.ask("collect", {"highs": highs}, timeout=120)
        topics.update(highs)
        lat = array.array("d")
        per_second: dict[int, int] = {}
        merged: dict[str, Any] = {"closes": {}, "errors": {}}
        for s in stats:
            lat.frombytes(s["lat"])
            for sec, count in s["per_second"].items():
                per_second[sec] = per_second.get(sec, 0) + count
            for key in ("closes", "errors"):
                for k, v in s[key].items():
                    merged[key][k] = merged[key].get(k, 0) + v
        values = sorted(lat)
        received = sum(s["received"] for s in stats)
        t_last = max((s["t_last"] for s in stats), default=0.0)
        span = (t_last - result["first_sent"]) if t_last > result["first_sent"] else None
        inside = [
            c
            for sec, c in per_second.items()
            if result["first_sent"] + 1 <= sec and sec + 1 <= result["last_done"] - 1
        ]
        server_cpu = s1 - s0
        client_cpu = {pid: c1[pid] - c0[pid] for pid in client_pids}
        wall = t1 - t0
        errors, error_lines = srv.log_errors()
        row: dict[str, Any] = {
            "rate": rate or "max",
            "duration_s": duration,
            "event_bytes": size["event_bytes"],
            "msg_bytes_seen": [
                min((s["size_min"] for s in stats if s["size_max"]), default=0),
                max((s["size_max"] for s in stats), default=0),
            ],
            "posts": result["posts"],
            "posts_ok": result["ok"],
            "post_statuses": result["statuses"],
            "post_errors": result["errors"],
            "posts_per_s": result["posts_per_s"],
            "post_p50_ms": result["post_p50_ms"],
            "post_p99_ms": result["post_p99_ms"],
            "post_max_ms": result["post_max_ms"],
            "expected": sum(s["expected"] for s in stats),
            "deliveries": received,
            "lost": sum(s["lost"] for s in stats),
            "worst_conn_lost": max((s["worst_conn_lost"] for s in stats), default=0),
            "dup": sum(s["dup"] for s in stats),
            "ooo": sum(s["ooo"] for s in stats),
            "resets": sum(s["resets"] for s in stats),
            "reconnects": sum(s["reconnects"] for s in stats),
            "open_at_end": sum(s["open"] for s in stats),
            "closes": merged["closes"],
            "client_errors": merged["errors"],
            "drained": drained,
            "drain_s": round(drain_s, 2),
            "lat_p50_ms": _ms(percentile(values, 0.50)),
            "lat_p99_ms": _ms(percentile(values, 0.99)),
            "lat_max_ms": _ms(values[-1] if values else None),
            "deliveries_per_s": received / span if span else None,
            "steady_deliveries_per_s": sum(inside) / len(inside) if inside else None,
            "server_cpu_s": round(server_cpu, 3),
            "cpu_us_per_delivery": server_cpu / received * 1e6 if received else None,
            "server_cpu_pct": server_cpu / wall * 100,
            "client_cpu_pct": sum(client_cpu.values()) / wall * 100,
            "client_cpu_max_proc_pct": max(client_cpu.values(), default=0) / wall * 100,
            "client_cpu_us_per_delivery": sum(client_cpu.values()) / received * 1e6 if received else None,
            "publisher_cpu_s": result.get("cpu_s"),
            "redis_cpu_pct": redis_cpu / wall * 100 if redis_pids else None,
            "machine_busy_pct": (m1[0] - m0[0]) / (m1[1] - m0[1]) * 100 if m1[1] > m0[1] else None,
            "server_errors": errors,
            "server_error_lines": error_lines,
            "server_alive": srv.alive(),
        }
        if srv.redis is not None:
            after = srv.redis.health()
            row["redis"] = after
            row["redis_new_errors"] = srv.redis.new_errors(redis_before or {}, after)
        if storm:
            row["storm"] = storm_out
        return row

    def drain(self, highs: dict[str, int]) -> tuple[bool, float]:
        """Wait until every connection holds the last seq (or nothing moves for a while)."""
        started = time.monotonic()
        limit = started + self.o.drain_timeout
        last_msgs, last_change = -1, time.monotonic()
        while time.monotonic() < limit:
            progress = self.pool.ask("progress", {"highs": highs})
            done = sum(p["done"] for p in progress)
            conns = sum(p["conns"] for p in progress)
            if done >= conns:
                return True, time.monotonic() - started
            msgs = sum(p["msgs"] for p in progress)
            if msgs != last_msgs:
                last_msgs, last_change = msgs, time.monotonic()
            elif time.monotonic() - last_change > self.o.stall_timeout:
                break
            time.sleep(0.25)
        return False, time.monotonic() - started

    # -- scenarios --------------------------------------------------------------------------

    def run_server(
        self, scenario: str, name: str, subscribers: int, topics_count: int, phases: list[dict[str, Any]]
    ) -> None:
        """Start ``name``, connect ``subscribers`` per topic on ``topics_count`` topics, run the phases."""
        base: dict[str, Any] = {
            "scenario": scenario,
            "server": name,
            "label": LABELS[name],
            "subscribers": subscribers * topics_count,
            "topics": topics_count,
            "per_topic": subscribers,
        }
        log(f"{scenario}: {LABELS[name]}, {topics_count} x {subscribers} subscribers")
        srv = self.server(name)
        if srv.product and self.o.product_state is not None:
            base["product_code"] = self.o.product_state()  # the checkout may change during a run
        try:
            srv.start()
            self.calib = srv.calibrate(sorted({p["size"] for p in phases} | {200}))
            if srv.product and name == "product":
                for target, c in self.calib.items():
                    self.event_bytes[target] = c["event_bytes"]
            self.warm_up(srv)
            topics = srv.make_topics(topics_count)
            time.sleep(0.5)
            rss0 = srv.rss()
            conn = self.connect(srv, topics, subscribers)
            base.update(conn)
            log(f"  connected {conn['connected']}/{conn['wanted']} in {conn['connect_s']} s")
            time.sleep(self.o.settle)
            rss1 = srv.rss()
            base["rss_before_kib"] = rss0
            base["rss_after_kib"] = rss1
            base["rss_per_conn_kib"] = (rss1 - rss0) / conn["connected"] if conn["connected"] else None
            base["sockets_per_worker"] = srv.sockets_per_worker() if srv.workers > 1 else None
            i0, w0 = srv.cpu(), time.monotonic()
            time.sleep(2.0)
            base["idle_cpu_pct"] = (srv.cpu() - i0) / (time.monotonic() - w0) * 100
            if conn["connected"] < conn["wanted"]:
                base["note"] = f"only {conn['connected']} of {conn['wanted']} subscribers connected"
            for number, spec in enumerate(phases):
                if number and not self.rows[-1].get("drained", True):
                    log("  the previous phase did not drain: the next ones on this server are skipped")
                    self.rows.append(
                        dict(
                            base,
                            size=spec["size"],
                            status="failed",
                            error="skipped: the previous phase did not drain",
                        )
                    )
                    continue
                if not srv.alive():
                    raise ServerFailed(f"the server exited: {srv.log_errors()[1]}")
                size = self.size_for(srv, spec["size"], self.calib)
                log(
                    f"  phase: {spec['size']} B (event {size['event_bytes']} B), "
                    f"rate {spec['rate'] or 'max'}/s, "
                    f"{spec['duration']} s"
                )
                row = dict(base, size=spec["size"], status="ok")
                row.update(
                    self.phase(
                        srv,
                        topics,
                        size=size,
                        rate=spec["rate"],
                        duration=spec["duration"],
                        concurrency=spec.get("concurrency", 16),
                        storm=spec.get("storm"),
                    )
                )
                self.check(row)
                self.rows.append(row)
                log("    " + summary(row))
            self.pool.ask("close", {}, timeout=60)
        except (ServerFailed, BenchError, OSError, ValueError, KeyError) as exc:
            message = f"{type(exc).__name__}: {exc}"
            log(f"  FAILED: {message}")
            self.rows.append(dict(base, size=phases[0]["size"], status="failed", error=message[:2000]))
            if srv.product:
                self.incidents.append(f"{scenario} / {name} / {subscribers * topics_count}: {message[:500]}")
            self.pool.restart()
        finally:
            srv.stop()

    def check(self, row: dict[str, Any]) -> None:
        problems = []
        for key in ("lost", "dup", "ooo", "resets", "server_errors"):
            if row.get(key):
                problems.append(f"{key}={row[key]}")
        if not row.get("server_alive", True):
            problems.append("server died")
        if row.get("redis_new_errors"):
            problems.append(f"redis {row['redis_new_errors']}")
        if problems:
            row["status"] = "problems: " + ", ".join(problems)
            if row["server"].startswith("product"):
                self.incidents.append(
                    f"{row['scenario']} / {row['server']} / {row['subscribers']} / "
                    f"{row['size']} B: {', '.join(problems)}"
                    + (f" (log: {row['server_error_lines'][:2]})" if row.get("server_error_lines") else "")
                )


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 2)


def summary(row: dict[str, Any]) -> str:
    def f(value: Any, fmt: str = "{:.1f}") -> str:
        return "-" if value is None else fmt.format(value)

    text = (
        f"cpu {f(row.get('cpu_us_per_delivery'))} us/delivery, {f(row.get('deliveries_per_s'), '{:.0f}')}/s, "
        f"p50/p99/max {f(row.get('lat_p50_ms'))}/{f(row.get('lat_p99_ms'))}/{f(row.get('lat_max_ms'))} ms, "
        f"POST p99 {f(row.get('post_p99_ms'))} ms, lost {row.get('lost')} dup {row.get('dup')} "
        f"ooo {row.get('ooo')}, reconnects {row.get('reconnects')}, "
        f"clients {f(row.get('client_cpu_pct'), '{:.0f}')}% server {f(row.get('server_cpu_pct'), '{:.0f}')}% "
        f"machine {f(row.get('machine_busy_pct'), '{:.0f}')}%"
    )
    if row.get("storm"):
        s = row["storm"]
        text += (
            f"; storm: {s.get('resumed')}/{s.get('conns')} resumed "
            f"(max {f(s.get('resumed_max_s'), '{:.2f}')} s), "
            f"caught up max {f(s.get('caught_up_max_s'), '{:.2f}')} s"
        )
    if row.get("status") != "ok":
        text += f" [{row.get('status')}]"
    return text
