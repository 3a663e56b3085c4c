"""schemathesis over the running server's ``/openapi.json``: every operation, fuzzed.

A real server on a fresh SQLite file. Every operation of the schema gets generated
requests, valid and invalid (schemathesis' positive and negative modes), once with an
operator's token and once without. Two checks: no answer is a 5xx, and every answer
conforms to the schema the operation declares for its status (where it declares one).

With the token, about half of the generated requests name a real incident, update and
draft instead of the generated id, so that fuzzed bodies reach the rules behind the
404. The SSE stream is the exception: for a real incident it never ends.

Then schemathesis' coverage phase: the deterministic edge cases of every parameter and
body (each bound and one past it, missing and extra fields, wrong types).

Bounded and reproducible: ``derandomize=True`` and a fixed number of examples per
operation (``INCIDENTS_FUZZ_EXAMPLES``, default 30); no Hypothesis database is written.
Reproduce: ``.venv/bin/pytest -q tests/test_schema_fuzz.py``. To explore further, with a
new seed each run: ``INCIDENTS_FUZZ_RANDOM=1 INCIDENTS_FUZZ_EXAMPLES=300``.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

from broadcaster.app import create_app
from broadcaster.config import Settings
from tests.support.server import ServerProcess, add_operator, scaled

EXAMPLES = int(os.environ.get("INCIDENTS_FUZZ_EXAMPLES", "30"))


def no_server_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """``not_a_server_error``, except the one 5xx a protocol asks for: oEmbed 1.0 (2.3.4)
    answers 501 Not Implemented for a ``format`` the provider does not offer (only json)."""
    asked = (case.query or {}).get("format")
    if case.operation.path == "/oembed" and response.status_code == 501 and asked not in (None, "", "json"):
        return None
    result: bool | None = not_a_server_error(ctx, response, case)
    return result


CHECKS = [no_server_error, response_schema_conformance]
NEVER_ENDS = {"/api/incidents/{incident_id}/stream"}  # for a real incident: an endless stream
FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=os.environ.get("INCIDENTS_FUZZ_RANDOM") is None,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@dataclass(frozen=True)
class Target:
    server: ServerProcess
    token: str
    real: dict[str, str]  # path parameter -> an id that exists


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    path: Path = tmp_path_factory.mktemp("fuzz") / "incidents.db"
    backend = f"sqlite:///{path}"
    token = add_operator(backend, "fuzz")
    # Fuzzed webhook URLs lead nowhere: give up on each quickly.
    with ServerProcess(backend, env={"INCIDENTS_WEBHOOK_TIMEOUT": "1"}) as server:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {token}"}, timeout=scaled(20)
        ) as http:
            incident = http.post("/api/incidents", json={"title": "文化路自来水爆管"}).json()["id"]
            update = http.post(f"/api/incidents/{incident}/updates", json={"body": "抢修中"})
            draft = http.post(f"/api/incidents/{incident}/drafts", json={"body": "草稿"})
            real = {
                "incident_id": incident,
                "update_id": update.json()["update"]["id"],
                "sid": draft.json()["scheduled"]["id"],
            }
        yield Target(server, token, real)
    assert "Traceback" not in server.log(), server.log()[-5000:]  # nothing crashed, even quietly


@pytest.fixture(scope="module")
def api_schema(target: Target) -> Any:
    """The schema as the running server serves it: what the requests are generated from."""
    return schemathesis.openapi.from_url(f"{target.server.url}/openapi.json")


def operations() -> list[tuple[str, str]]:
    """Every operation, to name the tests (collection happens before any server runs;
    ``test_the_served_schema_is_the_one_the_tests_enumerate`` checks it is the same)."""
    spec = create_app(Settings(backend="sqlite:///unused.db")).openapi()
    return [(method.upper(), path) for path, ops in spec["paths"].items() for method in ops]


OPERATIONS = operations()


def aim_at_real_ids(case: Any, target: Target) -> None:
    """For about half of the cases (chosen by the generated value: reproducible), name
    what exists, so the fuzzed body meets the rules instead of a 404."""
    if case.operation.path in NEVER_ENDS or not case.path_parameters:
        return
    for name, value in list(case.path_parameters.items()):
        if name in target.real and zlib.crc32(repr(value).encode()) % 2 == 0:
            case.path_parameters[name] = target.real[name]


def test_the_served_schema_is_the_one_the_tests_enumerate(target: Target) -> None:
    served = httpx.get(f"{target.server.url}/openapi.json", timeout=scaled(20)).json()
    assert [(m.upper(), p) for p, ops in served["paths"].items() for m in ops] == OPERATIONS


def integers(schema: Any) -> Iterator[dict[str, Any]]:
    """The integer schemas inside ``schema`` (through anyOf and the like)."""
    if isinstance(schema, dict):
        if schema.get("type") == "integer":
            yield schema
        for value in schema.values():
            yield from integers(value)
    elif isinstance(schema, list):
        for value in schema:
            yield from integers(value)


def test_every_integer_parameter_has_a_maximum(target: Target) -> None:
    """A number past what the store keeps (64 bits) was a 500; with a maximum it is a 422,
    and the boundary cases below probe one past it."""
    served = httpx.get(f"{target.server.url}/openapi.json", timeout=scaled(20)).json()
    unbounded = [
        f"{method.upper()} {path} {parameter['name']}"
        for path, ops in served["paths"].items()
        for method, op in ops.items()
        for parameter in op.get("parameters", [])
        for found in integers(parameter.get("schema"))
        if "maximum" not in found and "exclusiveMaximum" not in found
    ]
    assert not unbounded


@pytest.mark.parametrize(
    "path",
    [
        "/api/incidents/{incident_id}/events?since=9223372036854775808",
        "/api/incidents/{incident_id}/stream?since=9223372036854775808",
        "/api/audit?before=9223372036854775808",
    ],
)
def test_numbers_past_64_bits_are_a_422(target: Target, path: str) -> None:
    headers = {"Authorization": f"Bearer {target.token}"}
    url = target.server.url + path.format(**target.real)
    answer = httpx.get(url, headers=headers, timeout=scaled(20))
    assert answer.status_code == 422, answer.text


@pytest.mark.parametrize("authorized", [True, False], ids=["token", "no-token"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_fuzzed_requests_get_no_5xx_and_answers_match_the_schema(
    api_schema: Any, target: Target, method: str, path: str, authorized: bool
) -> None:
    operation = api_schema[path][method]
    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
    )
    headers = {"Authorization": f"Bearer {target.token}"} if authorized else {}

    @FUZZ
    @given(case=cases)
    def fuzz(case: Any) -> None:
        if authorized:
            aim_at_real_ids(case, target)
        case.call_and_validate(headers=headers, checks=CHECKS, timeout=scaled(15))

    fuzz()


@pytest.mark.parametrize("authorized", [True, False], ids=["token", "no-token"])
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_boundary_cases_get_no_5xx_and_answers_match_the_schema(
    api_schema: Any, target: Target, method: str, path: str, authorized: bool
) -> None:
    """schemathesis' coverage phase: deterministic edge cases of every parameter and body
    (each constraint's boundary and one past it, missing and extra fields, wrong types)."""
    operation = api_schema[path][method]
    headers = {"Authorization": f"Bearer {target.token}"} if authorized else {}
    cases = api_schema.iter_coverage_cases(
        operation, generation_modes=list(GenerationMode), generation_config=api_schema.config.generation
    )
    failures = []
    for case in cases:
        if authorized:
            aim_at_real_ids(case, target)
        try:
            case.call_and_validate(headers=headers, checks=CHECKS, timeout=scaled(15))
        except FailureGroup as exc:  # every failing case is reported, not only the first
            failures.append(f"{case.method} {case.formatted_path}: {exc}\n{exc.exceptions}")
    assert not failures, "\n\n".join(failures)
