"""Invariants of result events (domain.results.plan_events), on random message sequences.

- a message sent again adds nothing (a resend, a listener restarted before its ACK; a message
  seen earlier is answered from the service's message store without being planned again);
- the course document stays valid after every message;
- what the course shows for an order is what the laboratory said last about each analyte
  (a cancellation removes it; the rest stands).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from inoplan.document import parse_course
from inoplan.domain.results import LabResult, plan_events

BASE: dict[str, Any] = {
    "label": "us",
    "patient": {"id": "P-1", "birth_date": "1980-01-01", "sex": "male"},
    "plan": {"start_date": "2027-01-04"},
    "events": [{"date": "2027-01-01", "type": "vitals", "height_cm": 180, "weight_kg": 80}],
}
ANALYTES = ("anc", "platelets", "bilirubin")
UNITS = {"anc": "10*9/L", "platelets": "10*9/L", "bilirubin": "mg/dL"}
DAY = date(2027, 1, 3)

result_strategy = st.tuples(
    st.sampled_from(ANALYTES),
    st.sampled_from(["final", "corrected", "preliminary", "cancelled", "deleted"]),
    st.integers(min_value=1, max_value=500),
    st.sampled_from(["F:A^LIS", "F:B^LIS"]),
)
messages_strategy = st.lists(
    st.lists(result_strategy, min_size=1, max_size=4), min_size=1, max_size=6
)


def to_results(items: list[tuple[str, str, int, str]]) -> list[LabResult]:
    out = []
    for analyte, status, value, order in items:
        kwargs: dict[str, Any] = {}
        if status not in ("cancelled", "deleted"):
            kwargs = {"value": Decimal(value) / 10, "unit": UNITS[analyte]}
            if analyte == "bilirubin":
                kwargs["uln"] = Decimal("1.2")
        out.append(
            LabResult(
                analyte=analyte,
                status=status,
                observed=DAY,
                order=order,
                code=analyte,
                source="OBX",
                **kwargs,
            )
        )
    return out


def apply(events: list[dict[str, Any]], control_id: str, results: list[LabResult]) -> list[str]:
    """As the results service does: all of a message's events, or none when it has a problem."""
    planned = plan_events(events, results, channel="hl7", sender="LAB", control_id=control_id)
    if planned.problems:
        return []
    events.extend(planned.events)
    return [str(e["id"]) for e in planned.events]


@settings(max_examples=150, deadline=None)
@given(messages_strategy)
def test_replaying_adds_nothing_and_the_document_stays_valid(
    messages: list[list[tuple[str, str, int, str]]],
) -> None:
    events = list(BASE["events"])
    for n, items in enumerate(messages):
        apply(events, f"M{n}", to_results(items))
        parse_course({**BASE, "events": events})
        before = list(events)
        # the same message again (a resend, a listener restarted before its ACK): nothing more
        assert apply(events, f"M{n}", to_results(items)) == []
        assert events == before
    ids = [e["id"] for e in events if e.get("id")]
    assert len(ids) == len(set(ids))


@settings(max_examples=150, deadline=None)
@given(messages_strategy)
def test_the_course_shows_what_the_laboratory_said_last(
    messages: list[list[tuple[str, str, int, str]]],
) -> None:
    events = list(BASE["events"])
    expected: dict[tuple[str, str], Any] = {}  # (order, analyte) -> value, None when withdrawn
    for n, items in enumerate(messages):
        results = to_results(items)
        added = apply(events, f"M{n}", results)
        landed = {o for o in ("F:A^LIS", "F:B^LIS") if any(i.startswith(_base(o)) for i in added)}
        for r in results:
            if r.order in landed:
                expected[(r.order, r.analyte)] = r.value
    superseded = {e["supersedes"] for e in events if e.get("supersedes")}
    shown: dict[tuple[str, str], Any] = {}
    for e in events:
        if e.get("type") == "labs" and e.get("id") not in superseded:
            order = "F:A^LIS" if e["id"].startswith(_base("F:A^LIS")) else "F:B^LIS"
            for analyte in ANALYTES:
                if analyte in e:
                    shown[(order, analyte)] = Decimal(str(e[analyte]["value"]))
    for key, value in expected.items():
        assert shown.get(key) == (None if value is None else value)


def _base(order: str) -> str:
    from inoplan.domain.results import base_event_id

    return base_event_id("hl7", "LAB", order, DAY, "labs")
