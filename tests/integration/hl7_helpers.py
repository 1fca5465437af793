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
#: day 15 of cycle 1 is due on 2026-04-19; the stored labs (2026-04-04) are too old for it.
#: The course (examples/02, one year earlier) and the fixtures are dated in the past of the real
#: clock, so that the feed's future-date guard lets them in when run as a process (the CLI).
TODAY = date(2026, 4, 19)
NOW = datetime(2026, 4, 19, 8, 0, tzinfo=UTC)
#: the clinic's clock for the fixtures dated after TODAY (2026-04-25 and 2026-04-26)
LATER = datetime(2026, 4, 26, 12, 0, tzinfo=UTC)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def course_for_fixtures(patient_id: str = MRN) -> dict[str, Any]:
    """examples/02 without its day-15 labs: a course waiting for today's results."""
    text = (ROOT / "examples" / "02-bilirubin-and-transaminases.yaml").read_text()
    document = yaml.safe_load(text.replace("2027-", "2026-"))  # one year earlier: the past
    document.pop("expect")
    document["patient"]["id"] = patient_id
    document["events"] = [e for e in document["events"] if str(e["date"]) != "2026-04-18"]
    return copy.deepcopy(document)


def add_course(database: Any, patient_id: str = MRN) -> int:
    return records.create_course(database, course_for_fixtures(patient_id), actor="tester").id


def feed(database: Any, policy: ResultsPolicy | None = None, now: datetime = NOW) -> FeedContext:
    """A feed on TODAY; ``now`` the clinic's clock (the future-date guard)."""
    return FeedContext(
        database=database,
        today=lambda: TODAY,
        results_policy=policy or ResultsPolicy(),
        clock=lambda: NOW,
        now=lambda: now,
    )


def events_of(database: Any, course_id: int) -> list[dict[str, Any]]:
    return list(records.export_document(database, course_id)["events"])
