"""HL7 v2 results into stored courses: recorded, corrected, voided, parked, never duplicated.

Runs on SQLite and (marked) PostgreSQL. The fixtures are tests/interop/fixtures/hl7 (README).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from inoplan.domain.results import LocalCode, ResultsPolicy
from inoplan.errors import Conflict, InvalidInput
from inoplan.inbound import FeedContext, handle_hl7, retry_message
from inoplan.interop.hl7v2 import split_batch
from inoplan.services import records, results
from inoplan.services.decisions import course_decision
from tests.integration.hl7_helpers import (
    LATER,
    MRN,
    NOW,
    TODAY,
    add_course,
    events_of,
    feed,
    fixture,
)


def ingest(
    database: Any, name: str, policy: ResultsPolicy | None = None, now: datetime = NOW
) -> list[Any]:
    return [handle_hl7(feed(database, policy, now), raw) for raw in split_batch(fixture(name))]


def one(
    database: Any, name: str, policy: ResultsPolicy | None = None, now: datetime = NOW
) -> tuple[Any, bytes]:
    [(outcome, ack)] = ingest(database, name, policy, now)
    return outcome, ack


def msa(ack: bytes) -> list[str]:
    return ack.split(b"\r")[1].decode().split("|")


def labs_effective(database: Any, course_id: int) -> dict[str, Any]:
    """Effective (not superseded, not voided) lab values of 2026-04-18, by analyte."""
    events = events_of(database, course_id)
    superseded = {e["supersedes"] for e in events if e.get("supersedes")}
    out: dict[str, Any] = {}
    for e in events:
        if e["type"] == "labs" and e["date"] == "2026-04-18" and e.get("id") not in superseded:
            out.update({k: v for k, v in e.items() if isinstance(v, dict)})
    return out


def test_results_land_the_decision_is_recomputed_and_the_ack_follows(database: Any) -> None:
    course = add_course(database)
    assert course_decision(database, course, TODAY)["status"] == "cannot_decide"
    outcome, ack = one(database, "oru-v251-cbc-hepatic-final.hl7")
    assert (outcome.state, outcome.ack_code) == ("applied", "AA")
    assert msa(ack)[:3] == ["MSA", "AA", "LAB-20260418-0001"]
    assert outcome.decisions == {course: "hold"}  # bilirubin 1.9 x ULN, ALT 3.1 x ULN
    decision = course_decision(database, course, TODAY)
    assert decision["status"] == "hold"
    assert any("Table 3" in r["citation"] for r in decision["reasons"])
    labs = labs_effective(database, course)
    assert labs["bilirubin"] == {"value": 2.1, "unit": "mg/dL", "uln": 1.1, "lln": 0.3}
    assert labs["platelets"]["unit"] == "10*3/uL"
    assert "hemoglobin" not in labs  # a LOINC code inoplan does not use is left out


def test_the_same_message_twice_adds_nothing_and_gets_the_same_answer(database: Any) -> None:
    course = add_course(database)
    _, ack1 = one(database, "oru-v251-cbc-hepatic-final.hl7")
    before = events_of(database, course)
    again, ack2 = one(database, "oru-v251-cbc-hepatic-final.hl7")
    assert again.duplicate and again.ack_code == "AA"
    assert events_of(database, course) == before
    assert msa(ack1)[:3] == msa(ack2)[:3]
    audit = [a.action for a in records.course_audit(database, course)]
    assert audit.count("result.applied") == 1


def test_a_correction_supersedes_and_changes_the_decision(database: Any) -> None:
    course = add_course(database)
    one(database, "oru-v251-cbc-hepatic-final.hl7")
    outcome, _ = one(database, "oru-v251-hepatic-corrected.hl7")
    assert outcome.state == "applied"
    [event] = [e for e in events_of(database, course) if e.get("id") == outcome.event_ids[0]]
    assert event["supersedes"].startswith("hl7-") and "Corrected" in event["reason"]
    assert labs_effective(database, course)["bilirubin"]["value"] == 0.9
    assert course_decision(database, course, TODAY)["status"] == "give"
    assert outcome.decisions == {course: "give"}


def test_a_deleted_result_is_removed_and_a_cancelled_order_voided(database: Any) -> None:
    course = add_course(database)
    one(database, "oru-v251-cbc-hepatic-final.hl7")
    deleted, _ = one(database, "oru-v251-platelets-deleted.hl7")
    assert deleted.state == "applied"
    labs = labs_effective(database, course)
    assert "platelets" not in labs and labs["anc"]["value"] == 0.9
    cancelled, _ = one(database, "oru-v251-cbc-cancelled.hl7")
    [void] = [e for e in events_of(database, course) if e.get("id") == cancelled.event_ids[0]]
    assert void["type"] == "void" and void["supersedes"] == deleted.event_ids[0]
    assert void["reason"].startswith("Result cancelled by the laboratory")
    assert "anc" not in labs_effective(database, course)
    assert "bilirubin" in labs_effective(database, course)  # the other order stands


def test_preliminary_then_final_supersedes_and_a_late_preliminary_is_not_applied(
    database: Any,
) -> None:
    course = add_course(database)
    prelim, _ = one(database, "oru-v251-anc-preliminary.hl7", now=LATER)  # dated 2026-04-25
    [event] = [e for e in events_of(database, course) if e.get("id") == prelim.event_ids[0]]
    assert event["reason"].endswith("(preliminary)")
    final, _ = one(database, "oru-v251-anc-final.hl7", now=LATER)
    [event] = [e for e in events_of(database, course) if e.get("id") == final.event_ids[0]]
    assert event["supersedes"] == prelim.event_ids[0] and event["anc"]["value"] == 1.3
    assert "(preliminary)" not in event["reason"]
    # the preliminary sent again under a new control id must not replace the final
    raw = fixture("oru-v251-anc-preliminary.hl7").replace(b"LAB-20260425-0001", b"LAB-X-9")
    late, _ = handle_hl7(feed(database, now=LATER), split_batch(raw)[0])
    assert late.state == "applied" and late.event_ids == ()
    assert any("preliminary result after the final" in n for n in late.notes)


def test_v23_with_unit_text_and_no_identifier_type(database: Any) -> None:
    course = add_course(database)
    outcome, ack = one(database, "oru-v23-ghh-style.hl7", now=LATER)  # dated 2026-04-25
    assert outcome.state == "applied", outcome.problems
    [event] = [e for e in events_of(database, course) if e.get("id") == outcome.event_ids[0]]
    assert event["platelets"]["unit"] == "10*3/uL"  # "K/uL" text through the one table
    assert event["alt"]["unit"] == "IU/L"
    assert b"|2.3\r" in ack.split(b"\r")[0] + b"\r"  # answered in the message's version


@pytest.mark.parametrize(
    ("name", "code", "ack"),
    [
        ("oru-unknown-patient.hl7", "unknown_patient", "AE"),
        ("oru-two-patients-one-mrn.hl7", "identity_mismatch", "AE"),
        ("oru-broken-segment.hl7", "broken_segment", "AE"),
        ("oru-bilirubin-without-uln.hl7", "no_uln", "AE"),
        ("oru-local-code.hl7", "unknown_code", "AE"),
        ("oru-before-birth.hl7", "refused", "AE"),
        ("oru-wrong-encoding-characters.hl7", "encoding_characters", "AR"),
    ],
)
def test_what_cannot_be_matched_or_read_is_parked_never_guessed(
    database: Any, name: str, code: str, ack: str
) -> None:
    course = add_course(database)
    before = events_of(database, course)
    outcome, answer = one(database, name)
    assert outcome.ack_code == ack and msa(answer)[1] == ack
    assert code in [p.code for p in outcome.problems]
    assert outcome.state == ("rejected" if ack == "AR" else "parked")
    assert events_of(database, course) == before  # nothing half-saved
    stored = results.get_message(database, outcome.message_id)
    assert stored.state == outcome.state and stored.raw  # kept for review
    parked = results.list_messages(database)
    assert [m.id for m in parked.data] == [outcome.message_id]
    assert b"ERR|" in answer


def test_two_active_courses_are_not_chosen_between(database: Any) -> None:
    add_course(database)
    add_course(database)
    outcome, _ = one(database, "oru-v251-cbc-hepatic-final.hl7")
    assert [p.code for p in outcome.problems] == ["several_active_courses"]


def test_identifiers_naming_two_stored_patients_are_ambiguous(database: Any) -> None:
    add_course(database)
    add_course(database, "900123456")  # the SSN in PID-3 names another stored patient...
    policy = ResultsPolicy(identifier_types=("MR", "SS"))  # ...when the site accepts SS too
    outcome, _ = one(database, "oru-v251-cbc-hepatic-final.hl7", policy)
    assert [p.code for p in outcome.problems] == ["ambiguous_patient"]
    # a resend is answered as before (stored once); a retry under the default policy (MR only)
    assert one(database, "oru-v251-cbc-hepatic-final.hl7", policy)[0].duplicate is True
    assert retry_message(feed(database), outcome.message_id, actor="nurse").state == "applied"


def test_the_local_code_table_maps_a_sites_codes(database: Any) -> None:
    course = add_course(database)
    policy = ResultsPolicy(
        local_codes=(
            LocalCode("99LAB", "TBIL", "bilirubin"),
            LocalCode("99LAB", "SGOT", "ast"),
            LocalCode("99LAB", "SGPT", "alt"),
            LocalCode("99lab", "NA", "ignore"),
        )
    )
    outcome, _ = one(database, "oru-local-code.hl7", policy, now=LATER)  # dated 2026-04-26
    assert outcome.state == "applied", outcome.problems
    [event] = [e for e in events_of(database, course) if e.get("id") == outcome.event_ids[0]]
    assert event["bilirubin"] == {"value": 1, "unit": "mg/dL", "uln": 1.1, "lln": 0.3}


def test_a_parked_message_is_retried_after_the_site_policy_changed(database: Any) -> None:
    course = add_course(database)
    parked, _ = one(database, "oru-local-code.hl7")
    assert parked.state == "parked"
    policy = ResultsPolicy(
        local_codes=(
            LocalCode("99LAB", "TBIL", "bilirubin"),
            LocalCode("99LAB", "SGOT", "ast"),
            LocalCode("99LAB", "SGPT", "alt"),
            LocalCode("99LAB", "NA", "ignore"),
        )
    )
    retried = retry_message(feed(database, policy, LATER), parked.message_id, actor="nurse")
    assert retried.state == "applied" and retried.message_id == parked.message_id
    assert len(events_of(database, course)) == 7  # 6 stored + the liver tests


def test_assigning_a_parked_message_records_it_with_the_reason(database: Any) -> None:
    course = add_course(database)
    parked, _ = one(database, "oru-unknown-patient.hl7")
    with pytest.raises(InvalidInput):
        results.assign(
            database, parked.message_id, course, actor="nurse", note="", on=TODAY, now=NOW
        )
    done = results.assign(
        database,
        parked.message_id,
        course,
        actor="nurse",
        note="MRN typo at the laboratory; identity checked by phone",
        on=TODAY,
        now=NOW,
    )
    assert done.state == "resolved" and len(done.event_ids) == 1
    stored = results.get_message(database, parked.message_id)
    assert stored.resolved_by == "nurse" and "phone" in (stored.resolution or "")
    with pytest.raises(Conflict):
        results.discard(database, parked.message_id, actor="nurse", reason="twice")
    actions = [a.action for a in records.course_audit(database, course)]
    assert "result.resolved" in actions


def test_content_problems_cannot_be_assigned_away(database: Any) -> None:
    course = add_course(database)
    parked, _ = one(database, "oru-bilirubin-without-uln.hl7")
    with pytest.raises(InvalidInput, match="no_uln"):
        results.assign(
            database, parked.message_id, course, actor="x", note="sure", on=TODAY, now=NOW
        )
    gone = results.discard(
        database, parked.message_id, actor="nurse", reason="ULN phoned in, entered by hand"
    )
    assert gone.state == "discarded"
    assert results.list_messages(database).count == 0


def test_a_batch_file_is_handled_message_by_message(database: Any) -> None:
    course = add_course(database)
    outcomes = [o for o, _ in ingest(database, "batch-three-messages.hl7")]
    assert [o.state for o in outcomes] == ["applied", "parked", "applied"]
    assert labs_effective(database, course)["anc"]["value"] == 1.1  # corrected in message 3


def test_the_same_control_id_with_other_content_is_parked_not_merged(database: Any) -> None:
    course = add_course(database)
    one(database, "oru-v251-anc-preliminary.hl7")
    changed = fixture("oru-v251-anc-preliminary.hl7").replace(b"||1.2|", b"||4.2|")
    outcome, ack = handle_hl7(feed(database), split_batch(changed)[0])
    assert [p.code for p in outcome.problems] == ["control_id_reused"]
    assert msa(ack)[1] == "AE"
    values = [e["anc"]["value"] for e in events_of(database, course) if "anc" in e]
    assert 4.2 not in values


def test_a_message_interrupted_after_some_events_completes_on_resend(
    database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between two appends (listener killed): the resend finishes, nothing twice."""
    course = add_course(database)
    real = records.append_event
    calls = {"n": 0}

    def crash_on_second(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(records, "append_event", crash_on_second)
    outcome, ack = one(database, "oru-v251-cbc-hepatic-final.hl7")
    assert outcome.state == "failed" and msa(ack)[1] == "AR"  # not stored: send again
    assert len(events_of(database, course)) == 7
    monkeypatch.setattr(records, "append_event", real)
    again, ack = one(database, "oru-v251-cbc-hepatic-final.hl7")
    assert again.state == "applied" and msa(ack)[1] == "AA"
    assert len(events_of(database, course)) == 8
    ids = [e["id"] for e in events_of(database, course) if e.get("id")]
    assert len(ids) == len(set(ids))


def test_a_guard_refusal_at_write_time_parks_the_message(
    database: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    course = add_course(database)

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise InvalidInput("event.platelets.value", "implausible platelet count")

    monkeypatch.setattr(records, "append_event", refuse)
    outcome, ack = one(database, "oru-v251-cbc-hepatic-final.hl7")
    assert outcome.state == "parked" and msa(ack)[1] == "AE"
    assert outcome.problems[0].code == "refused"
    assert "implausible platelet count" in outcome.problems[0].message
    assert len(events_of(database, course)) == 6


def test_every_message_is_audited_without_patient_data(database: Any) -> None:
    add_course(database)
    for name in ("oru-v251-cbc-hepatic-final.hl7", "oru-unknown-patient.hl7"):
        one(database, name)
    from inoplan.services.records import iter_audit

    entries = [a for a in iter_audit(database) if a.action.startswith("result.")]
    assert [a.action for a in entries] == ["result.applied", "result.parked"]
    text = repr([a.after for a in entries])
    for phi in ("EXAMPLE", "OTHER", "MRN-9999", "19800101", "900123456"):
        assert phi not in text


def test_a_message_without_results_inoplan_uses_is_noted_and_its_text_dropped(
    database: Any,
) -> None:
    raw = split_batch(fixture("oru-unknown-patient.hl7"))[0].replace(b"751-8", b"718-7")
    outcome, ack = handle_hl7(feed(database), raw)
    assert (outcome.state, msa(ack)[1]) == ("ignored", "AA")
    assert outcome.message_id is not None
    assert results.get_message(database, outcome.message_id).raw == ""


def test_the_today_list_shows_the_new_decision(database: Any) -> None:
    from inoplan.services.auth import Principal
    from inoplan.web.views import today_view

    course = add_course(database)
    nurse = Principal("nurse", "nurse")
    [row] = today_view(database, nurse, TODAY, show="all")["rows"]
    assert row.status == "cannot_decide"
    one(database, "oru-v251-cbc-hepatic-final.hl7")
    [row] = today_view(database, nurse, TODAY, show="all")["rows"]
    assert (row.course_id, row.status) == (course, "hold")


def test_a_patient_whose_course_is_finished_has_no_active_course(database: Any) -> None:
    course = add_course(database)
    records.append_event(
        database,
        course,
        {"date": "2026-04-15", "type": "discontinuation", "reason": "relapse"},
        expected_version=1,
        actor="prescriber",
    )
    outcome, _ = one(database, "oru-v251-cbc-hepatic-final.hl7")
    assert [p.code for p in outcome.problems] == ["no_active_course"]
    assert MRN  # the message named the right patient; only the course is missing


@pytest.mark.parametrize(
    ("now", "lands"),
    [
        (datetime(2026, 4, 17, 23, 54, tzinfo=UTC), False),  # 6 minutes before the result's day
        (datetime(2026, 4, 17, 23, 56, tzinfo=UTC), True),  # within the API's 5-minute tolerance
    ],
)
def test_a_result_dated_in_the_future_is_parked_like_the_api_refuses_it(
    database: Any, now: datetime, lands: bool
) -> None:
    """The feed applies the API's rule (``guards.check_not_future``): results of 2026-04-18."""
    course = add_course(database)
    ctx = FeedContext(
        database=database, today=lambda: now.date(), clock=lambda: NOW, now=lambda: now
    )
    [raw] = split_batch(fixture("oru-v251-cbc-hepatic-final.hl7"))
    outcome, ack = handle_hl7(ctx, raw)
    if lands:
        assert outcome.state == "applied" and msa(ack)[1] == "AA"
        assert len(events_of(database, course)) > 6
    else:
        assert outcome.state == "parked" and msa(ack)[1] == "AE"
        [problem] = outcome.problems
        assert problem.code == "refused" and "2026-04-18 is in the future" in problem.message
        assert len(events_of(database, course)) == 6  # nothing half-saved
