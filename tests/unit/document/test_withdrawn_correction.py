"""A ``void`` of a correction withdraws that correction only: the entry it corrected is in force
again (docs/course-document.md section 8). Before, the original vanished with it: an
administration corrected and then withdrawn proposed the same dose a second time."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from inoplan.document import parse_course
from inoplan.domain.course import LabsEvent, Link, ToxicityEvent, correction_targets
from inoplan.services.courses import decide_document

ROOT = Path(__file__).resolve().parents[3]


def first_dose(*events: dict[str, Any]) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "examples" / "01-first-dose.yaml").read_text(encoding="utf-8"))
    data.pop("expect", None)
    document: dict[str, Any] = json.loads(json.dumps(data, default=str))
    document["events"] += list(events)
    return document


def void(target: str, on: str = "2027-03-02") -> dict[str, Any]:
    return {"date": on, "type": "void", "supersedes": target, "reason": "the correction was wrong"}


GIVEN = {"id": "a1", "date": "2027-03-01", "type": "administration", "cycle": 1, "day": 1}
FIXED = {**GIVEN, "id": "a2", "supersedes": "a1", "reason": "typo"}


def test_a_withdrawn_correction_of_a_dose_leaves_the_dose_given() -> None:
    document = first_dose({**GIVEN, "dose_mg": 1.6}, {**FIXED, "dose_mg": 1.69}, void("a2"))
    course = parse_course(document)
    assert [(a.id, a.dose_mg) for a in course.administrations()] == [("a1", Decimal("1.6"))]
    assert sorted(str(e.id) for e in course.superseded) == ["a2"]
    decision = decide_document(document, date(2027, 3, 2))
    assert decision["status"] == "wait"  # not "give cycle 1 day 1" a second time
    assert decision["next_dose"] is not None
    assert (decision["next_dose"]["cycle"], decision["next_dose"]["day"]) == (1, 8)


def test_while_the_correction_stands_it_is_the_dose_given() -> None:
    document = first_dose({**GIVEN, "dose_mg": 1.6}, {**FIXED, "dose_mg": 1.69})
    course = parse_course(document)
    assert [(a.id, a.dose_mg) for a in course.administrations()] == [("a2", Decimal("1.69"))]


def test_voiding_the_original_too_withdraws_the_dose() -> None:
    document = first_dose(
        {**GIVEN, "dose_mg": 1.6}, {**FIXED, "dose_mg": 1.69}, void("a2"), void("a1")
    )
    assert parse_course(document).administrations() == ()
    next_dose = decide_document(document, date(2027, 3, 2))["next_dose"]
    assert next_dose is not None
    assert next_dose["day"] == 1


def _labs(anc: int, **extra: Any) -> dict[str, Any]:
    return {
        "date": "2027-02-28",
        "type": "labs",
        "anc": {"value": anc, "unit": "/uL"},
        "platelets": {"value": 96, "unit": "10*9/L"},
        "bilirubin": {"value": 12, "unit": "umol/L", "uln": 21},
        "ast": {"value": 22, "unit": "U/L", "uln": 40},
        "alt": {"value": 35, "unit": "U/L", "uln": 45},
        "peripheral_blasts": {"value": 3.1, "unit": "10*9/L"},
        **extra,
    }


def test_a_withdrawn_correction_of_labs_leaves_the_labs_in_force() -> None:
    document = first_dose()
    document["events"] = [e for e in document["events"] if e["type"] != "labs"]
    document["events"] += [
        _labs(2400, id="l1"),
        _labs(2500, id="l2", supersedes="l1", reason="typo"),
        void("l2", "2027-02-28"),
    ]
    labs = [e for e in parse_course(document).events if isinstance(e, LabsEvent)]
    assert [(e.id, e.values["anc"].value) for e in labs] == [("l1", Decimal("2.4"))]
    assert decide_document(document, date(2027, 3, 1))["status"] == "give"  # labs not missing


def test_a_withdrawn_correction_of_a_vod_grade_leaves_the_vod_in_force() -> None:
    """VOD grade 2 recorded, 'corrected' to grade 3, the correction withdrawn: the VOD stands
    and the course stops (before, the VOD vanished and the next dose was proposed)."""
    vod = {"date": "2027-03-05", "type": "toxicity", "term": "hepatic VOD", "grade": 2}
    document = first_dose(
        {**GIVEN, "dose_mg": 1.69},
        {**vod, "id": "t1"},
        {**vod, "id": "t2", "grade": 3, "supersedes": "t1", "reason": "grade"},
        void("t2", "2027-03-06"),
    )
    toxicities = [e for e in parse_course(document).events if isinstance(e, ToxicityEvent)]
    assert [(e.id, e.grade) for e in toxicities] == [("t1", 2)]
    assert decide_document(document, date(2027, 3, 8))["status"] == "discontinue"


def test_the_rule_on_links() -> None:
    chain = [Link("a", None, "ecg"), Link("b", "a", "ecg"), Link("c", "b", "ecg")]
    assert correction_targets(chain) == {"a": 1, "b": 2}
    # withdrawing the latest correction puts the one before it back in force
    assert correction_targets([*chain, Link("d", "c", "void")]) == {"a": 1, "c": 3}
