"""Shared helpers for the interop tests: fixtures on disk, token minting, FHIR builders."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).parent / "fixtures"
CDS = FIXTURES / "cds-hooks"
R4 = FIXTURES / "hl7-r4-examples"

SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
NOW = 1_800_000_000  # a fixed "now" for the injected clock


class SeenIds:
    """A replay store for the verifier's unit tests, on the injected clock (the product's one
    store is the database's: ``inoplan.persistence.replay``)."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.seen: dict[tuple[str, str], float] = {}
        self.clock = clock

    def remember(self, iss: str, jti: str, expires_at: datetime) -> bool:
        live = self.seen.get((iss, jti))
        if live is not None and live > self.clock():
            return False
        self.seen[(iss, jti)] = expires_at.timestamp()
        return True


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def sandbox_jwk() -> dict[str, Any]:
    return dict(load(CDS / "sandbox-jwk-keypair.json")["keys"][0])


def sandbox_public_jwks() -> dict[str, Any]:
    key = {k: v for k, v in sandbox_jwk().items() if k != "d"}
    return {"keys": [key]}


def mint(
    aud: str,
    *,
    iss: str = SANDBOX_ISS,
    now: int = NOW,
    lifetime: int = 300,
    jti: str | None = None,
    jwk: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
    alg: str = "ES384",
    **claims: Any,
) -> str:
    """A token minted the way the CDS Hooks sandbox does (ES384, kid, jku, exp = iat + 300)."""
    import jwt

    jwk = jwk or sandbox_jwk()
    payload = {
        "iss": iss,
        "aud": aud,
        "exp": now + lifetime,
        "iat": now,
        "jti": jti or str(uuid.uuid4()),
        **claims,
    }
    header = {"kid": jwk.get("kid"), "jku": SANDBOX_JKU, "typ": "JWT", **(headers or {})}
    return jwt.encode(payload, jwt.PyJWK.from_dict(jwk).key, algorithm=alg, headers=header)


def patient(pid: str = "pt-1", sex: str = "male", birth: str = "1962-09-03") -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, "gender": sex, "birthDate": birth}


def quantity(value: float, unit: str, ucum: bool = True) -> dict[str, Any]:
    q: dict[str, Any] = {"value": value, "unit": unit}
    if ucum:
        q.update({"system": "http://unitsofmeasure.org", "code": unit})
    return q


def observation(
    oid: str,
    loinc: str,
    value: float,
    unit: str,
    when: str,
    *,
    high: float | None = None,
    pid: str = "pt-1",
    ucum: bool = True,
) -> dict[str, Any]:
    o: dict[str, Any] = {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": loinc}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
        "valueQuantity": quantity(value, unit, ucum),
    }
    if high is not None:
        o["referenceRange"] = [{"high": quantity(high, unit, ucum)}]
    return o


def searchset(*resources: dict[str, Any], typed: bool = True) -> dict[str, Any] | None:
    if not resources:
        return None
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "entry": [{"resource": r} for r in resources],
    }
    if typed:
        bundle["type"] = "searchset"
    return bundle


INO = {
    "coding": [
        {
            "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
            "code": "1942950",
            "display": "inotuzumab ozogamicin",
        }
    ],
    "text": "inotuzumab ozogamicin",
}


def administration(aid: str, when: str, mg: float, pid: str = "pt-1") -> dict[str, Any]:
    return {
        "resourceType": "MedicationAdministration",
        "id": aid,
        "status": "completed",
        "medicationCodeableConcept": INO,
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when,
        "dosage": {"dose": quantity(mg, "mg")},
    }


def draft_order(
    *,
    mg_per_m2: float | None = 0.8,
    mg: float | None = None,
    when: str | None = None,
    rid: str = "draft-ino-1",
    pid: str = "pt-1",
    epic: bool = False,
    text: str | None = None,
) -> dict[str, Any]:
    system = (
        "http://epic.com/CodeSystem/dose-rate-type"
        if epic
        else "http://terminology.hl7.org/CodeSystem/dose-rate-type"
    )
    dose_and_rate = []
    if mg_per_m2 is not None:
        dose_and_rate.append(
            {
                "type": {"coding": [{"system": system, "code": "ordered"}]},
                "doseQuantity": quantity(mg_per_m2, "mg/m2"),
            }
        )
    if mg is not None:
        dose_and_rate.append(
            {
                "type": {
                    "coding": [{"system": system, "code": "admin-amount" if epic else "calculated"}]
                },
                "doseQuantity": quantity(mg, "mg"),
            }
        )
    instruction: dict[str, Any] = {"doseAndRate": dose_and_rate}
    if when:
        instruction["timing"] = {"event": [when]}
    if text:
        instruction["text"] = text
    return {
        "resourceType": "MedicationRequest",
        "id": rid,
        "status": "draft",
        "intent": "order",
        "medicationCodeableConcept": INO,
        "subject": {"reference": f"Patient/{pid}"},
        "dosageInstruction": [instruction],
    }


def check_cds_response(body: dict[str, Any]) -> None:
    """CDS Hooks 2.0 response rules (spec + the 3.0 ballot's invariants cds-resp-1..6)."""
    assert isinstance(body.get("cards"), list)
    for card in body["cards"]:
        assert isinstance(card["summary"], str) and 0 < len(card["summary"]) < 140, card["summary"]
        assert card["indicator"] in ("info", "warning", "critical")
        assert card["source"]["label"]
        for reason in card.get("overrideReasons", []):
            assert reason["display"] and reason["code"] and reason["system"]  # cds-resp-4
        if card.get("suggestions"):
            assert card["selectionBehavior"] in ("at-most-one", "any")  # cds-resp-6
            if card["selectionBehavior"] == "at-most-one":
                assert sum(bool(s.get("isRecommended")) for s in card["suggestions"]) <= 1
            for suggestion in card["suggestions"]:
                assert suggestion["label"]
                for action in suggestion.get("actions", []):
                    assert action["type"] in ("create", "update", "delete")
                    assert action["description"]  # cds-resp-5
                    if action["type"] == "update":
                        assert action["resource"]["resourceType"]
        for link in card.get("links", []):
            assert link["type"] in ("absolute", "smart") and link["url"] and link["label"]
            assert "appContext" not in link or link["type"] == "smart"  # cds-resp-3
