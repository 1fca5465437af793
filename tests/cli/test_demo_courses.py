"""The demo courses are plain course documents: ``inoplan evaluate`` reads every one of them.

Each scenario (docs/deployment.md, "Demo") is checked on the day it is written for, through the
command line in a subprocess as a user would run it, and again after seeding has moved it to
another "today": the shift must not change the scenario.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

import inoplan.demo
from inoplan.demo import demo_documents, scenario_days

COURSES = Path(inoplan.demo.__file__).parent / "courses"

#: file -> (patient, status, next dose (cycle, day)) as docs/deployment.md describes the scenario
SCENARIOS = {
    "01-adult-cycle-1.yaml": ("DEMO-0001", "give", (1, 8)),
    "02-adult-remission-cycle-3.yaml": ("DEMO-0002", "give", (3, 8)),
    "03-child.yaml": ("DEMO-0003", "give", (1, 1)),
    "04-hold-liver.yaml": ("DEMO-0004", "hold", (1, 8)),
}


def inoplan_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inoplan", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_demo_course_has_its_scenario_day_and_a_scenario_here() -> None:
    days = scenario_days()
    assert sorted(days) == sorted(p.name for p in COURSES.glob("*.yaml"))
    assert sorted(days) == sorted(SCENARIOS)


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_a_demo_course_evaluates_through_the_cli_on_its_day(name: str) -> None:
    patient, status, (cycle, day) = SCENARIOS[name]
    on = scenario_days()[name].isoformat()
    done = inoplan_cli("evaluate", str(COURSES / name), "--on", on, "--json")
    assert done.returncode == 0, done.stderr
    decision = json.loads(done.stdout)
    assert (decision["patient_id"], decision["status"]) == (patient, status)
    assert (decision["next_dose"]["cycle"], decision["next_dose"]["day"]) == (cycle, day)
    assert decision["reasons"] and all(r["citation"] for r in decision["reasons"])


def test_the_demo_folder_evaluates_as_a_batch_without_an_error() -> None:
    done = inoplan_cli("evaluate", str(COURSES), "--on", "2026-03-02")
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [line["file"] for line in lines] == sorted(SCENARIOS)  # scenarios.toml is not a course
    assert all("error" not in line and line["status"] for line in lines)


@pytest.mark.parametrize("today", [date(2026, 12, 1), date(2028, 2, 29)])
def test_seeding_moves_each_scenario_to_today_unchanged(today: date) -> None:
    from inoplan.services.courses import decide_document

    for document, name in zip(demo_documents(today), sorted(SCENARIOS), strict=True):
        patient, status, (cycle, day) = SCENARIOS[name]
        decision = decide_document(document, today)
        assert (decision["patient_id"], decision["status"]) == (patient, status), name
        assert decision["next_dose"] is not None, name
        assert (decision["next_dose"]["cycle"], decision["next_dose"]["day"]) == (cycle, day)
