"""Course lifecycle on the web (issue 14 item 1): a new patient and course through the same
service as the API; errors next to the inputs with everything typed kept; roles; CSRF."""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import pytest

from inoplan.web.course_forms import NEW_COURSE, course_field_for_error, new_course_document
from inoplan.web.forms import FormError

from .conftest import course_document, csrf_of, login

GOOD: dict[str, str] = {
    "patient.id": "NEW-0001",
    "patient.name": "Ada Lovelace",
    "patient.birth_date": "1971-03-14",
    "patient.sex": "female",
    "patient.reproductive_potential": "no",
    "height_cm": "170",
    "weight_kg": "70",
    "measured_on": "2026-12-08",
    "patient.allergies": "Tween 80, latex",
    "label": "eu",
    "plan.hsct_intended": "yes",
    "plan.cycle1_days": "28",
    "plan.start_date": "2026-12-10",
    "plan.bsa_formula": "dubois",
}


def _courses(app: Any) -> list[Any]:
    from inoplan.services.records import list_courses

    return list(list_courses(app.state.database, offset=0, limit=50).data)


def _post_new(client: Any, data: dict[str, str], **extra: Any) -> Any:
    page = client.get("/courses/new")
    assert page.status_code == 200, page.text
    body = {"csrf_token": csrf_of(page.text), **data}
    return client.post("/courses/new", data=body, follow_redirects=False, **extra)


def _error_next_to(html: str, name: str) -> str:
    spec = next(f for f in NEW_COURSE.fields if f.name == name)
    error_id = f"course-{spec.html_id}-error"
    match = re.search(rf'<span class="field-error" id="{re.escape(error_id)}">([^<]*)<', html)
    assert match, f"no error next to {name}"
    assert f'aria-describedby="{error_id}' in html
    return match.group(1)


def test_prescriber_starts_a_course(client: Any, app: Any) -> None:
    from inoplan.services.records import course_document as stored_document

    login(client, "prescriber")
    response = _post_new(client, GOOD)
    assert response.status_code == 303, response.text
    (course,) = _courses(app)
    assert response.headers["location"] == f"/courses/{course.id}?recorded=course#saved"
    document = stored_document(app.state.database, course.id)
    assert document["label"] == "eu"
    assert document["patient"]["name"] == "Ada Lovelace"
    assert document["patient"]["allergies"] == ["Tween 80", "latex"]
    assert document["patient"]["reproductive_potential"] is False
    assert document["plan"] == {
        "start_date": "2026-12-10",
        "cycle1_days": 28,
        "bsa_formula": "dubois",
        "hsct_intended": True,
    }
    assert document["events"] == [
        {"type": "vitals", "date": "2026-12-08", "height_cm": 170, "weight_kg": 70}
    ]
    page = client.get(response.headers["location"])
    assert "Saved: the new course" in page.text
    assert 'id="saved"' in page.text


def test_the_form_is_offered_to_prescribers_only(client: Any) -> None:
    login(client, "prescriber")
    today = client.get("/")
    assert 'href="/courses/new"' in today.text
    page = client.get("/courses/new")
    for spec in NEW_COURSE.fields:  # every input has its label
        assert f'<label for="course-{spec.html_id}">' in page.text
    assert 'value="2026-12-08"' in page.text  # today's date offered as the measurement date


@pytest.mark.parametrize("role", ["nurse", "pharmacist", "viewer"])
def test_other_roles_may_not_start_a_course(client: Any, app: Any, role: str) -> None:
    login(client, role)
    assert 'href="/courses/new"' not in client.get("/").text
    assert client.get("/courses/new").status_code == 403
    token = csrf_of(client.get("/").text)
    response = client.post(
        "/courses/new", data={"csrf_token": token, **GOOD}, follow_redirects=False
    )
    assert response.status_code == 403
    assert "Nothing was saved" in response.text
    assert _courses(app) == []


# (changed input, value, field that carries the error, words of the message)
INVALID = [
    ("patient.id", "", "patient.id", "required"),
    ("patient.birth_date", "14/03/1971", "patient.birth_date", "YYYY-MM-DD"),
    ("patient.sex", "", "patient.sex", "required"),
    ("weight_kg", "70,5", "weight_kg", "decimal point"),
    ("plan.bsa_formula", "guess", "plan.bsa_formula", "choose one of the listed values"),
    # from the document model and the guards (the API's validation)
    ("weight_kg", "7000", "weight_kg", "did you mean"),
    ("height_cm", "1.7", "height_cm", "did you mean"),
    ("patient.birth_date", "2027-01-01", "patient.birth_date", ""),
    ("measured_on", "2026-12-09", "measured_on", "future"),
    ("plan.start_date", "2028-06-01", "plan.start_date", "days ahead"),
    ("patient.id", "A\u202eB", "patient.id", "printable"),
]


@pytest.mark.parametrize(("name", "value", "where", "words"), INVALID)
def test_errors_are_shown_next_to_the_input_and_everything_typed_is_kept(
    client: Any, app: Any, name: str, value: str, where: str, words: str
) -> None:
    login(client, "prescriber")
    data = {**GOOD, name: value}
    response = _post_new(client, data)
    assert response.status_code == 422, response.text
    html = html_lib.unescape(response.text)
    assert words in _error_next_to(html, where)
    assert 'class="error-summary"' in html and "nothing was saved" in html
    assert "<title>Error:" in html
    # what was typed is still in the form
    assert 'value="Ada Lovelace"' in html
    assert 'value="Tween 80, latex"' in html
    assert '<option value="dubois" selected>' in html or name == "plan.bsa_formula"
    kind = next(f.kind for f in NEW_COURSE.fields if f.name == name)
    if value and kind != "select" and name != "patient.id":  # a select cannot show a bad value
        assert f'value="{value}"' in html
    assert _courses(app) == []


def test_an_existing_mrn_with_another_birth_date_is_refused(client: Any, app: Any) -> None:
    from inoplan.services.records import create_course

    create_course(app.state.database, course_document(), actor="test-setup")
    login(client, "prescriber")
    response = _post_new(
        client, {**GOOD, "patient.id": "WEB-001", "patient.birth_date": "1970-01-01"}
    )
    assert response.status_code == 409
    assert "different birth date" in _error_next_to(response.text, "patient.id")
    assert len(_courses(app)) == 1


def test_a_second_course_for_a_known_patient(client: Any, app: Any) -> None:
    from inoplan.services.records import create_course

    create_course(app.state.database, course_document(), actor="test-setup")
    login(client, "prescriber")
    same = {**GOOD, "patient.id": "WEB-001"}  # same birth date and sex
    assert _post_new(client, same).status_code == 303
    assert len(_courses(app)) == 2


def test_post_without_csrf_token_is_refused(client: Any, app: Any) -> None:
    login(client, "prescriber")
    response = client.post("/courses/new", data=GOOD, follow_redirects=False)
    assert response.status_code == 403
    assert "Nothing was saved" in response.text
    response = client.post(
        "/courses/new", data={**GOOD, "csrf_token": "forged"}, follow_redirects=False
    )
    assert response.status_code == 403
    assert _courses(app) == []


def test_cross_origin_post_is_refused(client: Any, app: Any) -> None:
    login(client, "prescriber")
    response = _post_new(client, GOOD, headers={"Origin": "https://evil.example"})
    assert response.status_code == 403
    assert _courses(app) == []


def test_not_logged_in_goes_to_login(client: Any) -> None:
    response = client.get("/courses/new", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login")


def test_the_document_is_the_apis_document() -> None:
    """The web's document passes the API's request model unchanged."""
    from inoplan.document.models import CourseDocument

    document = new_course_document(GOOD)
    assert (
        CourseDocument.model_validate(document).model_dump(mode="json", exclude_unset=True)
        == document
    )
    with pytest.raises(FormError) as caught:
        new_course_document({**GOOD, "height_cm": "", "plan.start_date": "soon"})
    assert set(caught.value.errors) == {"height_cm", "plan.start_date"}


def test_service_fields_map_to_inputs() -> None:
    assert course_field_for_error("events[0].height_cm") == "height_cm"
    assert course_field_for_error("events[0]") == ""
    assert course_field_for_error("events") == ""
    assert course_field_for_error("plan.cycle1_days") == "plan.cycle1_days"
    assert course_field_for_error("patient.history.salvage_line") == ""
    assert course_field_for_error("label") == "label"


# -- edit the plan, move a treatment day, stop the course -------------------------------------


def _events(app: Any, course_id: int) -> list[dict[str, Any]]:
    from inoplan.services.records import course_document as stored_document

    return list(stored_document(app.state.database, course_id)["events"])


def _post_event(client: Any, course_id: int, kind: str, data: dict[str, str]) -> Any:
    from inoplan.services.records import course_version

    page = client.get(f"/courses/{course_id}")
    found = re.search(r'name="version" value="(\d+)"', page.text)
    # a role offered no record form (a pharmacist since review H2: a dose goes through the
    # workflow) posts with the course's version
    version = found.group(1) if found else str(course_version(client.app.state.database, course_id))
    body = {"csrf_token": csrf_of(page.text), "version": version, **data}
    return client.post(f"/courses/{course_id}/events/{kind}", data=body, follow_redirects=False)


def _decision(app: Any, course_id: int, on: str) -> dict[str, Any]:
    from datetime import date

    from inoplan.services.records import show_decision

    return dict(show_decision(app.state.database, course_id, date.fromisoformat(on), actor="test"))


MOVE = {"date": "2026-12-07", "cycle": "1", "day": "8", "reason": "day unit closed"}


def test_a_day_8_moves_inside_its_window(client: Any, app: Any, course_id: int) -> None:
    login(client, "prescriber")
    response = _post_event(client, course_id, "reschedule", {**MOVE, "to": "2026-12-10"})
    assert response.status_code == 303, response.text
    event = _events(app, course_id)[-1]
    assert {k: event[k] for k in ("type", "cycle", "day", "to", "reason")} == {
        "type": "reschedule",
        "cycle": 1,
        "day": 8,
        "to": "2026-12-10",
        "reason": "day unit closed",
    }
    assert _decision(app, course_id, "2026-12-08")["status"] == "wait"  # no longer today
    moved = _decision(app, course_id, "2026-12-10")
    assert moved["status"] == "give"
    assert moved["next_dose"]["scheduled"] == "2026-12-10"
    page = html_lib.unescape(client.get(f"/courses/{course_id}?on=2026-12-08").text)
    assert "Cycle 1 day 8 moved to 2026-12-10 by the prescriber: day unit closed" in page


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({**MOVE, "to": "2026-12-11"}, "outside its window 2026-12-07 to 2026-12-10"),
        (  # the window's first day is the 6-day minimum after day 1 (2026-12-01)
            {**MOVE, "date": "2026-12-05", "to": "2026-12-06"},
            "outside its window 2026-12-07 to 2026-12-10",
        ),
        ({**MOVE, "day": "1", "to": "2026-12-09"}, "a dose given is not moved"),
        ({**MOVE, "cycle": "2", "day": "1", "to": "2026-12-20"}, "not brought forward"),
        ({**MOVE, "to": "2026-12-05"}, "before the entry's date"),
    ],
)
def test_a_move_outside_the_window_is_refused_with_the_window_and_citation(
    client: Any, app: Any, course_id: int, data: dict[str, str], words: str
) -> None:
    login(client, "prescriber")
    before = _events(app, course_id)
    response = _post_event(client, course_id, "reschedule", data)
    assert response.status_code == 422, response.text
    html = html_lib.unescape(response.text)
    error = re.search(r'id="reschedule-f-to-error">([^<]*)<', html)
    assert error is not None, "no error next to the new date"
    assert words in error.group(1)
    if "window" in words or "forward" in words:
        assert "US PI" in error.group(1)  # the label's citation
    assert f'value="{data["to"]}"' in html and 'value="day unit closed"' in html
    assert 'id="form-reschedule" open' in html
    assert _events(app, course_id) == before


def test_the_api_refuses_the_same_move_with_the_same_words(
    client: Any, app: Any, course_id: int
) -> None:
    """One validation path: the REST API gets the records service's refusal too."""
    from .conftest import password_for

    token = client.post(
        "/api/v1/auth/token",
        data={"username": "prescriber", "password": password_for("prescriber")},
    ).json()["access_token"]
    event = {"type": "reschedule", "date": "2026-12-07", "cycle": 1, "day": 8}
    response = client.post(
        f"/api/v1/courses/{course_id}/events",
        json={**event, "to": "2026-12-11", "reason": "day unit closed"},
        headers={"Authorization": f"Bearer {token}", "If-Match": '"1"'},
    )
    assert response.status_code == 422
    problem = response.json()
    assert problem["field"] == "event.to"
    assert "outside its window 2026-12-07 to 2026-12-10" in problem["detail"]


def test_the_plan_is_changed_with_a_reason(client: Any, app: Any, course_id: int) -> None:
    login(client, "prescriber")
    assert "Up to 2 cycles" in client.get(f"/courses/{course_id}").text
    response = _post_event(
        client,
        course_id,
        "plan_change",
        {"date": "2026-12-08", "hsct_intended": "no", "cycle1_days": "", "reason": "no donor"},
    )
    assert response.status_code == 303, response.text
    event = _events(app, course_id)[-1]
    assert {k: event[k] for k in ("type", "hsct_intended", "reason")} == {
        "type": "plan_change",
        "hsct_intended": False,
        "reason": "no donor",
    }
    assert "cycle1_days" not in event
    assert "Up to 6 cycles" in client.get(f"/courses/{course_id}").text
    # as of a date before the change, the plan was the old one
    assert "Up to 2 cycles" in client.get(f"/courses/{course_id}?on=2026-12-07").text


def test_a_plan_change_needs_a_change_and_a_reason(client: Any, app: Any, course_id: int) -> None:
    login(client, "prescriber")
    before = _events(app, course_id)
    response = _post_event(client, course_id, "plan_change", {"date": "2026-12-08", "reason": "x"})
    assert response.status_code == 422
    assert "choose at least one change to the plan" in response.text
    response = _post_event(
        client, course_id, "plan_change", {"date": "2026-12-08", "bsa_formula": "boyd"}
    )
    assert response.status_code == 422
    assert 'id="plan_change-f-reason-error"' in response.text
    assert '<option value="boyd" selected>' in response.text
    assert _events(app, course_id) == before


@pytest.mark.parametrize("kind", ["plan_change", "reschedule", "dose_change"])
@pytest.mark.parametrize("role", ["nurse", "pharmacist"])
def test_only_prescribers_edit_the_plan(
    client: Any, app: Any, course_id: int, kind: str, role: str
) -> None:
    login(client, role)
    page = client.get(f"/courses/{course_id}").text
    assert f'id="form-{kind}"' not in page
    before = _events(app, course_id)
    data = {
        "date": "2026-12-08",
        "hsct_intended": "no",
        "reason": "x",
        **MOVE,
        "to": "2026-12-09",
        "dose_mg_per_m2": "0.4",
    }
    response = _post_event(client, course_id, kind, data)
    assert response.status_code == 403
    assert _events(app, course_id) == before


def test_stopping_the_course(client: Any, app: Any, course_id: int) -> None:
    login(client, "prescriber")
    response = _post_event(
        client, course_id, "discontinuation", {"date": "2026-12-08", "reason": "relapse"}
    )
    assert response.status_code == 303
    assert _decision(app, course_id, "2026-12-08")["status"] == "discontinue"
    page = client.get(response.headers["location"]).text
    assert "Treatment stopped" in page
    response = _post_event(client, course_id, "discontinuation", {"date": "2026-12-08"})
    assert response.status_code == 422
    assert 'id="discontinuation-f-reason-error"' in response.text


LOWER = {"date": "2026-12-08", "cycle": "1", "day": "8", "reason": "grade 2 mucositis"}


def test_a_dose_is_lowered_with_a_reason(client: Any, app: Any, course_id: int) -> None:
    login(client, "prescriber")
    assert _decision(app, course_id, "2026-12-08")["next_dose"]["dose_mg_per_m2"] == 0.5
    response = _post_event(client, course_id, "dose_change", {**LOWER, "dose_mg_per_m2": "0.4"})
    assert response.status_code == 303, response.text
    event = _events(app, course_id)[-1]
    assert (event["type"], event["dose_mg_per_m2"], event["reason"]) == (
        "dose_change",
        0.4,
        "grade 2 mucositis",
    )
    due = _decision(app, course_id, "2026-12-08")
    assert due["status"] == "give"
    assert due["next_dose"]["dose_mg_per_m2"] == 0.4
    page = html_lib.unescape(client.get(f"/courses/{course_id}").text)
    assert "Cycle 1 day 8 lowered to 0.4 mg/m² by the prescriber" in page


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({**LOWER, "dose_mg_per_m2": "0.6"}, "may only lower the dose: the label gives 0.5"),
        ({**LOWER, "dose_mg_per_m2": "0.5"}, "may only lower the dose"),
        ({**LOWER, "day": "1", "dose_mg_per_m2": "0.4"}, "a dose given is not changed"),
        ({**LOWER, "cycle": "6", "dose_mg_per_m2": "0.4"}, "not a dose still planned"),
    ],
)
def test_a_dose_change_that_does_not_lower_the_dose_is_refused(
    client: Any, app: Any, course_id: int, data: dict[str, str], words: str
) -> None:
    login(client, "prescriber")
    before = _events(app, course_id)
    response = _post_event(client, course_id, "dose_change", data)
    assert response.status_code == 422, response.text
    html = html_lib.unescape(response.text)
    error = re.search(r'id="dose_change-f-dose-mg-per-m2-error">([^<]*)<', html)
    assert error is not None, "no error next to the new dose"
    assert words in error.group(1)
    assert "US PI" in error.group(1) or "given" in words
    assert f'value="{data["dose_mg_per_m2"]}"' in html
    assert _events(app, course_id) == before
