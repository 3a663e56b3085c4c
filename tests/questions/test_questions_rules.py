"""The questions' rules as pure functions: states, answers for the asker, waiting counts,
merges, and the ``question.answered`` event folded into the timeline like an update that
promises nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from broadcaster.core import timeline as tl
from broadcaster.questions import rules as qr
from broadcaster.reports import Refused
from broadcaster.reports import rules as rp

NOW = datetime(2010, 7, 14, 20, 0, tzinfo=UTC)
BY = {"id": "op1", "name": "值班员"}


def event(seq: int, type_: str, data: dict[str, Any], at: str = "2010-07-14T12:00:00.000Z") -> dict[str, Any]:
    return {"reports": "all", "seq": seq, "type": type_, "at": at, "data": data}


def index_of(*questions: tuple[str, str, str]) -> rp.Index:
    """(code, incident, text) asked in this order, a minute apart."""
    events = []
    for n, (code, incident, text) in enumerate(questions, 1):
        type_, data = rp.decide_receive(code, "", text, "", None, qr.KIND, incident)
        events.append(event(n, type_, data, f"2010-07-14T12:{n:02d}:00.000Z"))
    return rp.fold(events)


def apply(index: rp.Index, decision: tuple[str, dict[str, Any]]) -> None:
    rp.apply(index, event(max(r.version for r in index.values()) + 1, *decision))


def test_a_question_is_a_report_of_its_incident_left_out_of_the_statistics() -> None:
    index = index_of(("ZZ-0000-0001", "inc1", "什么时候来水？"))
    question = index["ZZ-0000-0001"]
    assert (question.kind, question.incident, question.body) == ("question", "inc1", "什么时候来水？")
    assert not question.counted
    report = rp.fold([event(1, *rp.decide_receive("ZZ-0000-0009", "路灯", "不亮", "天伦路", None))])
    assert report["ZZ-0000-0009"].kind == "report" and report["ZZ-0000-0009"].counted
    assert (
        "kind" not in rp.decide_receive("ZZ-0000-0009", "t", "b", "l", None)[1]
    )  # reports' events as before


def test_states_and_what_the_asker_sees() -> None:
    index = index_of(("Q1", "inc1", "a"), ("Q2", "inc1", "b"), ("Q3", "inc2", "c"))
    assert [q.code for q in qr.of_incident(index, "inc1")] == ["Q2", "Q1"]
    assert qr.waiting(qr.of_incident(index, "inc1")) == qr.Waiting(2, "2010-07-14T12:01:00.000Z")
    apply(index, qr.decide_reply(index["Q1"], "私下答复", BY, public=False))
    assert qr.state(index["Q1"]) == qr.State.PRIVATE
    assert qr.answer_for_asker(index, index["Q1"]).text == "私下答复"  # type: ignore[union-attr]
    apply(index, qr.decide_reply(index["Q1"], "公开答复", BY, public=True, update="u1"))
    assert qr.state(index["Q1"]) == qr.State.PUBLIC
    assert qr.answer_for_asker(index, index["Q1"]).text == "公开答复"  # type: ignore[union-attr]
    with pytest.raises(qr.AlreadyRecorded):  # a retry after a crash finds the reply written
        qr.decide_reply(index["Q1"], "公开答复", BY, public=True, update="u1")
    with pytest.raises(Refused, match="answered in public already"):
        qr.check_answerable(index["Q1"], public=True, contact="138")
    with pytest.raises(Refused, match="no contact"):
        qr.check_answerable(index["Q2"], public=False, contact="")
    assert qr.waiting_by_incident(index) == {
        "inc1": qr.Waiting(1, "2010-07-14T12:02:00.000Z"),
        "inc2": qr.Waiting(1, "2010-07-14T12:03:00.000Z"),
    }


def test_merges_go_into_a_public_answer_of_the_same_incident() -> None:
    index = index_of(("Q1", "inc1", "a"), ("Q2", "inc1", "b"), ("Q3", "inc2", "c"))
    with pytest.raises(Refused, match="not answered in public"):
        qr.check_merge(index["Q2"], index["Q1"])
    apply(index, qr.decide_reply(index["Q1"], "答复", BY, public=True, update="u1"))
    with pytest.raises(Refused, match="same incident"):
        qr.check_merge(index["Q3"], index["Q1"])
    qr.check_merge(index["Q2"], index["Q1"])
    apply(index, rp.decide_merge(index["Q2"], index["Q1"], BY))
    assert qr.state(index["Q2"]) == qr.State.MERGED
    assert qr.answer_for_asker(index, index["Q2"]).text == "答复"  # type: ignore[union-attr]
    assert qr.waiting(qr.of_incident(index, "inc1")).count == 0
    apply(index, rp.decide_hide(index["Q1"], "x", BY))
    assert qr.state(index["Q1"]) == qr.State.HIDDEN


def test_checks_on_what_the_reader_writes() -> None:
    assert qr.check_question("  问题  ", None) == {"title": "", "body": "问题", "location": "", "contact": ""}
    for bad in ("", "   ", "问" * 1001, 7, "a\x00b"):
        with pytest.raises(rp.FieldProblem):
            qr.check_question(bad, "")
    with pytest.raises(rp.FieldProblem):
        qr.check_question("ok", "x" * 201)


def incident_with_promise() -> tl.Incident:
    fields = {"title": "文化路爆管", "summary": "", "area": "", "severity": "minor", "category": "Infra",
              "lang": "zh-CN", "exercise": False}  # fmt: skip
    opened = {"incident": "inc1", "seq": 1, "type": "incident.opened", "at": "2010-07-14T11:00:00.000Z",
              "data": tl.decide_open(fields)[1]}  # fmt: skip
    inc = tl.apply(None, opened)
    _, data = tl.decide_post(inc, "u0", "抢修中", "<p>抢修中</p>", "2010-07-14T13:00:00.000Z", NOW)
    return tl.apply(
        inc, {"incident": "inc1", "seq": 2, "type": "update.posted", "at": data["published_at"], "data": data}
    )


def test_a_public_answer_folds_as_an_update_that_keeps_the_promise() -> None:
    inc = incident_with_promise()
    question = index_of(("Q1", "inc1", "花园路停水吗？"))["Q1"]
    type_, data = qr.decide_public(inc, question, "u1", "停。", "<p>停。</p>", NOW)
    assert type_ == "question.answered"
    assert data == {"id": "u1", "question_id": "Q1", "question": "花园路停水吗？", "body": "停。",
                    "html": "<p>停。</p>", "published_at": "2010-07-14T20:00:00.000Z"}  # fmt: skip
    inc = tl.apply(
        inc, {"incident": "inc1", "seq": 3, "type": type_, "at": data["published_at"], "data": data}
    )
    answer = inc.updates["u1"]
    assert answer.question == "花园路停水吗？" and answer.to_json()["question"] == "花园路停水吗？"
    assert inc.updates["u0"].to_json()["question"] is None
    assert inc.next_update_at == "2010-07-14T13:00:00.000Z" and inc.last_update_at == data["published_at"]
    # Corrected and withdrawn like any update.
    _, fix = tl.decide_correct(inc, "u1", "不停。", "<p>不停。</p>", "看错了")
    inc = tl.apply(
        inc,
        {
            "incident": "inc1",
            "seq": 4,
            "type": "update.corrected",
            "at": "2010-07-14T20:05:00.000Z",
            "data": fix,
        },
    )
    assert inc.updates["u1"].status == "corrected" and inc.updates["u1"].question == "花园路停水吗？"
    with pytest.raises(tl.RuleViolation):  # the id is taken
        qr.decide_public(inc, question, "u1", "x", "x", NOW)
    resolved = tl.apply(
        inc,
        {
            "incident": "inc1",
            "seq": 5,
            "type": "incident.resolved",
            "at": "2010-07-14T21:00:00.000Z",
            "data": {"reason": None},
        },
    )
    with pytest.raises(Refused, match="resolved"):
        qr.decide_public(resolved, question, "u2", "x", "x", NOW)
