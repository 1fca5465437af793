"""Treatment-day states (issue 14 item 2): ordered -> released -> verified -> prepared -> given,
through the service and the web pages; each step's permission, the second signer, the decision
check, atomicity with the administration event, and the audit trail."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from typing import Any

import pytest

from inoplan.errors import Conflict, Forbidden, InvalidInput, TooManyAttempts
from inoplan.services import workflow
from inoplan.services.render_decision import AlertJson
from inoplan.services.workflow import SecondSigner

from .conftest import SECOND_NURSE, TODAY, course_document, csrf_of, login, password_for

NOW = datetime(TODAY.year, TODAY.month, TODAY.day, 10, 0, tzinfo=UTC)
HELD_LABS = {
    "date": "2026-12-08",
    "type": "labs",
    "anc": {"value": 1.5, "unit": "10*9/L"},
    "platelets": {"value": 90, "unit": "10*9/L"},
    "bilirubin": {"value": 2.4, "unit": "mg/dL", "uln": 1.2},
    "ast": {"value": 35, "unit": "U/L", "uln": 40},
    "alt": {"value": 30, "unit": "U/L", "uln": 41},
}


def _signer(role: str, password: str | None = None) -> SecondSigner:
    return SecondSigner(role, password if password is not None else password_for(role))


def _release(db: Any, course_id: int, role: str = "prescriber") -> workflow.TreatmentDay:
    return workflow.release(db, course_id, 1, 8, actor=role, role=role, now=NOW)


def _verify(db: Any, course_id: int, mg: str = "0.91") -> workflow.TreatmentDay:
    return workflow.verify(
        db, course_id, 1, 8, dose_mg=mg, actor="pharmacist", role="pharmacist", now=NOW
    )


def _prepare(db: Any, course_id: int, **extra: Any) -> workflow.TreatmentDay:
    kwargs: dict[str, Any] = {
        "lot": "LOT-A12",
        "expiry": date(2027, 6, 30),
        "second_signer": _signer("admin"),
        "throttle": db.throttle,
        "actor": "pharmacist",
        "role": "pharmacist",
        "now": NOW,
        **extra,
    }
    return workflow.prepare(db, course_id, 1, 8, **kwargs)


def _give(db: Any, course_id: int, **extra: Any) -> workflow.TreatmentDay:
    kwargs: dict[str, Any] = {
        "started_at": time(10, 5),
        "ended_at": time(11, 5),
        "premedication": True,
        "observation_end": time(12, 10),
        "reactions": "none",
        "second_signer": _signer(SECOND_NURSE),
        "throttle": db.throttle,
        "actor": "nurse",
        "role": "nurse",
        "now": NOW,
        **extra,
    }
    return workflow.give(db, course_id, 1, 8, **kwargs)


def _events(db: Any, course_id: int) -> list[dict[str, Any]]:
    from inoplan.services.records import course_document as stored

    return list(stored(db, course_id)["events"])


def _actions(db: Any, course_id: int) -> list[str]:
    from inoplan.services.records import course_audit

    return [a.action for a in course_audit(db, course_id)]


def test_a_dose_goes_through_every_state_and_each_step_is_audited(app: Any, course_id: int) -> None:
    db = app.state.database
    assert workflow.day_states(db, [course_id]) == {course_id: {}}  # every dose is "ordered"
    released = _release(db, course_id)
    assert released.state == "released" and released.version == 1
    step = released.steps["released"]
    assert step["dose_mg"] == 0.91 and step["decision"] == "give" and step["by"] == "prescriber"
    assert {p["analyte"]: p["state"] for p in step["parameters"]} == {
        "anc": "not_a_criterion",  # day 8: Table 2 applies to the next cycle
        "platelets": "not_a_criterion",
        "bilirubin": "met",
        "ast": "met",
        "alt": "met",
    }
    assert _verify(db, course_id).state == "verified"
    prepared = _prepare(db, course_id)
    assert prepared.state == "prepared"
    record = prepared.steps["prepared"]
    assert (record["lot"], record["expiry"], record["second_signer"]) == (
        "LOT-A12",
        "2027-06-30",
        "admin",
    )
    assert record["worksheet"]["dose_mg"] == 0.91 and record["worksheet"]["vials"] == 2
    before = len(_events(db, course_id))
    given = _give(db, course_id)
    assert given.state == "given" and given.version == 4
    done = given.steps["given"]
    assert done["second_signer"] == SECOND_NURSE and done["event_id"]
    # premedication and observation live on the event only (one source of truth)
    assert "premedication" not in done and "observation_short" not in done
    events = _events(db, course_id)
    assert len(events) == before + 1
    dose = events[-1]
    assert (dose["type"], dose["cycle"], dose["day"], dose["dose_mg"]) == (
        "administration",
        1,
        8,
        0.91,
    )
    assert (dose["time"], dose["duration_min"], dose["date"]) == ("10:05", 60, "2026-12-08")
    assert dose["premedication"] == ["corticosteroid", "antipyretic", "antihistamine"]
    assert dose["observation_min"] == 65  # 65 minutes >= the label's 1 hour: no reason needed
    assert "observation_reason" not in dose and "premedication_reason" not in dose
    actions = _actions(db, course_id)
    for action in ("dose.release", "dose.verify", "dose.prepare", "event.administration"):
        assert action in actions
    assert "dose.give" in actions
    # the engine sees the dose: day 8 is given, the next one is day 15
    road = workflow.roadmap(db, course_id, TODAY)
    days = {(d["cycle"], d["day"]): d for c in road["cycles"] for d in c["days"]}
    assert days[(1, 8)]["state"] == "given" and days[(1, 8)]["given_on"] == "2026-12-08"
    assert days[(1, 1)]["state"] == "given" and days[(1, 1)]["recorded_directly"]
    assert days[(1, 15)]["state"] == "ordered"


def test_a_day_on_hold_cannot_be_released_and_the_refusal_names_the_reason(
    app: Any, new_course: Any
) -> None:
    document = course_document()
    document["events"].append(HELD_LABS)
    course_id = new_course(document)
    db = app.state.database
    with pytest.raises(Conflict) as refused:
        _release(db, course_id)
    assert "hold" in str(refused.value) and "US PI 2.3" in str(refused.value)
    assert workflow.day_states(db, [course_id]) == {course_id: {}}
    assert "dose.release" not in _actions(db, course_id)
    # the roadmap shows why: bilirubin not met, with its source
    road = workflow.roadmap(db, course_id, TODAY)
    due = next(d for c in road["cycles"] for d in c["days"] if d["due"])
    bilirubin = next(p for p in due["parameters"] if p["analyte"] == "bilirubin")
    assert bilirubin["state"] == "not_met" and bilirubin["x_uln"] == 2.0
    assert "Table 3" in bilirubin["citation"] or "US PI" in bilirubin["citation"]


def test_only_the_due_day_can_be_released(app: Any, course_id: int) -> None:
    with pytest.raises(Conflict, match="not cycle 1 day 15"):
        workflow.release(
            app.state.database, course_id, 1, 15, actor="prescriber", role="prescriber", now=NOW
        )


@pytest.mark.parametrize(
    ("step", "role"),
    [
        ("release", "nurse"),
        ("release", "pharmacist"),
        ("verify", "prescriber"),
        ("verify", "nurse"),
    ],
)
def test_each_step_needs_its_role(app: Any, course_id: int, step: str, role: str) -> None:
    db = app.state.database
    if step == "verify":
        _release(db, course_id)
    with pytest.raises(Forbidden):
        if step == "release":
            _release(db, course_id, role)
        else:
            workflow.verify(db, course_id, 1, 8, dose_mg="0.91", actor=role, role=role, now=NOW)


def test_steps_go_in_order(app: Any, course_id: int) -> None:
    db = app.state.database
    with pytest.raises(Conflict, match="is ordered, not released"):
        _verify(db, course_id)
    _release(db, course_id)
    with pytest.raises(Conflict, match="is released"):
        _release(db, course_id)
    with pytest.raises(Conflict, match="not verified"):
        _prepare(db, course_id)


def test_the_verified_dose_must_equal_the_released_dose(app: Any, course_id: int) -> None:
    db = app.state.database
    _release(db, course_id)
    with pytest.raises(InvalidInput) as refused:
        _verify(db, course_id, "0.95")
    assert refused.value.field == "dose_mg" and "0.91" in refused.value.message
    assert _verify(db, course_id, "0.914").state == "verified"  # within the rounding step


def test_the_second_signer_is_another_authenticated_user_with_the_right_role(
    app: Any, course_id: int
) -> None:
    db = app.state.database
    _release(db, course_id)
    _verify(db, course_id)
    with pytest.raises(InvalidInput) as same:
        _prepare(db, course_id, second_signer=_signer("pharmacist"))
    assert same.value.field == "second_signer" and "another person" in same.value.message
    with pytest.raises(InvalidInput) as wrong:
        _prepare(db, course_id, second_signer=_signer("admin", "not the password at all"))
    assert wrong.value.field == "second_signer_password"
    with pytest.raises(InvalidInput) as nurse:
        _prepare(db, course_id, second_signer=_signer("nurse"))
    assert nurse.value.field == "second_signer" and "may not sign" in nurse.value.message
    from inoplan.services.audit import iter_audit

    failed = [a for a in iter_audit(db) if a.action == "auth.second_signer_failed"]
    assert len(failed) == 1 and failed[0].actor == "pharmacist"
    assert workflow.day_states(db, [course_id])[course_id][(1, 8)].state == "verified"


def test_second_signer_passwords_are_throttled_like_logins(app: Any, course_id: int) -> None:
    db = app.state.database
    _release(db, course_id)
    _verify(db, course_id)
    from inoplan.services.auth import THROTTLE

    for _ in range(THROTTLE["account"].free):
        with pytest.raises(InvalidInput):
            _prepare(db, course_id, second_signer=_signer("admin", "a wrong guess here"))
    with pytest.raises(InvalidInput):  # the one that crosses the line: blocked from now on
        _prepare(db, course_id, second_signer=_signer("admin", "a wrong guess here"))
    with pytest.raises(TooManyAttempts):  # even the right password waits
        _prepare(db, course_id)


def test_an_expired_product_or_a_bad_lot_is_refused(app: Any, course_id: int) -> None:
    db = app.state.database
    _release(db, course_id)
    _verify(db, course_id)
    with pytest.raises(InvalidInput, match="expired on 2026-12-07"):
        _prepare(db, course_id, expiry=date(2026, 12, 7))
    with pytest.raises(InvalidInput) as lot:
        _prepare(db, course_id, lot="<script>")
    assert lot.value.field == "lot"
    assert _prepare(db, course_id, expiry=TODAY).state == "prepared"  # expires today: usable


def test_new_labs_that_hold_the_day_stop_the_next_step(app: Any, course_id: int) -> None:
    from inoplan.services.records import append_event, course_version

    db = app.state.database
    _release(db, course_id)
    append_event(
        db, course_id, HELD_LABS, expected_version=course_version(db, course_id), actor="nurse"
    )
    with pytest.raises(Conflict, match="hold"):
        _verify(db, course_id)
    assert (
        workflow.withdraw(
            db, course_id, 1, 8, reason="labs hold the dose", actor="prescriber", role="prescriber"
        ).state
        == "ordered"
    )


def test_giving_a_dose_the_decision_now_holds_stores_neither_event_nor_state(
    app: Any, course_id: int
) -> None:
    from inoplan.services.records import append_event, course_version

    db = app.state.database
    _release(db, course_id)
    _verify(db, course_id)
    _prepare(db, course_id)
    append_event(
        db, course_id, HELD_LABS, expected_version=course_version(db, course_id), actor="nurse"
    )
    count = len(_events(db, course_id))
    with pytest.raises(Conflict, match="hold"):  # give re-checks today's decision
        _give(db, course_id)
    assert len(_events(db, course_id)) == count
    assert workflow.day_states(db, [course_id])[course_id][(1, 8)].state == "prepared"


def test_a_preparation_is_given_only_on_a_day_the_decision_still_gives_it(
    app: Any, course_id: int
) -> None:
    """Prepared on day 8 and "given" a week later: today's decision is about another day."""
    from datetime import timedelta

    db = app.state.database
    _release(db, course_id)
    _verify(db, course_id)
    _prepare(db, course_id)
    count = len(_events(db, course_id))
    with pytest.raises(Conflict):
        _give(db, course_id, now=NOW + timedelta(days=7))
    assert len(_events(db, course_id)) == count
    assert workflow.day_states(db, [course_id])[course_id][(1, 8)].state == "prepared"


def test_the_infusion_must_end_within_the_labels_time_from_reconstitution(
    app: Any, course_id: int
) -> None:
    """US label 2.4: reconstitution to end of infusion at most 8 hours (read from the label)."""
    db = app.state.database
    _release(db, course_id)
    _verify(db, course_id)
    _prepare(db, course_id, prepared_at=time(7, 0))
    assert _current_steps(db, course_id)["prepared"]["prepared_on"].endswith("07:00:00+00:00")
    late = NOW.replace(hour=15, minute=5)
    with pytest.raises(Conflict, match="must end by"):
        _give(
            db,
            course_id,
            started_at=time(14, 1),
            ended_at=time(15, 1),
            now=late,
            observation_end=time(16, 1),
        )
    given = _give(
        db,
        course_id,
        started_at=time(14, 0),
        ended_at=time(15, 0),
        now=late,
        observation_end=time(16, 0),
    )
    assert given.state == "given"


def test_a_start_or_preparation_time_after_now_is_refused(app: Any, course_id: int) -> None:
    """Now is 10:00; the clock tolerance of guards.check_not_future is 5 minutes."""
    db = app.state.database
    _release(db, course_id)
    _verify(db, course_id)
    with pytest.raises(InvalidInput) as prepared:
        _prepare(db, course_id, prepared_at=time(10, 6))
    assert prepared.value.field == "prepared_at"
    _prepare(db, course_id, prepared_at=time(10, 5))
    with pytest.raises(InvalidInput) as future:
        _give(db, course_id, started_at=time(10, 6), ended_at=time(11, 6))
    assert future.value.field == "started_at"
    assert _give(db, course_id).state == "given"  # 10:05 is within the clock tolerance


def _current_steps(db: Any, course_id: int) -> dict[str, Any]:
    return dict(workflow.day_states(db, [course_id])[course_id][(1, 8)].steps)


def test_the_event_and_the_state_are_written_together(
    app: Any, course_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer moves the day between the check and the write: the administration event
    is rolled back with the state change."""
    from inoplan.persistence.repositories import SqlTreatmentDays
    from inoplan.services.records import course_version

    db = app.state.database
    _release(db, course_id)
    _verify(db, course_id)
    _prepare(db, course_id)
    version = course_version(db, course_id)
    count = len(_events(db, course_id))
    monkeypatch.setattr(SqlTreatmentDays, "move", lambda self, **kw: False)
    with pytest.raises(Conflict, match="changed by someone else"):
        _give(db, course_id)
    assert len(_events(db, course_id)) == count
    assert course_version(db, course_id) == version
    assert "event.administration" not in _actions(db, course_id)


def test_administration_times_are_checked(app: Any, course_id: int) -> None:
    db = app.state.database
    _release(db, course_id)
    _verify(db, course_id)
    _prepare(db, course_id)
    with pytest.raises(InvalidInput) as ended:
        _give(db, course_id, ended_at=time(10, 0))
    assert ended.value.field == "ended_at"
    with pytest.raises(InvalidInput) as observed:
        _give(db, course_id, observation_end=time(11, 0))
    assert observed.value.field == "observation_end"
    with pytest.raises(InvalidInput) as unexplained:  # 45 min < 1 hour: a reason is needed
        _give(db, course_id, observation_end=time(11, 50))
    assert unexplained.value.field == "observation_reason"
    assert "45 minutes" in unexplained.value.message and "US PI 2.2" in unexplained.value.message
    short = _give(
        db, course_id, observation_end=time(11, 50), observation_reason="transferred to ward"
    )
    assert short.state == "given"
    assert _events(db, course_id)[-1]["observation_reason"] == "transferred to ward"


def test_a_lost_compare_and_set_is_a_conflict(app: Any, course_id: int) -> None:
    db = app.state.database
    released = _release(db, course_id)
    with db(write=True) as uow:
        assert not uow.treatment_days.insert(
            course_id=course_id, cycle=1, day=8, state="released", steps={}, at=NOW, by="x"
        )
        assert not uow.treatment_days.move(
            course_id=course_id,
            cycle=1,
            day=8,
            expected_version=released.version + 1,
            state="verified",
            steps={},
            at=NOW,
            by="x",
        )


def test_the_worklist_says_what_each_course_waits_for() -> None:
    give = {"status": "give", "next_dose": {"cycle": 1, "day": 8}}
    row = workflow.TreatmentDay(1, 1, 8, "released", 1)
    assert workflow.waits_for(give, None) is not None
    assert workflow.waits_for(give, None)[0] == "release"  # type: ignore[index]
    assert workflow.waits_for(give, row)[0] == "verification"  # type: ignore[index]
    stale = {"status": "cannot_decide", "reasons": [{"rule": "data.stale-labs"}]}
    assert workflow.waits_for(stale, None)[0] == "labs"  # type: ignore[index]
    assert workflow.waits_for({"status": "hold"}, None) is None


def _step_form(client: Any, course_id: int, step: str, data: dict[str, str]) -> Any:
    page = client.get(f"/courses/{course_id}")
    return client.post(
        f"/courses/{course_id}/days/1/8/{step}",
        data={"csrf_token": csrf_of(page.text), **data},
        follow_redirects=False,
    )


def test_the_web_forms_move_the_dose_and_show_the_roadmap(client: Any, course_id: int) -> None:
    login(client, "prescriber")
    page = client.get(f"/courses/{course_id}")
    assert 'id="roadmap"' in page.text and "Release" in page.text
    assert _step_form(client, course_id, "release", {}).status_code == 303
    page = client.get(f"/courses/{course_id}")
    assert re.search(r'data-state="released"', page.text)
    # a nurse may not verify: 403, nothing saved
    client.cookies.clear()
    login(client, "nurse")
    refused = _step_form(client, course_id, "verify", {"dose_mg": "0.91"})
    assert refused.status_code == 403
    client.cookies.clear()
    login(client, "pharmacist")
    assert _step_form(client, course_id, "verify", {"dose_mg": "0.91"}).status_code == 303
    wrong = _step_form(
        client,
        course_id,
        "prepare",
        {
            "lot": "LOT-7",
            "expiry": "2027-01-31",
            "second_signer": "admin",
            "second_signer_password": "wrong password here",
        },
    )
    assert wrong.status_code == 422 and "error-summary" in wrong.text
    assert "password is wrong" in wrong.text
    ok = _step_form(
        client,
        course_id,
        "prepare",
        {
            "lot": "LOT-7",
            "expiry": "2027-01-31",
            "second_signer": "admin",
            "second_signer_password": password_for("admin"),
        },
    )
    assert ok.status_code == 303
    worksheet = client.get(f"/courses/{course_id}/worksheet.pdf")
    assert worksheet.status_code == 200
    from .test_printouts import _pages

    text = " ".join(_pages(worksheet.content))
    assert "LOT-7" in text and "2027-01-31" in text  # the preparation record's lot and expiry
    assert "Prepared pharmacist Checked admin" in text  # the bag label: who prepared, checked


def test_the_today_worklist_says_what_each_course_waits_for_and_filters_by_role(
    client: Any, app: Any, new_course: Any
) -> None:
    due = course_document()
    due["patient"]["name"] = "Ada Lovelace"
    due_id = new_course(due)
    held = course_document()
    held["patient"]["id"] = "WEB-HOLD"
    held["events"].append(HELD_LABS)
    held_id = new_course(held)
    login(client, "prescriber")
    page = client.get("/")
    assert "Ada Lovelace · WEB-001" in page.text
    assert re.search(rf'/courses/{due_id}".*?data-waits="release"', page.text, re.S)
    db = app.state.database
    _release(db, due_id)
    page = client.get("/")
    assert re.search(r'data-waits="verification"', page.text)
    assert 'data-state="released"' in page.text
    # a pharmacist's list: the course waiting for verification; the held one is not theirs
    token = csrf_of(page.text)
    mine = client.post("/", data={"csrf_token": token, "show": "action", "for": "pharmacist"})
    assert f"/courses/{due_id}" in mine.text and f"/courses/{held_id}" not in mine.text
    nurse = client.post("/", data={"csrf_token": token, "show": "action", "for": "nurse"})
    assert f"/courses/{due_id}" not in nurse.text


def test_releasing_a_held_day_on_the_web_says_why_and_saves_nothing(
    client: Any, app: Any, new_course: Any
) -> None:
    document = course_document()
    document["events"].append(HELD_LABS)
    course_id = new_course(document)
    login(client, "prescriber")
    page = client.get(f"/courses/{course_id}")
    assert 'id="step-release"' not in page.text  # no release form on a held day
    assert "the decision does not give it today" in page.text
    refused = _step_form(client, course_id, "release", {})
    assert refused.status_code == 409
    assert "Nothing was saved" in refused.text and "hold" in refused.text
    assert workflow.day_states(app.state.database, [course_id]) == {course_id: {}}


def test_a_blocked_second_signer_gets_429_with_the_wait(
    client: Any, app: Any, course_id: int
) -> None:
    from inoplan.services.auth import THROTTLE

    db = app.state.database
    _release(db, course_id)
    _verify(db, course_id)
    login(client, "pharmacist")
    form = {
        "lot": "LOT-7",
        "expiry": "2027-01-31",
        "second_signer": "admin",
        "second_signer_password": "a wrong guess here",
    }
    for _ in range(THROTTLE["account"].free + 1):
        assert _step_form(client, course_id, "prepare", form).status_code == 422
    blocked = _step_form(client, course_id, "prepare", form)
    assert blocked.status_code == 429 and "Retry-After" in blocked.headers
    assert "too many wrong passwords" in blocked.text


def test_each_check_is_by_someone_who_took_no_earlier_step(app: Any, course_id: int) -> None:
    """Independence: the releaser does not verify; a second signer did no earlier step."""
    db = app.state.database
    workflow.release(db, course_id, 1, 8, actor="admin", role="admin", now=NOW)
    with pytest.raises(Conflict, match="released this dose"):
        workflow.verify(db, course_id, 1, 8, dose_mg="0.91", actor="ADMIN", role="admin", now=NOW)
    _verify(db, course_id)
    with pytest.raises(InvalidInput, match="already released") as released:
        _prepare(db, course_id, second_signer=_signer("admin"))
    assert released.value.field == "second_signer"
    workflow.withdraw(
        db, course_id, 1, 8, reason="independence test", actor="admin", role="admin", now=NOW
    )
    _release(db, course_id)
    _verify(db, course_id)
    _prepare(db, course_id)  # pharmacist prepares, admin co-signs
    for signer, step in (("prescriber", "released"), ("admin", "prepared")):
        with pytest.raises(InvalidInput, match=f"already {step}") as refused:
            _give(db, course_id, second_signer=_signer(signer))
        assert refused.value.field == "second_signer"
    assert _give(db, course_id).state == "given"  # another nurse, who took no earlier step


# -- premedication and observation (review M3): a reason when not in full, an alert after ---------


def _prepared(db: Any, course_id: int) -> None:
    _release(db, course_id)
    _verify(db, course_id)
    _prepare(db, course_id)


def _alerts(db: Any, course_id: int) -> dict[str, AlertJson]:
    from inoplan.services.common import document_of
    from inoplan.services.courses import decide_document
    from inoplan.services.records import course_document as stored

    decision = decide_document(document_of(stored(db, course_id)), TODAY)
    return {a["code"]: a for a in decision["alerts"]}


@pytest.mark.parametrize(
    ("end", "minutes", "short"), [(12, 4, True), (12, 5, False), (12, 6, False)]
)
def test_observation_below_at_and_above_the_labels_hour(
    app: Any, course_id: int, end: int, minutes: int, short: bool
) -> None:
    """The infusion ends at 11:05: observed until 12:04 is 59 minutes (a reason is needed and
    OBSERVATION_SHORT raised), 12:05 is 60 and 12:06 is 61 (neither)."""
    db = app.state.database
    _prepared(db, course_id)
    until = time(end, minutes)
    observed = 55 + minutes
    if short:
        with pytest.raises(InvalidInput) as refused:
            _give(db, course_id, observation_end=until)
        assert refused.value.field == "observation_reason"
        assert "59 minutes" in refused.value.message and "60" in refused.value.message
        assert _current_steps(db, course_id).get("given") is None  # nothing saved
    reason = "patient had to leave for a scan" if short else None
    given = _give(db, course_id, observation_end=until, observation_reason=reason)
    assert given.state == "given"
    dose = _events(db, course_id)[-1]
    assert dose["observation_min"] == observed
    assert dose.get("observation_reason") == reason
    alerts = _alerts(db, course_id)
    assert ("OBSERVATION_SHORT" in alerts) is short
    if short:
        alert = alerts["OBSERVATION_SHORT"]
        assert alert["severity"] == "warning" and alert["citation"].startswith("US PI 2.2")
        assert alert["inputs"]["observation_min"] == 59
        assert alert["inputs"]["required_min"] == 60
        assert alert["inputs"]["reason"] == reason
    road = workflow.roadmap(db, course_id, TODAY)
    day = next(d for c in road["cycles"] for d in c["days"] if (d["cycle"], d["day"]) == (1, 8))
    assert day["administration"] is not None
    assert day["administration"]["observation_min"] == observed
    assert day["administration"]["observation_short"] is short


@pytest.mark.parametrize(
    ("premedication", "missing"),
    [
        (False, ["corticosteroid", "antipyretic", "antihistamine"]),
        (["corticosteroid", "antihistamine"], ["antipyretic"]),
    ],
)
def test_premedication_not_in_full_needs_a_reason_and_leaves_a_warning(
    app: Any, course_id: int, premedication: Any, missing: list[str]
) -> None:
    db = app.state.database
    _prepared(db, course_id)
    count = len(_events(db, course_id))
    for blank in (None, "   "):
        with pytest.raises(InvalidInput) as refused:
            _give(db, course_id, premedication=premedication, premedication_reason=blank)
        assert refused.value.field == "premedication_reason"
        assert ", ".join(missing) in refused.value.message
    assert len(_events(db, course_id)) == count  # nothing saved
    _give(db, course_id, premedication=premedication, premedication_reason="refused by patient")
    dose = _events(db, course_id)[-1]
    assert dose["premedication_reason"] == "refused by patient"
    alert = _alerts(db, course_id)["PREMEDICATION_NOT_GIVEN"]
    assert alert["severity"] == "warning" and alert["citation"].startswith("US PI 2.2")
    assert alert["inputs"]["premedication_missing"] == missing
    assert alert["inputs"]["reason"] == "refused by patient"


def test_premedication_must_name_known_agents(app: Any, course_id: int) -> None:
    db = app.state.database
    _prepared(db, course_id)
    for wrong in (["paracetamol"], "corticosteroid", None):
        with pytest.raises(InvalidInput) as refused:
            _give(db, course_id, premedication=wrong)
        assert refused.value.field == "premedication"


def test_the_web_give_form_asks_for_the_reasons_and_keeps_what_was_typed(
    client: Any, app: Any, course_id: int
) -> None:
    db = app.state.database
    _prepared(db, course_id)
    login(client, "nurse")
    form = {
        "started_at": "10:05",
        "ended_at": "11:05",
        "premedication_corticosteroid": "yes",
        "premedication_antipyretic": "yes",
        "reactions": "none typed here",
        "observation_end": "12:04",
        "second_signer": SECOND_NURSE,
        "second_signer_password": password_for(SECOND_NURSE),
    }
    missing = _step_form(client, course_id, "give", form)
    assert missing.status_code == 422
    assert "f-premedication-reason-error" in missing.text
    assert "not given: antihistamine" in missing.text
    assert "none typed here" in missing.text  # the form keeps what was typed
    assert re.search(r'id="step-give-f-premedication-corticosteroid"[^>]*checked', missing.text)
    assert not re.search(r'id="step-give-f-premedication-antihistamine"[^>]*checked', missing.text)
    form["premedication_reason"] = "antihistamine not in stock"
    short = _step_form(client, course_id, "give", form)
    assert short.status_code == 422 and "f-observation-reason-error" in short.text
    assert "59 minutes" in short.text
    form["observation_reason"] = "ambulance transfer"
    done = _step_form(client, course_id, "give", form)
    assert done.status_code == 303, done.text
    page = client.get(f"/courses/{course_id}").text
    assert "PREMEDICATION_NOT_GIVEN" in page or "Premedication not given in full" in page
    assert "Observation after the infusion cut short" in page or "OBSERVATION_SHORT" in page
    assert "not given: antihistamine" in page and "antihistamine not in stock" in page
    assert "ambulance transfer" in page
    # the Today list counts the course's warnings (the two new ones among them; their codes and
    # texts are on the course page above)
    today = client.get("/?show=all").text
    counted = re.search(r'sev-warning">(\d+) warning', today)
    warnings = {c for c, a in _alerts(db, course_id).items() if a["severity"] == "warning"}
    assert {"OBSERVATION_SHORT", "PREMEDICATION_NOT_GIVEN"} <= warnings
    assert counted is not None and int(counted.group(1)) == len(warnings)
    # the history list shows the event's own facts
    assert "premedication: corticosteroid, antipyretic" in page
    assert "observed after the infusion 59 min" in page


# -- review H2/H3: a dose the workflow gave is not taken back by a nurse -------------------------


def _void_given(db: Any, course_id: int, role: str) -> None:
    from inoplan.services.records import append_event, course_version

    given = next(e for e in reversed(_events(db, course_id)) if e["type"] == "administration")
    void = {"date": "2026-12-08", "type": "void", "supersedes": given["id"], "reason": "in error"}
    append_event(
        db,
        course_id,
        void,
        expected_version=course_version(db, course_id),
        actor=role,
        role=role,
        now=NOW,
    )


def _decision(db: Any, course_id: int) -> Any:
    from inoplan.services.common import document_of
    from inoplan.services.courses import decide_document
    from inoplan.services.records import course_document as stored

    return decide_document(document_of(stored(db, course_id)), TODAY)


def test_a_nurse_cannot_withdraw_a_dose_the_workflow_gave(app: Any, course_id: int) -> None:
    db = app.state.database
    _prepared(db, course_id)
    _give(db, course_id)
    before = _events(db, course_id)
    with pytest.raises(Forbidden, match=r"dose\.override"):
        _void_given(db, course_id, "nurse")
    assert _events(db, course_id) == before
    decision = _decision(db, course_id)
    assert (decision["next_dose"]["cycle"], decision["next_dose"]["day"]) == (1, 15)


def test_a_withdrawn_workflow_dose_is_not_released_again(app: Any, course_id: int) -> None:
    db = app.state.database
    _prepared(db, course_id)
    _give(db, course_id)
    _void_given(db, course_id, "prescriber")
    decision = _decision(db, course_id)
    # the engine plans day 8 again: the record says why, critically
    assert decision["status"] == "give" and decision["next_dose"]["day"] == 8
    alerts = {a["code"]: a for a in decision["alerts"]}
    assert alerts["DOSE_WITHDRAWN"]["severity"] == "critical"
    row = workflow.day_states(db, [course_id])[course_id][(1, 8)]
    assert row.state == "given"
    waits = workflow.waits_for(decision, row)
    assert waits is not None and waits[0] == "dose_missing" and waits[2] == "dose.override"
    with pytest.raises(Conflict, match="WORKFLOW_DOSE_MISSING"):
        _release(db, course_id)
    # a day the workflow did not give keeps the plain state refusal
    assert workflow.waits_for(decision, None) == workflow.WAITS["ordered"]
