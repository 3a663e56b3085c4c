"""Reference servers the product is measured against, run from bench/.venv-peers.

Each offers a WebSocket ``/ws/{topic}`` (socket.io: ``/socket.io/?EIO=4&transport=websocket&topic=T``),
``POST /publish/{topic}`` with ``{"size": BYTES}`` answering ``{"seq": N}``, and
``GET /stats`` answering ``{"subscribers": N}``.
"""
