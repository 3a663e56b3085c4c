"""The ``incidents`` command: ``serve``, ``demo``, ``notifier`` and ``operator add``."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from broadcaster.accounts import credentials as accounts
from broadcaster.accounts.operators import Operator, add_operator
from broadcaster.config import Settings, local_url
from broadcaster.demo import add_options as add_demo_options
from broadcaster.demo import check_options as check_demo_options
from broadcaster.demo import start as start_demo
from broadcaster.notify import NotifierChild, notifier_main
from broadcaster.stores import open_backend
from broadcaster.stores.base import BackendError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="incidents", description="Live incident timelines (滚动播报).")
    commands = parser.add_subparsers(dest="command", required=True)
    backend_help = "sqlite:///path.db (default) or redis://host:port/db; env INCIDENTS_BACKEND"

    serve = commands.add_parser("serve", help="run the web server")
    demo = commands.add_parser("demo", help="run the web server and replay a demo broadcast (an exercise)")
    for command in (serve, demo):
        command.add_argument("--host", default="127.0.0.1")
        command.add_argument("--port", type=int, default=8000)
        command.add_argument("--workers", type=int, default=1, help="processes (a redis backend if > 1)")
        command.add_argument("--backend", help=backend_help)
        command.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
        command.add_argument(
            "--forwarded-allow-ips",
            metavar="ADDRESSES",
            help="reverse proxies (e.g. 127.0.0.1, or 10.0.0.0/8) whose X-Forwarded-For names the client "
            "(default: none); env INCIDENTS_FORWARDED_ALLOW_IPS",
        )
        add_demo_options(command, flag=command is serve)

    notifier = commands.add_parser(
        "notifier", help="send notifications (Web Push, e-mail) in this process, at a lower priority"
    )
    notifier.add_argument("--backend", help=backend_help)
    notifier.add_argument(
        "--nice", type=int, help="lower the priority by this much; env INCIDENTS_NOTIFY_NICE"
    )
    notifier.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    notifier.add_argument("--parent-pid", type=int, help=argparse.SUPPRESS)  # stop when that process is gone
    notifier.add_argument("--owner", help=argparse.SUPPRESS)  # the leases' owner (the server's notifiers)

    operator = commands.add_parser("operator", help="manage operators")
    op_commands = operator.add_subparsers(dest="op_command", required=True)
    add = op_commands.add_parser("add", help="create an operator; prints its API token on stdout")
    add.add_argument("name")
    add.add_argument("--admin", action="store_true", help="may manage operators and webhooks")
    add.add_argument("--backend", help=backend_help)
    add.add_argument("--url", help="the address for the console link (default: INCIDENTS_PUBLIC_URL)")
    link = op_commands.add_parser(
        "link", help="a new one-time link for an operator to set a console password"
    )
    link.add_argument("name")
    link.add_argument("--backend", help=backend_help)
    link.add_argument("--url", help="the server's address (default: INCIDENTS_PUBLIC_URL)")

    from broadcaster.stores import transfer  # export, import, migrate (arguments defined there)

    transfer.add_parsers(commands, backend_help)
    return parser


def _settings(backend: str | None) -> Settings:
    if backend:
        os.environ["INCIDENTS_BACKEND"] = backend  # worker processes read it too
    return Settings()


LISTEN_BACKLOG = 8192


def serve(args: argparse.Namespace) -> int:
    if args.forwarded_allow_ips is not None:
        os.environ["INCIDENTS_FORWARDED_ALLOW_IPS"] = args.forwarded_allow_ips  # the workers' too
    settings = _settings(args.backend)
    if "public_url" not in settings.model_fields_set:  # development: the address served
        url = local_url(args.host, args.port)
        os.environ["INCIDENTS_PUBLIC_URL"] = url  # worker processes and the notifier read it too
        settings = settings.model_copy(update={"public_url": url})
    if args.workers > 1 and settings.backend.startswith("sqlite"):
        print(
            "incidents: --workers > 1 needs a shared backend: add --backend redis://HOST:PORT/0",
            file=sys.stderr,
        )
        return 2
    replay = None
    if args.demo:
        replay = start_demo(args, settings)
    host = f"[{args.host}]" if ":" in args.host else args.host
    logging.getLogger("incidents").info(
        "serving on http://%s:%d/ for %s (backend %s, %d worker%s)",
        host, args.port, settings.public_url, settings.backend, args.workers,
        "" if args.workers == 1 else "s",
    )  # fmt: skip
    child = None
    if settings.notify_process == "child":  # one for all the workers
        nice = str(settings.notify_nice)
        child = NotifierChild([sys.executable, "-c", NOTIFIER_CODE, nice, "notifier", "--nice", "0",
                               "--log-level", args.log_level])  # fmt: skip
        child.start()
    try:
        _run_uvicorn(args)
    finally:
        if child is not None:
            child.stop()
    return replay.finish() if replay else 0


NOTIFIER_CODE = (
    "import os, sys; os.nice(int(sys.argv[1])); "
    "from broadcaster.cli import main; sys.exit(main(sys.argv[2:]))"
)
"""``incidents notifier`` with this interpreter, at a lower priority from its first instruction
(importing costs CPU too); the backend and the other settings come in the environment."""


def _run_uvicorn(args: argparse.Namespace) -> None:
    import uvicorn

    uvicorn.run(
        "broadcaster.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        # Live sockets are written straight to their transports (see web/livesocket.py).
        ws="broadcaster.live.socket:LiveSocket",
        ws_per_message_deflate=False,  # would compress the same bytes once per connection
        log_level=args.log_level,
        access_log=args.log_level == "debug",
        timeout_graceful_shutdown=5,
        # A whole neighbourhood reconnecting at once: connections wait in the kernel's
        # queue instead of being dropped (it is capped by net.core.somaxconn).
        backlog=LISTEN_BACKLOG,
        # X-Forwarded-For is believed only from INCIDENTS_FORWARDED_ALLOW_IPS, by the app itself
        # (web/forwarded.py, also for the live sockets); uvicorn's own would trust loopback.
        proxy_headers=False,
    )


def notifier(args: argparse.Namespace) -> int:
    settings = _settings(args.backend)
    logging.getLogger().setLevel(args.log_level.upper())
    nice = settings.notify_nice if args.nice is None else args.nice
    return notifier_main(settings, nice, args.parent_pid, args.owner)


async def _operator_command(args: argparse.Namespace) -> int:
    settings = _settings(args.backend)
    backend = open_backend(settings.backend)
    try:
        await backend.start()
        if args.op_command == "add":
            operator, token = await add_operator(backend, args.name, args.admin)
        else:
            doc = await accounts.find_by_name(backend, args.name)
            if doc is None:
                raise ValueError(f"no operator named {args.name!r}")
            operator, token = Operator(doc.value["id"], doc.value["name"], bool(doc.value["admin"])), None
        secret = await accounts.new_setup_link(backend, operator.id)
    except (ValueError, BackendError) as exc:
        print(f"incidents: {exc}", file=sys.stderr)
        return 1
    finally:
        await backend.close()
    link = f"{(args.url or settings.public_url).rstrip('/')}/console/setup/{secret}"
    if token is not None:
        role = "admin" if operator.admin else "operator"
        print(
            f"created {role} {operator.name!r} (id {operator.id}); API token (shown once):", file=sys.stderr
        )
        print(token)
    print(f"console: {operator.name} sets a password at {link} (one use, 48 hours)", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, stream=sys.stderr)
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        if args.command in ("serve", "demo"):
            args.demo = args.command == "demo" or args.demo
            check_demo_options(parser, args)
            return serve(args)
        if args.command == "notifier":
            return notifier(args)
        if args.command in ("export", "import", "migrate"):
            from broadcaster.stores import transfer

            return transfer.main(args)
        return asyncio.run(_operator_command(args))
    except ValueError as exc:  # e.g. an unknown backend URL
        print(f"incidents: {exc}", file=sys.stderr)
        return 2
