"""Table 2 (US PI 2.3): hematologic modifications at the next cycle only."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.enginekit import (
    codes,
    course_through,
    decide,
    document,
    labs,
    reason,
    response,
    rules,
    vitals,
)


def c2d1(**counts: Any) -> list[dict[str, Any]]:
    return [*course_through((1, 15)), labs("2027-03-21", **counts), vitals("2027-03-21")]


@pytest.mark.parametrize(("anc", "status"), [(0.99, "hold"), (1.0, "give"), (1.01, "give")])
def test_normal_baseline_anc_row(anc: float, status: str) -> None:
    decision = decide(document(c2d1(anc=anc)), "2027-03-22")
    assert decision["status"] == status
    rule = "hematologic.not-recovered" if status == "hold" else "hematologic.recovered"
    r = reason(decision, rule)
    assert "Table 2" in r["citation"] and r["inputs"]["baseline_anc"] == 1.5
    if status == "hold":
        assert decision["next_dose"]["status"] == "held"


@pytest.mark.parametrize(("platelets", "status"), [(49.9, "hold"), (50, "give"), (50.1, "give")])
def test_normal_baseline_platelet_row(platelets: float, status: str) -> None:
    assert decide(document(c2d1(platelets=platelets)), "2027-03-22")["status"] == status


def test_transfused_platelet_count_is_not_used() -> None:
    events = [
        *course_through((1, 15)),
        labs("2027-03-20", platelets=40),
        labs("2027-03-21", platelets=80, transfused=True),
        vitals("2027-03-21"),
    ]
    decision = decide(document(events), "2027-03-22")
    assert decision["status"] == "hold"  # the transfusion-independent 40 counts, not the 80
    assert reason(decision, "hematologic.not-recovered")["inputs"]["platelets"]["value"] == 40


def test_only_transfused_platelets_cannot_decide() -> None:
    events = [*course_through((1, 15)), labs("2027-03-21", transfused=True), vitals("2027-03-21")]
    events = [e for e in events if not (e["type"] == "labs" and e["date"] == "2027-03-14")]
    decision = decide(document(events), "2027-03-22")
    assert decision["status"] == "cannot_decide"
    assert "hematologic.transfused-platelets-ignored" in rules(decision)


@pytest.mark.parametrize("day", [8, 15])
def test_low_counts_never_hold_day_8_or_15(day: int) -> None:
    last = (1, 1) if day == 8 else (1, 8)
    on = "2027-03-08" if day == 8 else "2027-03-15"
    events = [
        *course_through(last),
        labs("2027-03-07" if day == 8 else "2027-03-14", anc=0.1, platelets=5),
    ]
    decision = decide(document(events), on)
    assert decision["status"] == "give"
    assert "hematologic.within-cycle-not-applied" in rules(decision)


def low_baseline(anc: float, platelets: float, **extra: Any) -> list[dict[str, Any]]:
    """Baseline before cycle 1: ANC 0.6, platelets 30 (low-baseline row)."""
    events = course_through((1, 15))
    events[0:0] = [labs("2027-03-01", anc=0.6, platelets=30)]
    return [
        *events,
        labs("2027-03-21", anc=anc, platelets=platelets),
        vitals("2027-03-21"),
        *extra.get("more", []),
    ]


@pytest.mark.parametrize(
    ("anc", "platelets", "status", "condition"),
    [
        (0.6, 30, "give", "back_to_prior_baseline"),  # at baseline
        (0.7, 31, "give", "back_to_prior_baseline"),
        (0.6, 29, "hold", None),  # platelets 1 below baseline
        (0.59, 30, "hold", None),
        (1.0, 50, "give", "anc_and_platelets_recovered"),
    ],
)
def test_low_baseline_row(anc: float, platelets: float, status: str, condition: str | None) -> None:
    decision = decide(document(low_baseline(anc, platelets)), "2027-03-22")
    assert decision["status"] == status
    if condition:
        assert reason(decision, "hematologic.low-baseline-recovered")["inputs"]["conditions"][
            condition
        ]


def test_low_baseline_condition_c_disease_related_cytopenia() -> None:
    judged = response(
        "2027-03-19", "PR", disease_stable_or_improved=True, cytopenia_due_to_disease=True
    )
    decision = decide(document(low_baseline(0.3, 10, more=[judged])), "2027-03-22")
    assert decision["status"] == "give"
    not_due = response(
        "2027-03-19", "PR", disease_stable_or_improved=True, cytopenia_due_to_disease=False
    )
    assert decide(document(low_baseline(0.3, 10, more=[not_due])), "2027-03-22")["status"] == "hold"


def test_mixed_baseline_uses_the_low_baseline_row() -> None:
    events = course_through((1, 15))
    events[0:0] = [labs("2027-03-01", anc=1.5, platelets=30)]
    events += [labs("2027-03-21", anc=1.2, platelets=50), vitals("2027-03-21")]
    decision = decide(document(events), "2027-03-22")
    assert decision["status"] == "give"
    assert "hematologic.low-baseline-recovered" in rules(decision)


def persistent(
    days_low: int, *, judged: bool | None = False, label: str = "us"
) -> tuple[dict[str, Any], str]:
    """ANC < 1 from 2027-03-21 on; the last low count ``days_low`` days later."""
    from datetime import date, timedelta

    first = date(2027, 3, 21)
    events = [*course_through((1, 15)), vitals("2027-03-21")]
    for offset in range(0, days_low + 1, 7):
        events.append(labs(first + timedelta(days=offset), anc=0.5))
    last = first + timedelta(days=days_low)
    events.append(labs(last, anc=0.5))
    if judged is not None:
        events.append(response(first, "CRi", cytopenia_due_to_disease=judged))
    return document(events, label=label), (last + timedelta(days=1)).isoformat()


@pytest.mark.parametrize(("days", "status"), [(28, "hold"), (29, "discontinue")])
def test_normal_baseline_low_counts_over_28_days_discontinue(days: int, status: str) -> None:
    doc, on = persistent(days)
    decision = decide(doc, on)
    assert decision["status"] == status
    if status == "discontinue":
        r = reason(decision, "hematologic.persistent-low-counts")
        assert r["inputs"]["days_low"] == 29 and "Table 2" in r["citation"] and r["interpretation"]


def test_low_counts_judged_due_to_leukemia_do_not_stop() -> None:
    doc, on = persistent(35, judged=True)
    decision = decide(doc, on)
    assert decision["status"] == "hold"
    assert "hematologic.persistent-low-counts-disease" in rules(decision)


def test_eu_label_has_no_28_day_stop() -> None:
    doc, on = persistent(35, label="eu")
    assert decide(doc, on)["status"] == "hold"


def test_discontinue_after_persistent_low_counts_is_final_after_recovery() -> None:
    doc, _on = persistent(29)
    doc["events"] += [labs("2027-04-25", anc=1.8), vitals("2027-04-25")]
    later = decide(doc, "2027-04-26")
    assert later["status"] == "discontinue"
    assert "PREMEDICATION" not in codes(later)
