"""Peer 1: encode/broadcaster (memory backend) + a Starlette WebSocket endpoint under uvicorn.

The usual recipe from broadcaster's README: per connection, one task reads the client
(to notice it leaving) while the endpoint iterates its broadcaster subscription and
calls ``send_text`` for every message.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from contextlib import asynccontextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import anyio
import uvicorn
from common import args, message, raise_fd_limit
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from broadcaster import Broadcast  # encode/broadcaster, from the peers' venv: not the product

broadcast = Broadcast("memory://")
seqs: dict[str, int] = defaultdict(int)
subscribed = 0


async def receiver(websocket: WebSocket) -> None:
    async for _ in websocket.iter_text():
        pass


async def sender(websocket: WebSocket, topic: str) -> None:
    global subscribed
    async with broadcast.subscribe(channel=topic) as subscriber:
        subscribed += 1
        try:
            async for event in subscriber:
                await websocket.send_text(event.message)
        finally:
            subscribed -= 1


async def live(websocket: WebSocket) -> None:
    topic = websocket.path_params["topic"]
    await websocket.accept()
    async with anyio.create_task_group() as group:

        async def run_receiver() -> None:
            await receiver(websocket)
            group.cancel_scope.cancel()

        group.start_soon(run_receiver)
        await sender(websocket, topic)


async def publish(request: Request) -> JSONResponse:
    topic = request.path_params["topic"]
    body = await request.json()
    seqs[topic] += 1
    seq = seqs[topic]
    await broadcast.publish(channel=topic, message=message(topic, seq, int(body["size"])))
    return JSONResponse({"seq": seq})


async def stats(request: Request) -> JSONResponse:
    return JSONResponse({"subscribers": subscribed, "seqs": seqs})


@asynccontextmanager
async def lifespan(app: Starlette):  # type: ignore[no-untyped-def]
    await broadcast.connect()
    try:
        yield
    finally:
        await broadcast.disconnect()


app = Starlette(
    routes=[
        WebSocketRoute("/ws/{topic}", live),
        Route("/publish/{topic}", publish, methods=["POST"]),
        Route("/stats", stats),
    ],
    lifespan=lifespan,
)

if __name__ == "__main__":
    options = args(__doc__ or "")
    raise_fd_limit()
    uvicorn.run(app, host=options.host, port=options.port, log_level="warning", ws_per_message_deflate=False)
