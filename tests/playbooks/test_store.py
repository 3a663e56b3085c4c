"""The template library in a real store (SQLite and Redis), shared by two processes: shipped
ones on first use, create, edit, delete, restore, each audited; concurrent changes kept."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from broadcaster.accounts import Actor, Operator, audit
from broadcaster.playbooks import Library, TemplateProblem, UnknownTemplate, shipped
from broadcaster.playbooks.library import DOC
from broadcaster.playbooks.model import parse
from broadcaster.stores.base import Backend

ADMIN = Actor(Operator("op-admin", "ZZIC", True), "192.0.2.7")


def libraries(backends: tuple[Backend, Backend]) -> tuple[Library, Library, str]:
    """A library in each process on a document no test used before (the Redis server is the
    session's): the first read is a first use."""
    key = f"{DOC}-test-{uuid.uuid4().hex[:8]}"
    return Library(backends[0], key), Library(backends[1], key), key


def variant(template_id: str, zh_name: str) -> dict[str, object]:
    raw = dict(shipped()["water-main"].to_json())
    texts = {lang: dict(words) for lang, words in raw["texts"].items()}  # type: ignore[union-attr]
    texts["zh-CN"]["name"] = zh_name
    return {**raw, "id": template_id, "texts": texts}


async def actions(backend: Backend, since: int) -> list[tuple[str, str]]:
    found = await audit.entries(backend, limit=1000)
    return [
        (e["action"], e["target"])
        for e in reversed(found)
        if e["seq"] > since and e["action"].startswith("template.")
    ]


async def test_shipped_on_first_use_then_changes_seen_by_the_other_process(
    backends: tuple[Backend, Backend],
) -> None:
    one, two, key = libraries(backends)
    start = await backends[0].head(audit.LOG)
    assert await backends[0].get_doc(key) is None
    assert [t.id for t in await one.all()] == list(shipped())
    stored = await backends[1].get_doc(key)
    assert stored is not None and set(stored.value["templates"]) == set(shipped())
    assert [t.id for t in await two.all()] == list(shipped())

    made = await one.create(parse(variant("hydrant", "消火栓损坏")), ADMIN)
    assert (await two.get("hydrant")) == made
    edited = parse({**variant("hydrant", "消火栓漏水"), "severity": "minor"})
    await two.edit(edited, ADMIN)
    assert (await one.get("hydrant")).name("zh-CN") == "消火栓漏水"
    await one.delete("hydrant", ADMIN)
    with pytest.raises(UnknownTemplate):
        await two.get("hydrant")

    await two.delete("gas-leak", ADMIN)
    assert "gas-leak" not in [t.id for t in await one.all()]
    await one.restore("gas-leak", ADMIN)
    assert await two.get("gas-leak") == shipped()["gas-leak"]
    assert await actions(backends[1], start) == [
        ("template.created", "hydrant"), ("template.edited", "hydrant"), ("template.deleted", "hydrant"),
        ("template.deleted", "gas-leak"), ("template.restored", "gas-leak"),
    ]  # fmt: skip
    entry = (await audit.entries(backends[0], action="template.edited", limit=1))[0]
    assert entry["name"] == "ZZIC" and entry["address"] == "192.0.2.7"
    assert entry["detail"]["name"] == "消火栓漏水" and "severity" in entry["detail"]["changed"]


async def test_refusals_change_nothing(backends: tuple[Backend, Backend]) -> None:
    library, _, key = libraries(backends)
    await library.create(parse(variant("sinkhole", "路面塌陷")), ADMIN)
    before = await backends[0].get_doc(key)
    with pytest.raises(TemplateProblem, match=r"^id: "):
        await library.create(parse(variant("sinkhole", "again")), ADMIN)
    with pytest.raises(UnknownTemplate):
        await library.edit(parse(variant("not-there", "x")), ADMIN)
    with pytest.raises(UnknownTemplate):
        await library.delete("not-there", ADMIN)
    with pytest.raises(UnknownTemplate):
        await library.restore("sinkhole", ADMIN)  # not shipped: nothing to restore it to
    assert await backends[0].get_doc(key) == before


async def test_concurrent_creates_from_two_processes_are_all_kept(backends: tuple[Backend, Backend]) -> None:
    one, two, _ = libraries(backends)
    names = [f"c-{i}" for i in range(8)]
    await asyncio.gather(
        *(
            (one if i % 2 else two).create(parse(variant(name, f"模板{i}")), ADMIN)
            for i, name in enumerate(names)
        )
    )
    assert set(names) <= {t.id for t in await one.all()}


async def test_an_invalid_stored_template_is_left_out_not_fatal(backends: tuple[Backend, Backend]) -> None:
    library, _, key = libraries(backends)
    await library.all()
    doc = await backends[0].get_doc(key)
    assert doc is not None
    broken = {"templates": {**doc.value["templates"], "broken": {"texts": {}}}}
    await backends[0].put_doc(key, broken, expect_version=doc.version)
    assert "broken" not in [t.id for t in await library.all()]
    assert "water-main" in [t.id for t in await library.all()]
