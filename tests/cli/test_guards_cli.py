"""The same plausibility and date guards on the command line and the FHIR import (issue 11):
exit code 2 and one line naming the field; the FHIR import names the resource."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from inoplan.cli.main import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (0 if code is None else int(code)), out, err


def course(**anc: Any) -> dict[str, Any]:
    return {
        "label": "us",
        "patient": {"id": "C-9", "birth_date": "1970-01-01", "sex": "male"},
        "plan": {"start_date": "2026-12-01", "hsct_intended": False},
        "events": [
            {"date": "2026-11-28", "type": "vitals", "height_cm": 175, "weight_kg": 72},
            {"date": "2026-11-29", "type": "labs", "anc": anc or {"value": 1.5, "unit": "10*9/L"}},
        ],
    }


def write(tmp_path: Path, document: dict[str, Any] | str, name: str = "c.json") -> Path:
    path = tmp_path / name
    text = document if isinstance(document, str) else json.dumps(document)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("command", [["evaluate", "--on", "2026-12-01"], ["plan"], ["pk"]])
def test_anc_900_in_10_9_per_litre_exits_2_with_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: list[str]
) -> None:
    path = write(tmp_path, course(value=900, unit="10*9/L"))
    code, out, err = run(capsys, command[0], str(path), *command[1:], "--json")
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("error: events[1].anc.value: ")
    assert "did you mean 900 /µL (0.9 × 10⁹/L)?" in err
    assert json.loads(out)["error"]["field"] == "events[1].anc.value"


@pytest.mark.parametrize("weight", ["1e308", "1e999", "NaN", "-Infinity"])
def test_absurd_numbers_in_a_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, weight: str
) -> None:
    text = json.dumps(course()).replace('"weight_kg": 72', f'"weight_kg": {weight}')
    code, _, err = run(capsys, "evaluate", str(write(tmp_path, text)), "--on", "2026-12-01")
    assert code == 2 and err.count("\n") == 1
    assert "events[0].weight_kg" in err


def test_a_yaml_infinity(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = (
        "patient: {id: Y, birth_date: 1970-01-01, sex: male}\n"
        "plan: {start_date: 2026-12-01}\n"
        "events:\n"
        "  - {date: 2026-11-28, type: vitals, height_cm: .inf, weight_kg: 70}\n"
    )
    code, _, err = run(
        capsys, "evaluate", str(write(tmp_path, text, "c.yaml")), "--on", "2026-12-01"
    )
    assert code == 2 and "events[0].height_cm" in err


@pytest.mark.parametrize("on", ["9999-12-31", "2100-01-01", "1899-12-31"])
def test_a_decision_date_outside_the_window(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, on: str
) -> None:
    code, _, err = run(capsys, "evaluate", str(write(tmp_path, course())), "--on", on)
    assert code == 2
    assert err.startswith("error: on: ") and "outside the accepted dates" in err


def test_the_window_ends_are_decided(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for on in ("1900-01-01", "2099-12-31"):
        code, out, err = run(
            capsys, "evaluate", str(write(tmp_path, course())), "--on", on, "--json"
        )
        assert code == 0, err
        assert json.loads(out)["as_of"] == on


def test_an_event_dated_9999(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    document = course()
    document["events"][1]["date"] = "9999-12-31"
    code, _, err = run(capsys, "plan", str(write(tmp_path, document)))
    assert code == 2 and "events[1].date" in err


def test_the_batch_reports_the_implausible_file_and_goes_on(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    folder = tmp_path / "batch"
    folder.mkdir()
    write(folder, course(value=900, unit="10*9/L"), "a.json")
    write(folder, course(), "b.json")
    code, out, _ = run(capsys, "evaluate", str(folder), "--on", "2026-12-01")
    assert code == 1  # a file could not be evaluated; the other was (evaluate --help)
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["error"]["field"] == "events[1].anc.value"
    assert lines[1]["status"] is not None


# -- FHIR import ---------------------------------------------------------------------------------


def bundle(value: float, unit: str) -> dict[str, Any]:
    from tests.interop.helpers import observation, patient

    resources = [
        patient("p-9"),
        observation("wt-1", "29463-7", 72, "kg", "2026-11-28", pid="p-9"),
        observation("ht-1", "8302-2", 175, "cm", "2026-11-28", pid="p-9"),
        observation("anc-1", "751-8", value, unit, "2026-11-29T08:00:00Z", pid="p-9"),
    ]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


def test_fhir_import_names_the_observation(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path, bundle(900, "10*9/L"), "bundle.json")
    code, out, err = run(capsys, "fhir", "import", str(path), "--start-date", "2026-12-01")
    assert code == 2 and out == ""
    assert err.startswith("error: Observation/anc-1.valueQuantity.value: ")
    assert "did you mean 900 /µL" in err and "events[" in err
    path = write(tmp_path, bundle(900, "/uL"), "ok.json")
    code, out, err = run(capsys, "fhir", "import", str(path), "--start-date", "2026-12-01")
    assert code == 0, err


def test_fhir_import_start_date_outside_the_window(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = write(tmp_path, bundle(1.5, "10*9/L"), "bundle.json")
    code, _, err = run(capsys, "fhir", "import", str(path), "--start-date", "9999-12-31")
    assert code == 2 and "start-date" in err


def test_the_readable_decision_flags_critical_alerts() -> None:
    import io

    from rich.console import Console

    from inoplan.cli.evaluate import render_decision
    from inoplan.services.courses import decide_document

    document = course()
    document["patient"]["allergies"] = ["polysorbate 80"]  # a critical ALLERGY alert
    decision = decide_document(document, date(2026, 12, 1))
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(render_decision(decision))
    text = console.export_text()
    critical = sum(1 for a in decision["alerts"] if a["severity"] == "critical")
    assert critical >= 1 and f"! {critical} CRITICAL" in text
    calm = decide_document(course(), date(2026, 12, 1))
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(render_decision(calm))
    if not any(a["severity"] == "critical" for a in calm["alerts"]):
        assert "CRITICAL" not in console.export_text()


@pytest.mark.parametrize(
    ("care", "field"),
    [
        ({"observation_min": 59}, "events[2].observation_reason"),
        ({"premedication": ["corticosteroid"]}, "events[2].premedication_reason"),
    ],
)
def test_an_administration_without_its_reason_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, care: dict[str, Any], field: str
) -> None:
    """Premedication not in full or an observation under the label's hour needs its reason in a
    file too (review M3); with the reason the file is decided and the warning shown."""
    document = course()
    dose = {"date": "2026-12-01", "type": "administration", "cycle": 1, "day": 1, "dose_mg": 1.5}
    document["events"].append({**dose, **care})
    path = str(write(tmp_path, document))
    code, out, err = run(capsys, "evaluate", path, "--on", "2026-12-02", "--json")
    assert code == 2 and err.startswith(f"error: {field}: ")
    document["events"][-1][field.rsplit(".", 1)[1]] = "documented reason"
    code, out, _ = run(
        capsys, "evaluate", str(write(tmp_path, document)), "--on", "2026-12-02", "--json"
    )
    alerts = {a["code"] for a in json.loads(out)["alerts"]}
    assert alerts & {"OBSERVATION_SHORT", "PREMEDICATION_NOT_GIVEN"}
