"""``extend_course`` (one new event validated into a parsed course) gives exactly what parsing
the whole document with that event appended gives: the same course, or the same error (field
and message). ``records.append_event`` relies on it for its cache of parsed courses."""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from inoplan.demo import demo_documents
from inoplan.document.io import extend_course, parse_course, read_document
from inoplan.errors import InvalidInput

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = sorted((ROOT / "tests" / "golden" / "cases").glob("*.yaml"))


def _documents() -> list[dict[str, Any]]:
    documents = list(demo_documents(date(2026, 12, 1)))
    for path in GOLDEN:
        document = read_document(path)
        document.pop("expect", None)
        try:
            parse_course(document)
        except InvalidInput:
            continue  # cases that test a refusal
        documents.append(document)
    return [d for d in documents if d.get("events")]


DOCUMENTS = _documents()


def _outcome(action: Any, *args: Any) -> Any:
    try:
        return ("ok", action(*args))
    except InvalidInput as exc:
        return ("refused", exc.field, exc.message)


def test_there_are_enough_documents_to_compare() -> None:
    assert len(DOCUMENTS) >= 10


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: str(d["patient"]["id"]))
def test_building_a_course_event_by_event_equals_parsing_it_whole(
    document: dict[str, Any],
) -> None:
    events = document["events"]
    course = parse_course({**document, "events": []})
    for index, event in enumerate(events):
        course = extend_course(course, event, index)
    assert course == parse_course(document)


def _variants(document: dict[str, Any]) -> list[dict[str, Any]]:
    events = document["events"]
    last = events[-1]
    day = last["date"]
    given = next((e for e in events if e["type"] == "administration"), None)
    out: list[dict[str, Any]] = [
        {"type": "vitals", "date": day, "weight_kg": "heavy"},
        {"type": "vitals", "date": day, "weight_kg": 640},
        {"type": "vitals", "date": day, "weight_kg": 64, "colour": "blue"},
        {"type": "nonsense", "date": day},
        {"type": "vitals", "date": "1900-01-02", "weight_kg": 64},
        {"type": "vitals", "date": "2150-01-01", "weight_kg": 64},
        {"type": "vitals", "date": day, "weight_kg": 64, "supersedes": "no-such-event"},
        {"type": "labs", "date": day, "anc": {"value": 1.2, "unit": "g/L"}},
        {"type": "labs", "date": day, "anc": {"value": 1.2, "unit": "10*9/L"}},
        {"type": "vitals", "date": day, "weight_kg": 64.5},
        {"type": "plan_change", "date": day, "hsct_intended": False, "reason": "no donor"},
        {
            "type": "plan_change",
            "date": day,
            "cycle1_days": 28,
            "bsa_formula": "boyd",
            "reason": "x",
        },
        {"type": "plan_change", "date": day, "reason": "nothing changed"},
        {"type": "plan_change", "date": day, "bsa_formula": "guess", "reason": "x"},
        {"type": "reschedule", "date": day, "cycle": 1, "day": 8, "to": day, "reason": "x"},
        {
            "type": "reschedule",
            "date": day,
            "cycle": 1,
            "day": 8,
            "to": "2150-01-01",
            "reason": "x",
        },
        {
            "type": "reschedule",
            "date": day,
            "cycle": 1,
            "day": 8,
            "to": "1950-01-01",
            "reason": "x",
        },
        {"type": "reschedule", "date": day, "cycle": 1, "day": 8, "to": day},
        {
            "type": "dose_change",
            "date": day,
            "cycle": 1,
            "day": 8,
            "dose_mg_per_m2": 0.4,
            "reason": "x",
        },
        {
            "type": "dose_change",
            "date": day,
            "cycle": 1,
            "day": 8,
            "dose_mg_per_m2": -1,
            "reason": "x",
        },
    ]
    if last.get("id"):
        out.append({**copy.deepcopy(last), "date": day})  # a duplicate id
        out.append({"id": "fix-1", "type": last["type"], "date": day, "supersedes": last["id"]})
        out.append({"id": "void-1", "type": "void", "date": day, "supersedes": last["id"]})
    if given is not None:
        out.append({**copy.deepcopy(given), "id": "again-1"})  # the same dose twice
    return out


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: str(d["patient"]["id"]))
def test_a_refused_or_accepted_new_event_is_judged_the_same_way(
    document: dict[str, Any],
) -> None:
    stored = parse_course(document)
    index = len(document["events"])
    outcomes = set()
    for event in _variants(document):
        whole = _outcome(parse_course, {**document, "events": [*document["events"], event]})
        one = _outcome(extend_course, stored, event, index)
        assert one == whole, event
        outcomes.add(whole[0])
    assert outcomes == {"ok", "refused"}  # the variants exercise both


def test_only_the_next_position_can_be_added() -> None:
    document = DOCUMENTS[0]
    stored = parse_course(document)
    with pytest.raises(ValueError, match="next position"):
        extend_course(stored, document["events"][0], len(document["events"]) + 1)


def test_plan_changes_stay_applied_when_events_are_added_one_by_one() -> None:
    document = copy.deepcopy(DOCUMENTS[0])
    day = document["events"][-1]["date"]
    document["events"] += [
        {"type": "plan_change", "date": day, "hsct_intended": False, "reason": "no donor"},
        {"type": "plan_change", "date": day, "bsa_formula": "boyd", "reason": "site choice"},
        {"type": "vitals", "date": day, "weight_kg": 64.5},
    ]
    course = parse_course({**document, "events": []})
    for index, event in enumerate(document["events"]):
        course = extend_course(course, event, index)
    whole = parse_course(document)
    assert course == whole
    assert whole.plan.hsct_intended is False and whole.plan.bsa_formula.value == "boyd"
    assert whole.initial_plan is not None and whole.initial_plan != whole.plan
