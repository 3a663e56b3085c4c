"""``incidents import``: an export checked completely first, then written into an
empty store and read back."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from broadcaster.core.events import Event, split_log
from broadcaster.core.types import JSON
from broadcaster.stores.base import Backend
from broadcaster.stores.transfer.format import (
    FORMAT,
    VERSION,
    LogRecord,
    Progress,
    TransferError,
    blob_digest,
    doc_digest,
    mask_url,
)
from broadcaster.stores.transfer.layouts import Layout, opened
from broadcaster.stores.transfer.verify import Inventory, verify

# --- reading and checking an export ------------------------------------------------------------------


def lines(path: Path) -> Iterator[tuple[int, JSON]]:
    """(line number, object) for each line; TransferError naming the line for anything else."""
    with path.open("rb") as file:
        for number, raw in enumerate(file, start=1):
            try:
                value = json.loads(raw.decode())
            except UnicodeDecodeError:
                raise TransferError(f"line {number}: not UTF-8") from None
            except json.JSONDecodeError as exc:
                raise TransferError(f"line {number}: not JSON ({exc.msg}, column {exc.colno})") from None
            if not isinstance(value, dict):
                raise TransferError(f"line {number}: not a JSON object")
            yield number, value


@dataclass(slots=True)
class Checked:
    """What a valid export holds (pass 1 of an import)."""

    header: JSON
    inventory: Inventory


def check_export(path: Path) -> Checked:
    """Read the whole export and check every line before anything is written.

    Raises:
        TransferError: naming the first bad line and what is wrong with it.
    """
    found = Inventory()
    header: JSON | None = None
    ended = False
    current: JSON | None = None  # the log line whose events follow
    last_seq, texts = 0, hashlib.sha256()

    def close_log(number: int) -> None:
        if current is None:
            return
        name, count, head = current["log"], current["count"], current["head"]
        seen, _ = found.logs[name]
        if seen != count or last_seq != head or texts.hexdigest() != current["sha256"]:
            raise TransferError(
                f"line {number}: log {name} (line {current['_line']}) announced {count} events up to seq "
                f"{head}, but {seen} events up to seq {last_seq} follow, or they were altered (sha256)"
            )
        found.logs[name] = (seen, texts.hexdigest())

    number = 0
    for number, record in lines(path):
        if ended:
            raise TransferError(f"line {number}: data after the end line")
        if number == 1:
            if record.get("format") != FORMAT:
                raise TransferError("line 1: not an incidents export (no header)")
            if record.get("version") != VERSION:
                raise TransferError(f"line 1: export format version {record.get('version')!r}, not {VERSION}")
            header = record
            continue
        try:
            if "event" in record:
                if current is None or record["event"] != current["log"]:
                    raise ValueError(f"an event of {record['event']!r} outside its log")
                seq, text = record["seq"], record["text"]
                if not isinstance(seq, int) or not isinstance(text, str) or seq <= last_seq:
                    raise ValueError(f"seq must be an integer above {last_seq}, text a string")
                kind, ident = split_log(current["log"])
                decoded = json.loads(text)
                if decoded.get(kind) != ident or decoded.get("seq") != seq:
                    raise ValueError(f"the event's text is not seq {seq} of {current['log']}")
                last_seq = seq
                texts.update(text.encode() + b"\n")
                count, _ = found.logs[current["log"]]
                found.logs[current["log"]] = (count + 1, "")
            elif "log" in record:
                close_log(number)
                name = record["log"]
                kind, _ = split_log(name)
                if record.get("kind") != kind or name in found.logs:
                    raise ValueError(f"log {name!r}: wrong kind, or listed twice")
                for key in ("head", "count"):
                    if not isinstance(record.get(key), int) or record[key] < 0:
                        raise ValueError(f"log {name}: {key} must be an integer >= 0")
                if not isinstance(record.get("created"), int | float) or not isinstance(
                    record.get("sha256"), str
                ):
                    raise ValueError(f"log {name}: created must be a number, sha256 a string")
                idem = record.get("idem")
                if not isinstance(idem, dict) or not all(
                    isinstance(s, int) and 0 < s <= record["head"] for s in idem.values()
                ):
                    raise ValueError(f"log {name}: idem must map keys to seqs within the log")
                current, last_seq, texts = {**record, "_line": number}, 0, hashlib.sha256()
                found.logs[name] = (0, "")
            elif "doc" in record:
                if current is not None:
                    raise ValueError("documents must come before the logs")
                key = record["doc"]
                if not isinstance(key, str) or not key or "value" not in record or key in found.docs:
                    raise ValueError("a document needs a key (once) and a value")
                found.docs[key] = doc_digest(record["value"])
            elif "blob" in record:
                if current is not None:
                    raise ValueError("blobs must come before the logs")
                key, content_type = record["blob"], record["type"]
                if (
                    not isinstance(key, str)
                    or not key
                    or not isinstance(content_type, str)
                    or key in found.blobs
                ):
                    raise ValueError("a blob needs a key (once) and a content type")
                data = base64.b64decode(record["data"], validate=True)
                if hashlib.sha256(data).hexdigest() != record["sha256"]:
                    raise ValueError(f"blob {key}: its data does not match its sha256")
                found.blobs[key] = blob_digest(data, content_type)
            elif "end" in record:
                close_log(number)
                current, ended = None, True
                end = record["end"]
                have = {"logs": len(found.logs), "events": found.events}
                have |= {"docs": len(found.docs), "blobs": len(found.blobs)}
                if end != have:
                    raise ValueError(f"the end line counts {end}, the file holds {have}")
            else:
                raise ValueError("not a header, document, blob, log, event or end line")
        except TransferError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
            problem = str(exc) if isinstance(exc, ValueError) else f"bad or missing field {exc}"
            raise TransferError(f"line {number}: {problem}") from None
    if header is None:
        raise TransferError("the file is empty: not an incidents export")
    if not ended:
        raise TransferError(f"no end line after line {number}: the export was cut short")
    return Checked(header, found)


# --- import -------------------------------------------------------------------------------------------


async def refuse_unless_empty(layout: Layout, checked: Checked, force: bool) -> None:
    """Refuse a target holding any data (unless ``force``) or any log of the export (always)."""
    logs = dict(await layout.list_logs())
    docs, blobs = await layout.doc_keys(), await layout.blob_keys()
    clashes = [log for log in checked.inventory.logs if log in logs]
    if clashes:
        more = f" and {len(clashes) - 3} more" if len(clashes) > 3 else ""
        raise TransferError(
            f"the target already has {len(logs)} logs, including {', '.join(clashes[:3])}{more} from this "
            "export: import only into an empty store (nothing was written)"
        )
    if (logs or docs or blobs) and not force:
        incidents = sum(1 for log in logs if split_log(log)[0] == "incident")
        raise TransferError(
            f"the target is not empty ({incidents} incidents, {len(logs)} logs, {len(docs)} documents, "
            f"{len(blobs)} blobs): import only into an empty store, or pass --force to add to it "
            "(documents and blobs of the export replace the target's) - nothing was written"
        )


async def import_checked(backend: Backend, layout: Layout, path: Path, checked: Checked) -> None:
    """Write a checked export (pass 2): documents and blobs, then every log as it was."""
    progress = Progress("import", checked.inventory.events, "events")
    for _number, record in lines(path):
        if "doc" in record:
            key, value = record["doc"], record["value"]
            for _ in range(5):
                doc = await backend.get_doc(key)
                if await backend.put_doc(key, value, expect_version=doc.version if doc else 0):
                    break
            else:
                raise TransferError(f"document {key} kept changing in the target while it was imported")
        elif "blob" in record:
            await backend.put_blob(record["blob"], base64.b64decode(record["data"]), record["type"])
    written = 0
    await layout.begin()
    try:
        record_of: LogRecord | None = None
        for _number, record in lines(path):
            if "log" in record or "end" in record:
                if record_of is not None:
                    await layout.write_log(record_of)
                    written += 1
                    progress.advance(len(record_of.events))
                if "log" in record:
                    idem = {str(k): int(v) for k, v in record["idem"].items()}
                    record_of = LogRecord(record["log"], float(record["created"]), int(record["head"]), idem)
            elif "event" in record and record_of is not None:
                record_of.events.append(Event(record_of.log, int(record["seq"]), str(record["text"])))
        await layout.commit()
    except Exception as exc:  # undo what can be undone, then say what is left
        undone = await layout.rollback()
        where = mask_url(backend.url)
        if undone:
            raise TransferError(
                f"writing the logs into {where} failed ({type(exc).__name__}: {exc}): no log was written "
                "(documents and blobs were: pass --force to import again)"
            ) from exc
        raise TransferError(
            f"writing the logs into {where} failed after {written} of {len(checked.inventory.logs)} logs "
            f"({type(exc).__name__}: {exc}): the target is partly written; empty it and import again"
        ) from exc
    progress.finish(
        f"{checked.inventory.events} events in {written} logs, "
        f"{len(checked.inventory.docs)} documents, {len(checked.inventory.blobs)} blobs"
    )


async def import_file(url: str, path: Path, force: bool, *, check_copy: bool = True) -> Inventory:
    """Check ``path`` completely, then write it into the store at ``url`` and read it back."""
    checked = check_export(path)
    async with opened(url, must_exist=False) as (backend, layout):
        await refuse_unless_empty(layout, checked, force)
        await import_checked(backend, layout, path, checked)
        if check_copy and not await verify("import", checked.inventory, backend):
            raise TransferError("the imported copy does not match the export (see above)")
    return checked.inventory
