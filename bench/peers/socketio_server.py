"""Peer 2: python-socketio's ASGI server under uvicorn; each update is emitted to a room.

A client connects to ``/socket.io/?EIO=4&transport=websocket&topic=T`` and joins room
``T`` in the connect handler; ``POST /publish/{topic}`` emits an ``update`` event (a
dict) to the room. The publish/stats routes are a small Starlette app mounted behind.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path
from urllib.parse import parse_qs

sys.path.insert(0, str(Path(__file__).resolve().parent))

import socketio
import uvicorn
from common import args, message, raise_fd_limit
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

sio = socketio.AsyncServer(async_mode="asgi", logger=False, engineio_logger=False)
seqs: dict[str, int] = defaultdict(int)
subscribed = 0


@sio.event
async def connect(sid: str, environ: dict, auth: object = None) -> None:
    global subscribed
    topic = parse_qs(environ.get("QUERY_STRING", "")).get("topic", ["t"])[0]
    await sio.enter_room(sid, topic)
    subscribed += 1


@sio.event
async def disconnect(sid: str, *reason: object) -> None:
    global subscribed
    subscribed -= 1


async def publish(request: Request) -> JSONResponse:
    topic = request.path_params["topic"]
    body = await request.json()
    seqs[topic] += 1
    seq = seqs[topic]
    # Emitted as an object, the usual way: socket.io encodes the packet once per emit.
    await sio.emit("update", json.loads(message(topic, seq, int(body["size"]))), room=topic)
    return JSONResponse({"seq": seq})


async def stats(request: Request) -> JSONResponse:
    return JSONResponse({"subscribers": subscribed, "seqs": seqs})


http = Starlette(routes=[Route("/publish/{topic}", publish, methods=["POST"]), Route("/stats", stats)])
app = socketio.ASGIApp(sio, other_asgi_app=http)

if __name__ == "__main__":
    options = args(__doc__ or "")
    raise_fd_limit()
    uvicorn.run(app, host=options.host, port=options.port, log_level="warning", ws_per_message_deflate=False)
