"""``incidents export``: every log, document and blob of a store, as JSON Lines."""

from __future__ import annotations

import base64
import hashlib
from typing import IO

from broadcaster.core.events import format_time, split_log, utc_now
from broadcaster.stores.base import Backend
from broadcaster.stores.transfer.format import (
    FORMAT,
    KNOWN_KINDS,
    NOT_CARRIED,
    VERSION,
    Progress,
    blob_digest,
    doc_digest,
    dumps_line,
    log_digest,
    mask_url,
)
from broadcaster.stores.transfer.layouts import Layout, _event_time
from broadcaster.stores.transfer.verify import Inventory, list_logs

# --- export -------------------------------------------------------------------------------------------


PERSONAL_PREFIXES = ("subscription-personal:", "notify:key")
"""Documents holding personal data (subscribers' e-mail addresses and push endpoints), and the
key of the subscribers' hashes (with it, anyone could test whether an address subscribed):
left out of an export unless asked for (``incidents export --include-personal``)."""
PERSONAL_NOTE = (
    "personal data of subscribers (subscription-personal:*, notify:key; --include-personal carries it)"
)


def is_personal(key: str) -> bool:
    return key.startswith(PERSONAL_PREFIXES)


async def export_store(
    backend: Backend, layout: Layout, out: IO[bytes], *, include_personal: bool = True
) -> Inventory:
    """Write everything in the store to ``out`` as JSON Lines; returns what was written.
    ``include_personal``: False leaves out the documents of :data:`PERSONAL_PREFIXES`.

    Each log is read once, so its events, head, count and checksum agree even while a
    server keeps appending (events appended after a log was read are not in the export).
    """
    logs = await list_logs(backend, layout)
    doc_keys, blob_keys = await layout.doc_keys(), await layout.blob_keys()
    if not include_personal:
        doc_keys = [key for key in doc_keys if not is_personal(key)]
    kinds = sorted({split_log(log)[0] for log, _ in logs} | set(KNOWN_KINDS))
    total = sum([await backend.head(log) for log, _ in logs])
    progress = Progress("export", total, "events")
    written = Inventory()
    out.write(
        dumps_line(
            {
                "format": FORMAT,
                "version": VERSION,
                "source": mask_url(backend.url),
                "exported_at": format_time(utc_now()),
                "kinds": kinds,
                "not_carried": NOT_CARRIED + ([] if include_personal else [PERSONAL_NOTE]),
            }
        )
    )
    for key in doc_keys:
        doc = await backend.get_doc(key)
        if doc is not None:  # deleted since it was listed
            out.write(dumps_line({"doc": key, "value": doc.value}))
            written.docs[key] = doc_digest(doc.value)
    for key in blob_keys:
        blob = await backend.get_blob(key)
        if blob is not None:
            data, content_type = blob
            sha = hashlib.sha256(data).hexdigest()
            encoded = base64.b64encode(data).decode()
            out.write(dumps_line({"blob": key, "type": content_type, "sha256": sha, "data": encoded}))
            written.blobs[key] = blob_digest(data, content_type)
    for log, created in logs:
        events = await backend.read(log)
        head = events[-1].seq if events else 0
        idem = {key: seq for key, seq in (await layout.idem(log)).items() if seq <= head}
        digest = log_digest(e.text for e in events)
        kind, _ = split_log(log)
        if not created and events:
            created = _event_time(events[0].text)
        line = {"log": log, "kind": kind, "created": created, "head": head, "count": len(events)}
        out.write(dumps_line({**line, "sha256": digest, "idem": idem}))
        for event in events:
            out.write(dumps_line({"event": log, "seq": event.seq, "text": event.text}))
        written.logs[log] = (len(events), digest)
        progress.advance(len(events))
    totals = {"logs": len(written.logs), "events": written.events, "docs": len(written.docs)}
    out.write(dumps_line({"end": {**totals, "blobs": len(written.blobs)}}))
    progress.finish(
        f"{written.events} events in {len(written.logs)} logs, "
        f"{len(written.docs)} documents, {len(written.blobs)} blobs"
    )
    return written
