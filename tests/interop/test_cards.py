"""Decision + ordered dose -> cards (pure; decisions shaped as docs/decision.md)."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from inoplan import DISCLAIMER
from inoplan.interop.cards import CardOptions, OrderedDose, decision_cards, shorten
from inoplan.interop.cds import ordered_dose
from tests.interop.helpers import check_cds_response, draft_order

REASON = {
    "rule": "regimen.cycle-1.day-1",
    "citation": "US PI 2.1, Table 1",
    "message": "Cycle 1 day 1: 0.8 mg/m2",
    "inputs": {"bsa_m2": 1.82, "weight_kg": 70},
}


def decision(status: str = "give", **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "label": "us",
        "label_revision": "us-2024-03",
        "engine_version": "0.1.0",
        "as_of": "2026-12-01",
        "status": status,
        "next_dose": {
            "cycle": 1,
            "day": 1,
            "scheduled": "2026-12-01",
            "earliest": "2026-12-01",
            "latest": None,
            "dose_mg_per_m2": 0.8,
            "dose_mg": 1.46,
            "bsa_m2": 1.82,
        },
        "modifications": [],
        "omitted_doses": [],
        "key_dates": {},
        "reasons": [REASON],
        "alerts": [
            {
                "severity": "info",
                "code": "PREMEDICATION",
                "message": "Premedicate",
                "citation": "US PI 2.2",
            }
        ],
    }
    base.update(changes)
    return base


def options(**changes: Any) -> CardOptions:
    counter = itertools.count(1)
    return CardOptions(
        new_uuid=lambda: f"uuid-{next(counter)}",
        link_url="https://inoplan.example.org/courses/3",
        **changes,
    )


def cards_for(d: dict[str, Any], order: dict[str, Any] | None, **opts: Any) -> list[dict[str, Any]]:
    result = decision_cards(d, ordered_dose(order) if order else None, options(**opts))
    check_cds_response({"cards": result})
    return result


def test_a_correct_first_dose_order_gives_one_info_card() -> None:
    [card] = cards_for(decision(), draft_order(mg_per_m2=0.8, mg=1.46))
    assert card["indicator"] == "info"
    assert card["summary"] == "C1D1: 0.8 mg/m2 x BSA 1.82 m2 = 1.46 mg; label checks passed"
    assert "US PI 2.1, Table 1" in card["detail"] and "bsa_m2 = 1.82" in card["detail"]
    assert "PREMEDICATION" in card["detail"]  # info alerts stay in the detail
    assert card["detail"].endswith(f"*{DISCLAIMER}*")
    assert card["source"]["label"] == "inoplan: BESPONSA label us-2024-03, US PI 2.1, Table 1"
    assert card["links"] == [
        {
            "label": "Open the course in inoplan",
            "url": "https://inoplan.example.org/courses/3",
            "type": "absolute",
        }
    ]
    assert "suggestions" not in card


def test_an_order_ten_percent_above_gives_a_warning_with_a_suggestion() -> None:
    order = draft_order(mg_per_m2=0.8, mg=1.61)  # 1.61 / 1.46 = +10.3 %
    info, warning = cards_for(decision(), order)
    assert info["indicator"] == "info"
    assert warning["indicator"] == "warning"
    assert (
        warning["summary"] == "Ordered 1.61 mg differs +10.3 % from the label dose 1.46 mg (C1D1)"
    )
    assert warning["selectionBehavior"] == "at-most-one"
    [suggestion] = warning["suggestions"]
    assert suggestion["isRecommended"] is True
    [action] = suggestion["actions"]
    assert action["type"] == "update"
    resource = action["resource"]
    assert resource["id"] == order["id"] and resource["status"] == "draft"  # the whole resource
    rates = {
        r["type"]["coding"][0]["code"]: r["doseQuantity"]["value"]
        for r in resource["dosageInstruction"][0]["doseAndRate"]
    }
    assert rates == {"ordered": 0.8, "calculated": 1.46}
    assert {r["code"] for r in warning["overrideReasons"]} >= {
        "clinical-judgement",
        "local-protocol",
    }


def test_the_tolerance_is_configurable() -> None:
    order = draft_order(mg_per_m2=None, mg=1.52)  # +4.1 %
    assert [c["indicator"] for c in cards_for(decision(), order)] == ["info"]
    strict = cards_for(decision(), order, tolerance=Decimal("0.02"))
    assert [c["indicator"] for c in strict] == ["info", "warning"]


def test_an_mg_per_m2_order_is_compared_per_m2() -> None:
    [_, warning] = cards_for(decision(), draft_order(mg_per_m2=0.5))
    assert "0.5 mg/m2" in warning["summary"] and "-37.5 %" in warning["summary"]


def test_epic_dose_rate_types_are_matched_on_the_code() -> None:
    order = draft_order(mg_per_m2=0.8, mg=1.8, epic=True)
    assert ordered_dose(order).mg == Decimal("1.8")
    assert ordered_dose(order).mg_per_m2 == Decimal("0.8")
    assert [c["indicator"] for c in cards_for(decision(), order)] == ["info", "warning"]


def test_an_order_above_the_hard_limit_is_critical() -> None:
    cards = cards_for(decision(), draft_order(mg_per_m2=0.9))
    assert cards[0]["indicator"] == "critical"
    assert cards[0]["summary"] == "Order 0.9 mg/m2 exceeds the 0.8 mg/m2 per-dose maximum"


def test_indicators_follow_the_decision_status() -> None:
    hold = decision(
        "hold",
        reasons=[
            {
                "rule": "hepatic.bilirubin",
                "citation": "US PI 2.4, Table 3",
                "message": "Bilirubin 1.9 x ULN",
                "inputs": {},
            }
        ],
    )
    stop = decision(
        "discontinue",
        next_dose=None,
        reasons=[
            {
                "rule": "vod",
                "citation": "US PI 2.4, Table 3",
                "message": "VOD: permanently discontinue",
                "inputs": {},
            }
        ],
    )
    unknown = decision(
        "cannot_decide",
        reasons=[
            {
                "rule": "data.weight",
                "citation": "US PI 2.1",
                "message": "need a body weight",
                "inputs": {},
            }
        ],
    )
    wait = decision("wait")
    order = draft_order(mg_per_m2=0.8, mg=1.46)
    assert [c["indicator"] for c in cards_for(hold, order)] == ["warning"]
    assert cards_for(hold, order)[0]["summary"].startswith("Hold C1D1: Bilirubin 1.9 x ULN")
    assert [c["indicator"] for c in cards_for(stop, order)] == ["critical"]
    assert cards_for(unknown, order)[0]["summary"] == "Cannot check this dose: need a body weight"
    assert cards_for(unknown, order)[0]["indicator"] == "warning"
    assert cards_for(wait, order)[0]["indicator"] == "warning"  # an order on a day with no dose
    assert cards_for(wait, None)[0]["indicator"] == "info"  # patient-view: just the summary


def test_critical_and_warning_alerts_get_cards_of_their_own() -> None:
    alerts = [
        {
            "severity": "critical",
            "code": "VOD_SUSPECTED",
            "message": "Signs of VOD",
            "citation": "US PI 5.1",
        },
        {
            "severity": "warning",
            "code": "QT_DRUG",
            "message": "QT-prolonging co-medication",
            "citation": "US PI 5.5",
        },
    ]
    cards = cards_for(decision(alerts=alerts), draft_order(mg_per_m2=0.8, mg=1.46))
    assert [c["indicator"] for c in cards] == ["info", "critical", "warning"]
    assert cards[1]["source"]["label"].endswith("US PI 5.1")


def test_summaries_stay_under_140_characters() -> None:
    long = decision(
        "hold", reasons=[{"rule": "x", "citation": "US PI", "message": "word " * 80, "inputs": {}}]
    )
    for card in cards_for(long, draft_order()):
        assert len(card["summary"]) <= 139
    assert shorten("a" * 200).endswith("…") and len(shorten("a" * 200)) == 139


def test_reasons_with_interpretations_say_so() -> None:
    reason = {**REASON, "interpretation": "day 8 counted from day 1 as given"}
    [card] = cards_for(decision(reasons=[reason]), None)
    assert "*(interpretation: day 8 counted from day 1 as given)*" in card["detail"]


def test_no_order_figures_means_no_mismatch_card() -> None:
    assert ordered_dose({"resourceType": "MedicationRequest"}) == OrderedDose(
        resource={"resourceType": "MedicationRequest"}
    )
    assert [c["indicator"] for c in cards_for(decision(), draft_order(mg_per_m2=None))] == ["info"]


def test_the_response_checker_accepts_the_spec_examples_and_flags_a_missing_indicator() -> None:
    import pytest

    from tests.interop.helpers import CDS, load

    for name in ("03", "04", "05"):
        check_cds_response(load(CDS / f"spec-example-{name}-response.json"))
    with pytest.raises(KeyError, match="indicator"):  # the spec's example 6 omits a REQUIRED field
        check_cds_response(load(CDS / "spec-example-06-response.json"))


def test_card_ids_are_unique_version_4_uuids_and_change_with_the_process() -> None:
    import os
    import uuid

    from inoplan.interop import cards

    ids = [cards.card_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(i) for i in ids]
    assert {(u.version, u.variant) for u in parsed} == {(4, uuid.RFC_4122)}
    assert all(str(u) == i for u, i in zip(parsed, ids, strict=True))
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # a forked worker draws its own random prefix
        os.write(write, cards.card_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    os.close(read)
    os.close(write)
    assert child[:24] != ids[0][:24] and child not in ids


def test_every_card_of_a_decision_carries_the_same_reasons_data_and_notes() -> None:
    alerts = [
        {"severity": "critical", "code": "VOD_SUSPECTED", "message": "VOD", "citation": "5.1"},
        {"severity": "warning", "code": "QT_DRUG", "message": "QT", "citation": "5.5"},
    ]
    opts = options(notes=["read as QTcF"], sources={"anc": "Observation/anc-1 (2026-11-30)"})
    d = decision(alerts=alerts)
    first = decision_cards(d, ordered_dose(draft_order(mg_per_m2=0.8, mg=1.6)), opts)
    assert len(first) == 4  # the status, the dose mismatch, two alerts
    tail = first[0]["detail"].split("**Reasons**", 1)[1]
    assert first[1]["detail"].endswith(tail)  # the mismatch card: same reasons, data, notes
    assert "- read as QTcF" in tail and "- anc: Observation/anc-1 (2026-11-30)" in tail
    for card, other in ((first[2], "QT_DRUG"), (first[3], "VOD_SUSPECTED")):  # its alert only
        assert "**Reasons**" not in card["detail"] and other not in card["detail"]
        assert "- read as QTcF" in card["detail"]
    # the same options and decision again, the notes changed in place: the text follows
    assert isinstance(opts.notes, list)
    opts.notes.append("not available from the EHR: qtc")
    again = decision_cards(d, None, opts)
    assert all("- not available from the EHR: qtc" in card["detail"] for card in again)
    d["reasons"] = [{**REASON, "message": "Another finding"}]
    assert "Another finding" in decision_cards(d, None, opts)[0]["detail"]
