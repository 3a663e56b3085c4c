"""The manual in ``docs/`` names every route of the app and every ``INCIDENTS_*`` setting.

The lists come from the app and from :class:`broadcaster.config.Settings`, so a route or a
setting added later fails here until a line in ``docs/`` says what it does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from broadcaster.config import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs"
# FastAPI's own pages: the OpenAPI schema and its two viewers. They describe the API rather
# than belong to it (docs/api.md names /docs and /openapi.json, but need not name the others).
GENERATED = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
PARAMETER = re.compile(r"\{\w*\}")
# A path is written in the docs when it stands alone: not part of a longer path or URL.
BEFORE, AFTER = r"(?<![\w/{}.:-])", r"(?![\w/{}.-])"


def docs_text() -> str:
    return "\n".join(page.read_text() for page in sorted(DOCS.glob("*.md")))


def flatten(found: list[Any], prefix: str = "") -> Iterator[str]:
    for route in found:
        inner = getattr(route, "original_router", None)  # an included router (newer FastAPI keeps them)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from flatten(inner.routes, prefix + getattr(context, "prefix", ""))
        elif isinstance(getattr(route, "path", None), str):
            yield prefix + route.path  # HTTP and WebSocket routes, and mounts (/static)


def route_paths(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> set[str]:
    # Building the app opens no store (that happens at start-up), but it reads the settings.
    monkeypatch.setenv("INCIDENTS_BACKEND", f"sqlite:///{tmp_path}/never-opened.db")
    import incidents  # the entry point builds ``app`` on first use

    return set(flatten(incidents.app.routes)) - GENERATED


def setting_names() -> set[str]:
    prefix = str(Settings.model_config.get("env_prefix", "")).upper()
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias or field.alias
        choices = getattr(alias, "choices", [alias])  # AliasChoices, a plain alias, or none
        plain = [choice.upper() for choice in choices if isinstance(choice, str)]
        names |= set(plain) or {prefix + name.upper()}
    return names


def normalised(path: str) -> str:
    """``/api/incidents/{incident_id}`` and ``/api/incidents/{id}`` are the same route."""
    return PARAMETER.sub("{}", path)


def undocumented(paths: set[str], text: str) -> list[str]:
    text = normalised(text)
    return sorted(path for path in paths if not re.search(BEFORE + re.escape(normalised(path)) + AFTER, text))


def test_the_lists_are_read() -> None:
    assert "INCIDENTS_BACKEND" in setting_names()
    assert len(setting_names()) >= 20
    assert undocumented({"/api/incidents/{incident_id}/live"}, "`/api/incidents/{id}/live?since=N`") == []
    assert undocumented({"/reports"}, "`/reports/new`") == ["/reports"]
    assert undocumented({"/"}, "http://127.0.0.1:8000/") == ["/"]


def test_every_route_is_in_the_docs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    paths = route_paths(monkeypatch, tmp_path)
    assert {"/", "/api/incidents/{incident_id}/live", "/static", "/healthz"} <= paths, sorted(paths)
    missing = undocumented(paths, docs_text())
    assert missing == [], "routes of the app that no page of docs/ names:\n" + "\n".join(missing)


def test_every_setting_is_in_the_docs() -> None:
    text = docs_text()
    missing = sorted(name for name in setting_names() if not re.search(rf"\b{name}\b", text))
    assert missing == [], "settings that no page of docs/ names:\n" + "\n".join(missing)
