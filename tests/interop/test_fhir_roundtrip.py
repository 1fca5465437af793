"""Course document <-> FHIR R4 Bundle: the export validates and the round trip is lossless."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from inoplan import DISCLAIMER
from inoplan.document.models import CourseDocument
from inoplan.interop import codes
from inoplan.interop.fhir_in import bundle_to_document
from inoplan.interop.fhir_out import export_bundle, validate_bundle
from inoplan.services.courses import plan_document, today
from tests.interop.helpers import R4, administration, load, observation, patient

EXAMPLES_DIR = Path(__file__).parents[2] / "examples"
EXAMPLES = sorted(EXAMPLES_DIR.glob("*.yaml"))


def course(name: str) -> dict[str, Any]:
    data = yaml.safe_load((EXAMPLES_DIR / name).read_text(encoding="utf-8"))
    data.pop("expect", None)
    plain: dict[str, Any] = json.loads(json.dumps(data, default=str))
    return plain


def normal(document: dict[str, Any]) -> dict[str, Any]:
    """Defaults filled in, same-day events in a fixed order: equal meaning, equal value."""
    dumped = CourseDocument.model_validate(document).model_dump(mode="json", exclude_none=True)
    dumped["events"] = sorted(
        dumped["events"], key=lambda e: (e["date"], e["type"], json.dumps(e, sort_keys=True))
    )
    return dumped


DECISION = {
    "label": "us",
    "label_revision": "us-2024-03",
    "engine_version": "0.1.0",
    "as_of": "2026-12-08",
    "status": "hold",
    "next_dose": {
        "cycle": 1,
        "day": 8,
        "scheduled": "2026-12-08",
        "dose_mg_per_m2": 0.5,
        "dose_mg": 0.91,
        "bsa_m2": 1.82,
    },
    "reasons": [
        {
            "rule": "hepatic.bilirubin",
            "citation": "US PI 2.4, Table 3",
            "message": "Bilirubin 1.9 x ULN > 1.5 x ULN",
            "inputs": {"bilirubin_x_uln": 1.9},
        }
    ],
    "alerts": [
        {
            "severity": "critical",
            "code": "VOD_SUSPECTED",
            "message": "Check for VOD",
            "citation": "US PI 5.1",
        },
        {
            "severity": "info",
            "code": "PREMEDICATION",
            "message": "Premedicate",
            "citation": "US PI 2.2",
        },
    ],
}


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES_DIR.glob("*.yaml")))
def test_every_course_exports_to_a_valid_bundle_and_back(name: str) -> None:
    document = course(name)
    bundle = export_bundle(document, plan=plan_document(document, today()))
    validate_bundle(bundle)  # fhir.resources R4B models
    back = bundle_to_document(bundle)
    assert back.notes == []
    assert normal(back.document) == normal(document)


def test_fhir_round_trip_import_export_import_is_equal() -> None:
    """Start from EHR-shaped FHIR (official examples + doses): import, export, import again."""
    resources = [
        patient("pat2", sex="female", birth="1974-12-25"),
        load(R4 / "Bundle-ghp.json"),
        {**load(R4 / "Observation-example.json"), "subject": {"reference": "Patient/pat2"}},
        {**load(R4 / "Observation-body-height.json"), "subject": {"reference": "Patient/pat2"}},
        administration("d1", "2016-04-01T09:30:00Z", 1.5, pid="pat2"),
        administration("d2", "2016-04-08", 0.94, pid="pat2"),
        observation("qtc", "76634-5", 431, "ms", "2016-03-29", pid="pat2"),
    ]
    first = bundle_to_document(*resources, patient_id="pat2")
    on = date.fromisoformat(str(DECISION["as_of"]))  # plan and decision of one date
    exported = export_bundle(
        first.document, plan=plan_document(first.document, on), decision=DECISION
    )
    validate_bundle(exported)
    second = bundle_to_document(exported)
    assert second.document == first.document
    again = export_bundle(
        second.document, plan=plan_document(second.document, on), decision=DECISION
    )
    assert bundle_to_document(again).document == first.document


def by_type(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_the_export_carries_plan_doses_codes_and_the_decision() -> None:
    document = course("01-first-dose.yaml")
    document["events"].append(
        {
            "date": "2027-03-01",
            "type": "administration",
            "cycle": 1,
            "day": 1,
            "dose_mg": 1.69,
            "time": "09:30",
        }
    )
    plan = plan_document(document, date(2027, 3, 2))  # as of a day the dose is known
    decision = {**DECISION, "as_of": "2027-03-02"}  # the decision of the plan's date
    bundle = export_bundle(document, plan=plan, decision=decision, course_id=7)
    validate_bundle(bundle)
    [care_plan] = by_type(bundle, "CarePlan")
    assert care_plan["period"]["start"] == "2027-03-01"
    assert care_plan["identifier"][0]["value"] == "7"
    [group] = by_type(bundle, "RequestGroup")
    assert care_plan["activity"][0]["reference"] == {"reference": f"RequestGroup/{group['id']}"}
    cycle1 = group["action"][0]
    assert cycle1["timingPeriod"] == {"start": "2027-03-01", "end": "2027-03-21"}
    assert [a["timingDateTime"] for a in cycle1["action"]] == [
        "2027-03-01",
        "2027-03-08",
        "2027-03-15",
    ]
    [regimen] = by_type(bundle, "PlanDefinition")
    assert group["instantiatesCanonical"] == [regimen["url"]]
    cycle1_definition = regimen["action"][0]
    assert cycle1_definition["timingDuration"]["value"] == 21  # the cycle the days count in
    days = [a["extension"][0] for a in cycle1_definition["action"]]
    assert days[0]["url"] == "http://hl7.org/fhir/StructureDefinition/timing-daysOfCycle"
    assert days[0]["url"] == load(R4 / "StructureDefinition-timing-daysOfCycle.json")["url"]
    assert [d["extension"][0]["valueInteger"] for d in days] == [1, 8, 15]
    requests = by_type(bundle, "MedicationRequest")
    assert len(requests) == len(plan["doses"])
    first = requests[0]
    assert first["intent"] == "plan"  # decision support, not an order
    assert {c["code"] for c in first["medicationCodeableConcept"]["coding"]} == {
        "1942950",
        "L01FB01",
    }
    rates = {
        r["type"]["coding"][0]["code"]: r["doseQuantity"]
        for r in first["dosageInstruction"][0]["doseAndRate"]
    }
    assert rates["ordered"] == {
        "value": 0.8,
        "unit": "mg/m2",
        "system": codes.UCUM,
        "code": "mg/m2",
    }
    assert (
        rates["calculated"]["code"] == "mg"
        and rates["calculated"]["value"] == plan["doses"][0]["dose_mg"]
    )
    [given] = by_type(bundle, "MedicationAdministration")
    assert given["effectivePeriod"] == {
        "start": "2027-03-01T09:30:00+00:00",
        "end": "2027-03-01T10:30:00+00:00",
    }
    assert given["request"]["reference"] == f"MedicationRequest/{first['id']}"
    [guidance] = by_type(bundle, "GuidanceResponse")
    texts = [n["text"] for n in guidance["note"]]
    assert "Decision: hold" in texts
    assert any("US PI 2.4, Table 3" in t and "bilirubin_x_uln=1.9" in t for t in texts)
    assert texts[-1] == DISCLAIMER
    [issue] = by_type(bundle, "DetectedIssue")  # the critical alert; info alerts stay notes
    assert issue["severity"] == "high" and DISCLAIMER in issue["detail"]
    loincs = {c["code"] for o in by_type(bundle, "Observation") for c in o["code"]["coding"]}
    assert {"29463-7", "8302-2", "751-8", "777-3", "1920-8", "1742-6", "14631-6"} <= loincs


def test_the_export_refuses_nothing_and_times_follow_the_clinic_zone() -> None:
    document = course("01-first-dose.yaml")
    document["events"].append(
        {
            "date": "2027-03-01",
            "type": "administration",
            "cycle": 1,
            "day": 1,
            "dose_mg": 1.69,
            "time": "09:30",
        }
    )
    bundle = export_bundle(document, timezone="Europe/Berlin")
    [given] = by_type(bundle, "MedicationAdministration")
    assert given["effectivePeriod"]["start"] == "2027-03-01T09:30:00+01:00"
    assert bundle_to_document(bundle).document["events"][-1]["time"] == "09:30"


def test_corrections_export_only_the_effective_events() -> None:
    document = course("01-first-dose.yaml")
    document["events"] += [
        {
            "id": "d1",
            "date": "2027-03-01",
            "type": "administration",
            "cycle": 1,
            "day": 1,
            "dose_mg": 1.96,
        },
        {
            "id": "d1-fix",
            "date": "2027-03-01",
            "type": "administration",
            "cycle": 1,
            "day": 1,
            "dose_mg": 1.69,
            "supersedes": "d1",
            "reason": "typing error",
        },
    ]
    bundle = export_bundle(document)
    validate_bundle(bundle)
    [given] = by_type(bundle, "MedicationAdministration")
    assert given["dosage"]["dose"]["value"] == 1.69
    back = bundle_to_document(bundle).document
    assert [e for e in back["events"] if e["type"] == "administration"] == [
        {
            "id": "d1-fix",
            "date": "2027-03-01",
            "type": "administration",
            "cycle": 1,
            "day": 1,
            "dose_mg": 1.69,
        }
    ]


def test_a_medication_stopped_under_its_brand_ends_its_statement() -> None:
    """The export pairs start and stop as the engine does (brand = generic); an unmatched stop
    ends nothing."""
    document = course("01-first-dose.yaml")
    document["events"] += [
        {"date": "2027-02-20", "type": "medication", "name": "ondansetron", "action": "start"},
        {"date": "2027-02-25", "type": "medication", "name": "ZOFRAN", "action": "stop"},
        {"date": "2027-02-20", "type": "medication", "name": "fluconazole", "action": "start"},
        {"date": "2027-02-25", "type": "medication", "name": "Diflucann", "action": "stop"},
    ]
    bundle = export_bundle(document)
    validate_bundle(bundle)
    statements = {
        s["medicationCodeableConcept"]["text"]: s for s in by_type(bundle, "MedicationStatement")
    }
    assert statements["ondansetron"]["status"] == "stopped"
    assert statements["ondansetron"]["effectivePeriod"] == {
        "start": "2027-02-20",
        "end": "2027-02-25",
    }
    assert statements["fluconazole"]["status"] == "active"
    assert "end" not in statements["fluconazole"]["effectivePeriod"]


@pytest.mark.parametrize(
    ("term", "vod"),
    [
        ("vod", True),
        ("Hepatic VOD", True),
        ("SOS", True),
        ("sinusoidal obstruction syndrome", True),
        ("nausea", False),
        ("hepatotoxicity", False),  # liver, not VOD
    ],
)
def test_a_vod_toxicity_exports_the_snomed_code_whatever_its_spelling(term: str, vod: bool) -> None:
    """The export compares terms through the one vocabulary, not the raw text."""
    document = course("01-first-dose.yaml")
    document["events"].append({"date": "2027-02-27", "type": "toxicity", "term": term, "grade": 1})
    bundle = export_bundle(document)
    [condition] = [c for c in by_type(bundle, "Condition") if c["code"].get("text") == term]
    systems = {c["system"] for c in condition["code"]["coding"]}
    assert (codes.SNOMED in systems) is vod


def test_a_plan_and_a_decision_of_different_dates_are_refused() -> None:
    from inoplan.errors import InvalidInput

    document = course("01-first-dose.yaml")
    plan = plan_document(document, date(2027, 3, 2))
    with pytest.raises(InvalidInput, match="plan is as of 2027-03-02 but the decision is for"):
        export_bundle(document, plan=plan, decision={**DECISION, "as_of": "2027-03-03"})
    export_bundle(document, plan=plan, decision={**DECISION, "as_of": "2027-03-02"})


@pytest.mark.parametrize(
    "care",
    [
        {
            "premedication": ["corticosteroid", "antipyretic", "antihistamine"],
            "observation_min": 60,
        },
        {
            "premedication": [],
            "premedication_reason": "refused by the patient",
            "observation_min": 59,
            "observation_reason": "left for a scan",
        },
        {"premedication": ["antihistamine"], "premedication_reason": "none in stock"},
        {"override_reason": "given despite grade 2 nausea: prescriber's decision"},
    ],
)
def test_premedication_observation_and_override_round_trip(care: dict[str, Any]) -> None:
    document = course("01-first-dose.yaml")
    dose = {"date": "2027-03-01", "type": "administration", "cycle": 1, "day": 1, "dose_mg": 1.46}
    document["events"].append({**dose, **care})
    bundle = export_bundle(document, plan=plan_document(document, date(2027, 3, 2)))
    validate_bundle(bundle)
    [given] = by_type(bundle, "MedicationAdministration")
    assert {e["url"].rsplit("/", 1)[-1] for e in given["extension"]} >= set(care)
    back = bundle_to_document(bundle)
    assert normal(back.document) == normal(document)


CHANGES = [
    {
        "id": "pc1",
        "date": "2027-03-02",
        "type": "plan_change",
        "reason": "transplant now planned",
        "hsct_intended": True,
        "bsa_formula": "dubois",
    },
    {
        "id": "rs1",
        "date": "2027-03-02",
        "type": "reschedule",
        "reason": "clinic closed on the 8th",
        "cycle": 1,
        "day": 8,
        "to": "2027-03-09",
    },
    {
        "id": "dc1",
        "date": "2027-03-03",
        "type": "dose_change",
        "reason": "frail: lower dose",
        "cycle": 1,
        "day": 15,
        "dose_mg_per_m2": 0.375,
    },
]


def test_plan_changes_reschedules_and_dose_changes_export_as_tasks_and_come_back() -> None:
    document = course("01-first-dose.yaml")
    document["events"] += CHANGES
    on = date(2027, 3, 4)
    bundle = export_bundle(document, plan=plan_document(document, on))
    validate_bundle(bundle)
    from tests.interop.test_fhir_export_meaning import validate_r4

    validate_r4(bundle)  # FHIR R4 4.0.1 models (fhirclient): Task as R4 defines it
    tasks = {t["identifier"][0]["value"]: t for t in by_type(bundle, "Task")}
    assert set(tasks) == {"pc1", "rs1", "dc1"}
    for task in tasks.values():
        assert task["status"] == "completed" and task["intent"] == "plan"
        assert task["code"]["coding"][0] == {
            "system": "http://hl7.org/fhir/CodeSystem/task-code",
            "code": "change",
            "display": "Change the focal resource",
        }
        assert task["for"] == {"reference": f"Patient/{document['patient']['id']}"}
    assert tasks["pc1"]["focus"] == {"reference": "CarePlan/course"}
    assert tasks["rs1"]["focus"]["reference"].startswith("MedicationRequest/dose-c1d8")
    assert tasks["dc1"]["authoredOn"] == "2027-03-03"
    assert tasks["dc1"]["reasonCode"] == {"text": "frail: lower dose"}
    assert "lowered to 0.375 mg/m2" in tasks["dc1"]["description"]
    back = bundle_to_document(bundle)
    assert back.notes == []
    assert normal(back.document) == normal(document)
    # and again: export -> import -> export -> import is stable
    again = export_bundle(back.document, plan=plan_document(back.document, on))
    assert normal(bundle_to_document(again).document) == normal(document)


def test_a_task_that_is_not_ours_is_skipped_and_ours_needs_its_reason() -> None:
    document = course("01-first-dose.yaml")
    document["events"] += CHANGES[2:]
    bundle = export_bundle(document, plan=plan_document(document, date(2027, 3, 4)))
    [task] = by_type(bundle, "Task")
    foreign = {**task, "id": "other", "code": {"text": "call the patient"}}
    bundle["entry"].append({"resource": foreign})
    assert normal(bundle_to_document(bundle).document) == normal(document)
    del task["reasonCode"]
    from inoplan.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        bundle_to_document(bundle)
    assert refused.value.field == f"Task/{task['id']}.reasonCode.text"


def test_an_imported_dose_observed_too_briefly_needs_its_reason() -> None:
    """The course document's rule holds on the FHIR import too (validate_import)."""
    from inoplan.errors import InvalidInput
    from inoplan.interop.fhir_in import validate_import

    document = course("01-first-dose.yaml")
    dose = {"date": "2027-03-01", "type": "administration", "cycle": 1, "day": 1, "dose_mg": 1.46}
    document["events"].append({**dose, "observation_min": 59, "observation_reason": "left"})
    bundle = export_bundle(document, plan=plan_document(document, date(2027, 3, 2)))
    [given] = by_type(bundle, "MedicationAdministration")
    given["extension"] = [e for e in given["extension"] if "observation_reason" not in e["url"]]
    with pytest.raises(InvalidInput) as refused:
        validate_import(bundle_to_document(bundle))
    assert refused.value.field.endswith("observation_reason")
