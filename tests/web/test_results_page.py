"""The "Results to review" page: parked feed messages listed with why; assign, retry, discard."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from inoplan.domain.results import ResultsPolicy
from inoplan.inbound import FeedContext, handle_hl7
from inoplan.interop.hl7v2 import split_batch
from inoplan.services import records, results
from tests.web.conftest import TODAY, csrf_of, login

FIXTURES = Path(__file__).resolve().parents[1] / "interop" / "fixtures" / "hl7"


def park(app: Any, name: str = "oru-unknown-patient.hl7") -> int:
    [raw] = split_batch((FIXTURES / name).read_bytes())
    ctx = FeedContext(
        database=app.state.database, today=lambda: TODAY, results_policy=ResultsPolicy()
    )
    outcome, _ = handle_hl7(ctx, raw)
    assert outcome.state == "parked"
    assert outcome.message_id is not None
    return outcome.message_id


def test_the_page_lists_parked_messages_with_why(app: Any, client: Any) -> None:
    park(app)
    login(client, "nurse")
    page = client.get("/results")
    assert page.status_code == 200
    assert "unknown patient" in page.text
    assert "no stored patient has this medical record number" in page.text
    assert "MRN-9999" in page.text  # the record number a person needs to resolve it
    assert "Assign to course" in page.text and 'href="/results"' in page.text


@pytest.mark.parametrize("role", ["viewer", "pharmacist"])
def test_roles_that_do_not_record_labs_may_not_see_or_resolve(
    app: Any, client: Any, role: str
) -> None:
    message_id = park(app)
    login(client, role)
    assert client.get("/results").status_code == 403
    token = csrf_of(client.get("/").text)
    response = client.post(
        f"/results/{message_id}/discard", data={"csrf_token": token, "reason": "not ours"}
    )
    assert response.status_code == 403
    assert results.get_message(app.state.database, message_id).state == "parked"


def test_assigning_records_the_results_in_the_course(app: Any, client: Any, course_id: int) -> None:
    message_id = park(app)
    login(client, "nurse")
    token = csrf_of(client.get("/results").text)
    response = client.post(
        f"/results/{message_id}/assign",
        data={"csrf_token": token, "course_id": str(course_id), "note": "checked with the lab"},
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/results?done=resolved"
    events = records.export_document(app.state.database, course_id)["events"]
    assert events[-1]["type"] == "labs" and events[-1]["anc"]["value"] == 3.1
    stored = results.get_message(app.state.database, message_id)
    assert (stored.state, stored.resolved_by) == ("resolved", "nurse")


def test_discarding_needs_a_reason_and_the_form_token(app: Any, client: Any) -> None:
    message_id = park(app)
    login(client, "prescriber")
    token = csrf_of(client.get("/results").text)
    no_token = client.post(f"/results/{message_id}/discard", data={"reason": "duplicate"})
    assert no_token.status_code == 403
    no_reason = client.post(f"/results/{message_id}/discard", data={"csrf_token": token})
    assert no_reason.status_code == 422 and "Nothing was changed" in no_reason.text
    done = client.post(
        f"/results/{message_id}/discard",
        data={"csrf_token": token, "reason": "test message from the lab"},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert results.get_message(app.state.database, message_id).state == "discarded"
    assert "No message waiting for review" in client.get("/results").text


def test_a_content_problem_offers_no_assignment(app: Any, client: Any) -> None:
    park(app, "oru-bilirubin-without-uln.hl7")
    login(client, "nurse")
    page = client.get("/results")
    assert "no uln" in page.text and "Assign to course" not in page.text


@pytest.mark.parametrize(
    "name",
    [
        "oru-unknown-patient.hl7",
        "oru-bilirubin-without-uln.hl7",
        "oru-broken-segment.hl7",
        "oru-local-code.hl7",
        "oru-two-patients-one-mrn.hl7",
    ],
)
def test_the_page_names_no_hl7_field_to_clinicians(app: Any, client: Any, name: str) -> None:
    """Problems and their places in words ("medical record number", "result 2, value"); the
    message as received stays available, folded away, for whoever fixes the interface."""
    import re

    park(app, name)
    login(client, "nurse")
    page = client.get("/results").text
    shown = re.sub(r"<details>.*?</details>", "", page, flags=re.S)
    assert "Why it was not recorded" in shown
    assert re.findall(r"\b(?:MSH|PID|PV1|ORC|OBR|OBX|NTE)\b(?:-\d+|\[\d+\])?", shown) == []
    assert "<details><summary>Message as received" in page


def test_hl7_places_in_words() -> None:
    from inoplan.web.messages import hl7_place, plain

    assert hl7_place("OBX[3].7") == "result 3, reference range"
    assert hl7_place("PID[1].7") == "patient 1, birth date"
    assert hl7_place("OBX[2].99") == "result 2, result field 99"  # a field without a name
    assert plain("PID-3 names no medical record number of the accepted type") == (
        "the patient's identifiers hold no medical record number of the accepted type"
    )
    assert plain("the message has no PID segment") == "the message has no patient section"
