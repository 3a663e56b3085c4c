"""This process's hub (``app.state``), as a dependency alias."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from broadcaster.live.hub import Hub


async def _hub(request: HTTPConnection) -> Hub:
    hub: Hub = request.app.state.hub
    return hub


HubDep = Annotated[Hub, Depends(_hub)]
