"""Integrity of every shipped label revision (knowledge/labels/<revision>/label.toml).

Checked on the raw TOML as well as the loaded label, so a mistake the loader would tolerate
still fails here.
"""

from __future__ import annotations

import ast
import contextlib
import itertools
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import inoplan
from inoplan.knowledge.loader import CONFIDENCE_TAGS, available_versions, load_label, read_raw

VERSIONS = available_versions()
DOCUMENTED_ALERT_CODES = (
    "PREMEDICATION",
    "OBSERVATION",
    "CYTOREDUCTION",
    "VOD_RISK",
    "VOD_SUSPECTED",
    "HSCT_CONDITIONING",
    "HSCT_BILIRUBIN",
    "QT_DRUG",
    "QT_ECG",
    "PREGNANCY_TEST",
    "CONTRACEPTION",
    "LACTATION",
    "ALLERGY",
    "AGE",
    "MAX_CYCLES",
    "NO_RESPONSE",
    "CONSIDER_DISCONTINUATION",
    "STALE_LABS",
    "STALE_WEIGHT",
    "MISSING_DATA",
    "DOSE_DEVIATION",
    # issue 11: danger looks dangerous
    "VOD_CONFIRMED",
    "SEVERE_LIVER_TOXICITY",
    "DISCONTINUED",
    "DOSE_ABOVE_MAX",
    "CYCLE_TOTAL_ABOVE_MAX",
    "DOSE_INTERVAL_SHORT",
    "DOSE_LIMIT_HOLD",
    "DOSE_OVERRIDE",
    "DOSE_AFTER_STOP",
    "TERM_NOT_CODED",
    "CONTRADICTORY_DATA",
    "ALLERGY_CROSS_REACTIVITY",
    "ALLERGY_UNCLEAR",
)
#: Alerts of issue 11 that must look dangerous (critical) in every revision.
CRITICAL_ALERT_CODES = (
    "VOD_CONFIRMED",
    "SEVERE_LIVER_TOXICITY",
    "DISCONTINUED",
    "DOSE_ABOVE_MAX",
    "CYCLE_TOTAL_ABOVE_MAX",
    "DOSE_INTERVAL_SHORT",
    "DOSE_LIMIT_HOLD",
    "DOSE_OVERRIDE",
    "DOSE_AFTER_STOP",
)
SRC = Path(inoplan.__file__).parent


def walk(node: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """Every (path, key, value) in a parsed TOML tree."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield path, key, value
            yield from walk(value, f"{path}.{key}" if path else key)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{path}[{i}]")


def test_both_labels_are_shipped() -> None:
    assert "us-2024-03" in VERSIONS
    assert "eu-2022-02" in VERSIONS


@pytest.mark.parametrize("version", VERSIONS)
def test_loads(version: str) -> None:
    label = load_label(version)
    assert label.id == version
    assert read_raw(version)["label"]["id"] == version
    assert (SRC / "knowledge" / "labels" / version / "SOURCE.md").is_file()


@pytest.mark.parametrize("version", VERSIONS)
def test_every_cited_anchor_exists(version: str) -> None:
    raw = read_raw(version)
    anchors = set(raw["section"])
    cited = [(p, k, v) for p, k, v in walk(raw) if k == "cite" or k.endswith("_cite")]
    assert len(cited) > 30  # every number carries a citation
    missing = [(p, k, v) for p, k, v in cited if v not in anchors]
    assert not missing


@pytest.mark.parametrize("version", VERSIONS)
def test_every_confidence_tag_is_known(version: str) -> None:
    tags = [
        (p, k, v)
        for p, k, v in walk(read_raw(version))
        if k == "confidence" or k.endswith("_confidence")
    ]
    assert tags
    assert not [t for t in tags if t[2] not in CONFIDENCE_TAGS]
    assert {"C", "C-old", "C-sec", "UNCONFIRMED", "POLICY"} == CONFIDENCE_TAGS


@pytest.mark.parametrize("version", VERSIONS)
def test_every_section_has_a_number_and_heading(version: str) -> None:
    for anchor, section in read_raw(version)["section"].items():
        assert section.get("number"), anchor
        assert section.get("heading"), anchor


@pytest.mark.parametrize("version", VERSIONS)
def test_ids_are_unique(version: str) -> None:
    raw = read_raw(version)
    schedule_ids = [s["id"] for s in raw["regimen"]["schedule"]]
    assert len(schedule_ids) == len(set(schedule_ids))
    assert {"cycle-1", "later-after-cr", "later-no-cr"} <= set(schedule_ids)
    for schedule in raw["regimen"]["schedule"]:
        days = [d["day"] for d in schedule["doses"]]
        assert len(days) == len(set(days)), schedule["id"]
    # alert codes, thresholds, vials and sections are TOML table keys (unique by construction);
    # the same code must not be spelled twice with a different case
    for table in ("alert", "threshold", "vial", "section"):
        keys = [k.lower() for k in raw[table]]
        assert len(keys) == len(set(keys)), table


@pytest.mark.parametrize("version", VERSIONS)
def test_regimen_days_lie_within_their_cycle(version: str) -> None:
    label = load_label(version)
    regimen = label.regimen
    assert regimen.cycle1_days in regimen.cycle1_days_allowed
    shortest_cycle1 = min(regimen.cycle1_days_allowed)
    for schedule in regimen.schedules.values():
        length = shortest_cycle1 if schedule.id == "cycle-1" else regimen.later_cycle_days
        for dose in schedule.doses:
            assert dose.day in regimen.dose_days, (schedule.id, dose.day)
            assert 1 <= dose.day <= length, (schedule.id, dose.day, length)
        days = [d.day for d in schedule.doses]
        assert days == sorted(days)
        # consecutive doses are at least the minimum gap apart on schedule
        gaps = [b - a for a, b in itertools.pairwise(days)]
        assert all(g >= regimen.min_days_between_doses for g in gaps)
    # the last dose day of a cycle and the next cycle's day 1 are also far enough apart
    last_day = max(regimen.dose_days)
    assert shortest_cycle1 + 1 - last_day >= regimen.min_days_between_doses


@pytest.mark.parametrize("version", VERSIONS)
def test_schedules_respect_the_hard_limits(version: str) -> None:
    label = load_label(version)
    limits = label.limits
    # Table 1: 0.8 mg/m2 per dose, 1.8 mg/m2 per cycle
    assert limits.max_mg_per_m2_per_dose == Decimal("0.8")
    assert limits.max_mg_per_m2_per_cycle == Decimal("1.8")
    for schedule in label.regimen.schedules.values():
        assert schedule.total_mg_per_m2 <= limits.max_mg_per_m2_per_cycle, schedule.id
        for dose in schedule.doses:
            assert Decimal(0) < dose.mg_per_m2 <= limits.max_mg_per_m2_per_dose, schedule.id


@pytest.mark.parametrize("version", VERSIONS)
def test_table_1_as_the_label_prints_it(version: str) -> None:
    schedules = load_label(version).regimen.schedules

    def row(sid: str) -> list[tuple[int, str]]:
        return [(d.day, str(d.mg_per_m2)) for d in schedules[sid].doses]

    assert row("cycle-1") == [(1, "0.8"), (8, "0.5"), (15, "0.5")]  # total 1.8
    assert row("later-after-cr") == [(1, "0.5"), (8, "0.5"), (15, "0.5")]  # total 1.5
    assert row("later-no-cr") == [(1, "0.8"), (8, "0.5"), (15, "0.5")]  # total 1.8


@pytest.mark.parametrize("version", VERSIONS)
def test_caps_windows_and_preparation_facts(version: str) -> None:
    label = load_label(version)
    assert (label.caps.hsct_intended, label.caps.no_hsct) == (2, 6)
    assert label.caps.no_response_stop_after_cycles == 3
    assert (label.regimen.day_window_days, label.regimen.min_days_between_doses) == (2, 6)
    assert label.regimen.later_cycle_days == 28
    prep = label.preparation
    assert prep.reconstituted_mg_per_ml == Decimal("0.25")
    assert prep.standard_final_volume_ml == 50
    assert prep.infusion_minutes == 60
    assert (
        prep.reconstitution_to_dilution_max_hours,
        prep.reconstitution_to_end_of_infusion_max_hours,
    ) == (Decimal(4), Decimal(8))
    for vial in label.vials.values():
        # 4 mL at 0.25 mg/mL: a 0.9 mg vial delivers 3.6 mL, a 1 mg vial 4 mL
        assert vial.deliverable_ml * prep.reconstituted_mg_per_ml == vial.deliverable_mg


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("code", DOCUMENTED_ALERT_CODES)
def test_every_contract_alert_code_has_a_text(version: str, code: str) -> None:
    alert = load_label(version).alert(code)
    assert alert.message.strip()
    assert alert.severity in {"critical", "warning", "info"}
    assert alert.citation.text


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("code", CRITICAL_ALERT_CODES)
def test_danger_alerts_are_critical(version: str, code: str) -> None:
    assert load_label(version).alert(code).severity == "critical"


@pytest.mark.parametrize("version", VERSIONS)
def test_ambiguous_wording_carries_an_interpretation(version: str) -> None:
    label = load_label(version)
    assert label.limits.interpretation
    assert label.regimen.remission_interpretation
    assert label.caps.hsct_undecided_interpretation
    for key in (
        "reduce_total_fraction",
        "two_doses_per_cycle_days",
        "severe_liver_toxicity_grade",
        "recorded_dose_tolerance_steps",
    ):
        assert label.threshold(key).interpretation, key


# -- the label is data: no label number as a literal in the dose and plan code ----------------

LABEL_NUMBERS = {
    Decimal(x)
    for x in (
        "0.8",
        "1.8",
        "0.5",
        "1.5",
        "0.25",
        "50",
        "0.9",
        "3.6",
        "2",
        "2.5",
        "4",
        "6",
        "7",
        "8",
        "14",
        "15",
        "21",
        "28",
    )
}


def numeric_literals(path: Path) -> list[tuple[int, Decimal]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Constant) or isinstance(node.value, bool):
            continue
        if isinstance(node.value, int | float):
            found.append((node.lineno, Decimal(str(node.value))))
        elif isinstance(node.value, str):
            with contextlib.suppress(ArithmeticError):
                found.append((node.lineno, Decimal(node.value.strip())))
    return found


@pytest.mark.parametrize("module", ["dosing.py", "planner.py"])
def test_no_label_number_is_a_literal_in_code(module: str) -> None:
    path = SRC / "domain" / module
    literals = numeric_literals(path)
    assert literals  # the scan sees constants at all
    offending = [(line, str(v)) for line, v in literals if v in LABEL_NUMBERS]
    assert not offending, f"{module}: label numbers as literals at {offending}"


def test_the_literal_scan_would_catch_one(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        'LIMIT = 0.8\nVOLUME = Decimal("50")\nSTEP = Decimal("0.01")\n', encoding="utf-8"
    )
    assert {v for _, v in numeric_literals(sample) if v in LABEL_NUMBERS} == {
        Decimal("0.8"),
        Decimal(50),
    }
