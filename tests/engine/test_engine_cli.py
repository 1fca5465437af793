"""``inoplan evaluate``: JSON, readable rendering and batch mode over a folder."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
import yaml

from tests.engine.enginekit import document

EXAMPLES = Path(__file__).parents[2] / "examples"


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from inoplan.cli.main import main

    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_evaluate_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        ["evaluate", str(EXAMPLES / "01-first-dose.yaml"), "--on", "2027-03-01", "--json"], capsys
    )
    assert code == 0
    decision = json.loads(out)
    assert decision["status"] == "give" and decision["next_dose"]["dose_mg"] == 1.69


def test_evaluate_readable(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        ["evaluate", str(EXAMPLES / "02-bilirubin-and-transaminases.yaml"), "--on", "2027-04-19"],
        capsys,
    )
    assert code == 0
    assert "HOLD" in out and "hepatic.bilirubin-and-transaminases" in out and "Table 3" in out


def test_render_decision_shows_interpretation_and_alerts() -> None:
    from rich.console import Console

    from inoplan.cli.evaluate import render_decision
    from inoplan.services.courses import decide_document

    doc = yaml.safe_load((EXAMPLES / "02-bilirubin-and-transaminases.yaml").read_text())
    decision = decide_document(doc, doc.pop("expect")["as_of"])
    console = Console(record=True, width=160, file=io.StringIO())
    console.print(render_decision(decision))
    text = console.export_text()
    assert "interpretation" in text and "PREMEDICATION" in text and "0.78 mg" in text


def test_bad_date_is_an_input_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(
        ["evaluate", str(EXAMPLES / "01-first-dose.yaml"), "--on", "2027-13-01", "--json"], capsys
    )
    assert code == 2 and json.loads(out)["error"]["field"] == "on" and "on" in err


def test_batch_writes_one_line_per_course_and_goes_on_after_an_invalid_file(tmp_path: Path) -> None:
    from inoplan.cli.evaluate import run_batch

    for path in EXAMPLES.glob("*.yaml"):
        shutil.copy(path, tmp_path / path.name)
    bad = document()
    bad["events"][2]["anc"]["unit"] = "furlongs"
    (tmp_path / "05-bad-unit.json").write_text(json.dumps(bad))
    (tmp_path / "notes.txt").write_text("not a course")
    out = io.StringIO()
    # exit code 1: a file could not be evaluated (the others were)
    assert run_batch(tmp_path, __import__("datetime").date(2027, 3, 1), out=out) == 1
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["file"] for line in lines] == [
        "01-first-dose.yaml",
        "02-bilirubin-and-transaminases.yaml",
        "03-remission-after-cycle-1.yaml",
        "04-child.yaml",
        "05-bad-unit.json",
    ]
    assert lines[0]["status"] == "give" and lines[0]["patient_id"] == "EX-01"
    assert lines[3]["status"] == "wait"
    assert lines[4]["error"]["field"] == "events[2].anc.unit" and lines[4]["patient_id"] == "T-1"


def test_batch_from_the_command_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copy(EXAMPLES / "04-child.yaml", tmp_path / "a.yml")
    code, out, _err = run(["evaluate", str(tmp_path), "--on", "2027-06-07"], capsys)
    assert code == 0
    line = json.loads(out.strip())
    assert (line["file"], line["status"]) == ("a.yml", "give")


def test_empty_folder_is_an_input_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["evaluate", str(tmp_path), "--on", "2027-06-07"], capsys)
    assert code == 2 and "COURSE" in err
