"""Moving and keeping data: ``incidents export``, ``import`` and ``migrate``, used as a user would.

A realistic SQLite store is built through a real server (updates, a correction, facts, a pin,
a photo, a resolved incident, a scheduled update, idempotency keys, two operators), then
exported, imported, and migrated SQLite -> Redis -> SQLite; the copies must hold the same
logs byte for byte, and a server on the migrated Redis must serve the same incident.
"""

from __future__ import annotations

import asyncio
import io
import json
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from redis import Redis as SyncRedis

from broadcaster.stores import open_backend
from broadcaster.stores.transfer.verify import Inventory, compare
from tests.support.client import Api, LiveReader
from tests.support.redis_server import RedisServer
from tests.support.server import ServerProcess, add_operator, incidents_command, scaled


def incidents(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*incidents_command(), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=scaled(120),
        cwd=tempfile.gettempdir(),
    )


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def jpeg() -> bytes:
    out = io.BytesIO()
    image = Image.new("RGB", (640, 480), (200, 40, 30))
    image.paste((20, 90, 200), (320, 0, 640, 480))
    image.save(out, "JPEG")
    return out.getvalue()


@dataclass
class Source:
    url: str
    path: Path
    token: str
    live: str  # an incident still live, with a photo, a correction, facts and a pin
    resolved: str
    photo: str
    snapshots: dict[str, str]  # GET /api/incidents/{id}, as the source server answered
    photo_bytes: bytes


async def build(base: str, token: str) -> dict[str, Any]:
    api = Api(base, token)
    try:
        live = await api.create("文化路自来水爆管", area="文化路 花园路-东风路段")
        first = await api.post(
            live,
            "自来水公司工作人员已前往现场，正在全力抢修。",
            key="first-notice",
            next_update_at=later(hours=2),
        )
        assert first.status_code == 201, first.text
        upload = await api.http.post("/api/photos", files={"file": ("scene.jpg", jpeg(), "image/jpeg")})
        assert upload.status_code == 201, upload.text
        photo = upload.json()["photo"]["id"]
        second = await api.post(live, "现场照片：抢修进行中 🚧 עברית e\u0301", photos=[photo], key="photo")
        assert second.status_code == 201, second.text
        first_id, second_id = first.json()["update"]["id"], second.json()["update"]["id"]
        answers = [
            await api.http.patch(
                f"/api/incidents/{live}/updates/{first_id}",
                json={"body": "自来水公司工作人员已到达现场。", "reason": "更正：已到达"},
            ),
            await api.http.put(
                f"/api/incidents/{live}/facts", json={"facts": [{"label": "影响范围", "value": "文化路沿线"}]}
            ),
            await api.http.post(f"/api/incidents/{live}/updates/{second_id}/pin"),
        ]
        resolved = await api.create("花园路停电", area="花园路")
        answers.append(await api.post(resolved, "供电公司正在抢修。"))
        answers.append(
            await api.http.post(f"/api/incidents/{resolved}/resolve", json={"reason": "已恢复供电"})
        )
        assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers]
        scheduled = await api.post(live, "预定的下一次更新", publish_at=later(days=1))
        assert scheduled.status_code == 202, scheduled.text
        snapshots = {i: (await api.http.get(f"/api/incidents/{i}")).text for i in (live, resolved)}
        media = await api.http.get(f"/media/{photo}.jpg")
        assert media.status_code == 200
        return {
            "live": live,
            "resolved": resolved,
            "photo": photo,
            "snapshots": snapshots,
            "photo_bytes": media.content,
        }
    finally:
        await api.aclose()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Source:
    path = tmp_path_factory.mktemp("transfer") / "source.db"
    url = f"sqlite:///{path}"
    token = add_operator(url, "ZZIC")
    add_operator(url, "值班员", admin=False)
    with ServerProcess(url) as server:
        built = asyncio.run(build(server.url, token))
    return Source(url=url, path=path, token=token, **built)


@pytest.fixture(scope="module")
def export_text(source: Source) -> str:
    done = incidents("export", "--backend", source.url)
    assert done.returncode == 0, done.stderr
    assert "export: " in done.stderr and " events in " in done.stderr
    return done.stdout


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    with RedisServer(appendonly=True) as server:
        yield server


def dump(path: Path) -> dict[str, Any]:
    """Everything in a SQLite store, in a stable order (claims excepted)."""
    db = sqlite3.connect(path)
    try:
        return {
            "logs": db.execute("SELECT log, kind, head FROM logs ORDER BY created, log").fetchall(),
            "created": dict(db.execute("SELECT log, created FROM logs").fetchall()),
            "events": db.execute("SELECT log, seq, text FROM events ORDER BY log, seq").fetchall(),
            "idem": db.execute("SELECT log, key, seq FROM idem ORDER BY log, key").fetchall(),
            "docs": {key: json.loads(body) for key, body in db.execute("SELECT key, body FROM docs")},
            "blobs": db.execute("SELECT key, type, data FROM blobs ORDER BY key").fetchall(),
        }
    finally:
        db.close()


def assert_same_store(copy: Path, original: Path, *, created_exact: bool) -> None:
    want, got = dump(original), dump(copy)
    for part in ("logs", "events", "idem", "docs", "blobs"):
        assert got[part] == want[part], part
    for log, created in want["created"].items():
        assert got["created"][log] == pytest.approx(created, abs=0 if created_exact else 1e-6)


def test_the_source_is_realistic(source: Source) -> None:
    store = dump(source.path)
    kinds = {kind for _, kind, _ in store["logs"]}
    assert {"incident", "audit", "schedules"} <= kinds
    types = {json.loads(text)["type"] for _, _, text in store["events"]}
    assert {
        "update.posted",
        "update.corrected",
        "facts.changed",
        "update.pinned",
        "incident.resolved",
    } <= types
    assert any(key.endswith(":first-notice") for _, key, _ in store["idem"])
    assert {f"photo:{source.photo}", f"photo:{source.photo}:thumb"} <= {key for key, _, _ in store["blobs"]}
    assert {"operators", f"photo:{source.photo}"} <= set(store["docs"])


def test_export_is_json_lines_with_a_header_exact_event_texts_and_an_end(
    source: Source, export_text: str
) -> None:
    records = [json.loads(line) for line in export_text.splitlines()]
    header, end = records[0], records[-1]
    assert header["format"] == "incidents-export" and header["version"] == 1
    assert header["source"] == source.url and header["exported_at"].endswith("Z")
    assert {"incident", "audit", "schedules"} <= set(header["kinds"])
    texts = [(r["event"], r["seq"], r["text"]) for r in records if "event" in r]
    assert sorted(texts) == dump(source.path)["events"]
    assert end == {
        "end": {
            "logs": sum("log" in r for r in records),
            "events": len(texts),
            "docs": sum("doc" in r for r in records),
            "blobs": sum("blob" in r for r in records),
        }
    }


def test_export_then_import_into_a_fresh_sqlite_gives_the_same_store(
    source: Source, export_text: str, tmp_path: Path
) -> None:
    target = tmp_path / "copy.db"
    done = incidents("import", "--backend", f"sqlite:///{target}", stdin=export_text)  # from stdin
    assert done.returncode == 0, done.stderr
    assert "import: verified" in done.stdout
    for kind in ("incident", "audit", "schedules", "documents", "blobs"):
        assert any(line.startswith(kind) and line.endswith("ok") for line in done.stdout.splitlines()), kind
    assert_same_store(target, source.path, created_exact=True)

    # And through a file, with --output / --input.
    exported, again = tmp_path / "export.jsonl", tmp_path / "again.db"
    assert incidents("export", "--backend", source.url, "--output", str(exported)).returncode == 0
    assert not (tmp_path / "export.jsonl.partial").exists()
    done = incidents("import", "--backend", f"sqlite:///{again}", "--input", str(exported))
    assert done.returncode == 0, done.stderr
    assert_same_store(again, source.path, created_exact=True)


async def test_migrate_sqlite_to_redis_and_back_and_serve_from_redis(
    source: Source, redis: RedisServer, tmp_path: Path
) -> None:
    done = incidents("migrate", "--from", source.url, "--to", redis.url)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "migrate: verified" in done.stdout
    table = done.stdout.splitlines()
    for kind in ("incident", "audit", "schedules", "documents", "blobs"):
        assert any(line.startswith(kind) and line.endswith("ok") for line in table), kind

    back = tmp_path / "back.db"
    done = incidents("migrate", "--from", redis.url, "--to", f"sqlite:///{back}")
    assert done.returncode == 0, done.stderr + done.stdout
    assert_same_store(back, source.path, created_exact=False)

    with ServerProcess(redis.url) as server:
        api = Api(server.url, source.token)  # operators and their tokens came along
        try:
            for incident, snapshot in source.snapshots.items():
                answer = await api.http.get(f"/api/incidents/{incident}")
                assert answer.status_code == 200
                assert answer.text == snapshot
            media = await api.http.get(f"/media/{source.photo}.jpg")
            assert media.content == source.photo_bytes

            events = await api.events(source.live)
            head = events[-1]["seq"]
            original = [
                json.loads(t) for log, _, t in dump(source.path)["events"] if log.endswith(source.live)
            ]
            assert events == original

            # Resume from seq head-2: the last two stored events, then live ones.
            reader = await LiveReader.open(server.ws_url(""), source.live, since=head - 2)
            try:
                await reader.until_seq(head)
                assert reader.messages == original[-2:]
                posted = await api.post(source.live, "迁移后的第一条更新")
                assert posted.status_code == 201, posted.text
                assert posted.json()["seq"] == head + 1
                await reader.until_seq(head + 1)
                assert reader.seqs == [head - 1, head, head + 1]
            finally:
                await reader.close()

            # Idempotency keys came along: the first post's retry is answered, not posted again.
            retry = await api.post(
                source.live,
                "自来水公司工作人员已前往现场，正在全力抢修。",
                key="first-notice",
                next_update_at=later(hours=2),
            )
            assert retry.headers.get("Idempotent-Replayed") == "true", retry.text
            assert (await api.events(source.live, since=head + 1)) == []
        finally:
            await api.aclose()


async def test_a_store_made_on_redis_exports_its_creation_times_in_order(redis: RedisServer) -> None:
    """The Redis index scores creation in microseconds (older versions: milliseconds); an
    export reads both as seconds and lists logs in the order they were opened."""
    token = add_operator(redis.url, "ZZIC")
    before = datetime.now(UTC).timestamp()
    with ServerProcess(redis.url) as server:
        api = Api(server.url, token)
        try:
            opened = [await api.create(f"事件 {n}") for n in range(3)]
        finally:
            await api.aclose()
    after = datetime.now(UTC).timestamp()
    client = SyncRedis.from_url(redis.url, decode_responses=True)
    try:
        # As an earlier version would have indexed the first one: milliseconds.
        first = f"incident:{opened[0]}"
        score = client.zscore("logs:{incident}", first)
        assert score is not None and score > 10**14, score
        client.zadd("logs:{incident}", {first: int(score // 1000)})
    finally:
        client.close()

    done = incidents("export", "--backend", redis.url)
    assert done.returncode == 0, done.stderr
    logs = [json.loads(line) for line in done.stdout.splitlines() if '"log":' in line]
    created = {r["log"]: r["created"] for r in logs if r["kind"] == "incident"}
    assert list(created) == [f"incident:{i}" for i in opened]
    for moment in created.values():
        assert before - 1 <= moment <= after + 1, (before, moment, after)


def test_import_refuses_a_target_that_is_not_empty(source: Source, export_text: str, tmp_path: Path) -> None:
    before = dump(source.path)
    done = incidents("import", "--backend", source.url, stdin=export_text)
    assert done.returncode == 1
    assert "already has" in done.stderr and "nothing was written" in done.stderr
    assert dump(source.path) == before

    # A store with only an operator in it: refused, unless --force.
    target = tmp_path / "busy.db"
    add_operator(f"sqlite:///{target}", "someone")
    done = incidents("import", "--backend", f"sqlite:///{target}", stdin=export_text)
    assert done.returncode == 1
    assert "not empty" in done.stderr and "--force" in done.stderr
    assert dump(target)["events"] == []
    done = incidents("import", "--backend", f"sqlite:///{target}", "--force", stdin=export_text)
    assert done.returncode == 0, done.stderr
    assert dump(target)["events"] == before["events"]


def test_migrate_refuses_a_target_that_is_not_empty(source: Source, tmp_path: Path) -> None:
    target = tmp_path / "busy.db"
    add_operator(f"sqlite:///{target}", "someone")
    done = incidents("migrate", "--from", source.url, "--to", f"sqlite:///{target}")
    assert done.returncode == 1
    assert "not empty" in done.stderr
    done = incidents("export", "--backend", f"sqlite:///{tmp_path / 'nothing.db'}")
    assert done.returncode == 1 and "no SQLite store" in done.stderr


def event_line(lines: list[str]) -> int:
    """The number (1-based) of an event line in the middle of the export."""
    numbers = [n for n, line in enumerate(lines, start=1) if line.startswith('{"event":')]
    return numbers[len(numbers) // 2]


@pytest.mark.parametrize("damage", ["cut", "altered", "truncated", "garbage"])
def test_a_damaged_export_is_reported_with_its_line_and_nothing_is_written(
    export_text: str, tmp_path: Path, damage: str
) -> None:
    lines = export_text.splitlines()
    number = event_line(lines)
    if damage == "cut":  # a line cut in the middle
        lines[number - 1] = lines[number - 1][:50]
        expected = f"line {number}: not JSON"
    elif damage == "altered":  # valid JSON, another text: the log's checksum catches it
        record = json.loads(lines[number - 1])
        record["text"] = record["text"].replace('"seq":', '"seq": ')
        lines[number - 1] = json.dumps(record, ensure_ascii=False)
        expected = "altered (sha256)"
    elif damage == "truncated":  # the file stops early
        lines = lines[:number]
        expected = "the export was cut short"
    else:
        lines.insert(number, "not json at all")
        expected = f"line {number + 1}: not JSON"
    target = tmp_path / "target.db"
    done = incidents("import", "--backend", f"sqlite:///{target}", stdin="\n".join(lines) + "\n")
    assert done.returncode == 1
    assert expected in done.stderr, done.stderr
    assert not target.exists()  # checked completely before the store is even opened


def test_a_mismatch_is_reported_per_kind() -> None:
    expected = Inventory(logs={"incident:a": (3, "x" * 64), "audit:all": (2, "y" * 64)}, docs={"d": "1"})
    actual = Inventory(logs={"incident:a": (2, "z" * 64), "audit:all": (2, "y" * 64)}, docs={"d": "1"})
    table, problems = compare(expected, actual)
    assert ["incident", "1", "3", "1 MISMATCHED"] in table
    assert ["audit", "1", "2", "ok"] in table
    assert problems == [
        "log incident:a: expected 3 events (sha256 xxxxxxxxxxxx), found 2 (sha256 zzzzzzzzzzzz)"
    ]


async def test_a_trimmed_delivery_log_round_trips_from_its_first_kept_event(
    redis: RedisServer, tmp_path: Path
) -> None:
    """A delivery log trimmed to its newest events (first kept seq > 1) is exported, imported
    and migrated as it is: same events and head, and appends on the copy go on after it."""
    source, log = tmp_path / "trimmed.db", "webhook-deliveries:h1"
    store = open_backend(f"sqlite:///{source}")
    await store.start()
    try:
        await store.append("incident:a1", "incident.opened", {"title": "文化路"})
        for n in range(30):
            await store.append(log, "delivery.attempt", {"n": n}, idem_key=f"k{n}")
        assert await store.trim(log, 10) == 20
    finally:
        await store.close()

    done = incidents("export", "--backend", f"sqlite:///{source}")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    [line] = [r for r in records if r.get("log") == log]
    assert (line["head"], line["count"], min(line["idem"].values())) == (30, 10, 21)
    assert [r["seq"] for r in records if r.get("event") == log] == list(range(21, 31))

    imported = tmp_path / "imported.db"
    done = incidents("import", "--backend", f"sqlite:///{imported}", stdin=done.stdout)
    assert done.returncode == 0, done.stderr
    assert "import: verified" in done.stdout
    assert_same_store(imported, source, created_exact=True)

    done = incidents("migrate", "--from", f"sqlite:///{source}", "--to", redis.url)
    assert done.returncode == 0, done.stderr + done.stdout
    assert "migrate: verified" in done.stdout
    back = tmp_path / "back.db"
    done = incidents("migrate", "--from", redis.url, "--to", f"sqlite:///{back}")
    assert done.returncode == 0, done.stderr + done.stdout
    assert_same_store(back, source, created_exact=False)

    for url in (f"sqlite:///{imported}", redis.url):
        copy = open_backend(url)
        await copy.start()
        try:
            assert await copy.head(log) == 30
            assert [e.seq for e in await copy.read(log)] == list(range(21, 31))
            replay = await copy.append(log, "delivery.attempt", {"n": 29}, idem_key="k29")
            assert not replay.created and replay.event.seq == 30
            assert (await copy.append(log, "delivery.attempt", {"n": 30})).event.seq == 31
        finally:
            await copy.close()
