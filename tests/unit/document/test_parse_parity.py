"""The parse fast lane gives the same decisions as the step-by-step (reference) conversion.

``parse_course`` converts lab values through ``_quick_lab`` (no field name built per step, one
cached unit look-up); ``parse_course(..., reference=True)`` converts every value the
step-by-step way. Both validate the whole document first. For every golden case, every worked
example and random documents (Hypothesis, values in every accepted unit, inside and outside the
plausible ranges) the two must build equal courses and render identical decisions, or refuse the
document with the same field and message.
"""

from __future__ import annotations

import copy
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inoplan.document import parse_course
from inoplan.domain.units import ANALYTE_KINDS, accepted_units
from inoplan.errors import InvalidInput
from inoplan.services.courses import decide_course

ROOT = Path(__file__).parents[3]
CASES = sorted((ROOT / "tests" / "golden" / "cases").glob("*.yaml")) + sorted(
    (ROOT / "examples").glob("*.yaml")
)


def _outcome(document: dict[str, Any], on: date, *, reference: bool) -> Any:
    """The rendered decision, or the refusal (field, message)."""
    try:
        course = parse_course(copy.deepcopy(document), reference=reference)
    except InvalidInput as exc:
        return ("refused", exc.field, exc.message)
    return course, decide_course(course, on)


def _same(document: dict[str, Any], on: date) -> None:
    fast = _outcome(document, on, reference=False)
    slow = _outcome(document, on, reference=True)
    assert fast == slow  # the courses (every Decimal, unit, limit) and the full decision


def test_the_cases_cover_golden_and_examples() -> None:
    assert len(CASES) > 100
    assert any(p.parent.name == "examples" for p in CASES)


@pytest.mark.parametrize("path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden_cases_and_examples_decide_the_same(path: Path) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    expect = document.pop("expect")
    on = expect["as_of"]
    _same(document, on)
    for shift in (-7, 3, 10):  # other days of the same course, other statuses
        _same(document, on + timedelta(days=shift))


# -- random documents ----------------------------------------------------------------------------

_NUMBERS = st.one_of(
    st.integers(min_value=0, max_value=500_000),
    st.floats(min_value=0, max_value=500_000, allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 0.0, -0.0, 1e-7, 0.001, 1.2, 17.1, 34.2, 2400, 1e13, 1e300]),
)


@st.composite
def _lab_value(draw: st.DrawFn, analyte: str) -> dict[str, Any]:
    units = [*accepted_units(analyte), " µ/L ", "mg/dL", "/µL", "mmol/L"]
    value: dict[str, Any] = {"value": draw(_NUMBERS), "unit": draw(st.sampled_from(units))}
    for limit in ("uln", "lln"):
        if draw(st.booleans()):
            value[limit] = draw(_NUMBERS.filter(lambda x: x > 0))
    if draw(st.integers(0, 9)) == 0:
        value["transfused"] = True
    return value


@st.composite
def _documents(draw: st.DrawFn) -> tuple[dict[str, Any], date]:
    start = date(2027, 3, 1)
    height = draw(st.integers(140, 200))
    weight = draw(st.integers(40, 130))
    events: list[dict[str, Any]] = [
        {"date": "2027-02-26", "type": "vitals", "height_cm": height, "weight_kg": weight}
    ]
    day = start - timedelta(days=1)
    for cycle_day in draw(st.lists(st.sampled_from([1, 8, 15]), min_size=0, max_size=6)):
        labs: dict[str, Any] = {"date": day.isoformat(), "type": "labs"}
        for analyte in draw(st.lists(st.sampled_from(sorted(ANALYTE_KINDS)), unique=True)):
            labs[analyte] = draw(_lab_value(analyte))
        if len(labs) > 2:
            events.append(labs)
        day += timedelta(days=draw(st.integers(0, 9)))
        if draw(st.booleans()):
            events.append(
                {
                    "date": day.isoformat(),
                    "type": "administration",
                    "cycle": 1,
                    "day": cycle_day,
                    "dose_mg": draw(st.sampled_from([0.9, 1.0, 1.46, 1.5, 0.95])),
                }
            )
        day += timedelta(days=draw(st.integers(1, 8)))
    document = {
        "label": draw(st.sampled_from(["us", "eu"])),
        "patient": {"id": "H-1", "birth_date": "1970-01-01", "sex": "female"},
        "plan": {"start_date": start.isoformat(), "hsct_intended": draw(st.booleans())},
        "events": events,
    }
    return document, day


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_documents())
def test_random_documents_decide_the_same(case: tuple[dict[str, Any], date]) -> None:
    document, on = case
    _same(document, on)


def test_a_refused_lab_value_names_its_field_on_both_lanes() -> None:
    document = {
        "patient": {"id": "H-2", "birth_date": "1970-01-01", "sex": "male"},
        "plan": {"start_date": "2027-03-01"},
        "events": [
            {"date": "2027-02-28", "type": "labs", "anc": {"value": 2.4, "unit": "10*9/L"}},
            {"date": "2027-02-28", "type": "labs", "platelets": {"value": 9000, "unit": "K/uL"}},
        ],
    }
    fast = _outcome(document, date(2027, 3, 1), reference=False)
    assert fast[0] == "refused" and fast[1] == "events[1].platelets.value"
    assert fast == _outcome(document, date(2027, 3, 1), reference=True)
