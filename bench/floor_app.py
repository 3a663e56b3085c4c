"""The read path's floor: Starlette under uvicorn serving the product's own bytes from memory.

``python -m bench.floor_app SPEC.json --port P``. ``SPEC.json`` (written by bench/reads.py) has, per path,
the status, the headers worth repeating (content type, ETag, Cache-Control, Vary, encoding) and the
body (base64) the product answered, and optionally an ``encoded`` variant: what the product answered
to ``Accept-Encoding: gzip, br``. The floor answers a matching ``If-None-Match`` with 304, like any
server with an ETag would. uvicorn runs with the product's ``serve`` options where they matter: one
process, uvicorn's automatic loop and HTTP implementation (uvloop and httptools when installed), no
access log, the same listen backlog.
"""

from __future__ import annotations

import argparse
import base64
import json
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

LISTEN_BACKLOG = 8192  # as broadcaster/cli.py's serve


class Representation:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.status = int(spec["status"])
        self.headers: dict[str, str] = dict(spec["headers"])
        self.body = base64.b64decode(spec["body"])
        self.media_type = self.headers.pop("content-type", None)
        self.etag = self.headers.get("etag")


class Resource:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.plain = Representation(spec)
        encoded = spec.get("encoded")
        self.encoded = Representation(encoded) if encoded else None
        self.coding = self.encoded.headers.get("content-encoding", "") if self.encoded else ""

    def pick(self, request: Request) -> Representation:
        if self.encoded is not None and self.coding in request.headers.get("accept-encoding", ""):
            return self.encoded
        return self.plain

    async def handle(self, request: Request) -> Response:
        chosen = self.pick(request)
        if chosen.etag and chosen.etag in request.headers.get("if-none-match", ""):
            keep = {k: v for k, v in chosen.headers.items() if k in ("etag", "cache-control", "vary")}
            return Response(status_code=304, headers=keep)
        return Response(
            chosen.body, status_code=chosen.status, headers=chosen.headers, media_type=chosen.media_type
        )


def app_from(spec: dict[str, Any]) -> Starlette:
    routes = [
        Route(path, Resource(item).handle, methods=["GET", "HEAD"]) for path, item in spec["paths"].items()
    ]
    return Starlette(routes=routes)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m bench.floor_app")
    p.add_argument("spec", type=Path)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    o = p.parse_args(argv)
    from bench.procs import die_with_parent

    die_with_parent()
    import uvicorn

    uvicorn.run(
        app_from(json.loads(o.spec.read_text())),
        host=o.host,
        port=o.port,
        workers=1,
        loop="auto",
        http="auto",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
        backlog=LISTEN_BACKLOG,
    )


if __name__ == "__main__":
    main()
