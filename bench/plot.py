"""The chart: ``plot.py RESULTS.json OUT.png`` (run with bench/.venv-peers' Python, which has matplotlib)."""

from __future__ import annotations

import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

ORDER = ["product", "websockets_floor", "starlette_broadcaster", "socketio"]
NAMES = {
    "product": "product",
    "websockets_floor": "websockets.broadcast floor",
    "starlette_broadcaster": "broadcaster + Starlette",
    "socketio": "python-socketio",
}
COLOURS = {
    "product": "#c0392b",
    "websockets_floor": "#7f8c8d",
    "starlette_broadcaster": "#2980b9",
    "socketio": "#27ae60",
}


def main(source: str, out: str) -> None:
    with open(source) as f:
        results = json.load(f)
    rows = [r for r in results["rows"] if r["scenario"] == "single" and r.get("status") != "failed"]
    small = sorted({r["size"] for r in rows})[:1]
    rows = [r for r in rows if r["size"] in small]
    ns = sorted({r["per_topic"] for r in rows})
    servers = [s for s in ORDER if any(r["server"] == s for r in rows)]
    panels = [
        ("cpu_us_per_delivery", "server CPU per delivery (µs)", False),
        ("rss_per_conn_kib", "RSS per idle connection (KiB)", False),
        ("lat_p99_ms", "p99 publish-to-receive (ms, log)", True),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 4.6))
    width = 0.8 / max(1, len(servers))
    for ax, (key, title, log) in zip(axes, panels, strict=True):
        for i, server in enumerate(servers):
            xs, ys = [], []
            for j, n in enumerate(ns):
                found = [r for r in rows if r["server"] == server and r["per_topic"] == n]
                if found and found[0].get(key) is not None:
                    xs.append(j + (i - (len(servers) - 1) / 2) * width)
                    ys.append(found[0][key])
            bars = ax.bar(xs, ys, width, label=NAMES[server], color=COLOURS[server])
            ax.bar_label(bars, fmt="%.3g", fontsize=7, padding=1)
        ax.set_xticks(range(len(ns)), [f"{n:,}" for n in ns])
        ax.set_xlabel("subscribers on one incident")
        ax.set_title(title, fontsize=10)
        if log:
            ax.set_yscale("log")
        if key == "rss_per_conn_kib":
            ax.axhline(20, color="black", linestyle="--", linewidth=0.8)
            ax.text(len(ns) - 0.5, 20, " goal 20 KiB", va="bottom", ha="right", fontsize=7)
        if key == "lat_p99_ms":
            ax.axhline(200, color="black", linestyle="--", linewidth=0.8)
            ax.text(len(ns) - 0.5, 200, " goal 200 ms", va="bottom", ha="right", fontsize=7)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, frameon=False)
    m = results["machine"]
    fig.suptitle(
        f"Live fan-out, {small[0] if small else ''} B updates at {results['config'].get('rate', 10):g}/s — "
        f"{m['cores']} cores, Python {m['python']} ({results['started'][:10]}"
        f"{', quick run' if results.get('quick') else ''})",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    fig.savefig(out, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
