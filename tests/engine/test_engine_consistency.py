"""Contradictory records (issue 11): two different values of one measurement on one day, neither
correcting the other, leave the engine unable to decide, naming both values and their events."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.enginekit import (
    codes,
    course_through,
    decide,
    document,
    labs,
    reason,
    response,
    tox,
    vitals,
)


def day15(*events: dict[str, Any]) -> dict[str, Any]:
    return document([*course_through((1, 8)), labs("2027-03-14"), *events])


def test_two_values_of_one_lab_on_one_day_cannot_decide_and_name_both() -> None:
    doc = day15({**labs("2027-03-14", anc=0.4), "id": "lab-b"})
    doc["events"][-2]["id"] = "lab-a"
    decision = decide(doc, "2027-03-15")
    assert decision["status"] == "cannot_decide"
    r = reason(decision, "data.contradictory-values")
    assert r["verdict"] == "cannot_decide"
    assert r["inputs"]["measurement"] == "anc" and r["inputs"]["date"] == "2027-03-14"
    assert r["inputs"]["values"] == [
        {"value": "1.5 10*9/L", "event": "id 'lab-a'"},
        {"value": "0.4 10*9/L", "event": "id 'lab-b'"},
    ]
    assert "1.5 10*9/L" in r["message"] and "0.4 10*9/L" in r["message"]
    assert "CONTRADICTORY_DATA" in codes(decision)


def test_events_without_an_id_are_named_by_their_position() -> None:
    decision = decide(day15(labs("2027-03-14", platelets=40)), "2027-03-15")
    values = reason(decision, "data.contradictory-values")["inputs"]["values"]
    assert all(v["event"].startswith("events[") for v in values)


def test_a_correction_resolves_the_contradiction() -> None:
    doc = day15(
        {
            **labs("2027-03-14", anc=0.4),
            "supersedes": "lab-a",
            "reason": "typed 1.5 for 0.4",
        }
    )
    doc["events"][-2]["id"] = "lab-a"
    decision = decide(doc, "2027-03-15")
    assert "data.contradictory-values" not in [r["rule"] for r in decision["reasons"]]
    assert decision["status"] == "give"  # day 15 is never held for counts


def test_a_void_resolves_the_contradiction() -> None:
    doc = day15({**labs("2027-03-14", anc=0.4), "id": "lab-b"})
    doc["events"].append(
        {"date": "2027-03-14", "type": "void", "supersedes": "lab-b", "reason": "wrong patient"}
    )
    assert decide(doc, "2027-03-15")["status"] == "give"


def test_the_same_value_twice_or_in_another_unit_is_no_contradiction() -> None:
    same = decide(day15(labs("2027-03-14")), "2027-03-15")
    assert same["status"] == "give"
    other_unit = labs("2027-03-14", anc=None, platelets=None)
    other_unit["anc"] = {"value": 1500, "unit": "/uL"}
    assert decide(day15(other_unit), "2027-03-15")["status"] == "give"


def test_transfused_and_independent_platelet_counts_may_differ() -> None:
    decision = decide(day15(labs("2027-03-14", platelets=30, transfused=True)), "2027-03-15")
    assert "CONTRADICTORY_DATA" not in codes(decision)


@pytest.mark.parametrize(
    ("extra", "what"),
    [
        ([vitals("2027-03-14", None, 70), vitals("2027-03-14", None, 72)], "weight_kg"),
        ([vitals("2027-03-14", 170, None), vitals("2027-03-14", 172, None)], "height_cm"),
        (
            [
                {"date": "2027-03-14", "type": "ecg", "qtcf_ms": 430},
                {"date": "2027-03-14", "type": "ecg", "qtcf_ms": 505},
            ],
            "qtcf_ms",
        ),
        ([response("2027-03-14", "CR"), response("2027-03-14", "NR")], "response"),
        ([tox("2027-03-14", "nausea", 0), tox("2027-03-14", "Nausea", 1)], "toxicity"),
    ],
)
def test_every_same_day_contradiction_of_the_class(extra: list[dict[str, Any]], what: str) -> None:
    decision = decide(day15(*extra), "2027-03-15")
    assert decision["status"] == "cannot_decide"
    r = reason(decision, "data.contradictory-values")
    assert r["inputs"]["measurement"].startswith(what)
    assert len(r["inputs"]["values"]) == 2


def test_pregnancy_tests_of_one_day_that_disagree() -> None:
    doc = day15(
        {"date": "2027-03-14", "type": "pregnancy_test", "result": "negative"},
        {"date": "2027-03-14", "type": "pregnancy_test", "result": "positive"},
    )
    doc["patient"].update({"sex": "female", "reproductive_potential": True})
    decision = decide(doc, "2027-03-15")
    assert "data.contradictory-values" in [r["rule"] for r in decision["reasons"]]


def test_a_contradiction_does_not_undo_a_stop() -> None:
    decision = decide(day15(labs("2027-03-14", anc=0.4), tox("2027-03-12", "VOD", 2)), "2027-03-15")
    assert decision["status"] == "discontinue"
    assert "CONTRADICTORY_DATA" in codes(decision)  # still said, without a verdict


def test_neither_contradictory_value_is_used_by_a_rule() -> None:
    """At C2D1 ANC 1.5 and 0.6 on one day: not a Table 2 hold on the lower value, nor a give on
    the higher one: cannot decide until one is corrected."""
    events = [
        *course_through((1, 15)),
        response("2027-03-19", "PR"),
        vitals("2027-03-21"),
        labs("2027-03-21"),
        labs("2027-03-21", anc=0.6),
    ]
    decision = decide(document(events), "2027-03-22")
    assert decision["status"] == "cannot_decide"
    assert "hematologic.not-recovered" not in [r["rule"] for r in decision["reasons"]]
    assert "data.stale-labs" not in [r["rule"] for r in decision["reasons"]]
    corrected = document(events)
    corrected["events"][-2]["id"] = "first"
    corrected["events"][-1].update({"supersedes": "first", "reason": "re-run on the analyser"})
    assert decide(corrected, "2027-03-22")["status"] == "hold"  # ANC 0.6 < 1: Table 2
