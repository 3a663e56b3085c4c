"""Incident templates, the rules alone: checks, the shipped ones, filling an incident."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from broadcaster.incidents import Category, Certainty, Severity, Urgency
from broadcaster.playbooks import TemplateProblem, shipped
from broadcaster.playbooks.model import blank_facts, fill, parse, title_for

SHIPPED = {
    "water-main": "供水管道爆裂",
    "power-outage": "停电",
    "road-closure": "道路封闭",
    "gas-leak": "燃气泄漏",
}


def raw() -> dict[str, Any]:
    return copy.deepcopy(dict(shipped()["water-main"].to_json()))


def test_the_four_shipped_templates_are_complete_in_both_languages() -> None:
    found = shipped()
    assert {tid: t.name("zh-CN") for tid, t in found.items()} == SHIPPED
    for template in found.values():
        assert template.category in {c.value for c in Category}
        assert template.severity in {s.value for s in Severity}
        assert template.urgency in {u.value for u in Urgency}
        assert template.certainty in {c.value for c in Certainty}
        assert template.next_update_minutes and 1 <= template.next_update_minutes <= 120
        zh, en = template.words("zh-CN"), template.words("en")
        for words in (zh, en):
            assert words.name and "{area}" in words.title and words.instruction and words.first_notice
            assert len(words.facts) >= 4
        assert len(zh.facts) == len(en.facts)  # the same facts, in two languages
        assert any("\u4e00" <= ch <= "\u9fff" for ch in zh.instruction)
        assert en.instruction.isascii() and en.first_notice.isascii()
    water = found["water-main"]
    assert water.category == "Infra"
    assert {"停水范围", "预计恢复", "送水点"} <= set(water.words("zh-CN").facts)
    assert "boil" in water.words("en").instruction


def test_a_template_round_trips_through_its_json() -> None:
    for template in shipped().values():
        assert parse(template.to_json()) == template


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda r: r.update(id="Water Main"), "id"),
        (lambda r: r.update(id="-water"), "id"),
        (lambda r: r.update(id="w" * 41), "id"),
        (lambda r: r.update(category="Plumbing"), "category"),
        (lambda r: r.update(severity="EXTREME"), "severity"),
        (lambda r: r.update(urgency="now"), "urgency"),
        (lambda r: r.update(certainty="sure"), "certainty"),
        (lambda r: r.update(next_update_minutes=0), "next_update_minutes"),
        (lambda r: r.update(next_update_minutes=24 * 60 + 1), "next_update_minutes"),
        (lambda r: r.update(next_update_minutes=True), "next_update_minutes"),
        (lambda r: r.update(next_update_minutes="soon"), "next_update_minutes"),
        (lambda r: r.update(texts=None), "texts"),
        (lambda r: r["texts"].update(fr={"name": "x", "title": "y"}), "texts"),
        (lambda r: r["texts"].pop("en"), "texts.en"),
        (lambda r: r["texts"]["en"].update(name="  "), "texts.en.name"),
        (lambda r: r["texts"]["zh-CN"].update(title=""), "texts.zh-CN.title"),
        (lambda r: r["texts"]["zh-CN"].update(title="{place}爆管"), "texts.zh-CN.title"),
        (lambda r: r["texts"]["en"].update(title="Burst {area"), "texts.en.title"),
        (lambda r: r["texts"]["en"].update(title="x" * 201), "texts.en.title"),
        (lambda r: r["texts"]["en"].update(instruction="x" * 2001), "texts.en.instruction"),
        (lambda r: r["texts"]["en"].update(facts=["a", "a"]), "texts.en.facts"),
        (lambda r: r["texts"]["en"].update(facts=[f"f{i}" for i in range(13)]), "texts.en.facts"),
        (lambda r: r["texts"]["en"].update(facts="x" * 101), "texts.en.facts"),
        (lambda r: r["texts"]["en"].update(first_notice="bell\x07"), "texts.en.first_notice"),
    ],
)
def test_a_bad_field_is_named(change: Any, field: str) -> None:
    bad = raw()
    change(bad)
    with pytest.raises(TemplateProblem) as caught:
        parse(bad)
    assert str(caught.value).startswith(f"{field}:"), str(caught.value)


def test_facts_as_lines_blank_lines_dropped_and_texts_trimmed() -> None:
    value = raw()
    value["texts"]["zh-CN"]["facts"] = "停水范围\n\n  预计恢复 \n送水点"
    value["texts"]["en"]["name"] = "  Burst  "
    value["next_update_minutes"] = "45"
    template = parse(value)
    assert template.words("zh-CN").facts == ("停水范围", "预计恢复", "送水点")
    assert template.name("en") == "Burst"
    assert template.next_update_minutes == 45
    assert parse({**value, "next_update_minutes": ""}).next_update_minutes is None


@pytest.mark.parametrize(
    ("pattern", "area", "title"),
    [
        ("{area}供水管道爆裂 滚动播报", "文化路", "文化路供水管道爆裂 滚动播报"),
        ("{area}供水管道爆裂 滚动播报", "", "供水管道爆裂 滚动播报"),
        ("Water main burst: {area}", "  Wenhua Road ", "Water main burst: Wenhua Road"),
        ("Water main burst: {area}", "", "Water main burst"),
        ("{area}", "", "Name"),
        ("Fixed title", "Wenhua Road", "Fixed title"),
    ],
)
def test_title_from_the_pattern(pattern: str, area: str, title: str) -> None:
    assert title_for(pattern, area, "Name") == title


def test_a_long_area_makes_a_title_of_at_most_200_characters() -> None:
    title = title_for("{area}供水管道爆裂", "路" * 200, "供水管道爆裂")
    assert len(title) == 200 and title.endswith("…")


def test_fill_takes_what_the_request_left_out_in_the_incident_language() -> None:
    water = shipped()["water-main"]
    fields = {
        "title": None, "area": "Wenhua Road", "lang": "en-GB", "severity": "unknown",
        "category": "Other", "urgency": "expected", "certainty": "observed", "instruction": "",
    }  # fmt: skip
    filled = fill(water, fields, {"area", "lang"})
    assert filled["title"] == "Water main burst: Wenhua Road"
    assert filled["instruction"] == water.words("en").instruction
    assert (filled["category"], filled["severity"], filled["urgency"]) == ("Infra", "moderate", "immediate")
    chosen = fill(water, {**fields, "title": "Own title", "severity": "minor", "lang": "zh-CN"},
                  {"title", "severity", "lang"})  # fmt: skip
    assert chosen["title"] == "Own title" and chosen["severity"] == "minor"
    assert chosen["instruction"] == water.words("zh-CN").instruction  # zh-CN texts for zh-CN
    assert blank_facts(water, "zh-CN")[2] == {"label": "停水范围", "value": ""}
    assert [f["label"] for f in blank_facts(water, "en")] == list(water.words("en").facts)
