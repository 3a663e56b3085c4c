"""Live delivery: the hub (one upstream per process, bytes to every reader), WebSocket, SSE and polling."""
