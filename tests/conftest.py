"""Fixtures: a real redis-server and real server processes, started per session."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

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
