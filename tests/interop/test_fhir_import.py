"""FHIR R4 -> course document, on official HL7 examples and EHR-shaped inputs."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from inoplan.document import parse_course
from inoplan.domain.course import LabsEvent
from inoplan.errors import InvalidInput, UnknownUnit
from inoplan.interop.fhir_in import bundle_to_document, resources_of
from tests.interop.helpers import (
    R4,
    administration,
    load,
    observation,
    patient,
    searchset,
)

START = date(2016, 4, 1)


def pat2() -> dict[str, Any]:
    # Bundle-ghp's results are about Patient/pat2, which the Bundle does not include
    return patient("pat2", sex="female", birth="1974-12-25")


def test_weight_in_pounds_and_height_in_inches_from_the_official_examples() -> None:
    weight = load(R4 / "Observation-example.json")  # 185 [lb_av]
    height = load(R4 / "Observation-body-height.json")  # 66.9 [in_i]
    result = bundle_to_document(patient("example"), weight, height, start_date=START)
    events = {e["date"]: e for e in result.document["events"]}
    assert events["2016-03-28"] == {"date": "2016-03-28", "type": "vitals", "weight_kg": 83.91}
    assert events["1999-07-02"] == {"date": "1999-07-02", "type": "vitals", "height_cm": 169.93}
    assert result.sources["weight_kg@2016-03-28"] == "Observation/example (2016-03-28)"
    parse_course(result.document)


def test_lab_bundle_with_reference_ranges_and_dates_from_the_report() -> None:
    result = bundle_to_document(pat2(), load(R4 / "Bundle-ghp.json"), start_date=START)
    [labs] = [e for e in result.document["events"] if e["type"] == "labs"]
    assert labs["date"] == "2015-08-16"  # DiagnosticReport.effectiveDateTime via the panel
    # both limits of every reference range are kept as given (the export flags H/L/N from them)
    assert labs["anc"] == {"value": 0.9, "unit": "10*9/L", "uln": 7.5, "lln": 2}
    assert labs["platelets"] == {"value": 444, "unit": "10*9/L", "uln": 450, "lln": 150}
    assert labs["bilirubin"] == {"value": 7, "unit": "umol/L", "uln": 20, "lln": 2}  # text unit
    assert labs["alt"] == {"value": 54, "unit": "U/L", "uln": 45, "lln": 0}
    assert labs["ast"] == {"value": 30, "unit": "U/L", "uln": 41, "lln": 0}
    assert result.notes == []
    course = parse_course(result.document)
    [event] = [e for e in course.events if e.type == "labs"]
    assert isinstance(event, LabsEvent)
    assert event.values["alt"].x_uln is not None
    assert float(event.values["bilirubin"].value) == pytest.approx(7 / 17.1)  # canonical mg/dL
    assert float(event.values["alt"].x_uln) == pytest.approx(54 / 45)


def test_non_ucum_k_per_ul_text_is_read_as_10_3_per_ul() -> None:
    # "K/ul" arrives as unit text (no UCUM system): the one table of spellings maps it
    result = bundle_to_document(
        patient("genetics-example1"), load(R4 / "Bundle-report.json"), start_date=START
    )
    [labs] = [e for e in result.document["events"] if e["type"] == "labs"]
    assert labs["platelets"] == {"value": 84, "unit": "10*3/uL"}
    event = parse_course(result.document).events[0]
    assert isinstance(event, LabsEvent)
    assert event.values["platelets"].value == 84


def test_k_per_ul_coded_as_ucum_is_kelvin_and_refused() -> None:
    plt = observation("plt-1", "777-3", 84, "K/uL", "2016-03-30")  # system = UCUM
    with pytest.raises(UnknownUnit) as caught:
        bundle_to_document(patient("pt-1"), plt, start_date=START)
    assert caught.value.field == "Observation/plt-1.valueQuantity.code"


def test_an_unknown_unit_is_an_error_naming_the_resource() -> None:
    odd = observation("plt-1", "777-3", 84, "furlongs", "2016-03-30", ucum=False)
    with pytest.raises(UnknownUnit) as caught:
        bundle_to_document(patient("pt-1"), odd, start_date=START)
    assert caught.value.field == "Observation/plt-1.valueQuantity.unit"


def test_a_weight_in_stone_is_refused() -> None:
    odd = observation("w", "29463-7", 11, "[stone_av]", "2016-03-30")
    with pytest.raises(UnknownUnit, match=r"Observation/w\.valueQuantity"):
        bundle_to_document(patient("pt-1"), odd, start_date=START)


def test_a_liver_test_without_reference_range_is_left_out_and_said_so() -> None:
    bilirubin = observation("bili", "1975-2", 0.9, "mg/dL", "2016-03-30")
    result = bundle_to_document(patient("pt-1"), bilirubin, start_date=START)
    assert [e for e in result.document["events"] if e["type"] == "labs"] == []
    assert result.notes == [
        "Observation/bili (bilirubin) not used: no reference range, so no upper limit of normal"
    ]


def test_a_reference_range_in_another_unit_is_converted_to_the_value_unit() -> None:
    bilirubin = observation("bili", "1975-2", 1.2, "mg/dL", "2016-03-30")
    bilirubin["referenceRange"] = [{"high": {"value": 20.52, "unit": "umol/L"}}]
    result = bundle_to_document(patient("pt-1"), bilirubin, start_date=START)
    assert result.document["events"][0]["bilirubin"] == {"value": 1.2, "unit": "mg/dL", "uln": 1.2}


def test_the_latest_same_day_result_counts() -> None:
    early = observation("a1", "751-8", 0.8, "10*9/L", "2016-03-30T06:00:00Z")
    late = observation("a2", "751-8", 1.1, "10*9/L", "2016-03-30T18:00:00Z")
    result = bundle_to_document(patient("pt-1"), late, early, start_date=START)
    assert result.document["events"][0]["anc"]["value"] == 1.1


def test_prefetch_shapes_real_ehrs_send() -> None:
    """Search Bundles without type, wrapped entries, OperationOutcome, null and other patients."""
    wrapped = {
        "response": {"status": "200 OK"},
        "resource": observation("w", "29463-7", 70, "kg", "2016-03-30"),
    }
    untyped = searchset(observation("h", "8302-2", 1.7, "m", "2016-03-30"), typed=False)
    outcome = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "timeout"}],
    }
    stranger = observation("x", "29463-7", 120, "kg", "2016-03-30", pid="someone-else")
    result = bundle_to_document(
        patient("pt-1"),
        wrapped,
        untyped,
        outcome,
        None,
        stranger,
        patient_id="Patient/pt-1",
        start_date=START,
    )
    assert result.document["events"] == [
        {"date": "2016-03-30", "type": "vitals", "weight_kg": 70, "height_cm": 170}
    ]
    assert [r["resourceType"] for r in resources_of(outcome, None)] == []


def test_doses_without_cycle_and_day_are_placed_from_their_dates() -> None:
    given = [
        administration("a1", "2027-03-01T09:00:00+01:00", 1.69),
        administration("a2", "2027-03-08", 1.06),
        administration("a3", "2027-03-15", 1.06),
        administration("a4", "2027-03-22T10:15:00+01:00", 1.69),
    ]
    result = bundle_to_document(patient(), *given)
    doses = [(e["cycle"], e["day"], e["dose_mg"]) for e in result.document["events"]]
    assert doses == [(1, 1, 1.69), (1, 8, 1.06), (1, 15, 1.06), (2, 1, 1.69)]
    assert result.document["plan"]["start_date"] == "2027-03-01"
    assert "time" not in result.document["events"][0]  # 09:00 is the contract's default
    assert result.document["events"][3]["time"] == "10:15"
    assert "MedicationAdministration/a2: cycle 1 day 8 inferred from the dates" in result.notes
    parse_course(result.document)


def test_a_dose_that_fits_no_cycle_day_is_an_error() -> None:
    given = [administration("a1", "2027-03-01", 1.69), administration("a2", "2027-03-03", 1.06)]
    with pytest.raises(InvalidInput) as caught:
        bundle_to_document(patient(), *given)
    assert caught.value.field == "MedicationAdministration/a2"


def test_a_dose_in_micrograms_and_an_undated_dose() -> None:
    dose = administration("a1", "2027-03-01", 1690)
    dose["dosage"]["dose"] = {
        "value": 1690,
        "unit": "ug",
        "system": "http://unitsofmeasure.org",
        "code": "ug",
    }
    assert bundle_to_document(patient(), dose).document["events"][0]["dose_mg"] == 1.69
    del dose["effectiveDateTime"]
    with pytest.raises(InvalidInput, match="needs its date"):
        bundle_to_document(patient(), dose)


def test_vod_before_the_course_is_history_during_the_course_a_toxicity() -> None:
    def vod(cid: str, onset: str, severity: str | None = None) -> dict[str, Any]:
        c = {
            "resourceType": "Condition",
            "id": cid,
            "code": {"coding": [{"system": "http://snomed.info/sct", "code": "65617004"}]},
            "subject": {"reference": "Patient/pt-1"},
            "onsetDateTime": onset,
        }
        if severity:
            c["severity"] = {"coding": [{"system": "http://snomed.info/sct", "code": severity}]}
        return c

    first_dose = administration("a1", "2027-03-01", 1.69)
    before = bundle_to_document(patient(), first_dose, vod("c1", "2020-01-01"))
    assert before.document["patient"]["history"] == {"prior_vod": True}
    during = bundle_to_document(patient(), first_dose, vod("c2", "2027-03-05", "6736007"))
    assert during.document["events"][-1] == {
        "date": "2027-03-05",
        "type": "toxicity",
        "term": "vod",
        "grade": 2,
    }
    unknown = bundle_to_document(patient(), first_dose, vod("c3", "2027-03-05"))
    assert unknown.document["events"][-1]["grade"] == 3
    assert "Condition/c3: VOD severity not recorded; counted as grade 3" in unknown.notes


def test_allergies_medications_and_missing_patient() -> None:
    allergy = {
        "resourceType": "AllergyIntolerance",
        "id": "al",
        "code": {"text": "polysorbate 80"},
        "patient": {"reference": "Patient/pt-1"},
    }
    nka = {
        "resourceType": "AllergyIntolerance",
        "id": "nka",
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "716186003"}]},
    }
    med = {
        "resourceType": "MedicationRequest",
        "id": "m1",
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"text": "ondansetron"},
        "authoredOn": "2027-02-27",
        "subject": {"reference": "Patient/pt-1"},
    }
    result = bundle_to_document(patient(), allergy, nka, med, start_date=date(2027, 3, 1))
    assert result.document["patient"]["allergies"] == ["polysorbate 80"]
    assert result.document["events"] == [
        {"date": "2027-02-27", "type": "medication", "name": "ondansetron", "action": "start"}
    ]
    with pytest.raises(InvalidInput) as caught:
        bundle_to_document(med, start_date=START)
    assert caught.value.field == "Patient"
    with pytest.raises(InvalidInput, match="gender"):
        bundle_to_document({**patient(), "gender": "unknown"}, start_date=START)
