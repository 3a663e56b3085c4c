"""``incidents demo``: the 2010 文化路 water-main burst replayed as a live exercise broadcast.

The demo runs as a real process (the installed command) on a temporary SQLite file and a free
port, with a high ``--speed`` and ``--exit-when-done``; then a server on the same file is asked,
through the public API, what the demo left behind.
"""

from __future__ import annotations

import itertools
import json
import re
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.redis_server import free_port
from tests.support.server import CHECKOUT, ServerProcess, incidents_command, scaled

pytestmark = pytest.mark.slow

SPEED = "3600"  # an hour of the story a second: the ~10 story hours in about 11 s
FIRST = "据了解，自来水公司领导和工作人员已前往现场，正在全力抢修。"
SECOND = (
    "市委、市政府领导高度重视，要求郑州自来水总公司迅速全力以赴排查漏点，及时抢修，克服一切困难，"
    "尽最大努力缩短居民停水时间。中法原水厂有限公司已采取了紧急措施。"
)
QUESTION = "东风路小区什么时候能来水？"
NO_QUESTIONS_API = "this server has no readers' questions API"


def demo(backend: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    command = [*incidents_command(), "demo", "--port", str(free_port()), "--backend", backend,
               "--log-level", "warning", *args]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=scaled(120))


def time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def questions_api_documented() -> bool:
    """Whether the manual names the readers' questions API (tests/test_docs.py makes it name every
    route), so that the app losing it in a merge fails here instead of passing as "not built"."""
    answer = re.compile(r"/api/incidents/\{\w*\}/questions/\{\w*\}/answer")
    return any(answer.search(page.read_text()) for page in (CHECKOUT / "docs").glob("*.md"))


@pytest.fixture(scope="module")
def store() -> Iterator[tuple[str, Path]]:
    with tempfile.TemporaryDirectory(prefix="incidents-demo-") as folder:
        yield f"sqlite:///{folder}/demo.db", Path(folder)


@pytest.fixture(scope="module")
def first_run(store: tuple[str, Path]) -> subprocess.CompletedProcess[str]:
    backend, folder = store
    return demo(backend, "--speed", SPEED, "--exit-when-done", cwd=folder)


def read(backend: str) -> dict[str, Any]:
    """The store seen through the API: ``incidents``, the newest one's ``snapshot``, ``events``
    and timeline ``pages`` (zh-CN, en), and the ``paths`` of the server's OpenAPI schema."""
    with ServerProcess(backend) as server:
        incidents = httpx.get(f"{server.url}/api/incidents").json()["incidents"]
        at = f"{server.url}/api/incidents/{incidents[0]['id']}"
        pages = {
            lang: httpx.get(f"{server.url}/incidents/{incidents[0]['id']}", headers={"Accept-Language": lang})
            for lang in ("zh-CN", "en")
        }
        return {
            "incidents": incidents,
            "snapshot": httpx.get(at).json(),
            "events": httpx.get(f"{at}/events?limit=1000").json()["events"],
            "pages": {lang: page.text for lang, page in pages.items() if page.status_code == 200},
            "paths": list(httpx.get(f"{server.url}/openapi.json").json()["paths"]),
        }


def test_the_demo_runs_to_a_resolved_exercise_with_the_seeds_notices(
    first_run: subprocess.CompletedProcess[str], store: tuple[str, Path]
) -> None:
    out = first_run.stdout
    assert out.splitlines()[0].startswith("open http://127.0.0.1:") and out.splitlines()[0].endswith(
        "/ and watch"
    ), out
    assert "notice 4 of 4 posted" in out and "incident resolved" in out, out + first_run.stderr

    seen = read(store[0])
    incidents, snapshot, events = seen["incidents"], seen["snapshot"], seen["events"]
    assert len(incidents) == 1
    incident = snapshot["incident"]
    assert incident["state"] == "resolved"
    assert incident["resolution"].startswith("【演练】")
    assert incident["exercise"] is True
    assert incident["lang"] == "zh-CN"
    assert "演练" in incident["title"] and "演练" in incident["summary"]
    assert incident["area"] == "文化路（花园路—东风路段）"
    assert incident["area_shape"] == {"type": "circle", "center": [34.79, 113.665], "radius_km": 1.2}
    assert "绕行文化路" in incident["instruction"] and "应急供水车" in incident["instruction"]

    # The expected restoration was set, then revised (the page says "revised from ...").
    (change,) = incident["restoration_changes"]
    assert time(change["before"]) < time(change["after"]) == time(incident["expected_restoration"])

    # The four notices in order, the two quoted ones word for word, each but the last with a
    # promise of the next that the next kept (at this speed, within a few seconds).
    # (A public answer to a reader's question is folded as an update too, carrying the question.)
    updates = [update for update in reversed(snapshot["updates"]) if not update.get("question")]
    assert len(updates) == 4
    bodies = [update["body"] for update in updates]
    assert FIRST in bodies[0] and SECOND in bodies[1]
    assert "干管" in bodies[2] and "应急供水" in bodies[2] and "恢复正常供水" in bodies[3]
    assert all(body.startswith("【演练】") for body in bodies)
    assert all(update["translations"]["en"]["body"].startswith("[Exercise]") for update in updates)
    for before, after in itertools.pairwise(updates):
        promise = time(before["next_update_at"])
        assert time(before["published_at"]) < promise
        assert abs(time(after["published_at"]) - promise) < timedelta(seconds=3), (before, after)
    assert updates[-1]["next_update_at"] is None

    # Key facts were revised as the notices came: the restoration and the water point are there.
    labels = {fact["label"] for fact in snapshot["facts"]}
    assert {"预计恢复供水", "应急供水点"} <= labels
    facts_events = [event for event in events if event["type"] == "facts.changed"]
    assert len(facts_events) == 5
    assert any("停水区域" in json.dumps(e["data"], ensure_ascii=False) for e in facts_events)
    assert events[-1]["type"] == "incident.resolved"

    # The pages say it is a drill, in both languages.
    assert 'class="exercise"' in seen["pages"]["zh-CN"] and "演练" in seen["pages"]["zh-CN"]
    assert 'class="exercise"' in seen["pages"]["en"] and "EXERCISE" in seen["pages"]["en"]

    # The reader's question, answered in public: once the questions API is in this build.
    has_api = any(path.endswith("/questions") for path in seen["paths"])
    assert has_api == questions_api_documented(), "docs/ and the app disagree on the questions API"
    if has_api:
        assert first_run.returncode == 0, out + first_run.stderr
        answered = [e for e in events if e["type"] == "question.answered"]
        assert len(answered) == 1, [e["type"] for e in events]
        text = json.dumps(answered[0]["data"], ensure_ascii=False)
        assert QUESTION in text and "应急供水车" in text
        (answer,) = [update for update in snapshot["updates"] if update.get("question")]
        assert answer["question"] == QUESTION and "应急供水车" in answer["body"]
    else:  # the step fails clearly, the exit code says so, and the broadcast still ends resolved
        assert first_run.returncode == 1, out + first_run.stderr
        assert NO_QUESTIONS_API in out
        assert out.count("demo FAILED") == 2, out


def test_a_second_run_opens_a_second_incident(
    first_run: subprocess.CompletedProcess[str], store: tuple[str, Path]
) -> None:
    assert "incident resolved" in first_run.stdout
    backend, folder = store
    again = demo(backend, "--speed", "36000", "--exit-when-done", cwd=folder)
    assert "incident resolved" in again.stdout, again.stdout + again.stderr
    seen = read(backend)
    assert [inc["state"] for inc in seen["incidents"]] == ["resolved", "resolved"]
    assert seen["incidents"][0]["id"] != seen["incidents"][1]["id"]
    assert seen["snapshot"]["incident"]["exercise"] is True
    assert len([u for u in seen["snapshot"]["updates"] if not u.get("question")]) == 4


@pytest.mark.parametrize("speed", ["0", "-5", "fast", "inf"])
def test_a_speed_not_above_zero_is_refused(speed: str, tmp_path: Path) -> None:
    done = demo(f"sqlite:///{tmp_path}/never.db", f"--speed={speed}", cwd=tmp_path)
    assert done.returncode == 2
    assert "--speed" in done.stderr and "> 0" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "never.db").exists()  # refused before anything was made


def test_serve_takes_the_demo_options_only_with_demo(tmp_path: Path) -> None:
    command = [*incidents_command(), "serve", "--speed", "10", "--backend", f"sqlite:///{tmp_path}/x.db"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=scaled(60))
    assert done.returncode == 2
    assert "--demo" in done.stderr


def test_serve_demo_is_the_demo(tmp_path: Path) -> None:
    backend = f"sqlite:///{tmp_path}/serve.db"
    command = [*incidents_command(), "serve", "--demo", "--speed", "36000", "--exit-when-done",
               "--port", str(free_port()), "--backend", backend, "--log-level", "warning"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=scaled(120))
    assert "open http://127.0.0.1:" in done.stdout and "incident resolved" in done.stdout, done.stderr
    incidents = read(backend)["incidents"]
    assert len(incidents) == 1 and incidents[0]["exercise"] is True
