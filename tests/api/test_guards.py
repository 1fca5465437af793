"""Write-time guards through the REST API (issue 11): plausibility, dates, doses against the
decision, roles on corrections and voids, acknowledgements; each refusal a 4xx naming the field,
nothing stored.

The courses here are built around the real date (the API has no pinned clock): cycle 1 day 1
two weeks ago, so that "the future" is the future of the server's clock.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from inoplan.services.render_decision import DecisionJson
from tests.integration.records_helpers import headers

COURSES = "/api/v1/courses"
TODAY = datetime.now(UTC).date()  # the clinic's time zone is UTC in these settings
START = TODAY - timedelta(days=14)  # cycle 1 day 1


def day(offset: int) -> str:
    return (START + timedelta(days=offset)).isoformat()


NORMAL_LABS: dict[str, Any] = {
    "anc": {"value": 1.6, "unit": "10*9/L"},
    "platelets": {"value": 120, "unit": "10*9/L"},
    "bilirubin": {"value": 0.7, "unit": "mg/dL", "uln": 1.2},
    "ast": {"value": 30, "unit": "U/L", "uln": 40},
    "alt": {"value": 28, "unit": "U/L", "uln": 41},
}


def labs(offset: int, **changes: Any) -> dict[str, Any]:
    return {"date": day(offset), "type": "labs", **copy.deepcopy(NORMAL_LABS), **changes}


def dose(offset: int, cycle: int, cycle_day: int, mg: float, **extra: Any) -> dict[str, Any]:
    return {
        "date": day(offset),
        "type": "administration",
        "cycle": cycle,
        "day": cycle_day,
        "dose_mg": mg,
        **extra,
    }


def document(*extra: dict[str, Any], patient: str = "G-1") -> dict[str, Any]:
    """An adult (170 cm, 70 kg: BSA 1.82 m2) with cycle 1 day 1 (1.46 mg = 0.8 mg/m2) given."""
    return {
        "label": "us",
        "patient": {
            "id": patient,
            "birth_date": "1970-05-05",
            "sex": "male",
            "reproductive_potential": False,
        },
        "plan": {"start_date": day(0), "hsct_intended": False},
        "events": [
            {"date": day(-3), "type": "vitals", "height_cm": 170, "weight_kg": 70},
            {"date": day(-3), "type": "ecg", "qtcf_ms": 420},
            labs(-1, peripheral_blasts={"value": 1.0, "unit": "10*9/L"}),
            {"id": "c1d1", **dose(0, 1, 1, 1.46)},
            *extra,
        ],
    }


def shifted(doc: dict[str, Any], by: timedelta) -> dict[str, Any]:
    """``doc`` with every event date and the plan's start moved by ``by``."""
    out = copy.deepcopy(doc)
    out["plan"]["start_date"] = (date.fromisoformat(out["plan"]["start_date"]) + by).isoformat()
    for event in out["events"]:
        event["date"] = (date.fromisoformat(event["date"]) + by).isoformat()
    return out


def create(client: Any, token: str, doc: dict[str, Any]) -> int:
    response = client.post(COURSES, json=doc, headers=headers(token))
    assert response.status_code == 201, response.text
    return int(response.json()["id"])


def stored(client: Any, tokens: dict[str, str], course: int) -> dict[str, Any]:
    response = client.get(f"{COURSES}/{course}", headers=headers(tokens["viewer"]))
    result: dict[str, Any] = response.json()
    return result


def post_event(client: Any, token: str, course: int, event: dict[str, Any], version: int) -> Any:
    return client.post(
        f"{COURSES}/{course}/events",
        json=event,
        headers=headers(token, **{"If-Match": str(version)}),
    )


def refused_and_unchanged(
    client: Any, tokens: dict[str, str], course: int, response: Any, status: int, field: str
) -> dict[str, Any]:
    before = stored(client, tokens, course)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    if field:
        assert body["field"] == field, body
    assert stored(client, tokens, course) == before  # nothing written
    return body


# -- plausibility at the door ----------------------------------------------------------------


class TestPlausibility:
    def test_anc_900_in_10_9_per_litre_is_refused_with_did_you_mean(
        self, client: Any, tokens: dict[str, str]
    ) -> None:
        course = create(client, tokens["prescriber"], document())
        event = labs(7, anc={"value": 900, "unit": "10*9/L"})
        response = post_event(client, tokens["nurse"], course, event, 1)
        body = refused_and_unchanged(client, tokens, course, response, 422, "event.anc.value")
        assert "did you mean 900 /µL (0.9 × 10⁹/L)?" in body["detail"]
        assert stored(client, tokens, course)["version"] == 1

    def test_900_per_microlitre_is_stored(self, client: Any, tokens: dict[str, str]) -> None:
        course = create(client, tokens["prescriber"], document())
        response = post_event(
            client, tokens["nurse"], course, labs(7, anc={"value": 900, "unit": "/uL"}), 1
        )
        assert response.status_code == 201, response.text

    @pytest.mark.parametrize("weight", ["1e308", "1e400", "NaN", "-Infinity", "1" * 400])
    def test_absurd_weights_are_refused_at_creation(
        self, client: Any, tokens: dict[str, str], weight: str
    ) -> None:
        import json

        text = json.dumps(document()).replace('"weight_kg": 70', f'"weight_kg": {weight}')
        response = client.post(
            COURSES,
            content=text,
            headers=headers(tokens["prescriber"], **{"Content-Type": "application/json"}),
        )
        assert response.status_code == 422, response.text
        assert response.json()["field"].startswith("events[0].weight_kg")
        assert client.get(COURSES, headers=headers(tokens["viewer"])).json()["count"] == 0

    @pytest.mark.parametrize(
        ("event", "field"),
        [
            ({"type": "vitals", "weight_kg": 350.01}, "event.weight_kg"),
            ({"type": "vitals", "height_cm": 1.7}, "event.height_cm"),
            ({"type": "ecg", "qtcf_ms": 800.5}, "event.qtcf_ms"),
            (
                {"type": "labs", "platelets": {"value": 3001, "unit": "10*9/L"}},
                "event.platelets.value",
            ),
            (
                {"type": "labs", "potassium": {"value": 0.9, "unit": "mmol/L"}},
                "event.potassium.value",
            ),
        ],
    )
    def test_each_appended_value_outside_its_range(
        self, client: Any, tokens: dict[str, str], event: dict[str, Any], field: str
    ) -> None:
        course = create(client, tokens["prescriber"], document())
        response = post_event(client, tokens["prescriber"], course, {"date": day(7), **event}, 1)
        refused_and_unchanged(client, tokens, course, response, 422, field)

    def test_a_weight_that_does_not_fit_the_recorded_height(
        self, client: Any, tokens: dict[str, str]
    ) -> None:
        course = create(client, tokens["prescriber"], document())
        event = {"date": day(7), "type": "vitals", "weight_kg": 300}  # 170 cm: BMI 104
        response = post_event(client, tokens["nurse"], course, event, 1)
        body = refused_and_unchanged(client, tokens, course, response, 422, "event.weight_kg")
        assert "body mass index" in body["detail"]


# -- dates -------------------------------------------------------------------------------------


class TestDates:
    def test_entries_up_to_today_are_accepted_and_tomorrow_is_not(
        self, client: Any, tokens: dict[str, str]
    ) -> None:
        course = create(client, tokens["prescriber"], document())
        today = {"date": TODAY.isoformat(), "type": "ecg", "qtcf_ms": 430}
        assert post_event(client, tokens["nurse"], course, today, 1).status_code == 201
        tomorrow = {**today, "date": (TODAY + timedelta(days=1)).isoformat()}
        response = post_event(client, tokens["nurse"], course, tomorrow, 2)
        body = refused_and_unchanged(client, tokens, course, response, 422, "event.date")
        assert "in the future" in body["detail"]

    @pytest.mark.parametrize("ahead", [1, 2, 45])
    def test_a_dose_dated_in_the_future(
        self, client: Any, tokens: dict[str, str], ahead: int
    ) -> None:
        course = create(client, tokens["prescriber"], document())
        # an override (review H2: a direct dose is a prescriber's) does not reach the future
        event = dose(14 + ahead, 1, 8, 0.91, override_reason="given at the partner hospital")
        response = post_event(client, tokens["prescriber"], course, event, 1)
        refused_and_unchanged(client, tokens, course, response, 422, "event.date")

    @pytest.mark.parametrize(
        "event",
        [
            {"type": "labs", **NORMAL_LABS},
            {"type": "toxicity", "term": "nausea", "grade": 1},
            {"type": "response", "status": "CR"},
            {"type": "discontinuation", "reason": "planned in advance"},
            {"type": "hsct", "planned": False},
            {"type": "pregnancy_test", "result": "negative"},
            {"type": "medication", "name": "ondansetron", "action": "start"},
        ],
    )
    def test_every_past_tense_event_type(
        self, client: Any, tokens: dict[str, str], event: dict[str, Any]
    ) -> None:
        course = create(client, tokens["prescriber"], document())
        future = {"date": (TODAY + timedelta(days=3)).isoformat(), **event}
        response = post_event(client, tokens["prescriber"], course, future, 1)
        refused_and_unchanged(client, tokens, course, response, 422, "event.date")

    def test_a_planned_transplant_within_a_year(self, client: Any, tokens: dict[str, str]) -> None:
        course = create(client, tokens["prescriber"], document())
        within = {
            "date": (TODAY + timedelta(days=365)).isoformat(),
            "type": "hsct",
            "planned": True,
        }
        assert post_event(client, tokens["prescriber"], course, within, 1).status_code == 201
        beyond = {**within, "date": (TODAY + timedelta(days=366)).isoformat()}
        response = post_event(client, tokens["prescriber"], course, beyond, 2)
        refused_and_unchanged(client, tokens, course, response, 422, "event.date")

    def test_a_created_course_with_a_future_entry(
        self, client: Any, tokens: dict[str, str]
    ) -> None:
        doc = document(
            {"date": (TODAY + timedelta(days=1)).isoformat(), "type": "ecg", "qtcf_ms": 430}
        )
        response = client.post(COURSES, json=doc, headers=headers(tokens["prescriber"]))
        assert response.status_code == 422
        assert response.json()["field"] == "events[4].date"

    def test_a_start_date_more_than_a_year_ahead(self, client: Any, tokens: dict[str, str]) -> None:
        doc = document()
        doc["events"] = doc["events"][:3]
        doc["plan"]["start_date"] = (TODAY + timedelta(days=366)).isoformat()
        response = client.post(COURSES, json=doc, headers=headers(tokens["prescriber"]))
        assert response.status_code == 422
        assert response.json()["field"] == "plan.start_date"
        doc["plan"]["start_date"] = (TODAY + timedelta(days=365)).isoformat()
        assert (
            client.post(COURSES, json=doc, headers=headers(tokens["prescriber"])).status_code == 201
        )

    @pytest.mark.parametrize("on", ["9999-12-31", "2100-01-01", "1899-12-31", "0001-01-01"])
    def test_every_date_parameter_is_a_422_not_a_500(
        self, client: Any, tokens: dict[str, str], on: str
    ) -> None:
        course = create(client, tokens["prescriber"], document())
        reader = headers(tokens["prescriber"])
        for response in (
            client.get(f"{COURSES}/{course}/decision?on={on}", headers=reader),
            client.get(f"{COURSES}/{course}/fhir?on={on}", headers=reader),
            client.post(
                f"/api/v1/fhir/import?start_date={on}",
                json={"resourceType": "Bundle", "type": "collection", "entry": []},
                headers=reader,
            ),
            client.post(f"{COURSES}/{course}/acknowledgements", json={"on": on}, headers=reader),
        ):
            assert response.status_code == 422, response.text
            assert response.json()["field"] in {"on", "start_date"}

    @pytest.mark.parametrize("on", ["1900-01-01", "2099-12-31"])
    def test_the_window_s_own_ends_are_decided(
        self, client: Any, tokens: dict[str, str], on: str
    ) -> None:
        course = create(client, tokens["prescriber"], document())
        response = client.get(
            f"{COURSES}/{course}/decision?on={on}", headers=headers(tokens["viewer"])
        )
        assert response.status_code == 200, response.text


# -- doses against the decision ----------------------------------------------------------------


def held_course() -> dict[str, Any]:
    """Cycle 1 day 8 due today-7, with bilirubin 2 x ULN that morning: the decision holds."""
    return document(labs(7, bilirubin={"value": 2.4, "unit": "mg/dL", "uln": 1.2}))


WORKFLOW = "was not given through the treatment-day workflow"


def refused_direct(
    client: Any, tokens: dict[str, str], course: int, response: Any
) -> dict[str, Any]:
    """A direct administration without an override: 409 (errors.OutsideWorkflow), the bypass
    named first in ``because``, nothing stored."""
    body = refused_and_unchanged(client, tokens, course, response, 409, "event.override_reason")
    assert WORKFLOW in body["because"][0], body
    assert "override_reason" in body["detail"] and "prescriber" in body["detail"]
    return body


def last_override(client: Any, tokens: dict[str, str], course: int) -> dict[str, Any]:
    trail = client.get(f"{COURSES}/{course}/audit", headers=headers(tokens["admin"])).json()
    last: dict[str, Any] = trail["data"][-1]
    assert last["action"] == "event.administration"
    return last


class TestOverride:
    """Review H2: an administration recorded directly (not the workflow's give step) needs a
    prescriber's override with a reason, whatever else it does; H3: the engine's planned dose
    of the day bounds it (``because`` names what an override would override)."""

    @pytest.mark.parametrize("role", ["prescriber", "admin"])
    def test_a_direct_dose_that_follows_the_decision_still_needs_the_workflow(
        self, client: Any, tokens: dict[str, str], role: str
    ) -> None:
        course = create(client, tokens["prescriber"], document(labs(6)))
        response = post_event(client, tokens[role], course, dose(7, 1, 8, 0.91), 1)
        body = refused_direct(client, tokens, course, response)
        assert len(body["because"]) == 1  # the planned dose, nothing else against the decision
        assert "cycle 1 day 8" in body["detail"] and "'ordered'" in body["detail"]

    @pytest.mark.parametrize("role", ["nurse", "pharmacist"])
    def test_the_workflow_s_roles_may_not_record_a_dose_directly(
        self, client: Any, tokens: dict[str, str], role: str
    ) -> None:
        course = create(client, tokens["prescriber"], document(labs(6)))
        response = post_event(client, tokens[role], course, dose(7, 1, 8, 0.91), 1)
        body = refused_and_unchanged(client, tokens, course, response, 403, "")
        assert "dose.override" in body["detail"] and "give step" in body["detail"]

    def test_a_prescriber_records_a_dose_given_outside_the_workflow_with_a_reason(
        self, client: Any, tokens: dict[str, str]
    ) -> None:
        course = create(client, tokens["prescriber"], document(labs(6)))
        event = dose(7, 1, 8, 0.91, override_reason="given at the partner hospital")
        response = post_event(client, tokens["prescriber"], course, event, 1)
        assert response.status_code == 201, response.text
        last = last_override(client, tokens, course)
        assert last["after"]["outside_workflow"] is True
        assert [WORKFLOW in t for t in last["after"]["override"]["because"]] == [True]
        decision = client.get(
            f"{COURSES}/{course}/decision?on={day(7)}", headers=headers(tokens["viewer"])
        ).json()
        assert "DOSE_OVERRIDE" in [a["code"] for a in decision["alerts"]]

    def test_a_nurse_cannot_make_a_hold_disappear(
        self, client: Any, tokens: dict[str, str]
    ) -> None:
        course = create(client, tokens["prescriber"], held_course())
        reader = headers(tokens["viewer"])
        held = client.get(f"{COURSES}/{course}/decision?on={day(7)}", headers=reader).json()
        assert held["status"] == "hold"
        response = post_event(client, tokens["nurse"], course, dose(7, 1, 8, 0.91), 1)
        refused_and_unchanged(client, tokens, course, response, 403, "")
        response = post_event(client, tokens["prescriber"], course, dose(7, 1, 8, 0.91), 1)
        body = refused_direct(client, tokens, course, response)
        assert any("holds" in reason for reason in body["because"])
        again = client.get(f"{COURSES}/{course}/decision?on={day(7)}", headers=reader).json()
        assert again["status"] == "hold"

    def test_a_nurse_may_not_override(self, client: Any, tokens: dict[str, str]) -> None:
        course = create(client, tokens["prescriber"], held_course())
        event = dose(7, 1, 8, 0.91, override_reason="doctor said so")
        response = post_event(client, tokens["nurse"], course, event, 1)
        body = refused_and_unchanged(client, tokens, course, response, 403, "")
        assert "dose.override" in body["detail"]

    @pytest.mark.parametrize("role", ["prescriber", "admin"])
    def test_a_prescriber_overrides_with_a_reason_and_it_stays_on_the_record(
        self, client: Any, tokens: dict[str, str], role: str
    ) -> None:
        course = create(client, tokens["prescriber"], held_course())
        reason = "bilirubin from haemolysed sample; repeat normal by phone"
        event = dose(7, 1, 8, 0.91, override_reason=reason)
        response = post_event(client, tokens[role], course, event, 1)
        assert response.status_code == 201, response.text
        assert stored(client, tokens, course)["events"][-1]["override_reason"] == reason
        last = last_override(client, tokens, course)
        assert last["actor"] == role
        assert last["after"]["override"]["override_reason"] == reason
        because = last["after"]["override"]["because"]
        assert WORKFLOW in because[0] and any("holds" in text for text in because)

    def test_a_dose_on_a_discontinued_course(self, client: Any, tokens: dict[str, str]) -> None:
        stop = {"date": day(6), "type": "discontinuation", "reason": "patient's decision"}
        course = create(client, tokens["prescriber"], document(labs(6), stop))
        response = post_event(client, tokens["prescriber"], course, dose(7, 1, 8, 0.91), 1)
        body = refused_direct(client, tokens, course, response)
        assert any("discontinue" in reason for reason in body["because"])

    @pytest.mark.parametrize(("mg", "above"), [(0.9, False), (0.91, False), (0.92, True)])
    def test_the_planned_dose_of_the_day_just_below_at_and_above(
        self, client: Any, tokens: dict[str, str], mg: float, above: bool
    ) -> None:
        # day 8: the label's 0.5 mg/m2 x 1.82 m2 = 0.91 mg; 0.92 mg is 0.505 mg/m2, more than
        # half a rounding step (recorded_dose_tolerance_steps 0.5) above the plan
        course = create(client, tokens["prescriber"], document(labs(6)))
        response = post_event(client, tokens["prescriber"], course, dose(7, 1, 8, mg), 1)
        body = refused_direct(client, tokens, course, response)
        planned = [r for r in body["because"] if "the engine's plan gives" in r]
        assert bool(planned) == above, body["because"]
        if above:
            assert "0.92 mg recorded" in planned[0] and "0.91 mg = 0.5 mg/m²" in planned[0]
            assert "the label's dose for that day" in planned[0]
        assert not any("per dose" in r or "per cycle" in r for r in body["because"])

    @pytest.mark.parametrize(("mg", "needs"), [(1.46, False), (1.47, True)])
    def test_the_per_dose_maximum_just_at_and_above(
        self, client: Any, tokens: dict[str, str], mg: float, needs: bool
    ) -> None:
        # 0.8 mg/m2 x 1.82 m2 = 1.456 -> 1.46 mg (rounded half-up): the most a dose may be.
        # Cycle 1 day 1, stored with the course, corrected (same cycle and day: the correction
        # rules, no workflow needed): the plan of day 1 is the maximum itself.
        # A nurse may not change a dose given (review H2/H3): the prescriber corrects it.
        course = create(client, tokens["prescriber"], document(labs(6)))
        event = dose(0, 1, 1, mg, id="c1d1-fix", supersedes="c1d1", reason="time was wrong")
        response = post_event(client, tokens["nurse"], course, event, 1)
        if not needs:  # the same dose: nothing the prescriber decides changes
            assert response.status_code == 201, response.text
            return
        body = refused_and_unchanged(client, tokens, course, response, 403, "")
        assert "dose.override" in body["detail"] and "dose_mg" in body["detail"]
        response = post_event(client, tokens["prescriber"], course, event, 1)
        body = refused_and_unchanged(client, tokens, course, response, 422, "event.override_reason")
        assert any("per dose" in reason for reason in body["because"])
        assert any("the engine's plan gives" in reason for reason in body["because"])
        assert not any(WORKFLOW in reason for reason in body["because"])

    @pytest.mark.parametrize(("mg", "plan", "cycle"), [(0.92, True, False), (0.93, True, True)])
    def test_the_per_cycle_maximum_just_at_and_above(
        self, client: Any, tokens: dict[str, str], mg: float, plan: bool, cycle: bool
    ) -> None:
        # 1.46 + 0.91 mg given; 1.8 mg/m2 x 1.82 = 3.276 mg plus half a rounding step per dose.
        # The plan of day 15 is the lower bound now (0.5 mg/m2, capped at what is left).
        course = create(client, tokens["prescriber"], document(labs(6), dose(7, 1, 8, 0.91)))
        response = post_event(client, tokens["prescriber"], course, dose(14, 1, 15, mg), 1)
        body = refused_direct(client, tokens, course, response)
        assert any("the engine's plan gives" in r for r in body["because"]) == plan
        assert any("per cycle" in reason for reason in body["because"]) == cycle

    @pytest.mark.parametrize(("offset", "needs"), [(5, True), (6, False)])
    def test_six_days_between_doses(
        self, client: Any, tokens: dict[str, str], offset: int, needs: bool
    ) -> None:
        course = create(client, tokens["prescriber"], document(labs(4), labs(6)))
        response = post_event(client, tokens["prescriber"], course, dose(offset, 1, 8, 0.91), 1)
        body = refused_direct(client, tokens, course, response)
        assert any("at least 6 days" in reason for reason in body["because"]) == needs

    def test_a_correction_to_another_day_is_a_direct_dose(
        self, client: Any, tokens: dict[str, str]
    ) -> None:
        course = create(client, tokens["prescriber"], document(labs(6)))
        event = dose(7, 1, 8, 0.91, id="moved", supersedes="c1d1", reason="it was day 8")
        response = post_event(client, tokens["nurse"], course, event, 1)
        body = refused_and_unchanged(client, tokens, course, response, 403, "")
        assert "dose.override" in body["detail"]
        response = post_event(client, tokens["admin"], course, event, 1)
        refused_direct(client, tokens, course, response)

    def test_a_created_course_with_an_overdose_needs_the_override_too(
        self, client: Any, tokens: dict[str, str]
    ) -> None:
        doc = document(labs(6), dose(7, 1, 8, 9.1))  # 10 x the dose
        response = client.post(COURSES, json=doc, headers=headers(tokens["prescriber"]))
        assert response.status_code == 422
        assert response.json()["field"] == "events[5].override_reason"
        doc["events"][5]["override_reason"] = "documented as given (pump error)"
        assert (
            client.post(COURSES, json=doc, headers=headers(tokens["prescriber"])).status_code == 201
        )

    def test_a_created_history_is_not_judged_in_hindsight(
        self, client: Any, tokens: dict[str, str]
    ) -> None:
        # the day 8 dose was given; the bilirubin of that morning is entered with the history
        doc = document(
            labs(7, bilirubin={"value": 2.4, "unit": "mg/dL", "uln": 1.2}), dose(7, 1, 8, 0.91)
        )
        response = client.post(COURSES, json=doc, headers=headers(tokens["prescriber"]))
        assert response.status_code == 201
        course = int(response.json()["id"])
        trail = client.get(f"{COURSES}/{course}/audit", headers=headers(tokens["admin"])).json()
        created = trail["data"][0]
        assert created["action"] == "course.create"
        assert [(d["cycle"], d["day"]) for d in created["after"]["history_doses"]] == [
            (1, 1),
            (1, 8),
        ]

    @pytest.mark.parametrize(("days_ago", "live"), [(2, False), (1, True), (0, True)])
    def test_a_new_course_s_recent_dose_is_judged_as_a_dose_recorded_now(
        self, client: Any, tokens: dict[str, str], days_ago: int, live: bool
    ) -> None:
        # Review H2/H3 #2: cycle 1 day 8 given on a day its bilirubin (2 x ULN) holds, dated
        # 2 days ago (history: not judged in hindsight), yesterday or today (live: the decision
        # of its own date holds it; an override with its reason is needed).
        shift = (TODAY - START) - timedelta(days=7 + days_ago)  # day 8 on TODAY - days_ago
        doc = shifted(
            document(
                labs(7, bilirubin={"value": 2.4, "unit": "mg/dL", "uln": 1.2}),
                dose(7, 1, 8, 0.91),
            ),
            shift,
        )
        response = client.post(COURSES, json=doc, headers=headers(tokens["prescriber"]))
        if not live:
            assert response.status_code == 201, response.text
            return
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["field"] == "events[5].override_reason"
        assert any("holds" in reason for reason in body["because"]), body["because"]
        doc["events"][5]["override_reason"] = "given before the result came back"
        response = client.post(COURSES, json=doc, headers=headers(tokens["prescriber"]))
        assert response.status_code == 201, response.text
        course = int(response.json()["id"])
        trail = client.get(f"{COURSES}/{course}/audit", headers=headers(tokens["admin"])).json()
        created = trail["data"][0]["after"]
        assert [o["position"] for o in created["overrides"]] == [5]
        assert [(d["cycle"], d["day"]) for d in created["history_doses"]] == [(1, 1)]

    def test_a_new_course_s_recent_dose_above_the_plan_needs_an_override(
        self, client: Any, tokens: dict[str, str]
    ) -> None:
        shift = (TODAY - START) - timedelta(days=7)  # cycle 1 day 8 today
        doc = shifted(document(labs(7), dose(7, 1, 8, 1.2)), shift)  # plan: 0.91 mg
        response = client.post(COURSES, json=doc, headers=headers(tokens["prescriber"]))
        assert response.status_code == 422, response.text
        assert any("the engine's plan gives" in r for r in response.json()["because"])
        doc["events"][5]["dose_mg"] = 0.91
        response = client.post(COURSES, json=doc, headers=headers(tokens["prescriber"]))
        assert response.status_code == 201, response.text

    def test_a_created_history_with_a_dose_after_a_recorded_stop(
        self, client: Any, tokens: dict[str, str]
    ) -> None:
        stop = {"date": day(6), "type": "discontinuation", "reason": "patient's decision"}
        doc = document(labs(6), stop, dose(7, 1, 8, 0.91))
        response = client.post(COURSES, json=doc, headers=headers(tokens["prescriber"]))
        assert response.status_code == 422
        assert response.json()["field"] == "events[6].override_reason"
        assert any("discontinued" in reason for reason in response.json()["because"])


# -- corrections and voids respect roles --------------------------------------------------------


def prescriber_records() -> dict[str, Any]:
    return document(
        labs(6),
        {"id": "tox-vod", "date": day(6), "type": "toxicity", "term": "vod", "grade": 3},
        {"id": "resp", "date": day(6), "type": "response", "status": "CR"},
        {"id": "stop", "date": day(6), "type": "discontinuation", "reason": "VOD confirmed"},
    )


class TestCorrectionsAndVoids:
    @pytest.mark.parametrize("role", ["nurse", "pharmacist"])
    @pytest.mark.parametrize("target", ["tox-vod", "resp", "stop"])
    def test_nurses_and_pharmacists_cannot_void_a_prescriber_s_record(
        self, client: Any, tokens: dict[str, str], role: str, target: str
    ) -> None:
        course = create(client, tokens["prescriber"], prescriber_records())
        void = {"date": day(7), "type": "void", "supersedes": target, "reason": "wrong patient"}
        response = post_event(client, tokens[role], course, void, 1)
        body = refused_and_unchanged(client, tokens, course, response, 403, "")
        assert target in body["detail"]
        decision = client.get(
            f"{COURSES}/{course}/decision?on={day(7)}", headers=headers(tokens["viewer"])
        ).json()
        assert decision["status"] == "discontinue"

    def test_a_stale_version_does_not_hide_the_refusal(
        self, client: Any, tokens: dict[str, str]
    ) -> None:
        course = create(client, tokens["prescriber"], prescriber_records())
        void = {"date": day(7), "type": "void", "supersedes": "stop", "reason": "x"}
        assert post_event(client, tokens["nurse"], course, void, 99).status_code == 403

    def test_a_prescriber_voids_a_discontinuation_and_the_decision_follows(
        self, client: Any, tokens: dict[str, str]
    ) -> None:
        doc = document(
            labs(6),
            {"id": "stop", "date": day(6), "type": "discontinuation", "reason": "wrong patient"},
        )
        course = create(client, tokens["prescriber"], doc)
        void = {"date": day(7), "type": "void", "supersedes": "stop", "reason": "wrong chart"}
        response = post_event(client, tokens["prescriber"], course, void, 1)
        assert response.status_code == 201, response.text
        decision = client.get(
            f"{COURSES}/{course}/decision?on={day(7)}", headers=headers(tokens["viewer"])
        ).json()
        assert decision["status"] != "discontinue"

    @pytest.mark.parametrize("role", ["nurse", "pharmacist"])
    def test_the_dose_recorders_may_not_void_a_dose(
        self, client: Any, tokens: dict[str, str], role: str
    ) -> None:
        # review H2/H3: a withdrawn dose is planned again with no alert; a prescriber's call
        course = create(client, tokens["prescriber"], document(labs(6)))
        void = {"date": day(7), "type": "void", "supersedes": "c1d1", "reason": "other patient"}
        response = post_event(client, tokens[role], course, void, 1)
        body = refused_and_unchanged(client, tokens, course, response, 403, "")
        assert "dose.override" in body["detail"] and "'c1d1'" in body["detail"]
        decision = decision_on(client, tokens, course, day(7))
        assert decision["next_dose"]["day"] == 8
        assert "DOSE_WITHDRAWN" not in alert_codes(decision)

    @pytest.mark.parametrize("role", ["prescriber", "admin"])
    def test_a_prescriber_voids_a_routine_dose_and_the_record_says_so(
        self, client: Any, tokens: dict[str, str], role: str
    ) -> None:
        course = create(client, tokens["prescriber"], held_course())
        void = {"date": day(7), "type": "void", "supersedes": "c1d1", "reason": "other patient"}
        assert post_event(client, tokens[role], course, void, 1).status_code == 201
        decision = decision_on(client, tokens, course, day(7))
        withdrawn = [a for a in decision["alerts"] if a["code"] == "DOSE_WITHDRAWN"]
        assert [a["severity"] for a in withdrawn] == ["critical"]
        assert "other patient" in withdrawn[0]["message"]

    def test_a_prescriber_may_void_an_override(self, client: Any, tokens: dict[str, str]) -> None:
        course = create(client, tokens["prescriber"], held_course())
        override = {"id": "c1d8", **dose(7, 1, 8, 0.91, override_reason="after review")}
        assert post_event(client, tokens["prescriber"], course, override, 1).status_code == 201
        withdraw = {
            "date": day(7),
            "type": "void",
            "supersedes": "c1d8",
            "reason": "recorded on the wrong course",
        }
        assert post_event(client, tokens["nurse"], course, withdraw, 2).status_code == 403
        assert post_event(client, tokens["prescriber"], course, withdraw, 2).status_code == 201
        assert "DOSE_WITHDRAWN" in alert_codes(decision_on(client, tokens, course, day(7)))

    def test_a_void_needs_a_reason(self, client: Any, tokens: dict[str, str]) -> None:
        course = create(client, tokens["prescriber"], document())
        void = {"date": day(7), "type": "void", "supersedes": "c1d1"}
        response = post_event(client, tokens["prescriber"], course, void, 1)
        body = refused_and_unchanged(client, tokens, course, response, 422, "")
        assert body["field"].endswith("reason")

    def test_a_viewer_may_not_void(self, client: Any, tokens: dict[str, str]) -> None:
        course = create(client, tokens["prescriber"], document())
        void = {"date": day(7), "type": "void", "supersedes": "c1d1", "reason": "x"}
        refused_and_unchanged(
            client,
            tokens,
            course,
            post_event(client, tokens["viewer"], course, void, 1),
            403,
            "",
        )


def decision_on(client: Any, tokens: dict[str, str], course: int, on: str) -> dict[str, Any]:
    response = client.get(f"{COURSES}/{course}/decision?on={on}", headers=headers(tokens["viewer"]))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def alert_codes(decision: dict[str, Any]) -> list[str]:
    return [a["code"] for a in decision["alerts"]]


GIVEN_C1D8: dict[str, Any] = {
    "id": "c1d8",
    **dose(
        7,
        1,
        8,
        0.91,
        premedication=["corticosteroid", "antipyretic"],
        premedication_reason="no antihistamine on the ward",
        observation_min=45,
        observation_reason="patient left",
    ),
}


class TestCorrectingADoseGiven:
    """Review H2/H3: a correction of a recorded dose that changes its date, day, dose or infusion
    care is a prescriber's call (dose.override) and leaves DOSE_CORRECTED on the record; a nurse
    may reword a premedication or observation reason only."""

    @pytest.mark.parametrize(
        ("change", "fact"),
        [
            ({"date": day(8)}, "date"),
            ({"dose_mg": 0.5}, "dose_mg"),
            ({"time": "10:00"}, "time"),
            ({"premedication": None, "premedication_reason": None}, "premedication"),
            ({"observation_min": 60, "observation_reason": None}, "observation_min"),
        ],
    )
    @pytest.mark.parametrize("role", ["nurse", "pharmacist"])
    def test_a_nurse_may_not_change_a_dose_given(
        self, client: Any, tokens: dict[str, str], change: dict[str, Any], fact: str, role: str
    ) -> None:
        course = create(client, tokens["prescriber"], document(labs(6), GIVEN_C1D8))
        fix = {**GIVEN_C1D8, "id": "fix", "supersedes": "c1d8", "reason": "typo", **change}
        fix = {k: v for k, v in fix.items() if v is not None}
        response = post_event(client, tokens[role], course, fix, 1)
        body = refused_and_unchanged(client, tokens, course, response, 403, "")
        assert "dose.override" in body["detail"] and fact in body["detail"]
        codes = alert_codes(decision_on(client, tokens, course, day(8)))
        assert {"PREMEDICATION_NOT_GIVEN", "OBSERVATION_SHORT"} <= set(codes)

    @pytest.mark.parametrize("role", ["nurse", "prescriber"])
    def test_a_nurse_or_a_prescriber_may_reword_a_reason(
        self, client: Any, tokens: dict[str, str], role: str
    ) -> None:
        """Second review: the prescriber was refused (403) where the nurse was allowed."""
        course = create(client, tokens["prescriber"], document(labs(6), GIVEN_C1D8))
        fix = {
            **GIVEN_C1D8,
            "id": "fix",
            "supersedes": "c1d8",
            "reason": "typo",
            "premedication_reason": "no antihistamine in stock on the ward",
        }
        assert post_event(client, tokens[role], course, fix, 1).status_code == 201
        codes = alert_codes(decision_on(client, tokens, course, day(8)))
        assert "DOSE_CORRECTED" not in codes and "PREMEDICATION_NOT_GIVEN" in codes

    def test_a_prescriber_corrects_the_dose_and_the_record_says_so(
        self, client: Any, tokens: dict[str, str]
    ) -> None:
        course = create(client, tokens["prescriber"], document(labs(6), GIVEN_C1D8))
        fix = {**GIVEN_C1D8, "id": "fix", "supersedes": "c1d8", "reason": "pump stopped early"}
        fix["dose_mg"] = 0.5
        assert post_event(client, tokens["prescriber"], course, fix, 1).status_code == 201
        corrected = [
            a
            for a in decision_on(client, tokens, course, day(8))["alerts"]
            if a["code"] == "DOSE_CORRECTED"
        ]
        assert [a["severity"] for a in corrected] == ["critical"]
        assert "dose_mg" in corrected[0]["message"] and "pump stopped" in corrected[0]["message"]
        assert corrected[0]["inputs"]["changed"]["dose_mg"] == [0.91, 0.5]
        assert (corrected[0]["inputs"]["cycle"], corrected[0]["inputs"]["day"]) == (1, 8)
        # second review: withdrawing the correction puts the original back in force: a
        # correction back (0.5 -> 0.91 mg), not a dose withdrawn
        back = {"date": day(8), "type": "void", "supersedes": "fix", "reason": "wrong dose fixed"}
        assert post_event(client, tokens["prescriber"], course, back, 2).status_code == 201
        alerts = decision_on(client, tokens, course, day(8))["alerts"]
        assert "DOSE_WITHDRAWN" not in [a["code"] for a in alerts]
        again = [a for a in alerts if a["code"] == "DOSE_CORRECTED"]
        restored = [a for a in again if a["inputs"].get("restored") == "c1d8"]
        assert restored and restored[0]["inputs"]["changed"]["dose_mg"] == [0.5, 0.91]
        assert "in force again" in restored[0]["message"]


# -- the course stays decidable ------------------------------------------------------------------


def test_an_entry_after_which_the_course_cannot_be_decided_is_refused(
    client: Any, tokens: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from inoplan.services import courses

    course = create(client, tokens["prescriber"], document())
    real = courses.decide_course

    def fragile(course_value: Any, on: date, **kwargs: Any) -> DecisionJson:
        if any(getattr(e, "qtcf_ms", None) == 444 for e in course_value.events):
            raise ArithmeticError("engine failure on this entry")
        return real(course_value, on, **kwargs)

    monkeypatch.setattr(courses, "decide_course", fragile)
    event = {"date": day(7), "type": "ecg", "qtcf_ms": 444}
    response = post_event(client, tokens["nurse"], course, event, 1)
    body = refused_and_unchanged(client, tokens, course, response, 422, "event")
    assert "could not be planned or decided" in body["detail"]
    monkeypatch.setattr(courses, "decide_course", real)
    reader = headers(tokens["viewer"])
    assert client.get(f"{COURSES}/{course}/decision", headers=reader).status_code == 200


# -- acknowledgements -----------------------------------------------------------------------------


class TestAcknowledgements:
    def test_a_prescriber_acknowledges_a_stop_and_it_is_audited(
        self, client: Any, tokens: dict[str, str]
    ) -> None:
        course = create(client, tokens["prescriber"], prescriber_records())
        url = f"{COURSES}/{course}/acknowledgements"
        response = client.post(
            url, json={"note": "patient informed"}, headers=headers(tokens["prescriber"])
        )
        assert response.status_code == 201, response.text
        body = response.json()
        assert body["status"] == "discontinue" and body["rules"]
        assert body["acknowledged_by"] == "prescriber" and body["note"] == "patient informed"
        trail = client.get(f"{COURSES}/{course}/audit", headers=headers(tokens["admin"])).json()
        assert trail["data"][-1]["action"] == "course.acknowledge"

    @pytest.mark.parametrize("role", ["nurse", "pharmacist", "viewer"])
    def test_only_prescribers_acknowledge(
        self, client: Any, tokens: dict[str, str], role: str
    ) -> None:
        course = create(client, tokens["prescriber"], prescriber_records())
        response = client.post(
            f"{COURSES}/{course}/acknowledgements", json={}, headers=headers(tokens[role])
        )
        assert response.status_code == 403

    def test_nothing_to_acknowledge_is_a_409(self, client: Any, tokens: dict[str, str]) -> None:
        course = create(client, tokens["prescriber"], document())
        response = client.post(
            f"{COURSES}/{course}/acknowledgements", json={}, headers=headers(tokens["prescriber"])
        )
        assert response.status_code == 409
        assert "nothing" in response.json()["detail"] or "no stop" in response.json()["detail"]


def test_fhir_import_over_rest_names_the_observation(client: Any, tokens: dict[str, str]) -> None:
    from tests.interop.helpers import observation, patient

    resources = [
        patient("p-9"),
        observation("wt-1", "29463-7", 72, "kg", day(-3), pid="p-9"),
        observation("ht-1", "8302-2", 175, "cm", day(-3), pid="p-9"),
        observation("anc-1", "751-8", 900, "10*9/L", day(-1) + "T08:00:00Z", pid="p-9"),
    ]
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }
    response = client.post(
        f"/api/v1/fhir/import?create=true&start_date={day(0)}",
        json=bundle,
        headers=headers(tokens["prescriber"]),
    )
    assert response.status_code == 422
    assert response.json()["field"] == "Observation/anc-1.valueQuantity.value"
    assert "did you mean 900 /µL" in response.json()["detail"]
    assert client.get(COURSES, headers=headers(tokens["viewer"])).json()["count"] == 0
