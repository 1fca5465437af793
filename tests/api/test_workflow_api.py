"""The treatment-day steps through the REST API (the same service as the web pages)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.integration.records_helpers import PASSWORD, SECOND_NURSE, headers
from tests.web.conftest import course_document

NOW = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)


@pytest.fixture
def course(client: TestClient, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> int:
    from inoplan.api.routes import workflow

    monkeypatch.setattr(workflow, "clinic_now", lambda request: NOW)
    created = client.post(
        "/api/v1/courses", json=course_document(), headers=headers(tokens["prescriber"])
    )
    assert created.status_code == 201, created.text
    return int(created.json()["id"])


def _post(client: TestClient, token: str, path: str, body: dict[str, Any]) -> Any:
    return client.post(path, json=body, headers=headers(token))


def test_a_dose_goes_from_ordered_to_given_through_the_api(
    client: TestClient, tokens: dict[str, str], course: int
) -> None:
    base = f"/api/v1/courses/{course}/days/1/8"
    road = client.get(
        f"/api/v1/courses/{course}/days?on=2026-12-08", headers=headers(tokens["viewer"])
    )
    assert road.status_code == 200
    due = next(d for c in road.json()["cycles"] for d in c["days"] if d["due"])
    assert (due["cycle"], due["day"], due["state"]) == (1, 8, "ordered")
    assert {p["state"] for p in due["parameters"]} == {"met", "not_a_criterion"}

    released = _post(client, tokens["prescriber"], f"{base}/release", {"note": "counts fine"})
    assert released.status_code == 200, released.text
    assert released.json()["state"] == "released"
    assert (
        _post(client, tokens["pharmacist"], f"{base}/verify", {"dose_mg": 0.91}).json()["state"]
        == "verified"
    )
    signer = {"username": "admin", "password": PASSWORD}
    wrong = _post(
        client,
        tokens["pharmacist"],
        f"{base}/prepare",
        {"lot": "A1", "expiry": "2027-01-01", "second_signer": {**signer, "password": "no!"}},
    )
    assert wrong.status_code == 422 and wrong.json()["field"] == "second_signer_password"
    prepared = _post(
        client,
        tokens["pharmacist"],
        f"{base}/prepare",
        {"lot": "A1", "expiry": "2027-01-01", "prepared_at": "09:40", "second_signer": signer},
    )
    assert prepared.status_code == 200, prepared.text
    assert prepared.json()["steps"]["prepared"]["second_signer"] == "admin"
    given = _post(
        client,
        tokens["nurse"],
        f"{base}/give",
        {
            "started_at": "10:00",
            "ended_at": "11:00",
            "premedication": True,
            "reactions": None,
            "observation_end": "12:00",
            "second_signer": {"username": SECOND_NURSE, "password": PASSWORD},
        },
    )
    assert given.status_code == 200, given.text
    assert given.json()["state"] == "given" and given.json()["version"] == 4
    document = client.get(f"/api/v1/courses/{course}", headers=headers(tokens["viewer"])).json()
    assert document["events"][-1]["type"] == "administration"
    trail = client.get(f"/api/v1/courses/{course}/audit", headers=headers(tokens["admin"])).json()
    actions = [r["action"] for r in trail["data"]]
    assert (
        actions.index("dose.release")
        < actions.index("dose.verify")
        < actions.index("dose.prepare")
        < actions.index("dose.give")
    )


def test_a_step_out_of_order_is_409_and_a_wrong_day_is_422(
    client: TestClient, tokens: dict[str, str], course: int
) -> None:
    base = f"/api/v1/courses/{course}/days"
    early = _post(client, tokens["pharmacist"], f"{base}/1/8/verify", {"dose_mg": 0.91})
    assert early.status_code == 409 and "ordered" in early.json()["detail"]
    assert _post(client, tokens["prescriber"], f"{base}/1/9/release", {}).status_code == 422
    assert _post(client, tokens["prescriber"], f"{base}/1/15/release", {}).status_code == 409
    missing = client.post(
        "/api/v1/courses/99/days/1/8/release", json={}, headers=headers(tokens["prescriber"])
    )
    assert missing.status_code == 404


def _app(client: TestClient) -> FastAPI:
    app = client.app
    assert isinstance(app, FastAPI)
    return app


def _to_prepared(client: TestClient, tokens: dict[str, str], course: int) -> str:
    base = f"/api/v1/courses/{course}/days/1/8"
    assert _post(client, tokens["prescriber"], f"{base}/release", {}).status_code == 200
    verified = _post(client, tokens["pharmacist"], f"{base}/verify", {"dose_mg": 0.91})
    assert verified.status_code == 200
    prepared = _post(
        client,
        tokens["pharmacist"],
        f"{base}/prepare",
        {
            "lot": "A1",
            "expiry": "2027-01-01",
            "prepared_at": "09:40",
            "second_signer": {"username": "admin", "password": PASSWORD},
        },
    )
    assert prepared.status_code == 200, prepared.text
    return base


def _give_body(**extra: Any) -> dict[str, Any]:
    return {
        "started_at": "10:00",
        "ended_at": "11:00",
        "premedication": True,
        "observation_end": "12:00",
        "second_signer": {"username": SECOND_NURSE, "password": PASSWORD},
        **extra,
    }


def test_give_refuses_missing_reasons_and_the_alerts_follow(
    client: TestClient, tokens: dict[str, str], course: int
) -> None:
    """Premedication not in full and an observation of 59 minutes (infusion ends 11:00) each
    need their reason (422 naming the field, nothing saved); given with them, the course's
    decision carries PREMEDICATION_NOT_GIVEN and OBSERVATION_SHORT with their inputs."""
    base = _to_prepared(client, tokens, course)
    partial = ["corticosteroid", "antipyretic"]
    refused = _post(client, tokens["nurse"], f"{base}/give", _give_body(premedication=partial))
    assert refused.status_code == 422 and refused.json()["field"] == "premedication_reason"
    assert "antihistamine" in refused.json()["detail"]
    short = _post(
        client,
        tokens["nurse"],
        f"{base}/give",
        _give_body(
            premedication=partial, premedication_reason="none in stock", observation_end="11:59"
        ),
    )
    assert short.status_code == 422 and short.json()["field"] == "observation_reason"
    unknown = _post(client, tokens["nurse"], f"{base}/give", _give_body(premedication=["aspirin"]))
    assert unknown.status_code == 422
    given = _post(
        client,
        tokens["nurse"],
        f"{base}/give",
        _give_body(
            premedication=partial,
            premedication_reason="none in stock",
            observation_end="11:59",
            observation_reason="patient left",
        ),
    )
    assert given.status_code == 200, given.text
    decision = client.get(
        f"/api/v1/courses/{course}/decision?on=2026-12-08", headers=headers(tokens["viewer"])
    ).json()
    alerts = {a["code"]: a for a in decision["alerts"]}
    premedication = alerts["PREMEDICATION_NOT_GIVEN"]
    assert premedication["inputs"]["premedication_missing"] == ["antihistamine"]
    assert premedication["severity"] == "warning"
    assert alerts["OBSERVATION_SHORT"]["inputs"]["observation_min"] == 59
    assert alerts["OBSERVATION_SHORT"]["inputs"]["reason"] == "patient left"
    assert "US PI 2.2" in alerts["OBSERVATION_SHORT"]["citation"]


@pytest.mark.parametrize(("end", "status"), [("11:59", 422), ("12:00", 200), ("12:01", 200)])
def test_give_observation_threshold_over_the_api(
    client: TestClient, tokens: dict[str, str], course: int, end: str, status: int
) -> None:
    base = _to_prepared(client, tokens, course)
    answer = _post(client, tokens["nurse"], f"{base}/give", _give_body(observation_end=end))
    assert answer.status_code == status, answer.text
    if status == 422:
        assert answer.json()["field"] == "observation_reason"


@pytest.mark.parametrize(
    ("care", "field"),
    [
        ({"observation_min": 59}, "event.observation_reason"),
        ({"premedication": []}, "event.premedication_reason"),
    ],
)
def test_a_dose_recorded_directly_needs_the_reasons_too(
    client: TestClient, tokens: dict[str, str], care: dict[str, Any], field: str
) -> None:
    """The course document's rule holds on the REST events route as in the give step."""
    from tests.api.test_guards import (
        create,
        document,
        dose,
        labs,
        post_event,
        refused_and_unchanged,
    )

    course = create(client, tokens["prescriber"], document(labs(6)))
    event = dose(7, 1, 8, 0.91, override_reason="given at the partner hospital", **care)
    response = post_event(client, tokens["prescriber"], course, event, 1)
    refused_and_unchanged(client, tokens, course, response, 422, field)
    event[field.split(".", 1)[1]] = "documented at the partner hospital"
    assert post_event(client, tokens["prescriber"], course, event, 1).status_code == 201
