"""Shared by the HL7/FHIR feed tests: the course the fixtures are written for, a feed context."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import yaml

from inoplan.domain.results import ResultsPolicy
from inoplan.inbound import FeedContext
from inoplan.services import records

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "interop" / "fixtures" / "hl7"
MRN = "MRN-1001"
#: day 15 of cycle 1 is due on 2027-04-19; the stored labs (2027-04-04) are too old for it
TODAY = date(2027, 4, 19)
NOW = datetime(2027, 4, 19, 8, 0, tzinfo=UTC)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def course_for_fixtures(patient_id: str = MRN) -> dict[str, Any]:
    """examples/02 without its day-15 labs: a course waiting for today's results."""
    document = yaml.safe_load(
        (ROOT / "examples" / "02-bilirubin-and-transaminases.yaml").read_text()
    )
    document.pop("expect")
    document["patient"]["id"] = patient_id
    document["events"] = [e for e in document["events"] if str(e["date"]) != "2027-04-18"]
    return copy.deepcopy(document)


def add_course(database: Any, patient_id: str = MRN) -> int:
    return records.create_course(database, course_for_fixtures(patient_id), actor="tester").id


def feed(database: Any, policy: ResultsPolicy | None = None) -> FeedContext:
    return FeedContext(
        database=database,
        today=lambda: TODAY,
        results_policy=policy or ResultsPolicy(),
        clock=lambda: NOW,
    )


def events_of(database: Any, course_id: int) -> list[dict[str, Any]]:
    return list(records.export_document(database, course_id)["events"])
