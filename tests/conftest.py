"""Fixtures: a real redis-server and real server processes, started per session."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from broadcaster.stores import open_backend
from broadcaster.stores.base import Backend
from tests.support.client import Api
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess, add_operator, ensure_installed

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_sessionstart(session: pytest.Session) -> None:
    ensure_installed()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    # In CI nothing may be skipped: a skip there hides a missing dependency.
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if IN_CI and skipped and session.exitstatus == 0:
        reporter.write_line(f"CI: {skipped} test(s) skipped; nothing may be skipped in CI", red=True)
        session.exitstatus = 1


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with RedisServer(appendonly=True) as server:
        yield server


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    path: Path = tmp_path_factory.mktemp("store") / "incidents.db"
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def sqlite_token(sqlite_url: str) -> str:
    return add_operator(sqlite_url, "ZZIC")


@pytest.fixture(scope="session")
def sqlite_server(sqlite_url: str, sqlite_token: str) -> Iterator[ServerProcess]:
    with ServerProcess(sqlite_url) as server:
        yield server


@pytest.fixture
async def api(sqlite_server: ServerProcess, sqlite_token: str) -> AsyncIterator[Api]:
    client = Api(sqlite_server.url, sqlite_token)
    yield client
    await client.aclose()


@pytest.fixture(params=["sqlite", "redis"])
async def backends(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[tuple[Backend, Backend]]:
    """Two connections to one store (SQLite, then Redis), as two server processes would have."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        url = server.url
    one, two = open_backend(url), open_backend(url)
    await one.start()
    await two.start()
    yield one, two
    await one.close()
    await two.close()
