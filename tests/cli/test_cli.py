"""The command line (docs/cli.md): JSON keys and numbers, exit codes, one-line errors
naming the field, nothing written on invalid input.

Commands run in-process through ``inoplan.cli.main.main`` (the console-script entry point) so the
error translation is exercised exactly as installed; ``python -m inoplan`` runs in a subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from inoplan.cli.main import main

# The worked examples of the repository (examples/*.yaml, also used by the README).
EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))
DOSE_KEYS = {
    "bsa_m2",
    "dose_mg_per_m2",
    "dose_mg",
    "vials",
    "reconstituted_mg_per_ml",
    "withdraw_ml",
    "final_volume_ml",
    "concentration_mg_per_ml",
    "infusion_rate_ml_per_h",
    "infusion_minutes",
}
PLAN_DOSE_KEYS = {
    "cycle",
    "day",
    "scheduled",
    "earliest",
    "latest",
    "dose_mg_per_m2",
    "dose_mg",
    "status",
    "provisional",
}


@pytest.fixture(autouse=True)
def _no_site_policy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # the defaults of docs/cli.md, whatever the developer's shell has set
    monkeypatch.delenv("INOPLAN_SITE_POLICY", raising=False)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (0 if code is None else int(code)), out, err


def ok_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 0, err
    result: dict[str, Any] = json.loads(out)
    return result


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def course_document() -> dict[str, Any]:
    return {
        "label": "us",
        "patient": {"id": "C-1", "birth_date": "1971-03-14", "sex": "female"},
        "plan": {"start_date": "2026-12-01", "hsct_intended": True},
        "events": [
            {"date": "2026-11-28", "type": "vitals", "height_cm": 170, "weight_kg": 70},
            {"date": "2026-11-28", "type": "labs", "anc": {"value": 1.6, "unit": "10*9/L"}},
        ],
    }


def write(tmp_path: Path, document: dict[str, Any], name: str = "course.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


# -- bsa ---------------------------------------------------------------------------------------


def test_bsa_json(capsys: pytest.CaptureFixture[str]) -> None:
    # sqrt(170 x 70 / 3600) = 1.8181 -> 1.82
    result = ok_json(capsys, "bsa", "--height-cm", "170", "--weight-kg", "70")
    assert {"bsa_m2", "formula"} <= set(result)
    assert result["bsa_m2"] == 1.82 and is_number(result["bsa_m2"])
    assert result["formula"] == "mosteller"


def test_bsa_child_by_haycock(capsys: pytest.CaptureFixture[str]) -> None:
    # Haycock 103 cm / 16.5 kg = 0.024265 x 16.5^0.5378 x 103^0.3964 = 0.6881 -> 0.69
    result = ok_json(
        capsys, "bsa", "--height-cm", "103", "--weight-kg", "16.5", "--formula", "haycock"
    )
    assert (result["bsa_m2"], result["formula"]) == (0.69, "haycock")


def test_bsa_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "bsa", "--height-cm", "170", "--weight-kg", "70")
    assert code == 0
    assert "1.82" in out


# -- dose --------------------------------------------------------------------------------------


def test_dose_json_has_the_contract_keys_as_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    result = ok_json(
        capsys, "dose", "--height-cm", "170", "--weight-kg", "70", "--mg-per-m2", "0.8"
    )
    assert set(result) >= DOSE_KEYS
    assert all(is_number(result[k]) for k in DOSE_KEYS)
    # BSA 1.82; 0.8 x 1.82 = 1.456 -> 1.46 mg; 2 vials of 0.9 mg; 1.46 / 0.25 = 5.84 mL;
    # 50 mL bag: 1.46 / 50 = 0.0292 mg/mL at 50 mL/h over 60 min
    expected = {
        "bsa_m2": 1.82,
        "dose_mg_per_m2": 0.8,
        "dose_mg": 1.46,
        "vials": 2,
        "reconstituted_mg_per_ml": 0.25,
        "withdraw_ml": 5.84,
        "final_volume_ml": 50,
        "concentration_mg_per_ml": 0.0292,
        "infusion_rate_ml_per_h": 50,
        "infusion_minutes": 60,
    }
    assert {k: result[k] for k in DOSE_KEYS} == expected
    assert "deadlines" not in result
    assert result["waste_mg"] == pytest.approx(0.34)  # 1.8 - 1.46


def test_dose_deadlines_across_midnight(capsys: pytest.CaptureFixture[str]) -> None:
    result = ok_json(
        capsys,
        "dose",
        "--height-cm",
        "170",
        "--weight-kg",
        "70",
        "--mg-per-m2",
        "0.8",
        "--prepared-at",
        "21:15",
    )
    # 21:15 + 4 h = 01:15 next day; + 8 h = 05:15 next day
    assert result["deadlines"]["dilute_by"] == "01:15 (+1 day)"
    assert result["deadlines"]["infusion_end_by"] == "05:15 (+1 day)"


def test_dose_for_a_small_child_reduces_the_volume(capsys: pytest.CaptureFixture[str]) -> None:
    # 103 cm / 16.5 kg -> 0.69 m2; cycle 1 day 8: 0.5 x 0.69 = 0.345 -> 0.35 mg; 0.35/50 = 0.007
    # < 0.01 mg/mL -> 35 mL at 35 mL/h, 0.01 mg/mL
    result = ok_json(
        capsys, "dose", "--height-cm", "103", "--weight-kg", "16.5", "--cycle", "1", "--day", "8"
    )
    assert (result["dose_mg_per_m2"], result["dose_mg"], result["vials"]) == (0.5, 0.35, 1)
    assert (result["final_volume_ml"], result["infusion_rate_ml_per_h"]) == (35, 35)
    assert result["concentration_mg_per_ml"] == 0.01


@pytest.mark.parametrize(
    ("extra", "mg_per_m2", "mg"),
    [
        (["--cycle", "1", "--day", "1"], 0.8, 1.46),
        (["--cycle", "1", "--day", "15"], 0.5, 0.91),
        (["--cycle", "2", "--day", "1", "--response", "CR"], 0.5, 0.91),
        (["--cycle", "2", "--day", "1", "--response", "CRi"], 0.5, 0.91),
        (["--cycle", "2", "--day", "1", "--response", "PR"], 0.8, 1.46),
        (["--cycle", "3", "--day", "1", "--response", "NR"], 0.8, 1.46),
        (["--cycle", "2", "--day", "8"], 0.5, 0.91),  # 0.5 whatever the response
    ],
)
def test_dose_by_cycle_day_and_response(
    capsys: pytest.CaptureFixture[str], extra: list[str], mg_per_m2: float, mg: float
) -> None:
    result = ok_json(capsys, "dose", "--height-cm", "170", "--weight-kg", "70", *extra)
    assert (result["dose_mg_per_m2"], result["dose_mg"]) == (mg_per_m2, mg)


def test_dose_with_the_eu_vial(capsys: pytest.CaptureFixture[str]) -> None:
    # 1.46 mg from 1 mg vials: 2 vials, waste 2 - 1.46 = 0.54
    result = ok_json(
        capsys,
        "dose",
        "--height-cm",
        "170",
        "--weight-kg",
        "70",
        "--mg-per-m2",
        "0.8",
        "--vial",
        "eu-1mg",
    )
    assert (result["vials"], result["waste_mg"]) == (2, 0.54)


def test_dose_table_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "dose", "--height-cm", "170", "--weight-kg", "70", "--mg-per-m2", "0.8"
    )
    assert code == 0
    assert "1.46" in out and "5.84" in out


# -- invalid input -----------------------------------------------------------------------------

BODY = ["--height-cm", "170", "--weight-kg", "70"]
INVALID = [
    (["bsa", "--height-cm", "1.7", "--weight-kg", "70"], "height_cm"),
    (["bsa", "--height-cm", "170", "--weight-kg", "700"], "weight_kg"),
    (["bsa", "--height-cm", "100", "--weight-kg", "154"], "weight_kg"),
    (["bsa", *BODY, "--formula", "bsa"], "formula"),
    (["bsa", "--height-cm", "abc", "--weight-kg", "70"], "height_cm"),
    (["bsa", "--weight-kg", "70"], "height_cm"),
    (["dose", *BODY, "--mg-per-m2", "0.81"], "mg_per_m2"),
    (["dose", *BODY, "--mg-per-m2", "0"], "mg_per_m2"),
    (["dose", *BODY, "--mg-per-m2", "nan"], "mg_per_m2"),
    (["dose", *BODY], "mg_per_m2"),
    (["dose", *BODY, "--mg-per-m2", "0.5", "--cycle", "1", "--day", "8"], "mg_per_m2"),
    (["dose", *BODY, "--cycle", "2", "--day", "1"], "response"),
    (["dose", *BODY, "--cycle", "2", "--day", "1", "--response", "MRD"], "response"),
    (["dose", *BODY, "--cycle", "1", "--day", "9"], "day"),
    (["dose", *BODY, "--cycle", "7", "--day", "1", "--response", "NR"], "cycle"),
    (["dose", *BODY, "--cycle", "0", "--day", "1"], "cycle"),
    (["dose", *BODY, "--mg-per-m2", "0.8", "--vial", "us-2mg"], "vial"),
    (["dose", *BODY, "--mg-per-m2", "0.8", "--prepared-at", "25:00"], "prepared_at"),
    (["dose", *BODY, "--mg-per-m2", "0.8", "--prepared-at", "noon"], "prepared_at"),
    (["dose", *BODY, "--mg-per-m2", "0.8", "--label", "jp"], "label"),
    (["dose", *BODY, "--mg-per-m2", "0.8", "--formula", "x"], "formula"),
]


@pytest.mark.parametrize(
    ("argv", "field"), INVALID, ids=lambda v: " ".join(v) if isinstance(v, list) else v
)
def test_invalid_input_exits_2_naming_the_field(
    capsys: pytest.CaptureFixture[str], argv: list[str], field: str
) -> None:
    code, out, err = run(capsys, *argv, "--json")
    assert code == 2
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert field in err
    assert json.loads(out) == {
        "error": {"field": field, "message": json.loads(out)["error"]["message"]}
    }
    assert json.loads(out)["error"]["message"]
    # without --json: the same line on stderr and nothing at all on stdout
    code, out, err = run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.count("\n") == 1 and field in err


def test_plan_json_has_the_contract_keys(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    result = ok_json(capsys, "plan", str(write(tmp_path, course_document())))
    assert len(result["doses"]) == 6  # transplant intended: 2 cycles x 3 doses
    for dose in result["doses"]:
        assert set(dose) >= PLAN_DOSE_KEYS
        assert is_number(dose["dose_mg_per_m2"]) and is_number(dose["dose_mg"])
        assert dose["status"] in {"given", "planned", "held", "omitted"}
        assert isinstance(dose["provisional"], bool)
    first = result["doses"][0]
    assert (first["scheduled"], first["earliest"], first["latest"]) == (
        "2026-12-01",
        "2026-12-01",
        None,
    )


def test_plan_writes_the_calendar(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    ics = tmp_path / "plan.ics"
    code, out, _ = run(capsys, "plan", str(write(tmp_path, course_document())), "--ics", str(ics))
    assert code == 0
    text = ics.read_text(encoding="utf-8")
    assert text.count("BEGIN:VEVENT") == 6
    assert "cycle 1 day 8" in text
    assert "C-1" in out  # the readable table names the patient


def test_plan_of_a_yaml_course(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "course.yaml"
    path.write_text(yaml.safe_dump(course_document()), encoding="utf-8")
    assert len(ok_json(capsys, "plan", str(path))["doses"]) == 6


def bad_unit(doc: dict[str, Any]) -> None:
    doc["events"][1]["anc"]["unit"] = "cells"


def beyond_cap(doc: dict[str, Any]) -> None:
    # Transplant intended: 2 cycles, a third only as an option (US PI 2.1); a fourth is refused.
    doc["events"].append(
        {"date": "2027-02-01", "type": "administration", "cycle": 4, "day": 1, "dose_mg": 1.46}
    )


def implausible(doc: dict[str, Any]) -> None:
    doc["events"][0]["height_cm"] = 1.7


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (bad_unit, "events[1].anc.unit"),
        (beyond_cap, "events"),
        (implausible, "events[0].height_cm"),
    ],
)
def test_an_invalid_course_writes_no_calendar(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, mutate: Any, field: str
) -> None:
    doc = course_document()
    mutate(doc)
    ics = tmp_path / "plan.ics"
    code, out, err = run(capsys, "plan", str(write(tmp_path, doc)), "--ics", str(ics), "--json")
    assert code == 2
    assert json.loads(out)["error"]["field"] == field
    assert err.count("\n") == 1 and field in err
    assert not ics.exists()


def test_an_unwritable_calendar_path_exits_2_naming_ics(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "no-such-folder" / "plan.ics"
    code, out, err = run(
        capsys, "plan", str(write(tmp_path, course_document())), "--ics", str(target), "--json"
    )
    assert code == 2
    assert json.loads(out)["error"]["field"] == "ics"
    assert err.count("\n") == 1 and "ics" in err
    assert not target.exists()


def test_a_missing_course_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _err = run(capsys, "plan", str(tmp_path / "absent.yaml"), "--json")
    assert code == 2
    assert json.loads(out)["error"]["field"] == "COURSE"


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_the_worked_examples_plan_without_error(
    capsys: pytest.CaptureFixture[str], example: Path
) -> None:
    expect = yaml.safe_load(example.read_text(encoding="utf-8"))["expect"]
    # the plan as of the example's date (what is known then): one schedule with the decision
    result = ok_json(capsys, "plan", str(example), "--on", str(expect["as_of"]))
    assert result["doses"]
    assert result["as_of"] == str(expect["as_of"])
    expected = expect.get("next_dose")
    if expected:  # the regimen mg/m2 the example expects appears in the plan for that dose
        dose = next(
            d
            for d in result["doses"]
            if (d["cycle"], d["day"]) == (expected["cycle"], expected["day"])
        )
        assert dose["dose_mg_per_m2"] == expected["dose_mg_per_m2"]


def test_there_are_four_worked_examples() -> None:
    assert len(EXAMPLES) == 4


def test_python_dash_m_inoplan_help() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "inoplan", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for command in ("bsa", "dose", "plan"):
        assert command in done.stdout


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("inoplan ")


def test_no_arguments_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys)
    assert code == 0
    assert "dose" in out and "plan" in out


def test_a_site_policy_file_changes_the_rounding(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    policy = tmp_path / "site.toml"
    policy.write_text('[rounding]\nmode = "down"\n', encoding="utf-8")
    # 182 cm / 88 kg -> 2.11 m2 (BSA half-up); 0.8 x 2.11 = 1.688 -> 1.68 when rounding down
    result = ok_json(
        capsys,
        "--site-policy",
        str(policy),
        "dose",
        "--height-cm",
        "182",
        "--weight-kg",
        "88",
        "--mg-per-m2",
        "0.8",
    )
    assert (result["bsa_m2"], result["dose_mg"]) == (2.11, 1.68)
    # the next command without the option is back to the defaults (1.688 -> 1.69)
    result = ok_json(
        capsys, "dose", "--height-cm", "182", "--weight-kg", "88", "--mg-per-m2", "0.8"
    )
    assert result["dose_mg"] == 1.69


def test_a_missing_site_policy_file_exits_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(
        capsys,
        "--site-policy",
        str(tmp_path / "absent.toml"),
        "bsa",
        "--height-cm",
        "170",
        "--weight-kg",
        "70",
        "--json",
    )
    assert code == 2
    assert json.loads(out)["error"]["field"] == "site_policy"
    assert err.count("\n") == 1


def test_plan_table_without_vitals(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    doc = course_document()
    doc["events"] = []
    code, out, _ = run(capsys, "plan", str(write(tmp_path, doc)))
    assert code == 0
    assert "unknown" in out  # BSA unknown; mg shown as "-"


def test_an_invalid_course_leaves_an_existing_calendar_untouched(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    ics = tmp_path / "plan.ics"
    ics.write_text("previous calendar", encoding="utf-8")
    doc = course_document()
    bad_unit(doc)
    code, _, _ = run(capsys, "plan", str(write(tmp_path, doc)), "--ics", str(ics))
    assert code == 2
    assert ics.read_text(encoding="utf-8") == "previous calendar"


def test_a_folder_is_not_a_course(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, _ = run(capsys, "plan", str(tmp_path), "--json")
    assert code == 2
    assert json.loads(out)["error"]["field"] == "COURSE"
