"""Plausibility at the door (document layer): every numeric field and every date of the course
document, just inside and just outside each bound, with the "did you mean" of a unit slip.

The table lives in ``inoplan/document/plausibility.toml`` (height, weight and BMI are the
engine's own limits in ``inoplan.domain.body``); these tests read the bounds from it, so they
follow the table, and check that a value one step outside is refused naming its field.
"""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from inoplan.document import parse_course
from inoplan.document.io import parse_text
from inoplan.document.plausibility import (
    check_date,
    date_window,
    lab_range,
    measure_range,
)
from inoplan.domain.body import BMI_RANGE, HEIGHT_CM_RANGE, WEIGHT_KG_RANGE
from inoplan.domain.units import ANALYTE_KINDS, CANONICAL_UNIT
from inoplan.errors import ImplausibleMeasurement, InvalidInput

D = Decimal
STEP = D("0.001")


def document(*events: dict[str, Any]) -> dict[str, Any]:
    return {
        "label": "us",
        "patient": {"id": "P-1", "birth_date": "1971-03-14", "sex": "female"},
        "plan": {"start_date": "2026-12-01", "hsct_intended": True},
        "events": [
            {"date": "2026-11-28", "type": "vitals", "height_cm": 170, "weight_kg": 70},
            *events,
        ],
    }


def refused(doc: dict[str, Any]) -> InvalidInput:
    with pytest.raises(InvalidInput) as err:
        parse_course(doc)
    return err.value


def lab(analyte: str, value: Any, unit: Any = None, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "value": value,
        "unit": unit or CANONICAL_UNIT[ANALYTE_KINDS[analyte]],
        **extra,
    }
    if analyte in {"bilirubin", "ast", "alt"} and "uln" not in extra:
        result["uln"] = 1.2 if analyte == "bilirubin" else 40
    return {"date": "2026-11-29", "type": "labs", analyte: result}


def number(value: Decimal) -> float | int:
    return int(value) if value == value.to_integral_value() else float(value)


class TestTheTable:
    def test_every_analyte_of_the_document_has_a_range(self) -> None:
        assert set(ANALYTE_KINDS) <= {a for a in ANALYTE_KINDS if lab_range(a) is not None}

    def test_body_ranges_are_the_engine_s_own(self) -> None:
        assert (measure_range("height_cm").low, measure_range("height_cm").high) == HEIGHT_CM_RANGE
        assert (measure_range("weight_kg").low, measure_range("weight_kg").high) == WEIGHT_KG_RANGE
        assert (measure_range("bmi").low, measure_range("bmi").high) == BMI_RANGE

    def test_every_range_says_why(self) -> None:
        for analyte in ANALYTE_KINDS:
            found = lab_range(analyte)
            assert found is not None and found.basis and found.low < found.high
        for name in ("qtcf_ms", "dose_mg", "percent"):
            assert measure_range(name).basis


@pytest.mark.parametrize("analyte", sorted(ANALYTE_KINDS))
class TestLabValues:
    def test_the_bounds_are_accepted(self, analyte: str) -> None:
        bounds = lab_range(analyte)
        assert bounds is not None
        for value in (bounds.low, bounds.high):
            parse_course(document(lab(analyte, number(value))))

    def test_just_above_the_upper_bound_is_refused_naming_the_value(self, analyte: str) -> None:
        bounds = lab_range(analyte)
        assert bounds is not None
        err = refused(document(lab(analyte, float(bounds.high + STEP))))
        assert isinstance(err, ImplausibleMeasurement)
        assert err.field == "events[1]." + analyte + ".value"
        assert "not plausible" in err.message

    def test_just_below_the_lower_bound_is_refused(self, analyte: str) -> None:
        bounds = lab_range(analyte)
        assert bounds is not None
        below = bounds.low - STEP  # a negative count is refused by the schema itself
        err = refused(document(lab(analyte, float(below))))
        assert err.field == f"events[1].{analyte}.value"


@pytest.mark.parametrize(
    ("analyte", "part"),
    [
        ("bilirubin", "uln"),
        ("ast", "uln"),
        ("alt", "uln"),
        ("potassium", "lln"),
        ("magnesium", "lln"),
    ],
)
def test_limits_of_normal_just_inside_and_outside(analyte: str, part: str) -> None:
    bounds = lab_range(analyte, part)
    assert bounds is not None
    value = 0.5 if analyte == "bilirubin" else 30 if part == "uln" else 3
    for inside in (bounds.low, bounds.high):
        parse_course(document(lab(analyte, value, **{part: number(inside)})))
    for outside in (bounds.low - STEP, bounds.high + STEP):
        err = refused(document(lab(analyte, value, **{part: float(outside)})))
        assert err.field == f"events[1].{analyte}.{part}"


class TestDidYouMean:
    def test_a_count_per_microlitre_typed_as_10_9_per_litre(self) -> None:
        err = refused(document(lab("anc", 900, "10*9/L")))
        assert err.field == "events[1].anc.value"
        assert "900 × 10⁹/L is not plausible" in err.message
        assert "did you mean 900 /µL (0.9 × 10⁹/L)?" in err.message

    @pytest.mark.parametrize(
        ("analyte", "value", "unit", "meant"),
        [
            ("platelets", 85000, "10^9/L", "85000 /µL (85 × 10⁹/L)"),
            ("wbc", 4200, "K/uL", "4200 /µL (4.2 × 10⁹/L)"),
            ("anc", 1500, "10*3/uL", "1500 /µL (1.5 × 10⁹/L)"),
            ("bilirubin", 120, "mg/dL", "120 µmol/L (7.02 mg/dL)"),
        ],
    )
    def test_other_unit_slips(self, analyte: str, value: int, unit: str, meant: str) -> None:
        err = refused(document(lab(analyte, value, unit)))
        assert f"did you mean {meant}?" in err.message

    def test_a_value_in_the_right_unit_gets_no_suggestion(self) -> None:
        err = refused(document(lab("potassium", 40)))
        assert "did you mean" not in err.message
        assert "check the value and its unit" in err.message

    def test_a_plausible_per_microlitre_count_is_accepted(self) -> None:
        from inoplan.domain.course import LabsEvent

        course = parse_course(document(lab("anc", 900, "/uL")))
        labs = next(course.of_type(LabsEvent))
        assert labs.values["anc"].value == D("0.9")

    @pytest.mark.parametrize(
        ("field", "value", "meant"),
        [
            ("height_cm", 1.7, "1.7 m (170 cm)"),
            ("height_cm", 1700, "1700 mm (170 cm)"),
            ("weight_kg", 70000, "70000 g (70 kg)"),
            ("weight_kg", 400, "400 lb (181 kg)"),
        ],
    )
    def test_body_measurements(self, field: str, value: float, meant: str) -> None:
        doc = document()
        doc["events"][0] = {"date": "2026-11-28", "type": "vitals", field: value}
        err = refused(doc)
        assert err.field == f"events[0].{field}"
        assert f"did you mean {meant}?" in err.message

    def test_qtcf_in_seconds(self) -> None:
        err = refused(document({"date": "2026-11-29", "type": "ecg", "qtcf_ms": 0.44}))
        assert err.field == "events[1].qtcf_ms"
        assert "did you mean 0.44 s (440 ms)?" in err.message

    def test_dose_in_micrograms(self) -> None:
        administration = {
            "date": "2026-12-01",
            "type": "administration",
            "cycle": 1,
            "day": 1,
            "dose_mg": 1460,
        }
        err = refused(document(administration))
        assert err.field == "events[1].dose_mg"
        assert "did you mean 1460 µg (1.46 mg)?" in err.message


@pytest.mark.parametrize("name", ["qtcf_ms", "dose_mg"])
def test_measures_just_inside_and_outside(name: str) -> None:
    bounds = measure_range(name)

    def event(value: Decimal) -> dict[str, Any]:
        if name == "qtcf_ms":
            return {"date": "2026-11-29", "type": "ecg", "qtcf_ms": number(value)}
        return {
            "date": "2026-12-01",
            "type": "administration",
            "cycle": 1,
            "day": 1,
            "dose_mg": number(value),
        }

    for inside in (bounds.low, bounds.high):
        parse_course(document(event(inside)))
    for outside in (bounds.low - STEP, bounds.high + STEP):
        assert refused(document(event(outside))).field == f"events[1].{name}"


class TestAbsurdNumbers:
    @pytest.mark.parametrize("text", ["1e308", "1e400", "-1e400", "NaN", "Infinity", "1" * 500])
    def test_weight_from_json_text(self, text: str) -> None:
        body = json.dumps(document()).replace('"weight_kg": 70', f'"weight_kg": {text}')
        err = refused(json.loads(body))
        assert err.field.startswith("events[0].weight_kg")

    @pytest.mark.parametrize("text", [".inf", ".nan", "-.inf"])
    def test_infinities_from_yaml(self, text: str) -> None:
        doc = parse_text(
            "label: us\n"
            "patient: {id: P-1, birth_date: 1971-03-14, sex: female}\n"
            "plan: {start_date: 2026-12-01}\n"
            "events:\n"
            f"  - {{date: 2026-11-29, type: labs, anc: {{value: {text}, unit: '10*9/L'}}}}\n"
        )
        assert refused(doc).field.startswith("events[0].anc.value")

    def test_the_bmi_of_a_weight_against_an_earlier_height(self) -> None:
        doc = document({"date": "2026-11-30", "type": "vitals", "weight_kg": 300})
        doc["events"][0] = {"date": "2026-11-28", "type": "vitals", "height_cm": 150}
        err = refused(doc)
        assert err.field == "events[1].weight_kg"
        assert "body mass index" in err.message

    def test_a_corrected_weight_no_longer_counts_for_the_bmi(self) -> None:
        doc = document(
            {"id": "w1", "date": "2026-11-30", "type": "vitals", "weight_kg": 75},
            {
                "date": "2026-11-30",
                "type": "vitals",
                "weight_kg": 74,
                "supersedes": "w1",
                "reason": "scale",
            },
        )
        parse_course(doc)


class TestDates:
    def test_the_window_bounds(self) -> None:
        window = date_window()
        assert check_date(window.earliest, "on") == window.earliest
        assert check_date(window.latest, "on") == window.latest
        with pytest.raises(InvalidInput, match="outside the accepted dates"):
            check_date(date(2100, 1, 1), "on")
        with pytest.raises(InvalidInput):
            check_date(date(1899, 12, 31), "on")

    @pytest.mark.parametrize("day", ["9999-12-31", "2100-01-01", "1899-12-31", "0001-01-01"])
    def test_an_event_date_outside_the_window(self, day: str) -> None:
        doc = document({"date": day, "type": "ecg", "qtcf_ms": 430})
        assert refused(doc).field == "events[1].date"

    @pytest.mark.parametrize(
        ("path", "value"),
        [
            (("plan", "start_date"), "9999-12-31"),
            (("plan", "start_date"), "2100-01-01"),
            (("patient", "birth_date"), "1899-12-31"),
        ],
    )
    def test_start_and_birth_dates(self, path: tuple[str, str], value: str) -> None:
        doc = copy.deepcopy(document())
        doc[path[0]][path[1]] = value
        doc["events"] = []
        assert refused(doc).field == ".".join(path)

    def test_a_patient_older_than_the_plausible_age(self) -> None:
        doc = document()
        doc["patient"]["birth_date"] = "1905-11-30"  # 121 at the start
        assert refused(doc).field == "patient.birth_date"
        doc["patient"]["birth_date"] = "1906-12-01"  # 120 at the start
        parse_course(doc)
