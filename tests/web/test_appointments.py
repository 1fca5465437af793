"""Appointments (issue 14 item 3, "appointment time"): a treatment day's booked time on the
date the engine plans it; the Today worklist shows it and orders by it; a plan that moves the
day makes the booking show as moved; every change is audited and checked by ``audit verify``."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from inoplan.errors import Conflict, Forbidden, InvalidInput, NotFound
from inoplan.services import appointments

from .conftest import TODAY, course_document, csrf_of, login

NOW = datetime(TODAY.year, TODAY.month, TODAY.day, 10, 0, tzinfo=UTC)


def at(hour: int, minute: int = 0, days: int = 0) -> datetime:
    return datetime(TODAY.year, TODAY.month, TODAY.day, hour, minute, tzinfo=UTC) + timedelta(
        days=days
    )


def _book(db: Any, course_id: int, when: datetime, **extra: Any) -> appointments.Booked:
    kwargs: dict[str, Any] = {"actor": "nurse", "role": "nurse", "now": NOW, **extra}
    return appointments.book(db, course_id, 1, 8, when, **kwargs)


def test_a_day_is_booked_on_its_planned_date_and_audited(app: Any, course_id: int) -> None:
    from inoplan.services.records import course_audit

    db = app.state.database
    booked = _book(db, course_id, at(14, 30), note="chair 3")
    assert (booked.time, booked.moved, booked.version) == ("14:30", False, 1)
    assert booked.note == "chair 3"
    again = _book(db, course_id, at(9, 15), expected_version=1)
    assert (again.time, again.version) == ("09:15", 2)
    with pytest.raises(Conflict):  # someone re-booked meanwhile: version 1 is stale
        _book(db, course_id, at(11), expected_version=1)
    records = [a for a in course_audit(db, course_id) if a.entity == "appointment"]
    assert [a.action for a in records] == ["appointment.book", "appointment.book"]
    assert records[-1].before == {
        "starts_at": "2026-12-08T14:30+00:00",
        "note": "chair 3",
        "version": 1,
    }
    appointments.cancel(db, course_id, 1, 8, actor="nurse", role="nurse", now=NOW)
    with pytest.raises(NotFound):
        appointments.cancel(db, course_id, 1, 8, actor="nurse", role="nurse", now=NOW)


@pytest.mark.parametrize(
    ("cycle", "day", "when", "words"),
    [
        (1, 8, at(9, days=1), "planned on 2026-12-08, not 2026-12-09"),  # the day after the plan
        (1, 8, at(9, days=-1), "before today"),  # a day already past
        (1, 1, at(9), "given"),  # a dose given is not booked
        (1, 15, at(9), "planned on 2026-12-15, not 2026-12-08"),
    ],
)
def test_a_booking_off_the_plan_is_refused_and_nothing_is_saved(
    app: Any, course_id: int, cycle: int, day: int, when: datetime, words: str
) -> None:
    db = app.state.database
    with pytest.raises(InvalidInput) as refused:
        appointments.book(db, course_id, cycle, day, when, actor="nurse", role="nurse", now=NOW)
    assert refused.value.field == "starts_at" and words in refused.value.message
    assert appointments.booked_for(db, [course_id], {}, UTC) == {course_id: {}}


def test_the_planned_day_is_judged_on_the_clinics_clock(app: Any, course_id: int) -> None:
    """23:30 UTC on the 7th is 00:30 on the 8th in UTC+1: on the planned date there."""
    clinic = timezone(timedelta(hours=1))
    db = app.state.database
    late = datetime(2026, 12, 7, 23, 30, tzinfo=UTC)
    booked = appointments.book(
        db, course_id, 1, 8, late, actor="nurse", role="nurse", now=NOW.astimezone(clinic)
    )
    assert booked.starts_at.date() == TODAY and booked.time == "00:30"
    with pytest.raises(InvalidInput):  # the same instant on a UTC clinic's clock is the 7th
        appointments.book(db, course_id, 1, 8, late, actor="nurse", role="nurse", now=NOW)
    naive = datetime(2026, 12, 8, 9, 0)
    with pytest.raises(InvalidInput, match="time zone"):
        appointments.book(db, course_id, 1, 8, naive, actor="nurse", role="nurse", now=NOW)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [("viewer", False), ("nurse", True), ("pharmacist", True), ("prescriber", True)],
)
def test_booking_needs_day_schedule(app: Any, course_id: int, role: str, allowed: bool) -> None:
    db = app.state.database
    if allowed:
        assert _book(db, course_id, at(9), actor=role, role=role).version == 1
    else:
        with pytest.raises(Forbidden):
            _book(db, course_id, at(9), actor=role, role=role)


def test_a_note_is_one_short_line(app: Any, course_id: int) -> None:
    db = app.state.database
    assert _book(db, course_id, at(9), note="x" * 200).note == "x" * 200
    with pytest.raises(InvalidInput):
        _book(db, course_id, at(9), note="x" * 201)
    for odd in ("chair\nroom", "chair\x7f", "chair \u202e3", "chair\u2028room", "a\x85b"):
        with pytest.raises(InvalidInput, match="one line of text"):
            _book(db, course_id, at(9), note=odd)
    far = datetime(9999, 12, 31, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    with pytest.raises(InvalidInput, match="outside the accepted dates"):
        _book(db, course_id, far)  # was an OverflowError (a 500) on the clinic's clock


def test_a_booking_the_plan_moved_shows_as_moved(app: Any, course_id: int) -> None:
    from inoplan.services.records import append_event
    from inoplan.services.records import course_document as stored

    db = app.state.database
    _book(db, course_id, at(14))
    version = int(stored(db, course_id)["version"])
    append_event(
        db,
        course_id,
        {
            "date": "2026-12-08",
            "type": "reschedule",
            "cycle": 1,
            "day": 8,
            "to": "2026-12-09",
            "reason": "chair not available",
        },
        expected_version=version,
        actor="prescriber",
        role="prescriber",
        now=NOW,
    )
    from inoplan.web.views import roadmap

    days = {
        (d["cycle"], d["day"]): d
        for c in roadmap(db, course_id, TODAY)["cycles"]
        for d in c["days"]
    }
    assert days[(1, 8)]["booking"].moved  # booked the 8th, planned the 9th now
    assert days[(1, 8)]["bookable"]


def test_audit_verify_checks_bookings(app: Any, course_id: int) -> None:
    from datetime import date

    from sqlalchemy import update

    from inoplan.persistence.rows import AppointmentRow
    from inoplan.services.audit import verify_chain

    db = app.state.database
    _book(db, course_id, at(14))
    assert verify_chain(db).problems == ()
    with db.uow(write=True) as uow:
        uow.session.execute(update(AppointmentRow).values(starts_at=at(16)))
        uow.commit()
    report = verify_chain(db)
    assert not report.ok
    assert any("booking of cycle 1 day 8 differs" in p for p in report.problems)
    with db.uow(write=True) as uow:
        uow.appointments.delete(course_id=course_id, cycle=1, day=8, expected_version=1)
        uow.commit()
    assert any("missing (removed)" in p for p in verify_chain(db).problems)
    with db.uow(write=True) as uow:  # a booking written outside inoplan
        uow.appointments.put(
            course_id=course_id,
            cycle=1,
            day=15,
            expected_version=0,
            starts_at=at(9, days=7),
            note=None,
            at=NOW,
            by="intruder",
        )
        uow.commit()
    assert any("day 15 has no audit record" in p for p in verify_chain(db).problems)
    assert date(2026, 12, 15) == at(9, days=7).date()


def test_today_shows_the_booked_time_and_orders_by_it(
    client: Any, app: Any, new_course: Any
) -> None:
    early = course_document()
    early["patient"]["id"] = "WEB-EARLY"
    late = course_document()
    late["patient"]["id"] = "WEB-LATE"
    late_id, early_id = new_course(late), new_course(early)
    db = app.state.database
    _book(db, late_id, at(15, 0))
    _book(db, early_id, at(9, 30))
    login(client, "nurse")
    page = client.get("/")
    assert 'data-booking="09:30"' in page.text and 'data-booking="15:00"' in page.text
    assert page.text.index("WEB-EARLY") < page.text.index("WEB-LATE")


def _form(token: str, day: str, clock: str) -> dict[str, str]:
    return {"csrf_token": token, "date": day, "time": clock, "booking_version": "0"}


def test_the_course_page_books_a_day_and_keeps_a_bad_time(client: Any, course_id: int) -> None:
    login(client, "nurse")
    page = client.get(f"/courses/{course_id}")
    assert 'id="booking-1-8"' in page.text
    token = csrf_of(page.text)
    url = f"/courses/{course_id}/days/1/8/appointment"
    bad = client.post(url, data=_form(token, "2026-12-08", "25:99"))
    assert bad.status_code == 422
    assert 'href="#booking-1-8"' in bad.text and 'value="25:99"' in bad.text
    off = client.post(url, data=_form(token, "2026-12-09", "09:00"))
    assert off.status_code == 422 and "planned on" in off.text
    ok = client.post(
        url,
        data=_form(token, "2026-12-08", "09:45"),
        follow_redirects=False,
    )
    assert ok.status_code == 303
    page = client.get(ok.headers["location"])
    assert "Saved: the booking" in page.text and 'data-booking="09:45"' in page.text
    stale = client.post(url, data=_form(token, "2026-12-08", "10:00"))
    assert stale.status_code == 409
    cancel = client.post(url, data={"csrf_token": token, "cancel": "1"}, follow_redirects=False)
    assert cancel.status_code == 303
    assert "data-booking" not in client.get(f"/courses/{course_id}").text


def test_a_viewer_sees_no_booking_form_and_is_refused(client: Any, course_id: int) -> None:
    login(client, "viewer")
    page = client.get(f"/courses/{course_id}")
    assert 'id="booking-1-8"' not in page.text
    refused = client.post(
        f"/courses/{course_id}/days/1/8/appointment",
        data={"csrf_token": csrf_of(page.text), "date": "2026-12-08", "time": "09:00"},
    )
    assert refused.status_code == 403 and "Nothing was saved" in refused.text


def test_the_rest_api_books_and_cancels(
    client: Any, app: Any, course_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inoplan.api.routes import appointments as route

    monkeypatch.setattr(route, "clinic_now", lambda request: NOW)
    token = client.post(
        "/api/v1/auth/token", data={"username": "nurse", "password": _password("nurse")}
    ).json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    url = f"/api/v1/courses/{course_id}/days/1/8/appointment"
    made = client.put(url, json={"starts_at": "2026-12-08T11:00:00+01:00"}, headers=auth)
    assert made.status_code == 200, made.text
    body = made.json()
    assert (body["time"], body["moved"], body["planned"], body["version"]) == (
        "10:00",
        False,
        "2026-12-08",
        1,
    )
    naive = client.put(url, json={"starts_at": "2026-12-08T11:00:00"}, headers=auth)
    assert naive.status_code == 422
    off = client.put(url, json={"starts_at": "2026-12-09T09:00:00Z"}, headers=auth)
    assert off.status_code == 422 and "planned on 2026-12-08" in off.text
    stale = client.put(url, json={"starts_at": "2026-12-08T12:00:00Z", "version": 0}, headers=auth)
    assert stale.status_code == 409
    from inoplan.api.routes import today as today_route

    monkeypatch.setattr(today_route, "clinic_now", lambda request: NOW)
    listed = client.get("/api/v1/today?show=all", headers=auth).json()["data"]
    row = next(r for r in listed if r["course_id"] == course_id)
    assert row["appointment"]["time"] == "10:00" and row["appointment"]["moved"] is False
    assert client.delete(url, headers=auth).status_code == 204
    assert client.delete(url, headers=auth).status_code == 404
    listed = client.get("/api/v1/today?show=all", headers=auth).json()["data"]
    assert next(r for r in listed if r["course_id"] == course_id)["appointment"] is None


def _password(role: str) -> str:
    from .conftest import password_for

    return password_for(role)


def test_the_worklist_reads_bookings_in_one_query(app: Any, new_course: Any) -> None:
    """booked_for reads every listed course's bookings at once (no per-course query)."""
    from sqlalchemy import event

    db = app.state.database
    ids = [new_course(course_document()) for _ in range(3)]
    for course in ids:
        _book(db, course, at(9))
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        found = appointments.booked_for(db, ids, {}, UTC)
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    assert sum("appointments" in s for s in statements) == 1
    assert all(found[c][(1, 8)].moved for c in ids)  # no planned dates given: all moved
    assert re.match(r"\d\d:\d\d", found[ids[0]][(1, 8)].time)


def test_a_late_day_1_is_booked_for_today_only(app: Any, new_course: Any) -> None:
    """Cycle 1 day 1 planned 2026-12-01 and not given by 2026-12-08: the engine starts the cycle
    the day it is given, so it is booked for today; a later date is a further delay, which a
    prescriber records as a reschedule first (review: a booking 79 days late passed unflagged)."""
    document = course_document()
    document["events"] = [e for e in document["events"] if e["type"] != "administration"]
    course = new_course(document)
    db = app.state.database
    kwargs: dict[str, Any] = {"actor": "nurse", "role": "nurse", "now": NOW}
    today = appointments.book(db, course, 1, 1, at(13), **kwargs)
    assert (today.moved, today.time) == (False, "13:00")
    for days, words in ((1, "is late (planned on 2026-12-01)"), (-1, "before today")):
        with pytest.raises(InvalidInput, match=re.escape(words)):
            appointments.book(db, course, 1, 1, at(9, days=days), expected_version=1, **kwargs)
    planned = {course: {(1, 1): date(2026, 12, 1)}}  # the decision's scheduled date
    found = appointments.booked_for(db, [course], planned, UTC, TODAY)
    assert not found[course][(1, 1)].moved
    tomorrow = appointments.booked_for(db, [course], planned, UTC, date(2026, 12, 9))
    assert tomorrow[course][(1, 1)].moved  # booked the 8th, still not given on the 9th


@pytest.mark.parametrize("text", ["²", "٣", "1²", "", "0x1", "1" * 19])
def test_a_number_in_a_form_is_ascii_digits(text: str) -> None:
    """Review: ``str.isdigit`` is true for "²" and int() then failed (a 500)."""
    from inoplan.services.common import ascii_int

    assert ascii_int(text) is None
    assert ascii_int("42") == 42 and ascii_int("0") == 0


def test_odd_digits_in_the_booking_form_and_the_today_page_are_not_a_500(
    client: Any, course_id: int
) -> None:
    login(client, "nurse")
    page = client.get(f"/courses/{course_id}")
    data = {**_form(csrf_of(page.text), "2026-12-08", "09:00"), "booking_version": "²"}
    booked = client.post(f"/courses/{course_id}/days/1/8/appointment", data=data)
    assert booked.status_code in (200, 303)
    assert client.get("/?page=%C2%B2").status_code == 422
