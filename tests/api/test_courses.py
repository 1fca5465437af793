"""Courses through the REST API: create, read back exactly, append, conflict, plan, decision."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from inoplan import DISCLAIMER
from tests.integration.records_helpers import TODAY, course_document, headers, vitals_event

COURSES = "/api/v1/courses"


def _create(client: TestClient, token, document=None):  # type: ignore[no-untyped-def]
    response = client.post(COURSES, json=document or course_document(0), headers=headers(token))
    assert response.status_code == 201, response.text
    return response.json()


def test_a_created_course_reads_back_exactly_with_id_and_version(
    client: TestClient, tokens: dict[str, str]
) -> None:
    document = course_document(1)
    created = _create(client, tokens["prescriber"], document)
    assert created["version"] == 1

    response = client.get(f"{COURSES}/{created['id']}", headers=headers(tokens["viewer"]))

    assert response.status_code == 200
    assert response.json() == {**document, "id": created["id"], "version": 1}
    assert [e["date"] for e in response.json()["events"]] == [e["date"] for e in document["events"]]
    assert response.headers["ETag"] == '"1"'


def test_export_is_the_document_alone(client: TestClient, tokens: dict[str, str]) -> None:
    document = course_document(2)
    created = _create(client, tokens["admin"], document)
    response = client.get(f"{COURSES}/{created['id']}/export", headers=headers(tokens["nurse"]))
    assert response.status_code == 200
    assert response.json() == document


def test_an_invalid_document_is_a_422_problem_naming_the_field(
    client: TestClient, tokens: dict[str, str]
) -> None:
    document = course_document(0)
    document["events"][3]["anc"]["unit"] = "mg/dL"  # the labs event; not a count unit
    response = client.post(COURSES, json=document, headers=headers(tokens["prescriber"]))
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == "events[3].anc.unit"
    assert client.get(COURSES, headers=headers(tokens["viewer"])).json()["count"] == 0


def test_a_schema_violation_names_the_field_too(client: TestClient, tokens: dict[str, str]) -> None:
    document = course_document(0)
    document["plan"]["cycle1_days"] = 30
    response = client.post(COURSES, json=document, headers=headers(tokens["prescriber"]))
    assert response.status_code == 422
    assert response.json()["field"] == "plan.cycle1_days"


def test_an_event_is_appended_with_the_current_version(
    client: TestClient, tokens: dict[str, str]
) -> None:
    created = _create(client, tokens["prescriber"])
    event = vitals_event(1)
    response = client.post(
        f"{COURSES}/{created['id']}/events",
        json=event,
        headers=headers(tokens["nurse"], **{"If-Match": "1"}),
    )
    assert response.status_code == 201, response.text
    assert response.json()["version"] == 2
    stored = client.get(f"{COURSES}/{created['id']}", headers=headers(tokens["viewer"])).json()
    assert stored["version"] == 2
    assert stored["events"][-1] == event
    assert stored["events"][:-1] == course_document(0)["events"]


def test_a_stale_version_gets_409_and_nothing_is_written(
    client: TestClient, tokens: dict[str, str]
) -> None:
    created = _create(client, tokens["prescriber"])
    url = f"{COURSES}/{created['id']}/events"
    first = client.post(
        url, json=vitals_event(1), headers=headers(tokens["nurse"], **{"If-Match": '"1"'})
    )
    assert first.status_code == 201
    stale = client.post(
        url, json=vitals_event(2), headers=headers(tokens["nurse"], **{"If-Match": "1"})
    )
    assert stale.status_code == 409
    assert stale.headers["content-type"].startswith("application/problem+json")
    stored = client.get(f"{COURSES}/{created['id']}", headers=headers(tokens["viewer"])).json()
    assert stored["version"] == 2
    assert [e.get("id") for e in stored["events"]].count("w-2") == 0


def test_a_write_without_if_match_is_refused_with_428(
    client: TestClient, tokens: dict[str, str]
) -> None:
    created = _create(client, tokens["prescriber"])
    response = client.post(
        f"{COURSES}/{created['id']}/events", json=vitals_event(1), headers=headers(tokens["nurse"])
    )
    assert response.status_code == 428


def test_a_malformed_if_match_is_a_422_naming_the_header(
    client: TestClient, tokens: dict[str, str]
) -> None:
    created = _create(client, tokens["prescriber"])
    response = client.post(
        f"{COURSES}/{created['id']}/events",
        json=vitals_event(1),
        headers=headers(tokens["nurse"], **{"If-Match": "abc"}),
    )
    assert response.status_code == 422
    assert response.json()["field"] == "If-Match"


def test_an_event_that_would_invalidate_the_course_is_refused_and_not_written(
    client: TestClient, tokens: dict[str, str]
) -> None:
    created = _create(client, tokens["prescriber"])
    correction = {**vitals_event(9), "supersedes": "no-such-event", "reason": "typo"}
    response = client.post(
        f"{COURSES}/{created['id']}/events",
        json=correction,
        headers=headers(tokens["nurse"], **{"If-Match": "1"}),
    )
    assert response.status_code == 422
    assert response.json()["field"] == "event.supersedes"
    stored = client.get(f"{COURSES}/{created['id']}", headers=headers(tokens["viewer"])).json()
    assert stored["version"] == 1 and len(stored["events"]) == len(course_document(0)["events"])


def test_an_invalid_event_body_names_the_field_inside_the_event(
    client: TestClient, tokens: dict[str, str]
) -> None:
    created = _create(client, tokens["prescriber"])
    event = {"date": "2026-11-29", "type": "labs", "anc": {"value": 1.2, "unit": "furlongs"}}
    response = client.post(
        f"{COURSES}/{created['id']}/events",
        json=event,
        headers=headers(tokens["nurse"], **{"If-Match": "1"}),
    )
    assert response.status_code == 422
    assert response.json()["field"] == "event.anc.unit"


def test_a_correction_supersedes_with_a_reason(client: TestClient, tokens: dict[str, str]) -> None:
    created = _create(client, tokens["prescriber"])
    url = f"{COURSES}/{created['id']}/events"
    assert (
        client.post(
            url, json=vitals_event(1), headers=headers(tokens["nurse"], **{"If-Match": "1"})
        ).status_code
        == 201
    )
    correction = {**vitals_event(2), "supersedes": "w-1", "reason": "weighed with shoes on"}
    response = client.post(
        url, json=correction, headers=headers(tokens["nurse"], **{"If-Match": "2"})
    )
    assert response.status_code == 201
    events = client.get(f"{COURSES}/{created['id']}", headers=headers(tokens["viewer"])).json()[
        "events"
    ]
    assert events[-2]["id"] == "w-1" and events[-1]["supersedes"] == "w-1"  # append-only


def test_a_second_correction_of_the_same_entry_is_refused_naming_both(
    client: TestClient, tokens: dict[str, str]
) -> None:
    created = _create(client, tokens["prescriber"])
    url = f"{COURSES}/{created['id']}/events"
    nurse = tokens["nurse"]
    first = vitals_event(1)
    assert (
        client.post(url, json=first, headers=headers(nurse, **{"If-Match": "1"})).status_code == 201
    )
    fix = {**vitals_event(2), "id": "w-fix", "supersedes": "w-1", "reason": "shoes on"}
    assert (
        client.post(url, json=fix, headers=headers(nurse, **{"If-Match": "2"})).status_code == 201
    )
    again = {**vitals_event(3), "id": "w-again", "supersedes": "w-1", "reason": "scale"}
    response = client.post(url, json=again, headers=headers(nurse, **{"If-Match": "3"}))
    assert response.status_code == 422
    body = response.json()
    assert body["field"] == "event.supersedes"
    assert "'w-1' is already corrected by events[" in body["detail"]
    assert "correct 'w-fix'" in body["detail"]
    void = {"date": fix["date"], "type": "void", "supersedes": "w-1", "reason": "wrong patient"}
    response = client.post(url, json=void, headers=headers(nurse, **{"If-Match": "3"}))
    assert response.status_code == 422 and response.json()["field"] == "event.supersedes"
    # the entry in force (the head of the chain) may still be corrected: one below the refusal
    head = {**vitals_event(3), "id": "w-head", "supersedes": "w-fix", "reason": "scale"}
    assert (
        client.post(url, json=head, headers=headers(nurse, **{"If-Match": "3"})).status_code == 201
    )
    stored = client.get(f"{COURSES}/{created['id']}", headers=headers(tokens["viewer"])).json()
    assert stored["version"] == 4


def test_listing_is_paginated(client: TestClient, tokens: dict[str, str]) -> None:
    for n in range(3):
        _create(client, tokens["prescriber"], course_document(n % 4, patient_id=f"P-{n}"))
    page = client.get(f"{COURSES}?offset=1&limit=1", headers=headers(tokens["viewer"])).json()
    assert page["count"] == 3 and page["offset"] == 1 and page["limit"] == 1
    assert len(page["data"]) == 1 and page["data"][0]["patient_id"] == "P-1"
    found = client.post(
        "/api/v1/patients/search", json={"id": "P-2"}, headers=headers(tokens["viewer"])
    ).json()
    only = client.get(
        f"{COURSES}?patient_key={found['key']}", headers=headers(tokens["viewer"])
    ).json()
    assert only["count"] == 1 and only["data"][0]["patient_id"] == "P-2"


def test_patients_are_listed_with_their_courses(client: TestClient, tokens: dict[str, str]) -> None:
    a = _create(client, tokens["prescriber"], course_document(0))
    b = _create(client, tokens["prescriber"], course_document(0))  # same patient, second course
    found = client.post(
        "/api/v1/patients/search", json={"id": "DEMO-0001"}, headers=headers(tokens["viewer"])
    )
    assert found.status_code == 200
    assert found.json()["course_ids"] == [a["id"], b["id"]]
    response = client.get(
        f"/api/v1/patients/{found.json()['key']}", headers=headers(tokens["viewer"])
    )
    assert response.json() == found.json()
    assert client.get("/api/v1/patients", headers=headers(tokens["viewer"])).json()["count"] == 1


def test_the_same_patient_id_with_another_birth_date_is_a_conflict(
    client: TestClient, tokens: dict[str, str]
) -> None:
    _create(client, tokens["prescriber"], course_document(0))
    other = course_document(0)
    other["patient"]["birth_date"] = "1970-01-01"
    response = client.post(COURSES, json=other, headers=headers(tokens["prescriber"]))
    assert response.status_code == 409


def test_an_unknown_course_is_404(client: TestClient, tokens: dict[str, str]) -> None:
    response = client.get(f"{COURSES}/999", headers=headers(tokens["viewer"]))
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")


def test_the_plan_equals_the_cli_plan_and_carries_the_disclaimer(
    client: TestClient, tokens: dict[str, str]
) -> None:
    from inoplan.services.courses import plan_document

    document = course_document(1)
    created = _create(client, tokens["prescriber"], document)
    response = client.get(f"{COURSES}/{created['id']}/plan", headers=headers(tokens["viewer"]))
    assert response.status_code == 200
    body = response.json()
    assert body["disclaimer"] == DISCLAIMER
    today = date.fromisoformat(body["as_of"])  # the clinic's today by default
    expected = json.loads(json.dumps(plan_document(document, today), default=str))
    assert {k: v for k, v in body.items() if k not in {"course_id", "course_version"}} == expected


def test_the_plan_of_a_date_is_the_decision_s_plan_in_rest_and_fhir(
    client: TestClient, tokens: dict[str, str]
) -> None:
    """``?on``: one date, one plan (REST, FHIR CarePlan) and the decision of that date."""
    from inoplan.services.courses import plan_document

    document = course_document(1)
    created = _create(client, tokens["prescriber"], document)
    url = f"{COURSES}/{created['id']}"
    viewer = headers(tokens["viewer"])
    start = date.fromisoformat(str(document["plan"]["start_date"]))
    for day in (start, date.fromordinal(start.toordinal() + 9)):
        on = day.isoformat()
        plan = client.get(f"{url}/plan?on={on}", headers=viewer).json()
        decision = client.get(f"{url}/decision?on={on}", headers=viewer).json()
        assert plan["as_of"] == on and plan["decision"]["as_of"] == on
        assert plan["decision_status"] == decision["status"]
        expected = json.loads(json.dumps(plan_document(document, day), default=str))
        assert {
            k: v for k, v in plan.items() if k not in {"course_id", "course_version"}
        } == expected
        bundle = client.get(f"/api/v1/courses/{created['id']}/fhir?on={on}", headers=viewer).json()
        resources = [e["resource"] for e in bundle["entry"]]
        [group] = [r for r in resources if r["resourceType"] == "RequestGroup"]
        actions = {(a["title"], a["timingDateTime"]) for c in group["action"] for a in c["action"]}
        assert actions == {
            (f"Cycle {d['cycle']} day {d['day']}", str(d["scheduled"])) for d in plan["doses"]
        }
        [guidance] = [r for r in resources if r["resourceType"] == "GuidanceResponse"]
        assert guidance["occurrenceDateTime"] == on


@pytest.mark.parametrize(
    ("on", "status"),
    [
        ("2099-12-31", 200),
        ("2100-01-01", 422),
        ("1900-01-01", 200),
        ("1899-12-31", 422),
        ("9999-12-31", 422),
        ("not-a-date", 422),
    ],
)
def test_the_plan_date_bounds(
    client: TestClient, tokens: dict[str, str], on: str, status: int
) -> None:
    created = _create(client, tokens["prescriber"])
    response = client.get(
        f"{COURSES}/{created['id']}/plan?on={on}", headers=headers(tokens["viewer"])
    )
    assert response.status_code == status
    if status == 422:
        assert response.json()["field"] in ("on", "query.on")


def test_the_decision_equals_the_cli_and_is_recorded(
    client: TestClient, tokens: dict[str, str], tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from inoplan.cli.main import app as cli

    document = course_document(1)
    created = _create(client, tokens["prescriber"], document)
    on = TODAY.isoformat()
    response = client.get(
        f"{COURSES}/{created['id']}/decision?on={on}", headers=headers(tokens["pharmacist"])
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["disclaimer"] == DISCLAIMER
    assert body["as_of"] == on

    export = client.get(
        f"{COURSES}/{created['id']}/export", headers=headers(tokens["viewer"])
    ).json()
    path = tmp_path / "course.json"
    path.write_text(json.dumps(export), encoding="utf-8")
    result = CliRunner().invoke(cli, ["evaluate", str(path), "--on", on, "--json"])
    assert result.exit_code == 0, result.output
    from_cli = json.loads(result.stdout)
    extras = {"decision_id", "course_id", "course_version"}
    assert {k: v for k, v in body.items() if k not in extras} == {
        **from_cli,
        "disclaimer": body["disclaimer"],
    }

    shown = client.get(
        f"{COURSES}/{created['id']}/decisions", headers=headers(tokens["viewer"])
    ).json()
    assert shown["count"] == 1
    record = shown["data"][0]
    assert record["shown_to"] == "pharmacist" and record["decision"]["status"] == body["status"]
    assert record["inputs"]["course_version"] == 1 and record["as_of"] == on
    trail = client.get(f"{COURSES}/{created['id']}/audit", headers=headers(tokens["admin"])).json()
    assert [r["action"] for r in trail["data"]] == ["course.create", "decision.show"]
    assert trail["data"][1]["actor"] == "pharmacist"


def test_the_decision_defaults_to_today_in_the_clinic_time_zone(
    client: TestClient, tokens: dict[str, str]
) -> None:
    created = _create(client, tokens["prescriber"])
    response = client.get(f"{COURSES}/{created['id']}/decision", headers=headers(tokens["viewer"]))
    assert response.status_code == 200
    from datetime import UTC, datetime

    assert response.json()["as_of"] in {
        date.today().isoformat(),
        datetime.now(UTC).date().isoformat(),
    }


def test_every_write_is_in_the_course_audit_trail_with_before_and_after(
    client: TestClient, tokens: dict[str, str]
) -> None:
    created = _create(client, tokens["prescriber"])
    client.post(
        f"{COURSES}/{created['id']}/events",
        json=vitals_event(1),
        headers=headers(tokens["nurse"], **{"If-Match": "1"}),
    )
    trail = client.get(
        f"{COURSES}/{created['id']}/audit", headers=headers(tokens["pharmacist"])
    ).json()
    assert [(r["action"], r["actor"]) for r in trail["data"]] == [
        ("course.create", "prescriber"),
        ("event.vitals", "nurse"),
    ]
    write = trail["data"][1]
    assert write["before"]["version"] == 1 and write["after"]["version"] == 2
    assert write["after"]["event"] == vitals_event(1)
    assert write["prev_hash"] == trail["data"][0]["hash"]


def test_the_exposure_equals_the_pk_service_for_the_stored_document(
    client: TestClient, tokens: dict[str, str]
) -> None:
    from inoplan.services.exposure import exposure_json

    document = course_document(0)
    created = _create(client, tokens["prescriber"], document)
    response = client.get(
        f"{COURSES}/{created['id']}/exposure?population=20&seed=7",
        headers=headers(tokens["viewer"]),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    expected = json.loads(json.dumps(exposure_json(document, population=20, seed=7), default=str))
    assert body["cycles"] == expected["cycles"]
    assert body["cumulative_auc_ng_h_per_ml"] == expected["cumulative_auc_ng_h_per_ml"]
    assert body["disclaimer"] == DISCLAIMER
    too_many = client.get(
        f"{COURSES}/{created['id']}/exposure?population=100000", headers=headers(tokens["viewer"])
    )
    assert too_many.status_code == 422 and too_many.json()["field"] == "population"


def test_a_prescriber_confirms_a_decision_shown_and_it_is_audited(
    client: TestClient, tokens: dict[str, str]
) -> None:
    created = _create(client, tokens["prescriber"])
    course = f"{COURSES}/{created['id']}"
    decision = client.get(f"{course}/decision?on={TODAY}", headers=headers(tokens["nurse"])).json()
    url = f"{course}/decisions/{decision['decision_id']}/confirmation"
    response = client.post(
        url, json={"note": "labs checked"}, headers=headers(tokens["prescriber"])
    )
    assert response.status_code == 201, response.text
    record = response.json()
    assert record["action"] == "decision.confirm" and record["actor"] == "prescriber"
    assert (
        record["after"]["status"] == decision["status"]
        and record["after"]["note"] == "labs checked"
    )
    missing = client.post(
        f"{course}/decisions/9999/confirmation", json={}, headers=headers(tokens["prescriber"])
    )
    assert missing.status_code == 404
    trail = client.get(f"{course}/audit", headers=headers(tokens["admin"])).json()["data"]
    assert [r["action"] for r in trail] == ["course.create", "decision.show", "decision.confirm"]


def test_the_old_verification_route_is_gone_and_stores_nothing(
    client: TestClient, tokens: dict[str, str]
) -> None:
    """One verification path: the treatment-day workflow's verify step (review M3)."""
    created = _create(client, tokens["prescriber"], course_document(0))
    url = f"{COURSES}/{created['id']}/verifications"
    trail = f"{COURSES}/{created['id']}/audit"
    before = client.get(trail, headers=headers(tokens["admin"])).json()["data"]
    gone = client.post(
        url, json={"cycle": 1, "day": 8, "dose_mg": 0.86}, headers=headers(tokens["pharmacist"])
    )
    assert gone.status_code == 410
    assert gone.headers["content-type"].startswith("application/problem+json")
    body = gone.json()
    assert body["title"] == "Gone" and "treatment-day workflow" in body["detail"]
    assert body["replacement"] == f"/api/v1/courses/{created['id']}/days/{{cycle}}/{{day}}/verify"
    after = client.get(trail, headers=headers(tokens["admin"])).json()["data"]
    assert len(after) == len(before)
    assert "dose.verify" not in [r["action"] for r in after]
    assert client.post(url, json={}).status_code == 401
    assert (
        client.post(url, json={}, headers=headers(tokens["nurse"])).status_code == 403
    )  # the permission still applies: nobody learns more than before


def test_an_id_beyond_the_database_range_is_not_found_rather_than_a_crash(
    client: TestClient, tokens: dict[str, str]
) -> None:
    import pytest

    from inoplan.errors import NotFound
    from inoplan.services import records

    huge = 10**25
    assert client.get(f"{COURSES}/{huge}", headers=headers(tokens["viewer"])).status_code == 422
    database = cast(FastAPI, client.app).state.database
    with pytest.raises(NotFound):
        records.course_document(database, huge)
    with pytest.raises(NotFound):
        records.append_event(database, huge, vitals_event(1), expected_version=1, actor="x")
