"""The ``incidents export | import | migrate`` subcommands."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from broadcaster.config import Settings
from broadcaster.stores.base import BackendError
from broadcaster.stores.transfer.export import export_store
from broadcaster.stores.transfer.format import Progress, TransferError, mask_url
from broadcaster.stores.transfer.importer import import_file
from broadcaster.stores.transfer.layouts import opened
from broadcaster.stores.transfer.verify import read_inventory, take_inventory, verify

# --- the commands ----------------------------------------------------------------------------------------


def _configured(url: str | None) -> str:
    return url or Settings().backend


async def export_command(args: argparse.Namespace) -> int:
    url = _configured(args.backend)
    if args.output == "-":
        async with opened(url, must_exist=True) as (backend, layout):
            await export_store(backend, layout, sys.stdout.buffer, include_personal=args.include_personal)
        sys.stdout.flush()
        return 0
    target = Path(args.output)
    partial = target.with_name(target.name + ".partial")
    try:
        with partial.open("wb") as out:
            async with opened(url, must_exist=True) as (backend, layout):
                await export_store(backend, layout, out, include_personal=args.include_personal)
            out.flush()
            os.fsync(out.fileno())
        partial.replace(target)  # a file under the given name is always a complete export
    finally:
        partial.unlink(missing_ok=True)
    return 0


async def import_command(args: argparse.Namespace) -> int:
    url = _configured(args.backend)
    if args.input != "-":
        path = Path(args.input)
        if not await asyncio.to_thread(path.is_file):
            raise TransferError(f"no such file: {path}")
        await import_file(url, path, args.force)
        return 0
    with tempfile.NamedTemporaryFile(prefix="incidents-import-", suffix=".jsonl") as spool:
        shutil.copyfileobj(sys.stdin.buffer, spool)  # checked completely before anything is written
        spool.flush()
        await import_file(url, Path(spool.name), args.force)
    return 0


async def migrate_command(args: argparse.Namespace) -> int:
    source, target = _configured(args.from_url), args.to_url
    if source == target:
        raise TransferError("--from and --to name the same store")
    print(f"migrate: {mask_url(source)} -> {mask_url(target)}", file=sys.stderr)
    # The export is spooled to a file in TMPDIR (photos included), checked, then imported.
    with tempfile.NamedTemporaryFile(prefix="incidents-migrate-", suffix=".jsonl") as spool:
        async with opened(source, must_exist=True) as (backend, layout):
            exported = await export_store(backend, layout, spool)
        spool.flush()
        await import_file(target, Path(spool.name), args.force, check_copy=False)
    # Compare the source as it is now with the target, read back again.
    async with opened(source, must_exist=True) as (backend, layout):
        names = await take_inventory(backend, layout)
        progress = Progress("verify source", exported.events, "events")
        expected = await read_inventory(backend, names, progress)
        progress.finish(f"{expected.events} events in {len(expected.logs)} logs")
    async with opened(target, must_exist=False) as (backend, _layout):
        ok = await verify("migrate", expected, backend)
    if not ok:
        print(
            "migrate: did the source change during the migration? stop its servers and retry", file=sys.stderr
        )
    return 0 if ok else 1


COMMANDS = {"export": export_command, "import": import_command, "migrate": migrate_command}


def main(args: argparse.Namespace) -> int:
    """Run ``incidents export|import|migrate``: 0 done, 1 refused or failed (said on stderr)."""
    try:
        return asyncio.run(COMMANDS[args.command](args))
    except (TransferError, BackendError) as exc:
        print(f"incidents {args.command}: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        return 1


def add_parsers(commands: Any, backend_help: str) -> None:
    """The subcommands' arguments, added to the ``incidents`` parser by :mod:`broadcaster.cli`."""
    export = commands.add_parser("export", help="write every log, document and photo as JSON Lines")
    export.add_argument("--backend", help=backend_help)
    export.add_argument("--output", "-o", default="-", help="file to write (default -: stdout)")
    export.add_argument(
        "--include-personal",
        action="store_true",
        help="include subscribers' e-mail addresses and push endpoints (left out by default)",
    )
    imp = commands.add_parser("import", help="load an export into an empty store, then verify it")
    imp.add_argument("--backend", help=backend_help)
    imp.add_argument("--input", "-i", default="-", help="export file to read (default -: stdin)")
    imp.add_argument(
        "--force", action="store_true", help="allow a target holding other data (never a log twice)"
    )
    migrate = commands.add_parser("migrate", help="copy one store into another (empty) one and verify it")
    migrate.add_argument("--from", dest="from_url", help=f"source: {backend_help}")
    migrate.add_argument(
        "--to", dest="to_url", required=True, help="target: sqlite:///path.db or redis://..."
    )
    migrate.add_argument("--force", action="store_true", help="allow a target holding other data")
