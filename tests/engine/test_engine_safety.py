"""Safety checks and alerts (US PI 2.2, Boxed Warning, 5.1, 5.5, 8.x; EU SmPC 4.3)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from tests.engine.enginekit import (
    codes,
    course_through,
    decide,
    document,
    labs,
    reason,
    rules,
    vitals,
)


# -- cytoreduction (2.2) -------------------------------------------------------------------------
@pytest.mark.parametrize(("blasts", "status"), [(9.99, "give"), (10.0, "give"), (10.01, "hold")])
def test_cytoreduction_before_first_dose(blasts: float, status: str) -> None:
    doc = document([labs("2027-02-28", blasts=blasts)], workup_events=False)
    doc["events"] += [vitals("2027-02-26"), {"date": "2027-02-26", "type": "ecg", "qtcf_ms": 430}]
    decision = decide(doc, "2027-03-01")
    assert decision["status"] == status
    assert ("CYTOREDUCTION" in codes(decision)) is (status == "hold")


def test_cytoreduction_in_cells_per_microlitre() -> None:
    doc = document(
        [labs("2027-02-28", blasts=None, peripheral_blasts={"value": 12000, "unit": "/mm3"})],
        workup_events=False,
    )
    doc["events"].append(vitals("2027-02-26"))
    assert decide(doc, "2027-03-01")["status"] == "hold"


def test_blasts_only_matter_before_the_first_dose() -> None:
    events = [*course_through((1, 1)), labs("2027-03-07", blasts=50)]
    assert decide(document(events), "2027-03-08")["status"] == "give"


def test_first_dose_needs_a_peripheral_blast_count() -> None:
    doc = document([vitals("2027-02-26"), labs("2027-02-28", blasts=None)], workup_events=False)
    decision = decide(doc, "2027-03-01")
    assert decision["status"] == "cannot_decide"
    assert "peripheral_blasts" in reason(decision, "data.stale-labs")["inputs"]["needed"]


# -- VOD risk and suspected VOD -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("birth", "present"), [("1972-03-02", False), ("1972-03-01", True)]
)  # 54 vs 55 years
def test_vod_risk_age(birth: str, present: bool) -> None:
    decision = decide(document(patient={"birth_date": birth}), "2027-03-01")
    assert ("VOD_RISK" in codes(decision)) is present
    if present:
        assert reason(decision, "safety.vod-risk")["interpretation"]


@pytest.mark.parametrize(
    "history",
    [{"liver_disease": "prior"}, {"prior_hsct": True}, {"prior_vod": True}, {"salvage_line": 2}],
)
def test_vod_risk_history(history: dict[str, Any]) -> None:
    assert "VOD_RISK" in codes(decide(document(history=history), "2027-03-01"))


def test_vod_risk_more_cycles() -> None:
    events = [
        *course_through((2, 15), in_remission_from=2),
        labs("2027-04-18"),
        vitals("2027-04-18"),
    ]
    assert reason(decide(document(events), "2027-04-19"), "safety.vod-risk")["inputs"]["cycle"] == 3


def vod_signs(
    weight: float, *, ascites: bool = True, bilirubin: float = 2.0, on: str = "2027-03-15"
) -> dict[str, Any]:
    events = [
        *course_through((1, 8)),
        vitals("2027-03-14", weight_kg=weight, ascites=ascites),
        labs("2027-03-14", bilirubin=bilirubin),
    ]
    return document(events)


def test_suspected_vod_ebmt_2016_holds() -> None:
    decision = decide(vod_signs(73.6), "2027-03-15")  # +5.14 % weight, ascites, bilirubin 2.0
    assert decision["status"] == "hold"
    r = reason(decision, "safety.vod-suspected")
    assert "EBMT 2016" in r["citation"] and r["inputs"]["criteria_met"] is True
    assert "VOD_SUSPECTED" in codes(decision)


def test_vod_signs_below_criteria_alert_only() -> None:
    decision = decide(vod_signs(73.5, bilirubin=1.99), "2027-03-15")  # +5.0 %: not above 5 %
    assert "safety.vod-suspected" not in rules(decision)
    assert "VOD_SUSPECTED" in codes(decision)  # ascites alone: a warning to evaluate
    assert (
        next(a for a in decision["alerts"] if a["code"] == "VOD_SUSPECTED")["severity"] == "warning"
    )


def test_vod_watch_lasts_56_days_after_the_last_dose() -> None:
    events = [*course_through((2, 15), in_remission_from=2)]
    last = date(2027, 4, 5)
    for offset, present in ((56, True), (57, False)):
        on = last + timedelta(days=offset)
        doc = document(
            [*events, labs(on, bilirubin=2.5), vitals(on, ascites=True, hepatomegaly=True)],
            plan={"hsct_intended": True},
        )
        assert ("VOD_SUSPECTED" in codes(decide(doc, on))) is present, offset


def test_pediatric_criteria_named_for_children() -> None:
    events = [*course_through((1, 8)), vitals("2027-03-14", ascites=True, hepatomegaly=True)]
    decision = decide(document(events, patient={"birth_date": "2017-01-01"}), "2027-03-15")
    assert "EBMT 2018" in reason(decision, "safety.vod-suspected")["citation"]


# -- HSCT ----------------------------------------------------------------------------------------
def hsct(conditioning: list[str], bilirubin: float = 0.6) -> dict[str, Any]:
    events = [
        *course_through((2, 15), in_remission_from=2),
        labs("2027-04-20", bilirubin=bilirubin),
        {"date": "2027-05-10", "type": "hsct", "planned": True, "conditioning": conditioning},
    ]
    return document(events, plan={"hsct_intended": True})


def test_two_alkylating_agents_alert_with_synonyms() -> None:
    decision = decide(hsct(["BCNU", "Busulfex", "fludarabine"]), "2027-04-21")
    assert "HSCT_CONDITIONING" in codes(decision)
    assert reason(decision, "safety.hsct-conditioning")["inputs"]["alkylating_agents"] == [
        "carmustine",
        "busulfan",
    ]


def test_one_alkylating_agent_no_alert() -> None:
    assert "HSCT_CONDITIONING" not in codes(
        decide(hsct(["thiotepa", "fludarabine", "ATG"]), "2027-04-21")
    )


@pytest.mark.parametrize(("bilirubin", "alert"), [(1.19, False), (1.2, True)])
def test_bilirubin_at_uln_before_hsct(bilirubin: float, alert: bool) -> None:
    assert ("HSCT_BILIRUBIN" in codes(decide(hsct(["thiotepa"], bilirubin), "2027-04-21"))) is alert


# -- QT -----------------------------------------------------------------------------------------
def med(on: str, name: str, action: str = "start") -> dict[str, Any]:
    return {"date": on, "type": "medication", "name": name, "action": action}


@pytest.mark.parametrize(
    ("meds", "flagged"),
    [
        ([med("2027-02-27", "Zofran ODT 8 mg")], True),
        ([med("2027-02-27", "levofloxacin")], True),
        ([med("2027-02-20", "fluconazole"), med("2027-02-25", "fluconazole", "stop")], False),
        ([med("2027-02-27", "ketoconazole cream")], False),
        ([med("2027-02-27", "isavuconazonium sulfate")], False),  # QT shortening: contrast
        ([med("2027-02-27", "moxifloxacin")], False),  # unconfirmed candidate: off by default
        ([med("2027-02-27", "acyclovir")], False),
    ],
)
def test_qt_drugs(meds: list[dict[str, Any]], flagged: bool) -> None:
    decision = decide(document(meds), "2027-03-01")
    assert ("QT_DRUG" in codes(decision)) is flagged
    if flagged:
        assert reason(decision, "safety.qt-drug")["inputs"]["source"].startswith("http")


class TestMedicationStops:
    """Start and stop are paired by the medicine they name (brand = generic, any case)."""

    @pytest.mark.parametrize(
        ("start", "stop"),
        [
            ("ondansetron", "Zofran"),
            ("Zofran ODT 4 mg", "ondansetron"),
            ("ondansetron 8 mg IV", "ONDANSETRON"),
            ("Levaquin", "levofloxacin"),
            ("moxifloxacin", "Avelox"),  # an unconfirmed candidate still names its medicine
        ],
    )
    def test_a_stop_under_another_name_ends_the_medicine(self, start: str, stop: str) -> None:
        meds = [med("2027-02-20", start), med("2027-02-25", stop, "stop")]
        decision = decide(document(meds), "2027-03-01")
        assert "QT_DRUG" not in codes(decision)
        assert "MEDICATION_STOP_UNMATCHED" not in codes(decision)
        assert decision["course_state"]["medications"] == []

    def test_the_same_names_one_day_apart_before_the_stop(self) -> None:
        meds = [med("2027-02-20", "ondansetron"), med("2027-03-02", "Zofran", "stop")]
        decision = decide(document(meds), "2027-03-01")  # the stop is after the decision date
        assert "QT_DRUG" in codes(decision)

    @pytest.mark.parametrize("stop", ["Zofrann", "Reglan", "granisetron"])
    def test_an_unmatched_stop_keeps_the_medicine_and_says_so(self, stop: str) -> None:
        meds = [med("2027-02-20", "ondansetron"), med("2027-02-25", stop, "stop")]
        decision = decide(document(meds), "2027-03-01")
        assert "QT_DRUG" in codes(decision)
        assert "MEDICATION_STOP_UNMATCHED" in codes(decision)
        found = reason(decision, "safety.medication-stop-unmatched")
        assert found["inputs"]["medication"] == stop
        assert found["inputs"]["taken"] == ["ondansetron"]
        assert decision["course_state"]["medications"] == ["ondansetron"]

    def test_a_second_stop_is_unmatched(self) -> None:
        meds = [
            med("2027-02-20", "fluconazole"),
            med("2027-02-24", "fluconazole", "stop"),
            med("2027-02-25", "Diflucan", "stop"),
        ]
        decision = decide(document(meds), "2027-03-01")
        assert "QT_DRUG" not in codes(decision)
        assert "MEDICATION_STOP_UNMATCHED" in codes(decision)


def test_site_policy_switches_on_a_candidate_and_adds_names() -> None:
    from inoplan.domain.policy import SitePolicy

    policy = SitePolicy(extra_qt_drugs=("moxifloxacin", "drug-x"))
    decision = decide(
        document([med("2027-02-27", "Avelox"), med("2027-02-27", "drug-x 5 mg")]),
        "2027-03-01",
        policy=policy,
    )
    found = {
        r["inputs"]["ingredient"] for r in decision["reasons"] if r["rule"] == "safety.qt-drug"
    }
    assert found == {"moxifloxacin", "drug x"}


def test_no_baseline_ecg_is_a_warning_not_a_block() -> None:
    doc = document([vitals("2027-02-26"), labs("2027-02-28")], workup_events=False)
    decision = decide(doc, "2027-03-01")
    assert decision["status"] == "give" and "QT_ECG" in codes(decision)


@pytest.mark.parametrize(
    ("qtcf", "severity"), [(480, None), (481, "warning"), (500, "warning"), (501, "critical")]
)
def test_qtcf_thresholds(qtcf: int, severity: str | None) -> None:
    decision = decide(
        document([{"date": "2027-02-27", "type": "ecg", "qtcf_ms": qtcf}]), "2027-03-01"
    )
    alerts = [a for a in decision["alerts"] if a["code"] == "QT_PROLONGED"]
    assert (alerts[0]["severity"] if alerts else None) == severity


@pytest.mark.parametrize(("rise", "critical"), [(60, False), (61, True)])
def test_qtcf_rise_from_baseline(rise: int, critical: bool) -> None:
    events = [
        *course_through((1, 1)),
        {"date": "2027-03-07", "type": "ecg", "qtcf_ms": 400 + rise},
        labs("2027-03-07"),
    ]
    doc = document(events)
    doc["events"][1]["qtcf_ms"] = 400
    alerts = [a for a in decide(doc, "2027-03-08")["alerts"] if a["code"] == "QT_PROLONGED"]
    assert bool(alerts and alerts[0]["severity"] == "critical") is critical


@pytest.mark.parametrize(("potassium", "alert"), [(3.49, True), (3.5, False)])
def test_low_potassium(potassium: float, alert: bool) -> None:
    doc = document([labs("2027-02-28", potassium={"value": potassium, "unit": "mmol/L"})])
    assert ("ELECTROLYTES" in codes(decide(doc, "2027-03-01"))) is alert


# -- pregnancy, contraception, lactation ----------------------------------------------------------
FEMALE = {"sex": "female", "reproductive_potential": True}


def test_pregnancy_test_missing_cannot_decide() -> None:
    decision = decide(document(patient=FEMALE), "2027-03-01")
    assert decision["status"] == "cannot_decide"
    assert "pregnancy" in reason(decision, "safety.pregnancy-test-missing")["message"]
    assert "PREGNANCY_TEST" in codes(decision)


@pytest.mark.parametrize(("result", "status"), [("negative", "give"), ("positive", "hold")])
def test_pregnancy_test_result(result: str, status: str) -> None:
    doc = document(
        [{"date": "2027-02-27", "type": "pregnancy_test", "result": result}], patient=FEMALE
    )
    assert decide(doc, "2027-03-01")["status"] == status


def test_no_pregnancy_test_needed_without_reproductive_potential() -> None:
    assert decide(document(patient={"sex": "female"}), "2027-03-01")["status"] == "give"


@pytest.mark.parametrize(
    ("patient", "contraception", "breastfeeding"),
    [
        ({"sex": "female", "reproductive_potential": True}, "2027-11-15", "2027-05-15"),
        ({"sex": "male", "reproductive_potential": True}, "2027-08-15", None),
        ({"sex": "male", "reproductive_potential": False}, None, None),
    ],
)
def test_key_dates(
    patient: dict[str, Any], contraception: str | None, breastfeeding: str | None
) -> None:
    events = [
        {"date": "2027-02-27", "type": "pregnancy_test", "result": "negative"},
        *course_through((1, 15)),
    ]
    decision = decide(document(events, patient=patient), "2027-03-16")
    kd = decision["key_dates"]
    assert (kd["contraception_until"], kd["no_breastfeeding_until"], kd["provisional"]) == (
        contraception,
        breastfeeding,
        True,
    )
    assert ("CONTRACEPTION" in codes(decision)) is bool(patient["reproductive_potential"])


def test_key_dates_final_when_complete() -> None:
    events = [*course_through((2, 15), in_remission_from=2)]
    decision = decide(
        document(events, patient={"reproductive_potential": True}, plan={"hsct_intended": True}),
        "2027-04-20",
    )
    assert decision["status"] == "complete"
    assert decision["key_dates"] == {
        "contraception_until": "2027-09-05",
        "no_breastfeeding_until": None,
        "provisional": False,
        "last_dose_on": "2027-04-05",
    }


def test_breastfeeding_patient_gets_a_lactation_warning() -> None:
    doc = document(
        [{"date": "2027-02-27", "type": "pregnancy_test", "result": "negative"}],
        patient={**FEMALE, "breastfeeding": True},
    )
    alert = next(a for a in decide(doc, "2027-03-01")["alerts"] if a["code"] == "LACTATION")
    assert alert["severity"] == "warning"


# -- allergy, age, EU contraindications -----------------------------------------------------------
@pytest.mark.parametrize(
    "allergy",
    [
        "Polysorbate 80",
        "polysorbate",
        "sucrose",
        "tromethamine",
        "inotuzumab ozogamicin",
        "Besponsa",
    ],
)
def test_allergy_to_drug_or_excipient_holds_us(allergy: str) -> None:
    decision = decide(document(patient={"allergies": [allergy]}), "2027-03-01")
    assert decision["status"] == "hold" and "ALLERGY" in codes(decision)


def test_unrelated_allergy() -> None:
    assert decide(document(patient={"allergies": ["penicillin"]}), "2027-03-01")["status"] == "give"


@pytest.mark.parametrize(("birth", "status"), [("2026-03-02", "hold"), ("2026-03-01", "give")])
def test_age_below_one_year(birth: str, status: str) -> None:
    doc = document(
        [vitals("2027-02-26", height_cm=75, weight_kg=9.5)], patient={"birth_date": birth}
    )
    doc["events"] = [
        e for e in doc["events"] if not (e["type"] == "vitals" and e.get("height_cm") == 170)
    ]
    decision = decide(doc, "2027-03-01")
    assert decision["status"] == status
    assert ("AGE" in codes(decision)) is (status == "hold")


@pytest.mark.parametrize(
    ("patient", "history", "code"),
    [
        ({}, {"prior_vod": True}, "prior-or-ongoing-vod"),
        ({}, {"liver_disease": "ongoing"}, "serious-ongoing-liver-disease"),
        ({"allergies": ["polysorbate 80"]}, {}, "hypersensitivity"),
    ],
)
def test_eu_contraindications_discontinue(
    patient: dict[str, Any], history: dict[str, Any], code: str
) -> None:
    decision = decide(document(label="eu", patient=patient, history=history), "2027-03-01")
    assert decision["status"] == "discontinue"
    assert f"safety.contraindication.{code}" in rules(decision)
    assert "EU SmPC" in reason(decision, f"safety.contraindication.{code}")["citation"]


def test_us_has_no_contraindications_for_the_same_history() -> None:
    decision = decide(
        document(history={"prior_vod": True, "liver_disease": "ongoing"}), "2027-03-01"
    )
    assert decision["status"] == "give" and "VOD_RISK" in codes(decision)


def test_eu_first_dose_adult_gives_with_eu_citations() -> None:
    decision = decide(document(label="eu"), "2027-03-01")
    assert decision["status"] == "give" and decision["label_revision"] == "eu-2022-02"
    assert all(
        r["citation"].startswith(("EU SmPC", "inoplan", "CTCAE", "EBMT"))
        for r in decision["reasons"]
    )


class TestBeforeTheStartEu:
    """EU SmPC 4.2: CD22 positivity and the tumour-burden premedication before the first dose."""

    @pytest.mark.parametrize("label", ["eu", "us"])
    def test_raised_before_the_first_dose_where_the_label_says_so(self, label: str) -> None:
        decision = decide(document(label=label), "2027-03-01")
        eu = label == "eu"
        assert ("CD22_TEST" in codes(decision)) is eu
        assert ("TUMOUR_BURDEN" in codes(decision)) is eu
        if eu:
            cd22 = reason(decision, "safety.cd22-before-start")
            assert "4.2" in cd22["citation"] and cd22["inputs"]["doses_given"] == 0
            burden = reason(decision, "safety.tumour-burden")
            assert burden["inputs"]["first_dose"] == "2027-03-01"

    def test_not_raised_once_the_first_dose_is_given(self) -> None:
        doc = document(course_through((1, 1)), label="eu")
        decision = decide(doc, "2027-03-08")
        assert "CD22_TEST" not in codes(decision) and "TUMOUR_BURDEN" not in codes(decision)


# -- premedication and observation recorded with a dose (US PI 2.2) ------------------------------
class TestInfusionCare:
    """What the give step records around the infusion: a dose without the full premedication or
    observed for less than the label's hour after it needs a reason and leaves a warning."""

    @staticmethod
    def _doc(**care: Any) -> dict[str, Any]:
        from tests.engine.enginekit import given

        return document([{**given("2027-03-01", 1, 1, 1.46), **care}])

    @pytest.mark.parametrize(("minutes", "short"), [(59, True), (60, False), (61, False)])
    def test_observation_threshold(self, minutes: int, short: bool) -> None:
        care: dict[str, Any] = {"observation_min": minutes}
        if short:
            care["observation_reason"] = "patient left against advice"
        decision = decide(self._doc(**care), "2027-03-05")
        assert ("OBSERVATION_SHORT" in codes(decision)) is short
        if short:
            alert = next(a for a in decision["alerts"] if a["code"] == "OBSERVATION_SHORT")
            assert alert["severity"] == "warning"
            assert alert["citation"].startswith("US PI 2.2")
            assert alert["inputs"]["observation_min"] == 59
            assert alert["inputs"]["required_min"] == 60
            assert alert["inputs"]["reason"] == "patient left against advice"
            assert "safety.observation-short" in rules(decision)

    @pytest.mark.parametrize("minutes", [59, 0])
    def test_a_short_observation_without_a_reason_is_refused(self, minutes: int) -> None:
        from inoplan.errors import InvalidInput

        with pytest.raises(InvalidInput) as caught:
            decide(self._doc(observation_min=minutes), "2027-03-05")
        assert caught.value.field.endswith(".observation_reason")
        assert "60 minutes" in caught.value.message

    @pytest.mark.parametrize(
        ("agents", "missing"),
        [
            ([], ["corticosteroid", "antipyretic", "antihistamine"]),
            (["corticosteroid", "antipyretic"], ["antihistamine"]),
        ],
    )
    def test_premedication_not_in_full(self, agents: list[str], missing: list[str]) -> None:
        doc = self._doc(premedication=agents, premedication_reason="antihistamine out of stock")
        for on in ("2027-03-05", "2027-04-20"):  # on every later decision
            decision = decide(doc, on)
            alert = next(a for a in decision["alerts"] if a["code"] == "PREMEDICATION_NOT_GIVEN")
            assert alert["severity"] == "warning"
            assert alert["inputs"]["premedication_missing"] == missing
            assert alert["inputs"]["premedication_given"] == agents
            assert alert["inputs"]["reason"] == "antihistamine out of stock"
            assert "out of stock" in alert["message"]

    def test_premedication_in_full_or_not_recorded_raises_nothing(self) -> None:
        full = ["antihistamine", "corticosteroid", "antipyretic"]
        for care in ({"premedication": full}, {}):
            decision = decide(self._doc(**care), "2027-03-05")
            assert "PREMEDICATION_NOT_GIVEN" not in codes(decision)
            assert "OBSERVATION_SHORT" not in codes(decision)

    def test_premedication_missing_an_agent_without_a_reason_is_refused(self) -> None:
        from inoplan.errors import InvalidInput

        with pytest.raises(InvalidInput) as caught:
            decide(self._doc(premedication=["corticosteroid"]), "2027-03-05")
        assert caught.value.field.endswith(".premedication_reason")
        assert "antipyretic, antihistamine" in caught.value.message
        with pytest.raises(InvalidInput) as twice:
            decide(self._doc(premedication=["corticosteroid", "corticosteroid"]), "2027-03-05")
        assert twice.value.field.endswith(".premedication")

    def test_the_agents_are_the_documents_vocabulary(self) -> None:
        from typing import get_args

        from inoplan.document.models import PremedicationAgent
        from inoplan.domain.course import PREMEDICATION_AGENTS

        assert set(get_args(PremedicationAgent)) == set(PREMEDICATION_AGENTS)
