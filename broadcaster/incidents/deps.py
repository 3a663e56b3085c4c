"""The publisher of this app (``app.state``), as a dependency alias."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from starlette.requests import HTTPConnection

from broadcaster.incidents.publishing import Publisher


async def _publisher(request: HTTPConnection) -> Publisher:
    publisher: Publisher = request.app.state.publisher
    return publisher


PublisherDep = Annotated[Publisher, Depends(_publisher)]
