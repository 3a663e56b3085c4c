"""What a store holds (fingerprints per log, document and blob), and comparing two:
the check after import and migrate."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

from broadcaster.core.events import split_log
from broadcaster.stores.base import Backend
from broadcaster.stores.transfer.format import KNOWN_KINDS, Progress, blob_digest, doc_digest, log_digest
from broadcaster.stores.transfer.layouts import Layout

# --- what a store holds, and comparing two -----------------------------------------------------------


@dataclass(slots=True)
class Inventory:
    """Fingerprints: per log (event count, SHA-256 of texts), per document, per blob."""

    logs: dict[str, tuple[int, str]] = field(default_factory=dict)
    docs: dict[str, str] = field(default_factory=dict)
    blobs: dict[str, str] = field(default_factory=dict)

    @property
    def events(self) -> int:
        return sum(count for count, _ in self.logs.values())


async def read_inventory(backend: Backend, like: Inventory, progress: Progress | None = None) -> Inventory:
    """Fingerprints, read from ``backend``, of the logs, documents and blobs named in ``like``."""
    found = Inventory()
    for log in like.logs:
        events = await backend.read(log)
        found.logs[log] = (len(events), log_digest(e.text for e in events))
        if progress:
            progress.advance(len(events))
    for key in like.docs:
        doc = await backend.get_doc(key)
        found.docs[key] = "missing" if doc is None else doc_digest(doc.value)
    for key in like.blobs:
        blob = await backend.get_blob(key)
        found.blobs[key] = "missing" if blob is None else blob_digest(*blob)
    return found


async def take_inventory(backend: Backend, layout: Layout) -> Inventory:
    """Names of everything in the store (fingerprints are filled in by :func:`read_inventory`)."""
    names = Inventory()
    for log, _created in await list_logs(backend, layout):
        names.logs[log] = (0, "")
    names.docs = dict.fromkeys(await layout.doc_keys(), "")
    names.blobs = dict.fromkeys(await layout.blob_keys(), "")
    return names


async def list_logs(backend: Backend, layout: Layout) -> list[tuple[str, float]]:
    """Every log: those the backend lists for the known kinds, and any other the layout finds."""
    found = dict(await layout.list_logs())
    for kind in KNOWN_KINDS:
        for log in await backend.logs(kind):
            found.setdefault(log, 0.0)
    return sorted(found.items(), key=lambda item: (item[1], item[0]))


def compare(expected: Inventory, actual: Inventory) -> tuple[list[list[str]], list[str]]:
    """A per-kind summary table and the list of mismatches (empty: identical)."""
    problems: list[str] = []
    kinds: dict[str, list[int]] = {}
    for log, (count, digest) in expected.logs.items():
        row = kinds.setdefault(split_log(log)[0], [0, 0, 0])
        row[0] += 1
        row[1] += count
        got = actual.logs.get(log, (0, "missing"))
        if got != (count, digest):
            row[2] += 1
            problems.append(
                f"log {log}: expected {count} events (sha256 {digest[:12]}), "
                f"found {got[0]} (sha256 {got[1][:12]})"
            )
    table = [["kind", "logs", "events", "check"]]
    for kind, (logs, events, wrong) in sorted(kinds.items()):
        table.append([kind, str(logs), str(events), "ok" if not wrong else f"{wrong} MISMATCHED"])
    for what, want, have in (
        ("documents", expected.docs, actual.docs),
        ("blobs", expected.blobs, actual.blobs),
    ):
        bad = [key for key, digest in want.items() if have.get(key) != digest]
        problems += [f"{what[:-1]} {key}: differs or is missing" for key in bad]
        table.append([what, str(len(want)), "", "ok" if not bad else f"{len(bad)} MISMATCHED"])
    return table, problems


def format_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            cell.ljust(w) if i in (0, 3) else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    )


async def verify(label: str, expected: Inventory, target: Backend) -> bool:
    """Read back everything in ``expected`` from ``target``; print the per-kind table."""
    progress = Progress("verify", expected.events, "events")
    actual = await read_inventory(target, expected, progress)
    table, problems = compare(expected, actual)
    progress.finish("read back" if not problems else f"{len(problems)} mismatches")
    print(format_table(table))
    for problem in problems:
        print(f"MISMATCH {problem}")
    if problems:
        print(f"{label}: the copy does NOT match ({len(problems)} mismatches)", file=sys.stderr)
        return False
    print(f"{label}: verified: every log (event count and sha256), document and blob matches")
    return True
