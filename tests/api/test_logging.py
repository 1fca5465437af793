"""No patient data in logs: a full create / append / decide cycle logs opaque ids only."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from inoplan.api import create_app
from tests.integration.records_helpers import (
    TODAY,
    add_users,
    course_document,
    headers,
    settings_for,
    vitals_event,
)


def test_the_service_logs_no_patient_details_even_with_sql_logging_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # SQL statements are logged
    app = create_app(settings_for(f"sqlite:///{tmp_path / 'log.db'}"))
    document = course_document(0)
    with TestClient(app) as client:
        tokens = add_users(app.state.database)
        created = client.post(
            "/api/v1/courses", json=document, headers=headers(tokens["prescriber"])
        )
        course = f"/api/v1/courses/{created.json()['id']}"
        client.post(
            f"{course}/events",
            json=vitals_event(1),
            headers=headers(tokens["nurse"], **{"If-Match": "1"}),
        )
        client.get(f"{course}/decision?on={TODAY}", headers=headers(tokens["viewer"]))
        bad = {**document, "patient": {**document["patient"], "birth_date": "not-a-date"}}
        client.post("/api/v1/courses", json=bad, headers=headers(tokens["prescriber"]))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "INSERT INTO courses" in logged  # SQL logging really was on
    patient = document["patient"]
    for detail in (patient["birth_date"], patient["id"], "not-a-date"):
        assert detail not in logged
