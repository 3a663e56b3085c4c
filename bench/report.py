"""The report: the goals of issue 5 as ratios from one run, the tables, the chart."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
DOCS = ROOT / "docs"
PEERS = ("starlette_broadcaster", "socketio")
FLOOR = "websockets_floor"


def fmt(value: Any, spec: str = "{:.1f}") -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    return spec.format(value)


def rows_of(results: dict[str, Any], scenario: str, **match: Any) -> list[dict[str, Any]]:
    return [
        r
        for r in results["rows"]
        if r["scenario"] == scenario and all(r.get(k) == v for k, v in match.items())
    ]


def measured(row: dict[str, Any] | None) -> bool:
    return row is not None and row.get("status") != "failed" and row.get("deliveries")


def nearest(values: list[int], goal: int) -> int | None:
    return min(values, key=lambda v: (abs(v - goal), -v)) if values else None


def clean(row: dict[str, Any]) -> bool:
    return not (row.get("lost") or row.get("dup") or row.get("ooo") or row.get("resets"))


def load(row: dict[str, Any] | None) -> str:
    """Where the CPU went during a phase: is the machine, not the server, the limit?"""
    if not measured(row):
        return ""
    assert row is not None
    return (
        f"machine {fmt(row.get('machine_busy_pct'), '{:.0f}')} % busy (of all cores): "
        f"server {fmt(row.get('server_cpu_pct'), '{:.0f}')} %, "
        f"load clients {fmt(row.get('client_cpu_pct'), '{:.0f}')} %"
        + (f", Redis {row['redis_cpu_pct']:.0f} %" if row.get("redis_cpu_pct") is not None else "")
        + " of one core"
    )


def goals(results: dict[str, Any]) -> list[dict[str, str]]:
    out = []
    single = rows_of(results, "single", size=200)
    ns = sorted({r["per_topic"] for r in single})

    def at(n: int | None, server: str) -> dict[str, Any] | None:
        found = [r for r in single if r["per_topic"] == n and r["server"] == server]
        return found[0] if found else None

    def scale_note(n: int | None, goal: int) -> str:
        return "" if n == goal else f" (measured at {n}, the goal is at {goal}: indicative only)"

    # 1. CPU per delivery at 5k.
    n = nearest(ns, 5000)
    product, floor = at(n, "product"), at(n, FLOOR)
    parts, met = [], True
    if measured(product) and measured(floor):
        ratio = product["cpu_us_per_delivery"] / floor["cpu_us_per_delivery"]
        parts.append(
            f"{ratio:.2f}x the floor ({product['cpu_us_per_delivery']:.1f} "
            f"vs {floor['cpu_us_per_delivery']:.1f} µs)"
        )
        met = met and ratio <= 1.2
    else:
        met = False
        parts.append("floor or product not measured")
    for peer in PEERS:
        other = at(n, peer)
        if measured(product) and measured(other):
            ratio = product["cpu_us_per_delivery"] / other["cpu_us_per_delivery"]
            parts.append(f"{ratio:.2f}x {peer} ({other['cpu_us_per_delivery']:.1f} µs)")
            met = met and ratio <= 0.5
        else:
            parts.append(f"{peer}: not measured")
            met = False
    out.append(
        {
            "measure": "server CPU per delivery, 5k subscribers, one process",
            "goal": "≤ 1.2x the `websockets.broadcast` floor, ≤ 0.5x each Python peer",
            "measured": "; ".join(parts) + scale_note(n, 5000),
            "met": verdict(met, n == 5000),
            "limits": (
                f"CPU time per delivery, so machine contention moves it little; gap to 1.2x the floor: "
                f"{product['cpu_us_per_delivery'] - 1.2 * floor['cpu_us_per_delivery']:+.1f} µs per delivery"
                if measured(product) and measured(floor)
                else ""
            ),
        }
    )

    # 2. RSS per idle connection at 10k.
    n = nearest(ns, 10000)
    product = at(n, "product")
    rss = product.get("rss_per_conn_kib") if product else None
    out.append(
        {
            "measure": "RSS per idle connection at 10k",
            "goal": "≤ 20 KiB",
            "measured": (f"{rss:.1f} KiB" if rss is not None else "not measured") + scale_note(n, 10000),
            "met": verdict(rss is not None and rss <= 20, n == 10000),
            "limits": (
                f"{product['rss_after_kib'] - product['rss_before_kib']:,} KiB "
                f"for {product['connected']:,} connections"
                if measured(product)
                else ""
            ),
        }
    )

    # 3. 10k, 10 updates/s.
    if measured(product):
        ok = (
            clean(product)
            and product["connected"] == product["wanted"]
            and (product["lat_p99_ms"] or 1e9) <= 200
            and (product["post_p99_ms"] or 1e9) <= 50
        )
        text = (
            f"lost {product['lost']}, dup {product['dup']}, out of order {product['ooo']}, "
            f"resets {product['resets']}; "
            f"p99 {fmt(product['lat_p99_ms'])} ms; POST p99 {fmt(product['post_p99_ms'])} ms; "
            f"{product['reconnects']} reconnects"
        )
    else:
        ok, text = False, "not measured" + (f": {product.get('error', '')[:200]}" if product else "")
    out.append(
        {
            "measure": "10k subscribers, one process, 10 updates/s",
            "goal": "zero lost; p99 publish-to-receive ≤ 200 ms; POST p99 ≤ 50 ms",
            "measured": text + scale_note(n, 10000),
            "met": verdict(ok, n == 10000),
            "limits": load(product),
        }
    )

    # 4. Scale-out.
    one = next(iter(rows_of(results, "scaleout", server="product-redis-1")), None)
    two = next(iter(rows_of(results, "scaleout", server="product-redis-2")), None)
    if measured(one) and measured(two):
        a = one["steady_deliveries_per_s"] or one["deliveries_per_s"]
        b = two["steady_deliveries_per_s"] or two["deliveries_per_s"]
        ratio = b / a
        text = f"{ratio:.2f}x ({b:,.0f} vs {a:,.0f} deliveries/s, {two['subscribers']} subscribers)"
        ok = ratio >= 1.7 and clean(one) and clean(two)
        if not (clean(one) and clean(two)):
            text += "; with losses"
    else:
        ok, text = False, "not measured"
    out.append(
        {
            "measure": "two processes + Redis vs one",
            "goal": "≥ 1.7x deliveries/s at saturation",
            "measured": text,
            "met": verdict(ok, bool(one) and not results.get("quick")),
            "limits": (
                f"two workers: {load(two)}; one worker: {load(one)}; subscribers per worker "
                f"{' + '.join(str(x) for x in two.get('sockets_per_worker') or [])} sockets"
                if measured(one) and measured(two)
                else ""
            ),
        }
    )

    # 5. Storm.
    for row in rows_of(results, "storm"):
        s = row.get("storm") or {}
        if measured(row):
            errors = row.get("server_errors", 0) + sum(
                v for k, v in row.get("closes", {}).items() if k == "1012"
            )
            resumed = s.get("resumed") == s.get("conns") and s.get("caught_up") == s.get("conns")
            longest = s.get("caught_up_max_s")
            ok = (
                clean(row)
                and row.get("connected") == row.get("wanted")
                and resumed
                and longest is not None
                and longest <= 30
                and not errors
                and not row.get("redis_new_errors")
            )
            text = (
                f"lost {row['lost']}, dup {row['dup']}, resets {row['resets']}; "
                f"{s.get('caught_up')}/{s.get('conns')} "
                f"caught up, the last after {fmt(longest, '{:.1f}')} s (reconnected: last after "
                f"{fmt(s.get('resumed_max_s'), '{:.1f}')} s); server errors {row.get('server_errors', 0)}"
                + (
                    f"; Redis errors {row['redis_new_errors']}"
                    if row.get("redis_new_errors")
                    else ("; no Redis errors" if "redis" in row else "")
                )
            )
        else:
            ok, text = False, "not measured" + (f": {row.get('error', '')[:200]}" if row.get("error") else "")
        out.append(
            {
                "measure": f"reconnect storm, {row['subscribers']:,} clients, {row['label']}",
                "goal": "zero lost; all resumed within 30 s; no Redis or server error",
                "measured": text + scale_note(row["subscribers"], 10000),
                "met": verdict(ok, row["subscribers"] == 10000),
                "limits": "; ".join(
                    filter(
                        None,
                        [
                            load(row),
                            "failed reconnect attempts "
                            + ", ".join(f"{k}×{v}" for k, v in (row.get("client_errors") or {}).items())
                            if row.get("client_errors")
                            else "",
                        ],
                    )
                ),
            }
        )
    return out


def verdict(ok: bool, comparable: bool) -> str:
    if not comparable:
        return "(met)" if ok else "(not met)"
    return "**met**" if ok else "**not met**"


def table(headers: list[str], lines: list[list[str]]) -> str:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(line) + " |" for line in lines]
    return "\n".join(out)


CORES = [2]  # set by markdown() from the results' machine


def other_cpu(row: dict[str, Any]) -> float | None:
    """CPU (% of one core) the machine spent outside the server, Redis, load clients and
    publisher during the phase: something else running would show here."""
    if row.get("machine_busy_pct") is None or row.get("server_cpu_pct") is None:
        return None
    wall = (row.get("duration_s") or 0) + (row.get("drain_s") or 0) or 1
    ours = (
        row["server_cpu_pct"]
        + (row.get("client_cpu_pct") or 0)
        + (row.get("redis_cpu_pct") or 0)
        + (row.get("publisher_cpu_s") or 0) / wall * 100
    )
    return float(row["machine_busy_pct"] * CORES[0] - ours)


def status(row: dict[str, Any]) -> str:
    if row.get("status") == "failed":
        return "FAILED: " + row.get("error", "")[:160].replace("|", "/")
    notes = []
    if row.get("status", "ok") != "ok":
        notes.append(row["status"].replace("problems: ", ""))
    if row.get("note"):
        notes.append(row["note"])
    if row.get("reconnects"):
        notes.append(f"{row['reconnects']} reconnects")
    closes = {k: v for k, v in (row.get("closes") or {}).items()}
    if closes:
        notes.append("closes " + ", ".join(f"{k}×{v}" for k, v in closes.items()))
    errors = row.get("client_errors") or {}
    if errors:
        notes.append("client connect errors " + ", ".join(f"{k}×{v}" for k, v in errors.items()))
    if not row.get("drained", True):
        notes.append(f"not drained after {row.get('drain_s', 0):.0f} s: later events count as lost")
    if (row.get("client_cpu_max_proc_pct") or 0) > 90:
        notes.append("a load client was saturated")
    other = other_cpu(row)
    if other is not None and other > 15:
        notes.append(f"other processes on the machine: about {other:.0f} % of a core")
    return "; ".join(notes).replace("|", "/") or "ok"


def loss(row: dict[str, Any]) -> str:
    if row.get("status") == "failed":
        return "–"
    return f"{row.get('lost', 0)}/{row.get('dup', 0)}/{row.get('ooo', 0)}"


def main_table(rows: list[dict[str, Any]]) -> str:
    headers = [
        "server",
        "subscribers",
        "update",
        "posts/s",
        "CPU µs/delivery",
        "deliveries/s",
        "latency p50 / p99 / max ms",
        "POST p50 / p99 ms",
        "RSS KiB/conn",
        "lost/dup/ooo",
        "server CPU %",
        "clients CPU % (max 1 proc)",
        "machine busy %",
        "notes",
    ]
    lines = []
    for r in rows:
        if r.get("status") == "failed":
            lines.append([r["label"], f"{r['subscribers']:,}", f"{r['size']} B"] + ["–"] * 10 + [status(r)])
            continue
        lines.append(
            [
                r["label"],
                f"{r.get('connected', 0):,}"
                + ("" if r.get("connected") == r.get("wanted") else f" of {r['wanted']:,}"),
                f"{r['event_bytes']} B",
                fmt(r.get("posts_per_s")),
                fmt(r.get("cpu_us_per_delivery")),
                fmt(r.get("deliveries_per_s"), "{:,.0f}"),
                f"{fmt(r.get('lat_p50_ms'))} / {fmt(r.get('lat_p99_ms'))} / "
                f"{fmt(r.get('lat_max_ms'), '{:.0f}')}",
                f"{fmt(r.get('post_p50_ms'))} / {fmt(r.get('post_p99_ms'))}",
                fmt(r.get("rss_per_conn_kib")),
                loss(r),
                fmt(r.get("server_cpu_pct"), "{:.0f}"),
                f"{fmt(r.get('client_cpu_pct'), '{:.0f}')} "
                f"({fmt(r.get('client_cpu_max_proc_pct'), '{:.0f}')})",
                fmt(r.get("machine_busy_pct"), "{:.0f}"),
                status(r),
            ]
        )
    return table(headers, lines)


def scaleout_table(rows: list[dict[str, Any]], cores: int) -> str:
    headers = [
        "server",
        "subscribers (per worker)",
        "posts/s",
        "deliveries/s (steady)",
        "CPU µs/delivery",
        "latency p50 / p99 ms",
        "POST p99 ms",
        "lost/dup/ooo",
        "server CPU %",
        "Redis CPU %",
        "clients CPU %",
        "machine busy %",
        "notes",
    ]
    lines = []
    for r in rows:
        if r.get("status") == "failed":
            lines.append([r["label"], f"{r['subscribers']:,}"] + ["–"] * 10 + [status(r)])
            continue
        per = r.get("sockets_per_worker")
        lines.append(
            [
                r["label"],
                f"{r.get('connected', 0):,}"
                + (f" ({' + '.join(str(x) for x in per)} sockets)" if per else ""),
                fmt(r.get("posts_per_s"), "{:,.0f}"),
                fmt(r.get("steady_deliveries_per_s") or r.get("deliveries_per_s"), "{:,.0f}"),
                fmt(r.get("cpu_us_per_delivery")),
                f"{fmt(r.get('lat_p50_ms'))} / {fmt(r.get('lat_p99_ms'))}",
                fmt(r.get("post_p99_ms")),
                loss(r),
                fmt(r.get("server_cpu_pct"), "{:.0f}"),
                fmt(r.get("redis_cpu_pct"), "{:.0f}"),
                fmt(r.get("client_cpu_pct"), "{:.0f}"),
                fmt(r.get("machine_busy_pct"), "{:.0f}"),
                status(r),
            ]
        )
    out = table(headers, lines)
    two = [r for r in rows if r["server"] == "product-redis-2" and r.get("status") != "failed"]
    if two and two[0].get("machine_busy_pct"):
        r = two[0]
        share = (r.get("client_cpu_pct") or 0) / cores
        out += (
            f"\n\nWith two workers the machine was {r['machine_busy_pct']:.0f} % busy (all {cores} cores); "
            f"the load clients alone took {share:.0f} % of it "
            f"({fmt(r.get('client_cpu_us_per_delivery'))} µs of client CPU per delivery, against "
            f"{fmt(r.get('cpu_us_per_delivery'))} µs in the server). With clients, publisher, Redis and "
            f"server on the same {cores} cores, two workers cannot get two cores' worth of CPU: "
            "this ratio is bounded by the machine, not only by the product."
        )
    return out


def storm_table(rows: list[dict[str, Any]]) -> str:
    headers = [
        "server",
        "clients",
        "reconnected (last, s)",
        "caught up (last, s)",
        "lost/dup/ooo",
        "resets",
        "POST p99 ms",
        "latency p99 / max ms",
        "server errors",
        "Redis",
        "notes",
    ]
    lines = []
    for r in rows:
        if r.get("status") == "failed":
            lines.append([r["label"], f"{r['subscribers']:,}"] + ["–"] * 8 + [status(r)])
            continue
        s = r.get("storm") or {}
        lines.append(
            [
                r["label"],
                f"{r.get('connected', 0):,}",
                f"{s.get('resumed')} ({fmt(s.get('resumed_max_s'), '{:.1f}')})",
                f"{s.get('caught_up')} ({fmt(s.get('caught_up_max_s'), '{:.1f}')})",
                loss(r),
                str(r.get("resets", 0)),
                fmt(r.get("post_p99_ms")),
                f"{fmt(r.get('lat_p99_ms'))} / {fmt(r.get('lat_max_ms'), '{:.0f}')}",
                str(r.get("server_errors", 0)),
                ("errors: " + str(r["redis_new_errors"]) if r.get("redis_new_errors") else "no errors")
                if "redis" in r
                else "–",
                status(r),
            ]
        )
    return table(headers, lines)


def markdown(results: dict[str, Any], chart: str | None) -> str:
    m, v = results["machine"], results.get("versions", {})
    CORES[0] = m.get("cores") or 2
    pv, peers = v.get("product_venv", {}), v.get("peers_venv", {})
    product = results.get("product", {})
    cfg = results.get("config", {})
    single = [r for r in results["rows"] if r["scenario"] == "single"]
    single.sort(key=lambda r: (r["size"], r["per_topic"], _order(r["server"])))
    parts = [
        "# Benchmarks: live fan-out",
        "",
        "Measured by `bench/` (issue 5): every server is a real process, the subscribers are raw WebSocket "
        "clients in separate load processes, updates go through each server's real HTTP API. "
        "Rerun everything with one command (from the repository root):",
        "",
        "```sh\n.venv/bin/python -m bench            # full run, about 30 minutes; rewrites this page\n"
        ".venv/bin/python -m bench --quick    # two-minute smoke run (small N)\n"
        ".venv/bin/python -m bench --scenarios reads   # the read path (issue 15), about 12 minutes\n```",
        "",
        "`--scenarios reads` is not part of the default run: it measures each public read path (pages, "
        "static files, feeds, CAP, snapshot, oEmbed, 304s) with `wrk -t1 -c50` against a Starlette + uvicorn "
        "floor serving the same bytes from memory, the same paths behind nginx, the compressed size of a "
        "5,000-update incident's first page, and a page storm during live fan-out (`--quick`: 3 s per "
        "path, 500 subscribers). It rewrites only its own section, *Read path (issue 15)*, at the end of "
        "this page (`bench/reads.py`, `bench/reads_report.py`).",
        "",
        f"This page: `{results['command']}`, started {results['started']}, "
        f"took {results.get('seconds', 0) // 60} min"
        + (" — **a quick run: small N, the goals are not comparable**" if results.get("quick") else "")
        + (f" — **interrupted** ({results['interrupted']})" if results.get("interrupted") else "")
        + ".",
        "",
        *([results["note"], ""] if results.get("note") else []),
        "## Machine and versions",
        "",
        f"- {m['cores']} cores ({m.get('cpu') or 'cpu unknown'}), {m['memory_gib']} GiB, {m.get('os', '')}, "
        f"kernel {m['kernel']}, Python {m['python']}, fd limit {m['fd_limit']} per process, "
        f"{v.get('redis', '')}",
        f"- product: {code_label(product)} when the run started"
        + ", run as `"
        + ("python incidents.py serve" if cfg.get("product") == "checkout" else "incidents serve")
        + " --log-level warning` (SQLite file, or `--backend redis://…` with `--workers 1|2`; "
        "Redis with AOF everysec)",
        "- product venv: " + ", ".join(f"{k} {val}" for k, val in pv.items()),
        "- peers venv (`bench/.venv-peers`): " + ", ".join(f"{k} {val}" for k, val in peers.items()),
        "",
        "## The goals (issue 5), as ratios from this run",
        "",
        table(
            ["measure", "goal", "measured", "verdict", "context: where the CPU went"],
            [
                [g["measure"], g["goal"], g["measured"].replace("|", "/"), g["met"], g.get("limits", "")]
                for g in goals(results)
            ],
        ),
        "",
        "Verdicts in parentheses come from a different N than the goal's (a quick run): indicative only.",
        "",
    ]
    if chart:
        parts += [f"![CPU per delivery, RSS per connection and p99 latency by server and N]({chart})", ""]
    if single:
        parts += [
            f"## One incident, one process, {cfg.get('rate', 10):g} updates/s "
            f"for {cfg.get('duration', 20):g} s",
            "",
            main_table(single),
            "",
        ]
    multi = rows_of(results, "multi")
    if multi:
        parts += [
            f"## {cfg.get('multi', '')} (incidents x subscribers), product, {cfg.get('multi_rate', 50):g} "
            "updates/s round-robin",
            "",
            main_table(multi),
            "",
        ]
    scale = rows_of(results, "scaleout")
    if scale:
        parts += [
            "## Scale-out at saturation: two processes + Redis vs one "
            f"({cfg.get('saturation_duration', 15):g} s "
            "of posting as fast as 16 connections can)",
            "",
            scaleout_table(scale, m["cores"] or 2),
            "",
        ]
    storm = rows_of(results, "storm")
    if storm:
        parts += [
            "## Reconnect storm: every client dropped at once (TCP reset), all resume with `since=`",
            "",
            storm_table(storm),
            "",
        ]
    states: dict[str, list[str]] = {}
    for r in results["rows"]:
        if r.get("product_code") and r.get("size") in (200, None):
            label = f"{r['scenario']} {r['subscribers']:,}"
            states.setdefault(code_label(r["product_code"]), [])
            if label not in states[code_label(r["product_code"])]:
                states[code_label(r["product_code"])].append(label)
    if len(states) > 1:
        parts += [
            "**The product's code changed during this run** (it is developed in this checkout): "
            + "; ".join(f"{code}: {', '.join(rows)}" for code, rows in states.items())
            + ".",
            "",
        ]
    problems = results.get("product_problems") or []
    parts += ["## Product problems seen in this run", ""]
    parts += [f"- {p}" for p in problems] if problems else ["None."]
    parts += ["", METHOD]
    return "\n".join(parts) + "\n"


def code_label(code: dict[str, Any]) -> str:
    files = code.get("changed_files") or []
    changes = f" + uncommitted changes to {len(files)} files (diff {code.get('diff_sha256')})"
    return f"commit `{code.get('commit', '')[:12]}`{changes if files else ''}"


def _order(server: str) -> int:
    order = ["product", "websockets_floor", "starlette_broadcaster", "socketio"]
    return order.index(server) if server in order else 9


METHOD = """## What the numbers mean

- **CPU µs/delivery**: user + system CPU of the server's whole process tree (`/proc/PID/stat`, every worker
  and thread), from just before the first POST of the phase until every subscriber held the last event,
  divided by the events received. Connection set-up is outside that window. It includes the server's own
  work for the POSTs (for the product: validation, Markdown, the SQLite/Redis append), the way an operator
  would pay for it; at thousands of subscribers per update that part is small.
- **deliveries/s**: events received by all subscribers / (last receive − first POST). For the scale-out
  scenario, *steady* deliveries/s: the mean of the whole seconds inside the posting window.
- **latency**: receive time at the subscriber − the event's own timestamp: the product's `at` (server UTC
  time of the event, RFC 3339 with milliseconds, so up to 1 ms is rounding), a peer's `at` (stamped the same
  way when it handles the publish). Same machine, same clock. p50 / p99 / max over every delivery.
- **POST p50 / p99, posts/s**: time for the publisher's HTTP POST (16 keep-alive connections, open loop at
  the set rate: a slow answer does not delay the next post until all 16 are busy), and the rate achieved.
  A server that answers POSTs late shows its backlog there rather than in the latency column: the floor
  broadcasts inside the request, so at saturation its POSTs wait and fewer updates are published, while
  the product accepts the update at once, stamps `at`, and queues the deliveries.
- **RSS KiB/conn**: (VmRSS of the server tree after connecting N and 3 s of rest − before connecting) / N,
  after a warm-up (a few connections and posts) so that imports and caches are not counted.
- **lost/dup/ooo**: per subscriber, every seq of the phase is expected exactly once and in order: lost = never
  received (counted over all subscribers), dup = received twice, ooo = received after a higher seq. The
  product's subscribers resume with `since=` after any close (as `static/live.js` does, same back-off); the
  peers have no resume, so a dropped peer connection shows up as lost events.
- **server / clients / machine CPU %**: of one core, during the phase (the machine column is % of all
  cores). The load clients and the server share the same 2 cores: when *machine busy* nears 100 %, latency
  and throughput are bounded by the machine, not by the server alone; a load process above 90 % of a core is
  flagged. The clients' CPU per delivery is in the JSON (`client_cpu_us_per_delivery`).
- **Reconnect storm**: subscribers connected and receiving 10 updates/s; every connection is reset at once;
  each client reconnects like `live.js` (0.5–1.5 s, then doubling up to 30 s on failures) with `since=` its
  last seq. *reconnected*: handshake done; *caught up*: holds the first event posted after the drop.
- **Message sizes**: the product's `update.posted` event is made about 200 B or 2 KB of JSON by the length
  of its body (calibrated per run); every peer sends exactly that many bytes (socket.io: the same object
  inside its `42["update",…]` packet).

How the load is made: 4 load processes (`bench/loadclient.py`, uvloop) hold the subscribers, spread over
source addresses 127.0.0.2–127.0.0.9; a hand-written RFC 6455 client reads `"seq"` and `"at"` from each
message without parsing the JSON. The publisher is its own process. Each server gets a fresh process (and a
fresh database or Redis) for each N. Peers (`bench/peers/`): encode/broadcaster's memory backend with a
Starlette endpoint (one task per connection reading the subscription, `send_text`); python-socketio's ASGI
server emitting to a room; a bare `websockets` server calling `websockets.broadcast()` (the floor). The
uvicorn peers run uvicorn's defaults (here: uvloop, httptools, `websockets-sansio`), per-message deflate off
everywhere (the clients do not offer it anyway). Results: `bench/results/*.json` (`latest.json` = last run).
"""


KEEP_MARKER = "<!-- written by hand below: kept when this page is regenerated -->"


def render(results: dict[str, Any], source: Path, *, docs: bool) -> None:
    """Write ``<source>.md`` and ``<source>.png`` next to the JSON; with ``docs``, also
    docs/benchmarks.md and docs/benchmarks.png."""
    png = source.with_suffix(".png")
    chart_ok = plot(source, png)
    md_local = source.with_suffix(".md")
    md_local.write_text(markdown(results, png.name if chart_ok else None))
    print(
        f"report: {md_local.relative_to(ROOT)}" + (f", {png.relative_to(ROOT)}" if chart_ok else ""),
        flush=True,
    )
    if docs:
        DOCS.mkdir(exist_ok=True)
        if chart_ok:
            (DOCS / "benchmarks.png").write_bytes(png.read_bytes())
        page = DOCS / "benchmarks.md"
        kept = ""  # the hand-written analysis below the marker survives a new run
        if page.exists() and KEEP_MARKER in page.read_text():
            kept = "\n" + page.read_text()[page.read_text().index(KEEP_MARKER) :]
        page.write_text(markdown(results, "benchmarks.png" if chart_ok else None) + kept)
        print("report: docs/benchmarks.md" + (", docs/benchmarks.png" if chart_ok else ""), flush=True)


def plot(source: Path, png: Path) -> bool:
    python = BENCH / ".venv-peers" / "bin" / "python"
    if not python.exists():
        return False
    done = subprocess.run(
        [str(python), str(BENCH / "plot.py"), str(source), str(png)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if done.returncode != 0:
        print(f"report: no chart ({done.stderr.strip()[-300:]})", flush=True)
        return False
    return True
