"""``GET /api/v1/today``: the web's Today list as JSON, in pages, critical items first across
pages, the role filter kept, every parameter checked at the door (issue 15 item 3)."""

from __future__ import annotations

import copy
from typing import Any, cast

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from inoplan.services.records import create_course
from tests.integration.records_helpers import headers
from tests.web.conftest import TODAY, course_document

VOD = {"date": TODAY.isoformat(), "type": "toxicity", "term": "vod", "grade": 3}
URL = f"/api/v1/today?on={TODAY.isoformat()}"


@pytest.fixture
def listed(client: TestClient) -> dict[str, list[int]]:
    """Three courses with a dose due, two to discontinue (critical)."""
    database = cast(FastAPI, client.app).state.database
    out: dict[str, list[int]] = {"give": [], "discontinue": []}
    for i in range(5):
        document = copy.deepcopy(course_document())
        document["patient"]["id"] = f"API-T{i:02d}"
        if i >= 3:
            document["events"].append(VOD)
        ref = create_course(database, document, actor="test-setup")
        out["discontinue" if i >= 3 else "give"].append(ref.id)
    return out


def get(client: TestClient, token: str, query: str = "") -> Any:
    return client.get(URL + query, headers=headers(token))


def test_critical_items_first_across_pages(
    client: TestClient, tokens: dict[str, str], listed: dict[str, list[int]]
) -> None:
    first = get(client, tokens["viewer"], "&per_page=2")
    assert first.status_code == 200, first.text
    body = first.json()
    assert sorted(r["course_id"] for r in body["data"]) == listed["discontinue"]
    assert all(r["urgent"] and "DISCONTINUED" in r["critical_codes"] for r in body["data"])
    assert (body["page"], body["pages"], body["shown_total"], body["total"]) == (1, 3, 5, 5)
    assert (body["urgent_total"], body["urgent_earlier"], body["urgent_later"]) == (2, 0, 0)
    assert body["counts"] == {"discontinue": 2, "give": 3}
    assert "qualified clinician" in body["disclaimer"]
    second = get(client, tokens["viewer"], "&per_page=2&page=2").json()
    assert {r["status"] for r in second["data"]} == {"give"} and second["urgent_earlier"] == 2
    assert second["first"] == 3
    last = get(client, tokens["viewer"], "&per_page=2&page=99").json()  # past the end
    assert last["page"] == 3 and len(last["data"]) == 1
    seen = [r["course_id"] for p in (body, second, last) for r in p["data"]]
    assert sorted(seen) == sorted(listed["give"] + listed["discontinue"])
    one = get(client, tokens["viewer"], "&per_page=1").json()
    assert (one["urgent_total"], one["urgent_later"]) == (2, 1)


def test_the_filters_work_as_on_the_web_page(
    client: TestClient, tokens: dict[str, str], listed: dict[str, list[int]]
) -> None:
    stops = get(client, tokens["nurse"], "&show=discontinue").json()
    assert sorted(r["course_id"] for r in stops["data"]) == listed["discontinue"]
    # a nurse acts on none of the due doses yet (they wait for release): only urgent rows stay
    nurse = get(client, tokens["nurse"], "&for=nurse").json()
    assert nurse["role"] == "nurse"
    assert sorted(r["course_id"] for r in nurse["data"]) == listed["discontinue"]
    prescriber = get(client, tokens["nurse"], "&for=prescriber").json()
    waits = {r["course_id"]: r["waits_for"] for r in prescriber["data"]}
    assert all(waits[i] and waits[i]["key"] == "release" for i in listed["give"])


@pytest.mark.parametrize(
    "query",
    ["&page=0", "&page=100001", "&per_page=0", "&per_page=201", "&show=bogus", "&for=admin"],
)
def test_parameters_are_checked_at_the_door(
    client: TestClient, tokens: dict[str, str], query: str
) -> None:
    assert get(client, tokens["viewer"], query).status_code == 422
    old_day = client.get("/api/v1/today?on=1800-01-01", headers=headers(tokens["viewer"]))
    assert old_day.status_code == 422


def test_a_token_is_needed(client: TestClient) -> None:
    assert client.get(URL).status_code == 401
