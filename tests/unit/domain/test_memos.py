"""The speed-ups that remember answers give the answers they replace (issue 15 item 3).

``Course.of_type`` (remembered per events tuple), the lab-value conversion memo of the document
reader (keyed by the exact input, number types included) and the QT name matching memo.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from inoplan.document import parse_course
from inoplan.domain import course as c
from inoplan.domain.engine.qt import QtDrug, _contains, normalise_name
from inoplan.knowledge.qt import load_qt_drugs


def _document(labs: dict[str, Any]) -> dict[str, Any]:
    return {
        "patient": {"id": "M-1", "birth_date": "1970-01-01", "sex": "female"},
        "plan": {"start_date": "2027-03-01"},
        "events": [
            {"date": "2027-02-26", "type": "vitals", "height_cm": 170, "weight_kg": 70},
            {"date": "2027-02-28", "type": "labs", **labs},
        ],
    }


def _lab(document: dict[str, Any], analyte: str) -> c.LabValue:
    labs = next(e for e in parse_course(document).events if isinstance(e, c.LabsEvent))
    return labs.values[analyte]


@pytest.mark.parametrize(
    ("first", "second"),
    [(85, 85.0), (85.0, 85), (0, 0.0), (0.0, -0.0), (-0.0, 0.0), (1.5, 1.50)],
)
def test_equal_numbers_of_another_type_keep_their_own_reported_value(
    first: float, second: float
) -> None:
    for value in (first, second):  # one after the other: the second may find the first's entry
        lab = _lab(_document({"platelets": {"value": value, "unit": "10*9/L"}}), "platelets")
        reference = parse_course(
            _document({"platelets": {"value": value, "unit": "10*9/L"}}), reference=True
        )
        expected = next(e for e in reference.events if isinstance(e, c.LabsEvent))
        assert lab == expected.values["platelets"]
        assert str(lab.reported_value) == str(expected.values["platelets"].reported_value)


def test_limits_and_units_are_part_of_the_remembered_input() -> None:
    base = {"value": 40, "unit": "U/L", "uln": 40}
    first = _lab(_document({"ast": base}), "ast")
    other_uln = _lab(_document({"ast": {**base, "uln": 35}}), "ast")
    other_unit = _lab(_document({"ast": {**base, "unit": "IU/L"}}), "ast")
    assert (first.uln, other_uln.uln) == (Decimal(40), Decimal(35))
    assert (first.reported_unit, other_unit.reported_unit) == ("U/L", "IU/L")
    with pytest.raises(ValueError, match="uln"):  # no ULN: refused each time, never remembered
        _lab(_document({"ast": {"value": 40, "unit": "U/L"}}), "ast")
    with pytest.raises(ValueError, match="uln"):
        _lab(_document({"ast": {"value": 40, "unit": "U/L"}}), "ast")


def test_of_type_is_the_isinstance_filter_per_events_tuple() -> None:
    course = parse_course(
        _document(
            {"anc": {"value": 1.2, "unit": "10*9/L"}, "platelets": {"value": 90, "unit": "K/uL"}}
        )
    )
    for kind in (c.LabsEvent, c.VitalsEvent, c.AdministrationEvent, c._EventBase):
        assert tuple(course.of_type(kind)) == tuple(e for e in course.events if isinstance(e, kind))
    fewer = dataclasses.replace(course, events=course.events[:1])  # a new tuple, its own answers
    assert tuple(fewer.of_type(c.LabsEvent)) == ()
    assert len(tuple(course.of_type(c.LabsEvent))) == 1
    assert c.events_memo(course) is c.events_memo(course)
    assert c.events_memo(fewer) is not c.events_memo(course)


def test_qt_matching_remembered_gives_the_direct_answer() -> None:
    def direct(drug: QtDrug, medication: str) -> bool:
        name = normalise_name(medication)
        if any(_contains(name, normalise_name(x)) for x in drug.excludes):
            return False
        return any(_contains(name, n) for n in drug.names())

    names = ["Zofran 8 mg", "ondansetron", "Reglan", "arsenic trioxide", "", "methadone hcl"]
    for drug in load_qt_drugs().drugs:
        for name in names:
            assert drug.matches(name) == direct(drug, name)
            assert drug.matches(name) == direct(drug, name)  # from the memo
