"""Peer 3, the floor: a bare ``websockets`` (asyncio) server using ``websockets.broadcast()``.

No application logic: a set of connections per topic and one ``broadcast`` call per
message. Publishing comes over a minimal HTTP/1.1 side channel on ``--http-port``
(``websockets`` answers GET only): ``POST /publish/{topic}`` and ``GET /stats``.
uvloop when installed (the floor is the best plain Python can do here).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import args, message, raise_fd_limit
from websockets.asyncio.server import ServerConnection, broadcast, serve

topics: dict[str, set[ServerConnection]] = defaultdict(set)
seqs: dict[str, int] = defaultdict(int)


async def handler(connection: ServerConnection) -> None:
    topic = connection.request.path.rsplit("/", 1)[-1] if connection.request else "t"
    members = topics[topic]
    members.add(connection)
    try:
        await connection.wait_closed()
    finally:
        members.discard(connection)


def respond(writer: asyncio.StreamWriter, status: int, value: object) -> None:
    body = json.dumps(value).encode()
    writer.write(
        b"HTTP/1.1 %d OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (status, len(body), body)
    )


async def side_channel(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            if method == "POST" and path.startswith("/publish/"):
                topic = path.rsplit("/", 1)[-1]
                seqs[topic] += 1
                seq = seqs[topic]
                broadcast(topics[topic], message(topic, seq, int(json.loads(body)["size"])))
                respond(writer, 200, {"seq": seq})
            elif path == "/stats":
                respond(writer, 200, {"subscribers": sum(len(s) for s in topics.values()), "seqs": seqs})
            else:
                respond(writer, 404, {"detail": "not found"})
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main(host: str, port: int, http_port: int) -> None:
    side = await asyncio.start_server(side_channel, host, http_port)
    # backlog as uvicorn's default (asyncio's is 100); no compression, as for every server here.
    async with serve(handler, host, port, compression=None, backlog=2048), side:
        await asyncio.Future()


if __name__ == "__main__":
    options = args(__doc__ or "")
    raise_fd_limit()
    try:
        import uvloop

        run = uvloop.run
    except ImportError:
        run = asyncio.run
    with contextlib.suppress(KeyboardInterrupt):
        run(main(options.host, options.port, options.http_port or options.port + 1))
