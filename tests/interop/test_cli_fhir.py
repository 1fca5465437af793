"""``inoplan fhir import`` and ``inoplan fhir export`` through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from inoplan.cli.main import main
from tests.interop.helpers import R4, administration, load, patient


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


def write_bundle(tmp_path: Path) -> Path:
    entries = [
        patient("pat2", sex="female", birth="1974-12-25"),
        load(R4 / "Bundle-ghp.json"),
        {**load(R4 / "Observation-example.json"), "subject": {"reference": "Patient/pat2"}},
        {**load(R4 / "Observation-body-height.json"), "subject": {"reference": "Patient/pat2"}},
        administration("d1", "2016-04-01", 1.5, pid="pat2"),
    ]
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in entries],
    }
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    return path


def test_import_prints_a_course_document_as_yaml_or_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_bundle(tmp_path)
    code, out, err = run(["fhir", "import", str(path)], capsys)
    assert code == 0, err
    document = yaml.safe_load(out)
    assert document["patient"] == {
        "id": "pat2",
        "birth_date": "1974-12-25",
        "sex": "female",
        "allergies": [],
        "history": {},
    }
    assert document["plan"]["start_date"] == "2016-04-01"
    code, out, _ = run(["fhir", "import", str(path), "--json"], capsys)
    assert code == 0 and json.loads(out) == document


def test_import_errors_name_the_field_and_print_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps(
            {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [
                    {
                        "resource": {
                            "resourceType": "Observation",
                            "id": "o",
                            "status": "final",
                            "code": {"coding": [{"system": "http://loinc.org", "code": "751-8"}]},
                            "effectiveDateTime": "2016-03-01",
                            "valueQuantity": {"value": 1, "unit": "g/L"},
                        }
                    },
                    {"resource": patient()},
                ],
            }
        )
    )
    code, out, err = run(
        ["fhir", "import", str(path), "--json", "--start-date", "2016-03-02"], capsys
    )
    assert code == 2
    assert json.loads(out)["error"]["field"] == "Observation/o.valueQuantity.unit"
    assert err.startswith("error: Observation/o.valueQuantity.unit: unknown unit 'g/L'")
    path.write_text(json.dumps({"resourceType": "Patient"}))
    code, _, err = run(["fhir", "import", str(path)], capsys)
    assert code == 2 and "BUNDLE" in err


def test_export_writes_a_valid_bundle_with_the_decision(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("inoplan.services.render_decision", reason="decision engine not merged yet")
    course = Path(__file__).parents[2] / "examples" / "01-first-dose.yaml"
    code, out, err = run(["fhir", "export", str(course), "--on", "2027-03-01", "--json"], capsys)
    assert code == 0, err
    bundle = json.loads(out)
    kinds = {e["resource"]["resourceType"] for e in bundle["entry"]}
    assert {
        "Patient",
        "CarePlan",
        "RequestGroup",
        "MedicationRequest",
        "Observation",
        "GuidanceResponse",
    } <= kinds
    [guidance] = [
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "GuidanceResponse"
    ]
    assert guidance["note"][0]["text"] == "Decision: give"
