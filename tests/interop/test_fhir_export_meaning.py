"""FHIR export that carries meaning: the decision as data, flags, performers, profiles, UCUM.

Every bundle here is validated twice, by two independent model sets: ``fhir.resources`` (R4B,
pydantic) and ``fhirclient`` (SMART on FHIR's models generated from FHIR R4 4.0.1).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

from inoplan.interop import codes
from inoplan.interop.fhir_out import (
    MCODE_MEDICATION_ADMINISTRATION,
    MCODE_PRIMARY_CANCER,
    export_bundle,
    validate_bundle,
)
from inoplan.services.courses import decide_document, plan_document

ROOT = Path(__file__).resolve().parents[2]
R4 = Path(__file__).parent / "fixtures" / "hl7-r4-examples"
ON = date(2027, 4, 19)


def example(name: str = "02-bilirubin-and-transaminases.yaml") -> dict[str, Any]:
    data = yaml.safe_load((ROOT / "examples" / name).read_text(encoding="utf-8"))
    data.pop("expect", None)
    return dict(json.loads(json.dumps(data, default=str)))


def exported(
    document: dict[str, Any], on: date = ON, **kwargs: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    decision = json.loads(json.dumps(decide_document(document, on), default=str))
    plan = plan_document(document, on)  # the plan of the same date as the decision
    bundle = export_bundle(document, plan=plan, decision=decision, **kwargs)
    validate_bundle(bundle)  # fhir.resources R4B
    validate_r4(bundle)  # fhirclient R4 (4.0.1): an independent second validator
    return bundle, decision


def validate_r4(bundle: dict[str, Any]) -> None:
    from fhirclient.models.bundle import Bundle

    Bundle(json.loads(json.dumps(bundle)), strict=True)


def test_the_second_validator_can_fail() -> None:
    from fhirclient.models.fhirabstractbase import FHIRValidationError

    bundle, _ = exported(example())
    bad = json.loads(json.dumps(bundle))
    guidance = next(e for e in bad["entry"] if e["resource"]["resourceType"] == "GuidanceResponse")
    guidance["resource"]["outputParameters"] = "#outputs"  # a string where R4 wants a Reference
    with pytest.raises(FHIRValidationError):
        validate_r4(bad)
    del guidance["resource"]["outputParameters"]
    del guidance["resource"]["status"]  # required in R4
    with pytest.raises(FHIRValidationError):
        validate_r4(bad)


def resources(bundle: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


# -- reading the decision back from outputParameters alone ------------------------------------


def _value(parameter: dict[str, Any]) -> Any:
    for key, value in parameter.items():
        if key.startswith("value"):
            if key == "valueQuantity":
                return (value["value"], value["code"])
            if key == "valueCoding":
                return value["code"]
            return value
    return {p["name"]: _value(p) for p in parameter.get("part", [])}


def read_decision(parameters: dict[str, Any]) -> dict[str, Any]:
    """What an EHR integrator would do: no notes, no text parsing, only the Parameters."""
    out: dict[str, Any] = {"reasons": [], "alerts": []}
    for p in parameters["parameter"]:
        if p["name"] == "reason":
            out["reasons"].append(_value(p))
        elif p["name"] == "alert":
            out["alerts"].append(_value(p))
        else:
            out[p["name"]] = _value(p)
    return out


@pytest.mark.parametrize(
    ("name", "on", "status"),
    [
        ("02-bilirubin-and-transaminases.yaml", date(2027, 4, 19), "hold"),
        ("01-first-dose.yaml", date(2027, 3, 1), None),
        ("03-remission-after-cycle-1.yaml", None, None),
        ("04-child.yaml", None, None),
    ],
)
def test_the_decision_reads_back_from_output_parameters_alone(
    name: str, on: date | None, status: str | None
) -> None:
    document = example(name)
    expected_on = on or date.fromisoformat(
        str(yaml.safe_load((ROOT / "examples" / name).read_text())["expect"]["as_of"])
    )
    bundle, decision = exported(document, expected_on)
    [guidance] = resources(bundle, "GuidanceResponse")
    assert guidance["occurrenceDateTime"] == decision["as_of"]
    [parameters] = guidance["contained"]
    assert guidance["outputParameters"] == {"reference": f"#{parameters['id']}"}
    read = read_decision(parameters)
    assert read["status"] == decision["status"]
    if status is not None:
        assert read["status"] == status
    assert read["asOf"] == decision["as_of"]
    assert read["labelRevision"] == decision["label_revision"]
    assert [(r["rule"], r["citation"]) for r in read["reasons"]] == [
        (r["rule"], r["citation"]) for r in decision["reasons"]
    ]
    assert [(a["code"], a["severity"]) for a in read["alerts"]] == [
        (a["code"], a["severity"]) for a in decision["alerts"]
    ]
    dose = decision["next_dose"]
    if dose is None:
        assert "nextDose" not in read
    else:
        got = read["nextDose"]
        assert (got["cycle"], got["day"], got["date"]) == (
            dose["cycle"],
            dose["day"],
            dose["scheduled"],
        )
        assert got["doseMgPerM2"] == (dose["dose_mg_per_m2"], "mg/m2")
        assert got["doseMg"] == (dose["dose_mg"], "mg")


def test_reason_inputs_are_data_not_printed_dicts() -> None:
    bundle, _ = exported(example())
    [guidance] = resources(bundle, "GuidanceResponse")
    read = read_decision(guidance["contained"][0])
    hepatic = next(r for r in read["reasons"] if r["rule"] == "hepatic.bilirubin-and-transaminases")
    assert hepatic["inputs"]["bilirubin"]["x_uln"] == pytest.approx(1.91)
    assert hepatic["inputs"]["bilirubin_limit_x_uln"] == pytest.approx(1.5)
    assert hepatic["verdict"] == "hold"


# -- observations: interpretation flags, reference ranges, coded pregnancy results -----------


def lab(bundle: dict[str, Any], loinc: str, day: str) -> dict[str, Any]:
    [found] = [
        o
        for o in resources(bundle, "Observation")
        if any(c["code"] == loinc for c in o["code"]["coding"]) and o["effectiveDateTime"] == day
    ]
    return found


def flag(observation: dict[str, Any]) -> str | None:
    found = observation.get("interpretation")
    return found[0]["coding"][0]["code"] if found else None


def test_lab_observations_carry_interpretation_and_reference_range() -> None:
    document = example()
    document["events"].append(
        {
            "date": "2027-04-18",
            "type": "labs",
            "potassium": {"value": 3.1, "unit": "mmol/L", "lln": 3.5, "uln": 5.1},
            "magnesium": {"value": 0.8, "unit": "mmol/L", "lln": 0.7, "uln": 1.0},
        }
    )
    bundle, _ = exported(document)
    bilirubin = lab(bundle, "1975-2", "2027-04-18")
    assert flag(bilirubin) == "H"  # 2.1 with ULN 1.1
    assert bilirubin["referenceRange"] == [
        {"high": {"value": 1.1, "unit": "mg/dL", "system": codes.UCUM, "code": "mg/dL"}}
    ]
    assert flag(lab(bundle, "1975-2", "2027-04-04")) == "N"  # 0.5 with ULN 1.1
    assert flag(lab(bundle, "2823-3", "2027-04-18")) == "L"  # 3.1 below LLN 3.5
    assert flag(lab(bundle, "2601-3", "2027-04-18")) == "N"  # 0.8 within 0.7-1.0
    anc = lab(bundle, "751-8", "2027-04-18")
    assert flag(anc) is None and "referenceRange" not in anc  # no limits given: no flag


@pytest.mark.parametrize(("value", "expected"), [(1.2, "N"), (1.21, "H"), (0.0, "N")])
def test_the_flag_at_and_just_above_the_limit(value: float, expected: str) -> None:
    document = example()
    document["events"][-1]["bilirubin"] = {"value": value, "unit": "mg/dL", "uln": 1.2}
    bundle, _ = exported(document)
    assert flag(lab(bundle, "1975-2", "2027-04-18")) == expected


def test_the_pregnancy_result_is_coded() -> None:
    bundle, _ = exported(example())
    [test] = [
        o for o in resources(bundle, "Observation") if o["code"]["coding"][0]["code"] == "2118-8"
    ]
    assert test["valueCodeableConcept"]["coding"] == [
        {"system": codes.SNOMED, "code": "260385009", "display": "Negative"}
    ]


# -- administrations, cancer condition, detected issues -------------------------------------------


def test_administrations_name_their_performer_or_say_it_was_not_recorded() -> None:
    document = example()
    document["events"][4]["id"] = "dose-c1d1"
    bundle, _ = exported(document, performers={"dose-c1d1": "RN J. Example"})
    given = {
        (a["extension"][0]["valueInteger"], a["extension"][1]["valueInteger"]): a
        for a in resources(bundle, "MedicationAdministration")
    }
    assert given[(1, 1)]["performer"][0]["actor"] == {"display": "RN J. Example"}
    absent = given[(1, 8)]["performer"][0]["actor"]
    assert absent["extension"][0]["valueCode"] == "unknown"
    for administration in given.values():
        assert administration["meta"]["profile"] == [MCODE_MEDICATION_ADMINISTRATION]
        assert administration["reasonReference"] == [{"reference": "Condition/indication"}]


def test_a_withdrawn_correction_leaves_the_dose_it_corrected_in_the_export() -> None:
    """The export resolves corrections with the document's one rule: voiding a correction puts
    the corrected entry back (it was left out before)."""
    document = example()
    first = document["events"][4]
    assert (first["type"], first["day"]) == ("administration", 1)
    first["id"] = "a1"
    document["events"] += [
        {**first, "id": "a2", "dose_mg": 1.3, "supersedes": "a1", "reason": "typo"},
        {"date": "2027-04-06", "type": "void", "supersedes": "a2", "reason": "wrong"},
    ]
    bundle, _ = exported(document)
    doses = [
        (a["extension"][1]["valueInteger"], a["dosage"]["dose"]["value"])
        for a in resources(bundle, "MedicationAdministration")
        if a["extension"][0]["valueInteger"] == 1
    ]
    assert doses == [(1, 1.25), (8, 0.78)]


def test_the_cancer_condition_is_mcodes_primary_cancer_condition() -> None:
    bundle, _ = exported(example())
    [condition] = [c for c in resources(bundle, "Condition") if c["id"] == "indication"]
    assert condition["meta"]["profile"] == [MCODE_PRIMARY_CANCER]
    assert condition["code"]["coding"][0]["code"] == "277571004"


def test_every_detected_issue_names_what_it_implicates() -> None:
    bundle, decision = exported(example())
    issues = resources(bundle, "DetectedIssue")
    assert len(issues) == sum(a["severity"] in ("critical", "warning") for a in decision["alerts"])
    by_code = {i["code"]["coding"][0]["code"]: i for i in issues}
    bilirubin = lab(bundle, "1975-2", "2027-04-18")
    assert {"reference": f"Observation/{bilirubin['id']}"} in by_code["VOD_SUSPECTED"]["implicated"]
    ids = {f"{r['resourceType']}/{r['id']}" for r in (e["resource"] for e in bundle["entry"])}
    for issue in issues:
        assert issue["implicated"]
        assert {i["reference"] for i in issue["implicated"]} <= ids


# -- core extension only where defined; UCUM only -----------------------------------------------


def _extension_parents(node: Any, path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        for ext in node.get("extension") or ():
            yield path, node
            del ext
        for key, value in node.items():
            if key != "extension":
                yield from _extension_parents(value, f"{path}.{key}")
    elif isinstance(node, list):
        for item in node:
            yield from _extension_parents(item, path)


def test_days_of_cycle_only_in_its_defined_contexts_under_a_timed_cycle() -> None:
    definition = json.loads((R4 / "StructureDefinition-timing-daysOfCycle.json").read_text())
    contexts = {c["expression"] for c in definition["context"]}
    assert contexts == {"PlanDefinition.action", "RequestGroup.action"}  # FHIR R4 4.0.1
    bundle, _ = exported(example())
    uses = []
    for entry in bundle["entry"]:
        resource = entry["resource"]
        for path, parent in _extension_parents(resource, resource["resourceType"]):
            if any(e.get("url") == codes.DAYS_OF_CYCLE for e in parent["extension"]):
                uses.append(path)
    assert uses and set(uses) == {"PlanDefinition.action.action"}
    # a nested action is the same element (contentReference #PlanDefinition.action)
    assert {u.replace(".action.action", ".action") for u in uses} <= contexts
    [regimen] = resources(bundle, "PlanDefinition")
    for cycle in regimen["action"]:
        assert "timingDuration" in cycle  # the parent action with a timing defines the cycle
    assert not any("RequestGroup" in u for u in uses)


UCUM_CODES = set(codes.UCUM_LAB_UNITS) | {"kg", "cm", "mg", "mg/m2", "m2", "ms", "%", "d"}


def _quantities(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "value" in node and ("unit" in node or "code" in node) and "system" in node:
            yield node
        for value in node.values():
            yield from _quantities(value)
    elif isinstance(node, list):
        for item in node:
            yield from _quantities(item)


def test_only_ucum_codes_on_the_wire_even_for_document_spellings() -> None:
    document = example()
    last = document["events"][-1]
    last["platelets"] = {"value": 61, "unit": "K/uL"}
    last["anc"] = {"value": 900, "unit": "cells/uL"}
    last["alt"] = {"value": 110, "unit": "IU/L", "uln": 35}
    bundle, _ = exported(document)
    found = list(_quantities(bundle))
    assert found
    for quantity in found:
        assert quantity["system"] == codes.UCUM and quantity["code"] in UCUM_CODES, quantity
    platelets = lab(bundle, "777-3", "2027-04-18")["valueQuantity"]
    assert (platelets["code"], platelets["unit"]) == ("10*3/uL", "K/uL")
    assert lab(bundle, "1742-6", "2027-04-18")["valueQuantity"]["code"] == "[IU]/L"
