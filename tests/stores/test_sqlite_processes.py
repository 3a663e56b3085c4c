"""Two processes on one SQLite file (the web server and its notifier process do so): started at
once on a file that does not exist yet, both append to the same log, compare-and-set the same
document and claim the same lease, as fast as they can. Nothing fails, every seq is given once
and in order, no increment is lost, one process holds the lease at a time."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

from broadcaster.stores import open_backend

WORKER = """
import asyncio, json, sys, time
from broadcaster.stores import open_backend

async def main(url, name, count, start_at):
    while time.time() < start_at:
        await asyncio.sleep(0.001)
    backend = open_backend(url)
    await backend.start()
    seqs, bumps, held = [], 0, 0
    try:
        for n in range(count):
            done = await backend.append("incident:shared", "update.posted", {"by": name, "n": n})
            seqs.append(done.event.seq)
            while True:  # a counter both processes add to with compare-and-set
                doc = await backend.get_doc("counter")
                value = doc.value["n"] if doc else 0
                version = doc.version if doc else 0
                if await backend.put_doc("counter", {"n": value + 1}, expect_version=version):
                    bumps += 1
                    break
            if await backend.claim("lease", name, 0.05):
                held += 1
    finally:
        await backend.close()
    print(json.dumps({"seqs": seqs, "bumps": bumps, "held": held}))

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])))
"""


async def test_two_processes_share_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh' / 'shared.db'}"  # not there yet: both create it
    count = 300
    start_at = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, name, str(count), str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("web", "notifier")
    ]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        results.append(json.loads(out))
    web, notifier = results
    assert web["bumps"] == notifier["bumps"] == count
    assert sorted(web["seqs"] + notifier["seqs"]) == list(range(1, 2 * count + 1))  # each seq once
    assert web["seqs"] == sorted(web["seqs"]) and notifier["seqs"] == sorted(notifier["seqs"])
    assert web["held"] > 0 and notifier["held"] > 0

    backend = open_backend(url)
    await backend.start()
    try:
        counter = await backend.get_doc("counter")
        assert counter is not None and counter.value == {"n": 2 * count}  # no increment lost
        events = [e.decode() for e in await backend.read("incident:shared")]
        assert [e["seq"] for e in events] == list(range(1, 2 * count + 1))
        by = {
            name: [e["data"]["n"] for e in events if e["data"]["by"] == name] for name in ("web", "notifier")
        }
        assert by == {"web": list(range(count)), "notifier": list(range(count))}
        mode = await backend._run(lambda db: db.execute("PRAGMA journal_mode").fetchone()[0])  # type: ignore[attr-defined]
        assert mode == "wal"
    finally:
        await backend.close()
    await asyncio.sleep(0)


async def test_opening_waits_for_another_connections_lock(tmp_path: Path) -> None:
    """Another process holds the write lock while this one opens the file (before WAL is on):
    opening waits for it instead of failing with "database is locked"."""
    import sqlite3
    import threading

    path = tmp_path / "busy.db"
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")
    timer = threading.Timer(0.5, other.commit)
    timer.start()
    backend = open_backend(f"sqlite:///{path}")
    try:
        started = time.monotonic()
        await backend.start()
        assert time.monotonic() - started >= 0.3  # it waited for the lock
        assert (await backend.append("incident:a", "update.posted", {})).event.seq == 1
    finally:
        timer.join()
        other.close()
        await backend.close()
