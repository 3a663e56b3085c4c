"""Errors as pages: a reader's browser gets a short page in its language with a way on;
an API client, a feed reader or a script gets the JSON ``{"detail": ...}`` it always got.

A request wants a page when it asks for HTML (``Accept: text/html``, as every browser's
navigation and form submission does) on a path that is not an API, operations or file
path. The status code is the same either way.
"""

from __future__ import annotations

from collections.abc import Mapping

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.types import Scope

from broadcaster.config import Settings
from broadcaster.web.rendering import render

NOT_PAGES = ("/api/", "/static/", "/media/", "/metrics", "/healthz", "/readyz", "/openapi.json", "/docs")
SHOWN = {400, 403, 404, 405, 409, 413, 415, 422, 429, 500, 503}
"""Statuses the page explains in its own words; any other 4xx is shown as 400's page."""


def wants_page(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    if path.startswith(NOT_PAGES):
        return False
    for name, value in scope.get("headers", []):
        if name == b"accept":
            return b"text/html" in value
    return False


def error_response(
    request: Request,
    status: int,
    detail: str,
    headers: Mapping[str, str] | None = None,
    *,
    retry_after: int | None = None,
    limit_bytes: int | None = None,
) -> Response:
    """The error as a page when the request wants one, else as JSON."""
    if not wants_page(request.scope):
        return JSONResponse({"detail": detail}, status, dict(headers or {}))
    return error_page(request, status, retry_after=retry_after, limit_bytes=limit_bytes, headers=headers)


def error_page(
    request: Request,
    status: int,
    *,
    retry_after: int | None = None,
    limit_bytes: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """The page for ``status``: what happened in plain words, whether anything was lost,
    and links on. The technical detail is not shown (it is English and may name internals)."""
    settings: Settings = request.app.state.settings
    shown = status if status in SHOWN else (500 if status >= 500 else 400)
    context = {
        "status": shown,
        "retry_after": retry_after,
        "limit_mb": None if limit_bytes is None else _megabytes(limit_bytes),
        "console": request.url.path.startswith("/console"),
        "back": request.method != "GET",
    }
    response = render(request, "error.html", context, settings, status=status)
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _megabytes(limit: int) -> int:
    return max(1, limit // 2**20)


def too_large_page(scope: Scope, limit: int) -> bytes | None:
    """The 413 page's body for :class:`~broadcaster.web.limits.BodyLimit`, or None when
    the request does not want a page (or the app is not set up to render one). ``limit`` is
    the limit as the reader should hear it (the app says which)."""
    if not wants_page(scope) or "app" not in scope:
        return None
    request = Request(scope)
    if getattr(request.app.state, "settings", None) is None:
        return None
    return bytes(error_page(request, 413, limit_bytes=limit).body)
