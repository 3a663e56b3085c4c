"""The read path's report (issue 15): a section of docs/benchmarks.md, replaced on every run.

The section sits between :data:`BEGIN` and :data:`END`, below the fan-out report's hand-written
marker, so that a fan-out run (which rewrites the top of the page) keeps it and a reads run
replaces only it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.report import KEEP_MARKER, fmt, table, verdict

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "benchmarks.md"
HEADING = "## Read path (issue 15)"
BEGIN = "<!-- reads: written by `python -m bench --scenarios reads`, replaced on rerun -->"
END = "<!-- reads: end -->"
GOALS = {
    "page": ("≥ 0.7x req/s, p99 ≤ 2x", 0.7, 2.0),
    "feed": ("≥ 0.5x req/s", 0.5, None),
    "304": ("≥ 0.7x req/s", 0.7, None),
}
COMPRESSED_GOAL = 20_000  # bytes: "<= 20 KB on the wire"
STORM_GOAL = 1.5


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def wrk_errors(result: dict[str, Any] | None) -> str:
    if not result:
        return ""
    parts = [f"{k} {v}" for k, v in (result.get("socket_errors") or {}).items()]
    if result.get("non_2xx_3xx"):
        parts.append(f"{result['non_2xx_3xx']} non-2xx/3xx")
    if result.get("rps") is None:
        parts.append("wrk failed: " + (result.get("output") or "")[-120:].replace("\n", " "))
    return ", ".join(parts)


def judge(row: dict[str, Any]) -> tuple[str, bool | None, float | None, float | None]:
    """(goal text, met?, req/s ratio, p99 ratio); met is None where the issue sets no goal."""
    goal, min_rps, max_p99 = GOALS.get(row["group"], ("–", None, None))
    product, floor = row.get("product") or {}, row.get("floor") or {}
    r_rps = ratio(product.get("rps"), floor.get("rps"))
    r_p99 = ratio(product.get("p99_ms"), floor.get("p99_ms"))
    if min_rps is None:
        return goal, None, r_rps, r_p99
    if row.get("skipped") or r_rps is None or wrk_errors(product):
        return goal, False, r_rps, r_p99
    ok = r_rps >= min_rps and (max_p99 is None or (r_p99 is not None and r_p99 <= max_p99))
    return goal, ok, r_rps, r_p99


def paths_table(results: dict[str, Any]) -> str:
    comparable = not results.get("quick")
    lines = []
    for row in results.get("rows", []):
        goal, ok, r_rps, r_p99 = judge(row)
        product, floor = row.get("product") or {}, row.get("floor") or {}
        note = row.get("skipped") or ""
        if row.get("encoding"):
            note = f"answered `{row['encoding']}`"
        if product.get("requests") and product.get("bytes_read"):
            note += ("; " if note else "") + f"{product['bytes_read'] / product['requests']:,.0f} B/response"
        if errors := wrk_errors(product):
            note += f"; product: {errors}"
        if errors := wrk_errors(floor):
            note += f"; floor: {errors}"
        lines.append(
            [
                f"{row['name']} <br>`{row['path'][:60]}`",
                fmt(product.get("rps"), "{:,.0f}"),
                fmt(product.get("p99_ms"), "{:.1f} ms"),
                fmt(floor.get("rps"), "{:,.0f}"),
                fmt(floor.get("p99_ms"), "{:.1f} ms"),
                fmt(r_rps, "{:.2f}x"),
                fmt(r_p99, "{:.2f}x"),
                goal,
                "–" if ok is None else verdict(ok, comparable),
                note.replace("|", "/") or "",
            ]
        )
    headers = [
        "path",
        "product req/s",
        "p99",
        "floor req/s",
        "p99",
        "ratio req/s",
        "ratio p99",
        "goal",
        "met?",
    ]
    return table([*headers, "notes"], lines)


def nginx_table(results: dict[str, Any]) -> str:
    nginx = results.get("nginx") or {}
    direct = {row["name"]: row for row in results.get("rows", []) if row["group"] in ("page", "feed")}
    lines = []
    for row in nginx.get("rows", []):
        through = row.get("nginx") or {}
        alone = direct.get(row["name"], {})
        floor = (alone.get("floor") or {}).get("rps")
        lines.append(
            [
                row["name"],
                row.get("cache", "-"),
                fmt(through.get("rps"), "{:,.0f}"),
                fmt(through.get("p99_ms"), "{:.1f} ms"),
                fmt((alone.get("product") or {}).get("rps"), "{:,.0f}"),
                fmt(floor, "{:,.0f}"),
                fmt(ratio(through.get("rps"), floor), "{:.2f}x"),
                wrk_errors(through) or "",
            ]
        )
    headers = ["path", "X-Cache (2nd request)", "via nginx req/s", "p99", "product direct req/s",
               "floor req/s", "via nginx / floor", "errors"]  # fmt: skip
    return table(headers, lines)


def compression_lines(results: dict[str, Any]) -> list[str]:
    c = results.get("compression")
    if not c:
        return ["Not measured."]
    lines = [
        [f"`{asked}`", f"`{got['content_encoding']}`", f"{got['bytes']:,}", str(got["status"])]
        for asked, got in c["codings"].items()
    ]
    smallest = c.get("smallest_compressed")
    ok = smallest is not None and smallest <= COMPRESSED_GOAL
    measured = (
        f"smallest compressed answer {smallest:,} B"
        if smallest is not None
        else "no compressed answer offered"
    )
    return [
        table(["Accept-Encoding", "Content-Encoding", "body bytes received", "status"], lines),
        "",
        f"Goal ≤ 20 KB ({COMPRESSED_GOAL:,} B) on the wire: {measured} — "
        f"{verdict(ok, not results.get('quick'))}. For scale: the uncompressed page is "
        f"{c['identity_bytes']:,} B; zlib level 6 of those bytes is {c['zlib6_bytes']:,} B.",
    ]


def compression_verdict(c: dict[str, Any]) -> tuple[str, bool]:
    smallest = c.get("smallest_compressed")
    if smallest is None:
        return f"no compressed answer offered ({c['identity_bytes']:,} B uncompressed)", False
    return f"smallest compressed answer {smallest:,} B", smallest <= COMPRESSED_GOAL


def storm_verdict(s: dict[str, Any]) -> tuple[str, bool, float | None]:
    quiet, loud = s["without"], s["with"]
    r = ratio(loud.get("lat_p99_ms"), quiet.get("lat_p99_ms"))
    ok = r is not None and r <= STORM_GOAL and not (loud.get("lost") or quiet.get("lost"))
    text = (
        f"live p99 {fmt(quiet.get('lat_p99_ms'))} ms without, {fmt(loud.get('lat_p99_ms'))} ms with "
        f"({fmt(r, '{:.2f}x')}); lost {quiet.get('lost')} / {loud.get('lost')}"
    )
    return text, ok, r


def storm_lines(results: dict[str, Any]) -> list[str]:
    s = results.get("storm")
    if not s or "with" not in s:
        return ["Not measured." + (f" ({results['error']})" if results.get("error") else "")]
    quiet, loud, page = s["without"], s["with"], s.get("page_load") or {}
    _, ok, r = storm_verdict(s)

    def line(label: str, x: dict[str, Any]) -> list[str]:
        return [
            label,
            f"{x.get('connected') or s.get('connected', 0):,}",
            f"{fmt(x.get('lat_p50_ms'))} / {fmt(x.get('lat_p99_ms'))} / {fmt(x.get('lat_max_ms'), '{:.0f}')}",
            f"{x.get('lost')}/{x.get('dup')}/{x.get('ooo')}",
            fmt(x.get("posts_per_s")),
            fmt(x.get("post_p99_ms")),
            fmt(x.get("server_cpu_pct"), "{:.0f}"),
            fmt(x.get("machine_busy_pct"), "{:.0f}"),
        ]

    headers = ["phase", "subscribers", "live latency p50 / p99 / max ms", "lost/dup/ooo", "posts/s",
               "POST p99 ms", "server CPU %", "machine busy %"]  # fmt: skip
    return [
        table(headers, [line("live only", quiet), line("live + page storm (wrk -c50)", loud)]),
        "",
        f"The page during the storm: {fmt(page.get('rps'), '{:,.0f}')} req/s, p99 "
        f"{fmt(page.get('p99_ms'), '{:.1f}')} ms{'; ' + wrk_errors(page) if wrk_errors(page) else ''}. "
        f"Live p99 with / without the storm: {fmt(r, '{:.2f}x')} (goal ≤ {STORM_GOAL}x, zero lost) — "
        f"{verdict(ok, not results.get('quick') and s.get('subscribers') == 5000)}.",
    ]


def machine_line(results: dict[str, Any]) -> str:
    m, v = results.get("machine", {}), results.get("versions", {})
    code = results.get("product", {})
    before, after = results.get("load_average_before"), results.get("load_average_after")
    load = (
        f". Load average (1 min) {before[0]:.1f} before the run, {after[0]:.1f} after: above ~0.5 before, "
        "something else was using the machine"
        if before and after
        else ""
    )
    changed = f" + uncommitted changes ({code.get('diff_sha256')})" if code.get("changed_files") else ""
    return (
        f"{m.get('cores')} cores ({m.get('cpu') or 'cpu unknown'}), {m.get('memory_gib')} GiB, "
        f"{m.get('os', '')}, kernel {m.get('kernel')}; "
        f"product commit `{code.get('commit', '')[:12]}`{changed}; Python {v.get('python')}; "
        + ", ".join(f"{k} {val}" for k, val in v.items() if k not in ("python", "wrk"))
        + f"; {v.get('wrk', 'wrk')}; {(results.get('nginx') or {}).get('version', 'nginx')}"
        + load
    )


def section(results: dict[str, Any]) -> str:
    cfg = results.get("config", {})
    nginx = results.get("nginx") or {}
    state = []
    if results.get("quick"):
        state.append("**a quick run: short loads, few subscribers: the verdicts are not comparable**")
    if results.get("interrupted"):
        state.append(f"**interrupted** ({results['interrupted']})")
    if results.get("error"):
        state.append(f"**failed**: {results['error'][:300]}")
    seeded = results.get("incidents", {})
    parts = [
        HEADING,
        "",
        f"`{results['command']}`, started {results['started']}, took {results.get('seconds', 0) // 60} min"
        + (" — " + "; ".join(state) if state else "")
        + ".",
        "",
        f"Machine: {machine_line(results)}.",
        "",
        "One product process (`incidents serve`, SQLite), an incident of 200 updates "
        + (f"(`{seeded['short']['id']}`) " if "short" in seeded else "")
        + "and one of "
        + f"{cfg.get('reads_updates', 5000):,} (the demo's Chinese text). Each path's answer was fetched "
        "once and is served again from memory by the floor: Starlette + uvicorn, one process, uvicorn's "
        "automatic loop and HTTP (uvloop, httptools), same status, content type, ETag and Cache-Control "
        "(`bench/floor_app.py`). `wrk -t1 -c50 "
        f"-d{cfg.get('wrk_duration', 10):g}s --latency` per path on the product and on the floor, one "
        "after the other (the order alternating by row), same machine; ratios are product / floor.",
        "",
        table(
            ["measure", "goal", "measured", "met?"],
            goal_summary(results),
        ),
        "",
        "### Each path against the floor",
        "",
        paths_table(results),
        "",
        f"### Behind nginx (`{nginx.get('config', 'not run')}`, one worker, micro-cache honouring "
        "`Cache-Control`)",
        "",
        nginx_table(results) if nginx.get("rows") else "Not measured.",
        "",
        "nginx caches only what the server's `Cache-Control` allows; with `proxy_cache_lock on`, concurrent "
        "misses of one URL wait for the first (in 500 ms steps), so a page the server does not let it cache "
        "is served one upstream request at a time (see the max latency in the JSON).",
        "",
        f"### The first page of a {cfg.get('reads_updates', 5000):,}-update incident on the wire",
        "",
        *compression_lines(results),
        "",
        f"### Page storm during live fan-out ({cfg.get('reads_subscribers', 0):,} subscribers, "
        f"{cfg.get('rate', 10):g} updates/s, {cfg.get('reads_storm_duration', 30):g} s per phase)",
        "",
        *storm_lines(results),
    ]
    if results.get("problems"):
        parts += ["", "Problems seen: " + "; ".join(results["problems"]).replace("|", "/")]
    return "\n".join(parts) + "\n"


def goal_summary(results: dict[str, Any]) -> list[list[str]]:
    comparable = not results.get("quick")
    out = []
    groups = (
        ("page", "timeline page, embed, index, stylesheet, script"),
        ("feed", "Atom, JSON Feed, CAP, JSON snapshot, oEmbed"),
        ("304", "304 revalidations"),
    )
    for group, label in groups:
        rows = [r for r in results.get("rows", []) if r["group"] == group]
        judged = [(r, judge(r)) for r in rows]
        failed = [r["name"].split(",")[0] for r, j in judged if j[1] is False]
        if not rows:
            out.append([label, GOALS[group][0], "not measured", verdict(False, comparable)])
            continue
        worst = min((j[2] for _, j in judged if j[2] is not None), default=None)
        text = f"{len(rows) - len(failed)} of {len(rows)} met; lowest req/s ratio {fmt(worst, '{:.2f}x')}"
        if failed:
            text += "; not met: " + ", ".join(dict.fromkeys(failed))
        out.append([label, GOALS[group][0] + " the floor's", text, verdict(not failed, comparable)])
    c = results.get("compression")
    text, ok = compression_verdict(c) if c else ("not measured", False)
    out.append(
        [
            "a 5,000-update incident's first page, compressed",
            "≤ 20 KB on the wire",
            text,
            verdict(ok, comparable),
        ]
    )
    s = results.get("storm") or {}
    text, ok = storm_verdict(s)[:2] if "with" in s else ("not measured", False)
    out.append(
        [
            "page storm (wrk -c50) during live fan-out",
            "live p99 ≤ 1.5x without the storm; zero lost",
            text,
            verdict(ok, comparable and s.get("subscribers") == 5000),
        ]
    )
    return out


def write_section(page: Path, text: str) -> None:
    """Replace the section between BEGIN and END (or add it at the end of the page)."""
    block = f"{BEGIN}\n{text}{END}\n"
    old = page.read_text() if page.exists() else ""
    if BEGIN in old and END in old:
        head, rest = old.split(BEGIN, 1)
        new = head + block + rest.split(END, 1)[1].lstrip("\n")
    else:
        if old and KEEP_MARKER not in old:  # a fan-out run keeps only what is below its marker
            old = old.rstrip("\n") + f"\n\n{KEEP_MARKER}\n"
        new = old.rstrip("\n") + "\n\n" + block if old else block
    page.write_text(new)


def render(results: dict[str, Any], source: Path, *, docs: bool) -> None:
    text = section(results)
    local = source.with_suffix(".md")
    local.write_text(text)
    print(f"report: {local.relative_to(ROOT)}", flush=True)
    if docs:
        write_section(PAGE, text)
        print(f"report: {PAGE.relative_to(ROOT)} (section {HEADING!r})", flush=True)
