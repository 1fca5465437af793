"""Table 3 (US PI 2.3): hepatic, infusion-related and other non-hematologic toxicity;
CTCAE v5 grades of bilirubin/AST/ALT taken from the labs."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.enginekit import codes, course_through, decide, document, labs, reason, rules, tox


def day15(**lab: Any) -> dict[str, Any]:
    """Due: C1D15 on 2027-03-15 with the given labs on 03-14 (ULN: bilirubin 1.2, enzymes 40)."""
    return document([*course_through((1, 8)), labs("2027-03-14", **lab)])


# -- bilirubin > 1.5 x ULN AND AST/ALT > 2.5 x ULN ---------------------------------------------
@pytest.mark.parametrize(
    ("bilirubin", "ast", "alt", "fires"),
    [
        (1.8, 101, 22, False),  # bilirubin exactly 1.5 x ULN: not above
        (1.81, 100, 22, False),  # AST exactly 2.5 x ULN: not above
        (1.81, 101, 22, True),  # both just above
        (1.81, 25, 101, True),  # ALT instead of AST
        (0.6, 119, 119, False),  # transaminases alone (2.98 x ULN, CTCAE grade 1)
    ],
)
def test_hepatic_row_encodes_and_literally(
    bilirubin: float, ast: float, alt: float, fires: bool
) -> None:
    decision = decide(day15(bilirubin=bilirubin, ast=ast, alt=alt), "2027-03-15")
    assert ("hepatic.bilirubin-and-transaminases" in rules(decision)) is fires
    if fires:
        assert decision["status"] == "hold"
        r = reason(decision, "hepatic.bilirubin-and-transaminases")
        assert "Table 3" in r["citation"] and "'and'" in r["interpretation"]
        assert r["inputs"]["bilirubin"]["x_uln"] > 1.5
    elif bilirubin <= 1.8 and max(ast, alt) <= 120:
        assert decision["status"] == "give"


def test_gilbert_syndrome_exempts_the_hepatic_row() -> None:
    doc = day15(bilirubin=1.9, ast=101)
    doc["patient"]["history"]["gilbert_syndrome"] = True
    doc["events"].insert(0, labs("2027-02-27", bilirubin=1.9))  # raised baseline
    decision = decide(doc, "2027-03-15")
    assert "hepatic.exempt-gilbert-or-hemolysis" in rules(decision)
    assert "hepatic.bilirubin-and-transaminases" not in rules(decision)


def test_hemolysis_exempts_the_hepatic_row() -> None:
    doc = day15(bilirubin=1.9, ast=101)
    doc["events"].append(tox("2027-03-13", "hemolysis", 1))
    assert "hepatic.exempt-gilbert-or-hemolysis" in rules(decide(doc, "2027-03-15"))


@pytest.mark.parametrize(("days", "status"), [(28, "hold"), (29, "discontinue")])
def test_hepatic_not_recovered_discontinues(days: int, status: str) -> None:
    from datetime import date, timedelta

    first = date(2027, 3, 14)
    events = [*course_through((1, 8))]
    for offset in (0, 7, 14, 21, days):
        events.append(labs(first + timedelta(days=offset), bilirubin=2.0, ast=120))
    decision = decide(document(events), first + timedelta(days=days))
    assert decision["status"] == status
    if status == "discontinue":
        assert "hepatic.not-recovered" in rules(decision)


@pytest.mark.parametrize(
    "term", ["vod", "liver_toxicity_severe", "sinusoidal obstruction syndrome"]
)
def test_vod_or_severe_liver_toxicity_discontinues_for_good(term: str) -> None:
    events = [
        *course_through((1, 8)),
        tox("2027-03-12", term, 3),
        tox("2027-03-20", term, 0),
        labs("2027-03-21"),
    ]
    decision = decide(document(events), "2027-03-22")
    assert decision["status"] == "discontinue" and decision["next_dose"] is None
    assert any(r.startswith("hepatic.") for r in rules(decision))


# -- infusion-related reactions ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("grade", "status"), [(1, "give"), (2, "hold"), (3, "discontinue"), (4, "discontinue")]
)
def test_infusion_reaction_grades(grade: int, status: str) -> None:
    events = [
        *course_through((1, 1)),
        tox("2027-03-01", "infusion_related_reaction", grade),
        labs("2027-03-07"),
    ]
    decision = decide(document(events), "2027-03-08")
    assert decision["status"] == status
    if status == "discontinue":
        assert reason(decision, "infusion.severe-reaction")["interpretation"].startswith("'Severe")


def test_infusion_reaction_resolved_allows_the_next_dose() -> None:
    events = [
        *course_through((1, 1)),
        tox("2027-03-01", "irr", 2),
        tox("2027-03-02", "irr", 0),
        labs("2027-03-07"),
    ]
    assert decide(document(events), "2027-03-08")["status"] == "give"


# -- any non-hematologic toxicity >= grade 2 -------------------------------------------------
@pytest.mark.parametrize(("grade", "status"), [(1, "give"), (2, "hold"), (3, "hold")])
def test_nonhematologic_grade(grade: int, status: str) -> None:
    events = [*course_through((1, 1)), tox("2027-03-05", "nausea", grade), labs("2027-03-07")]
    decision = decide(document(events), "2027-03-08")
    assert decision["status"] == status
    if status == "hold":
        r = reason(decision, "nonhematologic.grade-2-or-more")
        assert r["inputs"]["grade"] == grade and "Table 3" in r["citation"]


def test_nonhematologic_recovered_to_grade_1() -> None:
    events = [
        *course_through((1, 1)),
        tox("2027-03-05", "nausea", 2),
        tox("2027-03-07", "nausea", 1),
        labs("2027-03-07"),
    ]
    assert decide(document(events), "2027-03-08")["status"] == "give"


def test_nonhematologic_back_to_pretreatment_grade() -> None:
    events = [
        tox("2027-02-20", "neuropathy", 2),
        *course_through((1, 1)),
        tox("2027-03-05", "neuropathy", 3),
        tox("2027-03-07", "neuropathy", 2),
        labs("2027-03-07"),
    ]
    assert decide(document(events), "2027-03-08")["status"] == "give"
    worse = [*events[:-2], labs("2027-03-07")]
    assert decide(document(worse), "2027-03-08")["status"] == "hold"


def test_hematologic_terms_do_not_hold_within_cycle() -> None:
    events = [
        *course_through((1, 1)),
        tox("2027-03-05", "febrile neutropenia", 3),
        labs("2027-03-07"),
    ]
    assert decide(document(events), "2027-03-08")["status"] == "give"


def test_grade3_toxicity_holds_next_cycle_day1() -> None:
    events = [*course_through((1, 15)), tox("2027-03-18", "diarrhea", 3), labs("2027-03-21")]
    assert decide(document(events), "2027-03-22")["status"] == "hold"


# -- CTCAE v5 lab grades ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("alt", "status"), [(120, "give"), (121, "hold")]
)  # 3.0 x ULN = grade 1; above = grade 2
def test_alt_grade_from_labs(alt: float, status: str) -> None:
    decision = decide(day15(alt=alt), "2027-03-15")
    assert decision["status"] == status
    if status == "hold":
        r = reason(decision, "nonhematologic.lab-grade.alt")
        assert r["inputs"]["grade"] == 2 and "CTCAE v5.0" in r["citation"]


@pytest.mark.parametrize(("bilirubin", "status"), [(1.8, "give"), (1.81, "hold")])  # 1.5 x ULN 1.2
def test_bilirubin_grade_from_labs(bilirubin: float, status: str) -> None:
    assert decide(day15(bilirubin=bilirubin), "2027-03-15")["status"] == status


@pytest.mark.parametrize(("alt", "status"), [(240, "give"), (241, "hold")])
def test_raised_baseline_is_graded_against_baseline(alt: float, status: str) -> None:
    # Baseline ALT 80 (2 x ULN): grade 2 starts above 3 x baseline = 240 U/L (CTCAE v5).
    doc = day15(alt=alt)
    doc["events"].insert(0, labs("2027-02-28", alt=80))
    doc["events"] = [
        e
        for e in doc["events"]
        if not (e["type"] == "labs" and e["date"] == "2027-02-28" and e["alt"]["value"] == 22)
    ]
    decision = decide(doc, "2027-03-15")
    assert decision["status"] == status
    if status == "hold":
        assert (
            reason(decision, "nonhematologic.lab-grade.alt")["inputs"]["graded_against"]
            == "baseline"
        )


def test_ctcae_grade_function_boundaries() -> None:
    from decimal import Decimal as D

    from inoplan.domain.engine.ctcae import grade

    bili = [D(1), D("1.5"), D(3), D(10)]
    enzymes = [D("1.5"), D(3), D(5), D(20)]
    assert grade(D("1.0"), D(1), None, uln_bounds=bili, baseline_bounds=bili)[0] == 0
    assert grade(D("1.01"), D(1), None, uln_bounds=bili, baseline_bounds=bili)[0] == 1
    assert grade(D("10.01"), D(1), None, uln_bounds=bili, baseline_bounds=bili)[0] == 4
    # baseline-abnormal aminotransferase grade 1 starts AT 1.5 x baseline
    g = grade(
        D("3.0"),
        D(1),
        D(2),
        uln_bounds=[D(1), D(3), D(5), D(20)],
        baseline_bounds=enzymes,
        first_bound_inclusive=True,
    )
    assert g[:2] == (1, "baseline")
    g = grade(
        D("2.99"),
        D(1),
        D(2),
        uln_bounds=[D(1), D(3), D(5), D(20)],
        baseline_bounds=enzymes,
        first_bound_inclusive=True,
    )
    assert g[0] == 0


def test_vod_alert_codes_not_present_without_signs() -> None:
    assert "VOD_SUSPECTED" not in codes(decide(day15(), "2027-03-15"))
