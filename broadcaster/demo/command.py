"""``incidents demo`` and ``incidents serve --demo``: the command-line glue.

The server runs as ``incidents serve`` runs it; beside it, a thread makes an operator for the demo
(in the store), waits until the server answers and replays the script over HTTP. The server keeps
running after the replay, unless ``--exit-when-done``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import threading
from zoneinfo import ZoneInfo

from broadcaster.accounts import add_operator, create_token, find_by_name
from broadcaster.config import Settings, local_url
from broadcaster.demo.runner import Replay, load_script
from broadcaster.demo.script import check_speed
from broadcaster.stores import open_backend
from broadcaster.stores.base import BackendError

OPERATOR = "demo (ZZIC exercise)"
DEFAULT_SPEED = 60.0


def _speed(text: str) -> float:
    try:
        return check_speed(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a number > 0 (story minutes per real minute; {DEFAULT_SPEED:g}: an hour a minute),"
            f" not {text!r}"
        ) from None


def add_options(parser: argparse.ArgumentParser, *, flag: bool) -> None:
    """The demo's options; ``flag``: also ``--demo`` (on ``serve``)."""
    if flag:
        parser.add_argument(
            "--demo", action="store_true", help="also replay the 2010 文化路 water-main burst (an exercise)"
        )
    parser.add_argument(
        "--speed", type=_speed, default=None,
        help=f"story minutes per real minute (default {DEFAULT_SPEED:g}: an hour of the story a minute)",
    )  # fmt: skip
    parser.add_argument(
        "--exit-when-done", action="store_true", help="stop the server when the replay has ended"
    )


def check_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """``--speed`` and ``--exit-when-done`` only with a demo (exits 2 otherwise)."""
    if not args.demo and (args.speed is not None or args.exit_when_done):
        parser.error("--speed and --exit-when-done go with --demo (or the demo command)")


async def _demo_token(backend_url: str) -> str:
    """An API token of the demo's own operator, made now (the operator too, on the first run)."""
    backend = open_backend(backend_url)
    await backend.start()
    try:
        try:
            return (await add_operator(backend, OPERATOR))[1]
        except ValueError:  # made by an earlier run: a new token for this one
            doc = await find_by_name(backend, OPERATOR)
            if doc is None:
                raise
            return await create_token(backend, str(doc.value["id"]), "incidents demo")
    finally:
        await backend.close()


class Running:
    """A replay in its thread."""

    def __init__(self, replay: Replay, exit_when_done: bool) -> None:
        self.replay = replay
        self.thread = threading.Thread(target=self._run, args=(exit_when_done,), name="demo", daemon=True)

    def _run(self, exit_when_done: bool) -> None:
        self.replay.run()
        if self.replay.stop.is_set():
            return
        if exit_when_done:
            os.kill(os.getpid(), signal.SIGINT)  # the server shuts down as on Ctrl-C
        else:
            self.replay.say("demo: the server keeps running; Ctrl-C stops it")

    def finish(self) -> int:
        """After the server stopped: 1 if a step failed, else 0."""
        self.replay.stop.set()
        self.thread.join(timeout=5)
        return 1 if self.replay.failures else 0


def start(args: argparse.Namespace, settings: Settings) -> Running:
    """Make the demo's operator and start the replay's thread (it waits for the server).

    Raises:
        ValueError: the store could not be reached or the script is broken.
    """
    try:
        token = asyncio.run(_demo_token(settings.backend))
    except BackendError as exc:
        raise ValueError(f"the demo could not make its operator: {exc}") from None
    replay = Replay(
        local_url(args.host, args.port), token, load_script(),
        speed=args.speed or DEFAULT_SPEED, zone=ZoneInfo(settings.timezone),
    )  # fmt: skip
    running = Running(replay, args.exit_when_done)
    running.thread.start()
    return running
