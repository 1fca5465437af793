"""Write-time guards on the web forms (issue 11): the message beside the field, nothing saved;
the prescriber's override form; "withdraw: entered in error"; the Today list keeps a stop in
sight until a prescriber acknowledges it, critical first, hold and discontinue unmistakable."""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import pytest

from .conftest import course_document, csrf_of, login


def _events(app: Any, course_id: int) -> list[dict[str, Any]]:
    from inoplan.services.records import course_document as stored

    return list(stored(app.state.database, course_id)["events"])


def _post(client: Any, course_id: int, path: str, data: dict[str, str]) -> Any:
    page = client.get(f"/courses/{course_id}")
    version = re.search(r'name="version" value="(\d+)"', page.text)
    body = {
        "csrf_token": csrf_of(page.text),
        "version": version.group(1) if version else "1",
        **data,
    }
    return client.post(f"/courses/{course_id}/{path}", data=body, follow_redirects=False)


def _error_next_to(html: str, error_id: str) -> str:
    text = html_lib.unescape(html)
    match = re.search(rf'<span class="field-error" id="{re.escape(error_id)}"[^>]*>([^<]*)<', text)
    assert match, f"no error {error_id}"
    return match.group(1)


def _held_document() -> dict[str, Any]:
    """The fixture course with bilirubin 2 x ULN on the day 8 morning: the decision holds."""
    document = course_document()
    document["events"].append(
        {
            "date": "2026-12-08",
            "type": "labs",
            "anc": {"value": 1.5, "unit": "10*9/L"},
            "platelets": {"value": 90, "unit": "10*9/L"},
            "bilirubin": {"value": 2.4, "unit": "mg/dL", "uln": 1.2},
            "ast": {"value": 35, "unit": "U/L", "uln": 40},
            "alt": {"value": 30, "unit": "U/L", "uln": 41},
        }
    )
    return document


def _stopped_document(patient: str = "WEB-STOP") -> dict[str, Any]:
    document = course_document()
    document["patient"]["id"] = patient
    document["events"].append(
        {"id": "stop-1", "date": "2026-12-07", "type": "discontinuation", "reason": "VOD"}
    )
    return document


DOSE = {"date": "2026-12-08", "cycle": "1", "day": "8", "dose_mg": "0.91"}


class TestPlausibilityAndDates:
    def test_anc_900_in_10_9_per_litre_gets_did_you_mean_next_to_the_value(
        self, client: Any, app: Any, course_id: int
    ) -> None:
        login(client, "nurse")
        before = _events(app, course_id)
        data = {"date": "2026-12-08", "anc.value": "900", "anc.unit": "10*9/L"}
        response = _post(client, course_id, "events/labs", data)
        assert response.status_code == 422
        message = _error_next_to(response.text, "labs-f-anc-value-error")
        assert "did you mean 900 /µL (0.9 × 10⁹/L)?" in message
        assert _events(app, course_id) == before

    def test_a_weight_of_1e308_is_refused(self, client: Any, app: Any, course_id: int) -> None:
        login(client, "nurse")
        before = _events(app, course_id)
        response = _post(
            client, course_id, "events/vitals", {"date": "2026-12-08", "weight_kg": "1e308"}
        )
        assert response.status_code == 422  # not even a number for the form
        response = _post(
            client, course_id, "events/vitals", {"date": "2026-12-08", "weight_kg": "350.5"}
        )
        assert response.status_code == 422
        assert "not plausible" in _error_next_to(response.text, "vitals-f-weight-kg-error")
        assert _events(app, course_id) == before

    @pytest.mark.parametrize(("day", "accepted"), [("2026-12-08", True), ("2026-12-09", False)])
    def test_today_is_accepted_and_tomorrow_is_not(
        self, client: Any, app: Any, course_id: int, day: str, accepted: bool
    ) -> None:
        login(client, "nurse")
        before = _events(app, course_id)
        response = _post(client, course_id, "events/ecg", {"date": day, "qtcf_ms": "440"})
        if accepted:
            assert response.status_code == 303
            return
        assert response.status_code == 422
        assert "in the future" in _error_next_to(response.text, "ecg-f-date-error")
        assert _events(app, course_id) == before

    def test_a_dose_45_days_ahead(self, client: Any, app: Any, course_id: int) -> None:
        # a direct dose is a prescriber's override (review H2); the override reaches no future
        login(client, "prescriber")
        before = _events(app, course_id)
        dose = {**DOSE, "date": "2027-01-22", "override_form": "1", "override_reason": "x"}
        response = _post(client, course_id, "events/administration", dose)
        assert response.status_code == 422
        assert "in the future" in _error_next_to(response.text, "override-f-date-error")
        assert _events(app, course_id) == before

    @pytest.mark.parametrize(
        "path", ["/", "/courses/{id}", "/courses/{id}/worksheet.pdf", "/courses/{id}/handout.pdf"]
    )
    @pytest.mark.parametrize("on", ["9999-12-31", "1899-12-31"])
    def test_an_on_parameter_outside_the_window_is_422(
        self, client: Any, course_id: int, path: str, on: str
    ) -> None:
        login(client, "prescriber")
        response = client.get(path.replace("{id}", str(course_id)) + f"?on={on}")
        assert response.status_code == 422
        assert "outside the accepted dates" in html_lib.unescape(response.text)


class TestOverride:
    def test_a_nurse_cannot_record_a_dose_on_a_held_day(
        self, client: Any, app: Any, new_course: Any
    ) -> None:
        course = new_course(_held_document())
        login(client, "nurse")
        page = client.get(f"/courses/{course}").text
        assert 'data-status="hold"' in page
        assert 'id="override-dose"' not in page  # the override form is a prescriber's
        assert 'id="form-administration"' not in page  # a dose goes through the workflow
        before = _events(app, course)
        response = _post(client, course, "events/administration", DOSE)
        assert response.status_code == 403
        text = html_lib.unescape(response.text)
        assert "treatment-day workflow's give step" in text and "prescriber" in text
        assert _events(app, course) == before
        assert 'data-status="hold"' in client.get(f"/courses/{course}").text

    def test_a_nurse_posting_the_override_form_is_refused(
        self, client: Any, app: Any, new_course: Any
    ) -> None:
        course = new_course(_held_document())
        login(client, "nurse")
        before = _events(app, course)
        response = _post(
            client,
            course,
            "events/administration",
            {**DOSE, "override_form": "1", "override_reason": "phoned"},
        )
        assert response.status_code == 403
        assert _events(app, course) == before

    def test_the_prescriber_s_override_is_saved_and_audited(
        self, client: Any, app: Any, new_course: Any
    ) -> None:
        from inoplan.services.records import course_audit

        course = new_course(_held_document())
        login(client, "prescriber")
        page = client.get(f"/courses/{course}").text
        assert 'id="override-dose"' in page
        reason = "haemolysed sample; repeat bilirubin normal"
        response = _post(
            client,
            course,
            "events/administration",
            {**DOSE, "override_form": "1", "override_reason": reason},
        )
        assert response.status_code == 303, response.text
        event = _events(app, course)[-1]
        assert event["override_reason"] == reason and event["type"] == "administration"
        last = course_audit(app.state.database, course)[-1]
        assert last.after is not None and last.after["override"]["override_reason"] == reason
        history = html_lib.unescape(client.get(f"/courses/{course}").text)
        assert "override" in history

    def test_the_override_form_requires_its_reason(
        self, client: Any, app: Any, new_course: Any
    ) -> None:
        course = new_course(_held_document())
        login(client, "prescriber")
        before = _events(app, course)
        response = _post(client, course, "events/administration", {**DOSE, "override_form": "1"})
        assert response.status_code == 422
        assert _error_next_to(response.text, "override-f-override-reason-error") == "required"
        assert 'id="override-dose" open' in response.text
        assert _events(app, course) == before

    @pytest.mark.parametrize("role", ["prescriber", "nurse", "pharmacist", "admin"])
    def test_no_role_records_a_dose_with_the_plain_form(
        self, client: Any, app: Any, course_id: int, role: str
    ) -> None:
        login(client, role)
        before = _events(app, course_id)
        response = _post(client, course_id, "events/administration", DOSE)
        assert response.status_code == 403
        assert "treatment-day workflow" in html_lib.unescape(response.text)
        assert _events(app, course_id) == before

    def test_the_override_form_waits_for_a_day_on_its_way_through_the_workflow(
        self, client: Any, app: Any, course_id: int
    ) -> None:
        from datetime import UTC, datetime

        from inoplan.services import workflow

        now = datetime(2026, 12, 8, 9, 0, tzinfo=UTC)
        workflow.release(
            app.state.database, course_id, 1, 8, actor="prescriber", role="prescriber", now=now
        )
        login(client, "prescriber")
        before = _events(app, course_id)
        response = _post(
            client,
            course_id,
            "events/administration",
            {**DOSE, "override_form": "1", "override_reason": "given on the ward"},
        )
        assert response.status_code == 409
        text = html_lib.unescape(response.text)
        assert "is released in the treatment-day workflow" in text and "withdraw" in text
        assert _events(app, course_id) == before

    def test_a_dose_outside_the_workflow_on_a_day_that_is_not_held(
        self, client: Any, app: Any, course_id: int
    ) -> None:
        from inoplan.services.records import course_audit

        login(client, "prescriber")
        page = html_lib.unescape(client.get(f"/courses/{course_id}").text)
        assert "Dose given outside the treatment-day workflow (prescriber override)" in page
        reason = "given at the partner hospital on the way home"
        response = _post(
            client,
            course_id,
            "events/administration",
            {**DOSE, "override_form": "1", "override_reason": reason},
        )
        assert response.status_code == 303, response.text
        last = course_audit(app.state.database, course_id)[-1]
        assert last.after is not None and last.after["outside_workflow"] is True
        assert (
            "was not given through the treatment-day workflow"
            in (last.after["override"]["because"][0])
        )
        page = html_lib.unescape(client.get(f"/courses/{course_id}").text)
        assert "(outside the workflow: prescriber's override)" in page
        assert "(outside the workflow: history)" in page  # cycle 1 day 1, stored with the course


class TestWithdraw:
    def test_a_nurse_sees_no_withdraw_for_a_prescriber_s_record_and_cannot_post_it(
        self, client: Any, app: Any, new_course: Any
    ) -> None:
        course = new_course(_stopped_document())
        login(client, "nurse")
        page = client.get(f"/courses/{course}").text
        assert 'name="supersedes" value="stop-1"' not in page
        before = _events(app, course)
        response = _post(client, course, "void", {"supersedes": "stop-1", "reason": "oops"})
        assert response.status_code == 403
        text = html_lib.unescape(response.text)
        # the refusal names the entry in words, never by its internal id
        assert "discontinuation of Mon 07 Dec 2026" in text and "stop-1" not in text
        assert "your role (nurse) may not record discontinuation" in text
        assert _events(app, course) == before

    def test_a_prescriber_withdraws_an_entry_made_in_error(
        self, client: Any, app: Any, new_course: Any
    ) -> None:
        course = new_course(_stopped_document())
        login(client, "prescriber")
        page = client.get(f"/courses/{course}").text
        assert 'name="supersedes" value="stop-1"' in page
        assert "Withdraw: entered in error" in page
        response = _post(
            client, course, "void", {"supersedes": "stop-1", "reason": "wrong patient's chart"}
        )
        assert response.status_code == 303, response.text
        assert response.headers["location"].endswith("recorded=void#saved")
        event = _events(app, course)[-1]
        assert event["type"] == "void" and event["supersedes"] == "stop-1"
        assert event["date"] == "2026-12-08"  # the clinic's today
        page = html_lib.unescape(client.get(response.headers["location"]).text)
        assert "Withdrawn (entered in error), no longer counts" in page
        assert 'data-status="discontinue"' not in page

    @pytest.mark.parametrize("role", ["nurse", "pharmacist"])
    def test_a_nurse_may_not_withdraw_a_dose_given(
        self, client: Any, app: Any, new_course: Any, role: str
    ) -> None:
        # review H2/H3: the engine would plan a withdrawn dose again
        document = course_document()
        document["patient"]["id"] = f"WEB-VOID-{role}"
        document["events"][4]["id"] = "c1d1"
        course = new_course(document)
        login(client, role)
        page = client.get(f"/courses/{course}").text
        assert 'name="supersedes" value="c1d1"' not in page
        before = _events(app, course)
        response = _post(client, course, "void", {"supersedes": "c1d1", "reason": "oops"})
        assert response.status_code == 403
        text = html_lib.unescape(response.text)
        assert f"your role ({role}) may not" in text and "a prescriber's call" in text
        assert _events(app, course) == before

    def test_a_prescriber_withdraws_a_dose_and_the_page_says_so(
        self, client: Any, app: Any, new_course: Any
    ) -> None:
        document = course_document()
        document["patient"]["id"] = "WEB-VOID-P"
        document["events"][4]["id"] = "c1d1"
        course = new_course(document)
        login(client, "prescriber")
        page = client.get(f"/courses/{course}").text
        assert 'name="supersedes" value="c1d1"' in page
        response = _post(client, course, "void", {"supersedes": "c1d1", "reason": "wrong patient"})
        assert response.status_code == 303, response.text
        page = html_lib.unescape(client.get(response.headers["location"]).text)
        assert "Recorded dose withdrawn" in page

    def test_a_withdrawal_needs_a_reason(self, client: Any, app: Any, new_course: Any) -> None:
        course = new_course(_stopped_document())
        login(client, "prescriber")
        before = _events(app, course)
        response = _post(client, course, "void", {"supersedes": "stop-1", "reason": " "})
        assert response.status_code == 422
        assert "needs a reason" in response.text
        assert _events(app, course) == before


class TestTodayList:
    def test_a_stop_stays_in_the_default_list_until_a_prescriber_acknowledges_it(
        self, client: Any, app: Any, course_id: int, new_course: Any
    ) -> None:
        stopped = new_course(_stopped_document())
        login(client, "nurse")
        page = html_lib.unescape(client.get("/").text)
        assert f"/courses/{stopped}" in page
        assert "Not yet acknowledged by a prescriber" in page
        assert "Acknowledge stop" not in page  # a nurse has no button
        nurse_try = client.post(
            f"/courses/{stopped}/acknowledge",
            data={"csrf_token": csrf_of(client.get("/").text), "next": "/"},
            follow_redirects=False,
        )
        assert nurse_try.status_code == 403

        client.cookies.clear()
        login(client, "prescriber")
        today = client.get("/").text
        assert "Acknowledge stop" in today
        response = client.post(
            f"/courses/{stopped}/acknowledge",
            data={"csrf_token": csrf_of(today), "next": "/"},
            follow_redirects=False,
        )
        assert response.status_code == 303 and response.headers["location"] == "/"
        assert f'href="/courses/{stopped}"' not in client.get("/").text
        everything = html_lib.unescape(client.get("/?show=all").text)
        assert f'href="/courses/{stopped}"' in everything and "Acknowledged" in everything

    def test_a_new_reason_to_stop_needs_a_new_acknowledgement(
        self, app: Any, new_course: Any
    ) -> None:
        from datetime import date

        from inoplan.services.courses import decide_document
        from inoplan.services.records import (
            acknowledge_course,
            acknowledgements,
            append_event,
            course_version,
            export_document,
            is_acknowledged,
        )

        database = app.state.database
        stopped = new_course(_stopped_document())
        on = date(2026, 12, 8)
        acknowledge_course(database, stopped, on, actor="prescriber")
        decision = decide_document(export_document(database, stopped), on)
        assert is_acknowledged(decision, acknowledgements(database, [stopped])[stopped])
        append_event(
            database,
            stopped,
            {"date": "2026-12-08", "type": "toxicity", "term": "vod", "grade": 3},
            expected_version=course_version(database, stopped),
            actor="prescriber",
        )
        decision = decide_document(export_document(database, stopped), on)
        assert decision["status"] == "discontinue"
        assert not is_acknowledged(decision, acknowledgements(database, [stopped])[stopped])

    def test_critical_items_come_first_and_stops_look_like_stops(
        self, client: Any, app: Any, course_id: int, new_course: Any
    ) -> None:
        allergic = course_document()
        allergic["patient"]["id"] = "WEB-ALLERGY"
        allergic["patient"]["allergies"] = ["polysorbate 80"]
        allergy = new_course(allergic)
        held_doc = _held_document()
        held_doc["patient"]["id"] = "WEB-HOLD"
        held = new_course(held_doc)
        stopped = new_course(_stopped_document("WEB-ZSTOP"))
        login(client, "viewer")
        page = html_lib.unescape(client.get("/").text)
        order = [int(n) for n in re.findall(r"<td[^>]*><a href=\"/courses/(\d+)", page)]
        assert order.index(stopped) < order.index(course_id)
        assert order.index(allergy) < order.index(course_id)
        assert order.index(stopped) < order.index(held)
        assert 'class="badge badge-hold" data-status="hold"' in page
        assert "⏸</span> Hold: do not give" in page
        assert 'class="badge badge-discontinue" data-status="discontinue"' in page
        assert "⛔</span> Discontinue: stop treatment" in page
        assert "critical</span>" in page and "ALLERGY" in page

    def test_the_course_page_shows_critical_and_the_acknowledgement(
        self, client: Any, new_course: Any
    ) -> None:
        stopped = new_course(_stopped_document())
        login(client, "prescriber")
        page = html_lib.unescape(client.get(f"/courses/{stopped}").text)
        assert "Stop treatment:" in page
        assert "Acknowledge the decision to discontinue" in page
        form = client.get(f"/courses/{stopped}").text
        response = client.post(
            f"/courses/{stopped}/acknowledge",
            data={"csrf_token": csrf_of(form), "note": "team informed"},
            follow_redirects=False,
        )
        assert response.status_code == 303
        after = html_lib.unescape(client.get(response.headers["location"]).text)
        assert "Acknowledged by prescriber" in after and "team informed" in after
        assert "Acknowledge the decision to discontinue" not in after

    def test_acknowledging_a_course_that_is_not_stopping_is_a_409(
        self, client: Any, course_id: int
    ) -> None:
        login(client, "prescriber")
        page = client.get(f"/courses/{course_id}").text
        response = client.post(
            f"/courses/{course_id}/acknowledge",
            data={"csrf_token": csrf_of(page)},
            follow_redirects=False,
        )
        assert response.status_code == 409
        assert "Nothing was acknowledged" in response.text


def test_new_colours_keep_aa_contrast() -> None:
    from importlib import resources

    from .test_pages import contrast

    css = (resources.files("inoplan.web") / "static" / "inoplan.css").read_text()
    variables = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", css))
    white = "#ffffff"
    pairs = {
        "hold badge": (white, variables["hold"]),
        "stop badge": (white, variables["stop"]),
        "cannot-decide badge": (white, variables["decide"]),
        "critical flag": (variables["stop"], white),
        "urgent row": (variables["ink"], "#fde8ea"),
        "hold note": (variables["ink"], "#fff7e0"),
        "acknowledgement text on urgent row": (variables["stop"], "#fde8ea"),
    }
    low = {name: round(contrast(*c), 2) for name, c in pairs.items() if contrast(*c) < 4.5}
    assert not low, low
    assert variables["hold"] != variables["stop"]  # hold and discontinue never look alike
