"""The console's words without a browser: the zh-CN catalog is complete, every CAP value has a
label in both languages, and the rules' refusals read in the operator's language."""

from __future__ import annotations

import re

import pytest
from babel.messages.pofile import read_po

from broadcaster.console.labels import ACTIONS, LABELS, label
from broadcaster.console.problems import PATTERNS, explain
from broadcaster.incidents import Category, Certainty, Severity, Urgency
from tests.browser.test_console_language_browser import CATALOG, untranslated


def test_the_zh_cn_catalog_has_no_empty_translation_and_nothing_left_in_english() -> None:
    with CATALOG.open("rb") as source:
        catalog = read_po(source, locale="zh_CN")
    empty = [
        m.id for m in catalog if m.id and not all(m.string if isinstance(m.string, tuple) else (m.string,))
    ]
    assert empty == []
    assert sorted(untranslated()) == []  # every message of the code is in the catalog, translated


@pytest.mark.parametrize(
    ("kind", "values"),
    [("severity", Severity), ("urgency", Urgency), ("certainty", Certainty), ("category", Category)],
)
def test_every_cap_value_has_a_label_in_both_languages(kind: str, values: type) -> None:
    for value in values:
        chinese, english = label(kind, value.value, "zh-CN"), label(kind, value.value, "en")
        assert re.fullmatch(r"[\u4e00-\u9fff]+", chinese), (value, chinese)
        assert english == LABELS[kind][value] and english != chinese
    assert label(kind, "no-such-value", "zh-CN") == "no-such-value"


def test_the_standard_chinese_terms() -> None:
    words = {
        ("severity", "unknown"): "未知", ("category", "Other"): "其他", ("urgency", "immediate"): "立即",
        ("certainty", "observed"): "已发生", ("category", "Infra"): "基础设施",
        ("category", "Security"): "治安",
        ("category", "CBRNE"): "化学生物放射核爆", ("certainty", "unlikely"): "不太可能",
    }  # fmt: skip
    for (kind, value), chinese in words.items():
        assert label(kind, value, "zh-CN") == chinese


CASES = [
    ("title: required", "标题：此项必填", "Title: required"),
    (
        "expected restoration: must be in the future",
        "预计恢复时间：必须是将来的时间",
        "Service expected back by: must be in the future",
    ),
    (
        "the incident is resolved: reopen it before posting an update",
        "该事件已结束：请先重新开启，再发布更新。",
        "The incident is resolved: reopen it before posting an update.",
    ),
    ("texts.en.title: required", "英文文本 · 标题：此项必填", "Texts in English · Title: required"),
    ("update: at most 20000 characters", "更新内容：最多 20000 个字符", "Update: at most 20000 characters"),
    ("severity: one of extreme, severe", "严重程度：不在可选范围内", "Severity: not one of the choices"),
    (
        "next_update_at must be within 7 days from now (a typing mistake?)",
        "承诺下次更新：须在今后 7 天以内（是否输入有误？）",
        "Next update promised: must be within 7 days from now (a typing mistake?)",
    ),
]


@pytest.mark.parametrize(("refusal", "chinese", "english"), CASES)
def test_refusals_in_the_operators_language(refusal: str, chinese: str, english: str) -> None:
    assert explain(refusal, "zh-CN") == chinese
    assert explain(refusal, "en") == english


def test_a_text_no_rule_wrote_is_shown_as_it_came() -> None:
    assert explain("已在处理", "zh-CN") == "已在处理"
    assert explain("something: new", "zh-CN") == "something: new"


def test_every_pattern_and_action_is_translated() -> None:
    for msgid in [m for _, m in PATTERNS] + list(ACTIONS.values()):
        assert msgid not in untranslated()
    assert all(re.compile(pattern) for pattern, _ in PATTERNS)
