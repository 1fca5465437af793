"""GET /api/v1/vocabulary and /vocabulary/match: the coded terms, read-only, for every role."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.records_helpers import headers

VOCABULARY = "/api/v1/vocabulary"


@pytest.mark.parametrize("role", ["admin", "prescriber", "pharmacist", "nurse", "viewer"])
def test_every_role_reads_the_vocabulary(client: Any, tokens: dict[str, str], role: str) -> None:
    response = client.get(VOCABULARY, headers=headers(tokens[role]))
    assert response.status_code == 200
    body = response.json()
    codes = {t["code"] for t in body["toxicity_terms"]}
    assert {"vod", "hepatic_failure", "infusion_related_reaction", "nausea"} <= codes
    assert len(body["toxicity_terms"]) >= 837  # every CTCAE v5.0 term, and the label's own
    vod = next(t for t in body["toxicity_terms"] if t["code"] == "vod")
    assert vod["category"] == "vod" and "SOS/VOD" in vod["synonyms"]
    assert vod["meddra_code"] == "10063675"
    allergens = {a["code"]: a for a in body["allergens"]}
    assert allergens["polysorbate_80"]["e_numbers"] == ["E433"]
    assert "trometamol" in allergens["tromethamine"]["synonyms"]
    assert set(body["categories"]) >= {"vod", "liver_severe", "hematologic", "other"}


def test_the_vocabulary_needs_a_token_and_never_changes(
    client: Any, tokens: dict[str, str]
) -> None:
    assert client.get(VOCABULARY).status_code == 401
    assert client.post(VOCABULARY, json={}, headers=headers(tokens["admin"])).status_code == 405


def test_one_kind_only(client: Any, tokens: dict[str, str]) -> None:
    allergens = client.get(f"{VOCABULARY}?kind=allergen", headers=headers(tokens["nurse"])).json()
    assert "allergens" in allergens and "toxicity_terms" not in allergens
    bad = client.get(f"{VOCABULARY}?kind=drugs", headers=headers(tokens["nurse"]))
    assert bad.status_code == 422


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("SOS/VOD", "vod"),
        ("VOD (veno-occlusive disease)", "vod"),
        ("Venoocclusive liver disease", "vod"),
        ("Acute liver failure", "hepatic_failure"),
        ("IRR", "infusion_related_reaction"),
    ],
)
def test_match_a_toxicity_text(client: Any, tokens: dict[str, str], text: str, code: str) -> None:
    response = client.get(
        f"{VOCABULARY}/match", params={"text": text}, headers=headers(tokens["viewer"])
    )
    assert response.status_code == 200
    body = response.json()
    assert body["recognised"] is True
    assert [t["code"] for t in body["terms"]] == [code]


def test_match_an_unrecognised_text_and_an_allergy(client: Any, tokens: dict[str, str]) -> None:
    auth = headers(tokens["pharmacist"])
    unknown = client.get(f"{VOCABULARY}/match", params={"text": "suspected VOD"}, headers=auth)
    body = unknown.json()
    assert body["recognised"] is False and body["terms"] == []
    assert "vod" in [t["code"] for t in body["suggestions"]]
    assert "non-hematologic" in body["if_not_recognised"]
    tween = client.get(
        f"{VOCABULARY}/match", params={"text": "Tween-80", "kind": "allergen"}, headers=auth
    ).json()
    assert [a["code"] for a in tween["allergens"]] == ["polysorbate_80"]
    assert client.get(f"{VOCABULARY}/match", params={"text": ""}, headers=auth).status_code == 422
