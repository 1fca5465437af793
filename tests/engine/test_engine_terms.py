"""Coded terms (issue 11): every spelling of VOD/SOS, severe liver toxicity, infusion-related
reaction and cytopenia is recognised through the vocabulary (knowledge/terms); an unrecognised
term is never ignored; allergies to the drug or an excipient under any name."""

from __future__ import annotations

from typing import Any

import pytest

from tests.engine.enginekit import codes, course_through, decide, document, labs, reason, rules, tox


def day15(*events: dict[str, Any], **patient: Any) -> dict[str, Any]:
    """Due: C1D15 on 2027-03-15, fresh normal labs on 03-14."""
    return document([*course_through((1, 8)), labs("2027-03-14"), *events], patient=patient or None)


VOD_SPELLINGS = [
    "vod",
    "VOD",
    "SOS",
    "SOS/VOD",
    "VOD/SOS",
    "vod-sos",
    "Veno-occlusive disease",
    "venoocclusive disease",
    "veno occlusive disease",
    "Venoocclusive liver disease",
    "VENO-OCCLUSIVE LIVER DISEASE",
    "Hepatic VOD",
    "hepatic veno-occlusive disease",
    "Hepatic venoocclusive disease (VOD)",
    "VOD (veno-occlusive disease)",
    "Sinusoidal obstruction syndrome",
    "Hepatic sinusoidal obstruction syndrome",
    "sinusoidal obstruction syndrome / veno-occlusive disease",
    "Severe VOD",
    "veno-occlusive disease of the liver",
    "  hepatic   SOS  ",
]


@pytest.mark.parametrize("term", VOD_SPELLINGS)
def test_every_spelling_of_vod_discontinues_with_a_critical_alert(term: str) -> None:
    decision = decide(day15(tox("2027-03-12", term, 2)), "2027-03-15")
    assert decision["status"] == "discontinue"
    assert decision["next_dose"] is None
    r = reason(decision, "hepatic.vod")
    assert "Table 3" in r["citation"] and r["inputs"]["term"] == " ".join(term.split())
    assert r["inputs"]["code"] == "vod"
    critical = {a["code"] for a in decision["alerts"] if a["severity"] == "critical"}
    assert {"VOD_CONFIRMED", "DISCONTINUED"} <= critical
    assert "TERM_NOT_CODED" not in codes(decision)


@pytest.mark.parametrize(
    "term",
    [
        "Hepatic failure",
        "liver failure",
        "Acute liver failure",
        "acute hepatic failure",
        "fulminant hepatic failure",
        "Hepatic necrosis",
        "severe liver toxicity",
        "Severe hepatotoxicity",
        "liver_toxicity_severe",
        "hepatorenal syndrome",
    ],
)
@pytest.mark.parametrize("grade", [1, 4])
def test_severe_by_definition_liver_terms_discontinue_at_any_grade(term: str, grade: int) -> None:
    decision = decide(day15(tox("2027-03-12", term, grade)), "2027-03-15")
    assert decision["status"] == "discontinue"
    r = reason(decision, "hepatic.severe-liver-toxicity")
    assert "Table 3" in r["citation"] and r["interpretation"]
    assert "SEVERE_LIVER_TOXICITY" in codes(decision)


@pytest.mark.parametrize(
    ("term", "grade", "status"),
    [
        ("hepatotoxicity", 2, "hold"),  # below the severe grade: the grade >= 2 row
        ("hepatotoxicity", 3, "discontinue"),  # CTCAE grade 3 = severe liver toxicity
        ("Drug-induced liver injury", 2, "hold"),
        ("DILI", 3, "discontinue"),
        ("toxic hepatitis", 3, "discontinue"),
        ("liver injury", 1, "give"),
        ("severe liver injury", 1, "discontinue"),  # named severe
        ("Hepatotoxicity (severe)", 2, "discontinue"),  # named severe in brackets
        ("hepatotoxicity (grade 2)", 2, "hold"),
    ],
)
def test_liver_injury_terms_are_severe_from_grade_3(term: str, grade: int, status: str) -> None:
    decision = decide(day15(tox("2027-03-12", term, grade)), "2027-03-15")
    assert decision["status"] == status
    if status == "discontinue":
        assert "hepatic.severe-liver-toxicity" in rules(decision)


@pytest.mark.parametrize(
    "term", ["Infusion related reaction", "IRR", "infusion reaction", "Infusion-related reaction"]
)
@pytest.mark.parametrize(("grade", "status"), [(2, "hold"), (3, "discontinue")])
def test_infusion_reaction_synonyms(term: str, grade: int, status: str) -> None:
    decision = decide(day15(tox("2027-03-12", term, grade)), "2027-03-15")
    assert decision["status"] == status
    rule = "infusion.severe-reaction" if status == "discontinue" else "infusion.reaction-hold"
    assert rule in rules(decision)


def test_an_infusion_reaction_named_severe_is_severe() -> None:
    """US PI 5.4: 'severe or life-threatening' infusion reactions: permanently discontinue."""
    decision = decide(day15(tox("2027-03-08", "severe infusion reaction", 2)), "2027-03-15")
    assert decision["status"] == "discontinue"
    assert "infusion.severe-reaction" in rules(decision)


@pytest.mark.parametrize(
    "term", ["Neutropenia", "neutropaenia", "Thrombocytopenia", "Febrile neutropenia", "anaemia"]
)
def test_cytopenia_synonyms_never_hold_day_8_or_15(term: str) -> None:
    decision = decide(day15(tox("2027-03-12", term, 3)), "2027-03-15")
    assert decision["status"] == "give"
    assert "TERM_NOT_CODED" not in codes(decision)


@pytest.mark.parametrize(
    "term", ["Haemolysis", "hemolytic anemia", "Autoimmune haemolytic anaemia"]
)
def test_hemolysis_synonyms_exempt_the_hepatic_row(term: str) -> None:
    doc = document(
        [
            *course_through((1, 8)),
            labs("2027-03-14", bilirubin=1.9, ast=101),
            tox("2027-03-13", term, 1),
        ]
    )
    decision = decide(doc, "2027-03-15")
    assert "hepatic.exempt-gilbert-or-hemolysis" in rules(decision)


@pytest.mark.parametrize(("grade", "status"), [(1, "give"), (2, "hold")])
def test_an_unrecognised_term_counts_by_its_grade_and_asks_to_be_coded(
    grade: int, status: str
) -> None:
    decision = decide(day15(tox("2027-03-12", "tummy ache", grade)), "2027-03-15")
    assert decision["status"] == status
    alert = next(a for a in decision["alerts"] if a["code"] == "TERM_NOT_CODED")
    assert alert["severity"] == "warning" and "Table 3" in alert["citation"]
    r = reason(decision, "data.term-not-recognised")
    assert "Table 3" in r["citation"] and "tummy ache" in r["message"]
    assert r["inputs"]["counted_under"] == "any other non-hematologic toxicity"
    if status == "hold":
        held = reason(decision, "nonhematologic.grade-2-or-more")
        assert "not recognised" in held["message"]


@pytest.mark.parametrize("term", ["suspected VOD", "possible veno-occlusive", "hepatic failur"])
def test_an_unrecognised_term_that_names_a_stopping_term_cannot_be_passed_over(term: str) -> None:
    decision = decide(day15(tox("2027-03-12", term, 1)), "2027-03-15")
    assert decision["status"] == "cannot_decide"
    r = reason(decision, "data.term-may-stop-treatment")
    assert r["verdict"] == "cannot_decide"
    assert r["inputs"]["stopping_terms"]


def test_a_term_named_with_another_is_read_part_by_part() -> None:
    decision = decide(day15(tox("2027-03-12", "nausea and SOS", 2)), "2027-03-15")
    assert decision["status"] == "discontinue"  # the VOD part decides
    partly = decide(day15(tox("2027-03-12", "nausea (mild, zzz)", 2)), "2027-03-15")
    assert partly["status"] == "hold"  # nausea grade 2
    assert "TERM_NOT_CODED" in codes(partly)  # 'zzz' is not recognised and the alert says so


def test_the_same_term_in_two_spellings_is_one_term() -> None:
    """A later grade of 'Nausea' updates 'nausea' (one code): recovered to grade 1 gives."""
    decision = decide(
        day15(tox("2027-03-10", "nausea", 2), tox("2027-03-13", "NAUSEA", 1)), "2027-03-15"
    )
    assert decision["status"] == "give"
    assert decision["course_state"]["toxicities"]["nausea"]["grade"] == 1


# -- allergies -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "allergy",
    [
        "polysorbate 80",
        "Tween 80",
        "Tween-80",
        "TWEEN80",
        "polysorbate80",
        "E433",
        "polyoxyethylene (20) sorbitan monooleate",
        "Trometamol",
        "tromethamine",
        "Tris",
        "THAM",
        "saccharose",
        "Sucrose",
        "sodium chloride",
        "NaCl",
        "Besponsa",
        "BESPONSA",
        "CMC-544",
        "inotuzumab",
        "calicheamicin",
        "anaphylaxis to polysorbate 80 in 2019",
    ],
)
def test_an_allergy_to_the_drug_or_an_excipient_under_any_name(allergy: str) -> None:
    us = decide(day15(allergies=[allergy]), "2027-03-15")
    assert us["status"] == "hold"
    assert "ALLERGY" in codes(us)
    assert reason(us, "safety.allergy")["inputs"]["allergies"] == [allergy]
    eu_doc = day15(allergies=[allergy])
    eu_doc["label"] = "eu"
    eu = decide(eu_doc, "2027-03-15")
    assert eu["status"] == "discontinue"  # EU SmPC 4.3: hypersensitivity to an excipient
    assert "CONTRAINDICATION" in codes(eu)
    assert "safety.contraindication.hypersensitivity" in rules(eu)


@pytest.mark.parametrize("allergy", ["penicillin", "Epsom salt", "sugar", "latex"])
def test_an_unrelated_allergy_is_not_matched(allergy: str) -> None:
    decision = decide(day15(allergies=[allergy]), "2027-03-15")
    assert decision["status"] == "give"
    assert not {"ALLERGY", "ALLERGY_UNCLEAR", "ALLERGY_CROSS_REACTIVITY"} & set(codes(decision))


@pytest.mark.parametrize(
    "allergy", ["PEG", "macrogol", "Tween 20", "gemtuzumab ozogamicin", "Mylotarg"]
)
def test_a_related_substance_is_a_warning_not_a_contraindication(allergy: str) -> None:
    decision = decide(day15(allergies=[allergy]), "2027-03-15")
    assert decision["status"] == "give"
    alert = next(a for a in decision["alerts"] if a["code"] == "ALLERGY_CROSS_REACTIVITY")
    assert alert["severity"] == "warning"
    eu_doc = day15(allergies=[allergy])
    eu_doc["label"] = "eu"
    assert decide(eu_doc, "2027-03-15")["status"] == "give"


def test_an_allergy_spelled_like_an_excipient_must_be_confirmed() -> None:
    decision = decide(day15(allergies=["polysorbat 8O"]), "2027-03-15")
    assert decision["status"] == "cannot_decide"
    assert "ALLERGY_UNCLEAR" in codes(decision)
    assert reason(decision, "safety.allergy-unclear")["inputs"]["resembles"] == ["Polysorbate 80"]
