"""Every event form: success (post/redirect/get), validation error next to the field with nothing
saved, forbidden role, CSRF, stale version (409)."""

from __future__ import annotations

import html as html_lib
import re
from typing import Any

import pytest

from inoplan.web.forms import FORMS, FormError, field_for_error, parse_event

from .conftest import csrf_of, login

# One valid submission per form, and one invalid one with the field that must carry the error.
VALID: dict[str, dict[str, str]] = {
    "vitals": {"date": "2026-12-08", "weight_kg": "71.5"},
    "labs": {
        "date": "2026-12-08",
        "anc.value": "1.2",
        "anc.unit": "10*9/L",
        "platelets.value": "88000",
        "platelets.unit": "/uL",
        "bilirubin.value": "15",
        "bilirubin.unit": "umol/L",
        "bilirubin.uln": "21",
    },
    # no role has a plain administration form (review H2): the prescriber's override form,
    # for a dose given outside the treatment-day workflow
    "administration": {
        "override_form": "1",
        "date": "2026-12-08",
        "cycle": "1",
        "day": "8",
        "dose_mg": "0.91",
        "time": "10:15",
        "duration_min": "60",
        "override_reason": "given at the partner hospital",
    },
    "toxicity": {"date": "2026-12-08", "term": "nausea", "grade": "1", "related": "yes"},
    "response": {"date": "2026-12-08", "status": "PR", "mrd_negative": "no"},
    "medication": {"date": "2026-12-08", "name": "ondansetron", "action": "start"},
    "pregnancy_test": {"date": "2026-12-08", "result": "negative"},
    "ecg": {"date": "2026-12-08", "qtcf_ms": "441"},
    "hsct": {"date": "2027-02-01", "conditioning": "thiotepa, fludarabine", "planned": "yes"},
    "discontinuation": {"date": "2026-12-08", "reason": "patient's decision"},
    "plan_change": {"date": "2026-12-08", "hsct_intended": "no", "reason": "no donor found"},
    "reschedule": {
        "date": "2026-12-08",
        "cycle": "1",
        "day": "8",
        "to": "2026-12-09",
        "reason": "pharmacy closed",
    },
    "dose_change": {
        "date": "2026-12-08",
        "cycle": "1",
        "day": "8",
        "dose_mg_per_m2": "0.4",
        "reason": "grade 2 mucositis",
    },
}
INVALID: dict[str, tuple[dict[str, str], str, str]] = {
    "vitals": ({"date": "2026-12-08", "weight_kg": "abc"}, "weight_kg", "enter a number"),
    "labs": (
        {"date": "2026-12-08", "anc.value": "1.2", "anc.unit": "g/L"},
        "anc.unit",
        "choose one of the listed values",
    ),
    "administration": (
        {
            "override_form": "1",
            "date": "2026-12-08",
            "cycle": "1",
            "day": "8",
            "dose_mg": "",
            "override_reason": "given at the partner hospital",
        },
        "dose_mg",
        "required",
    ),
    "toxicity": (
        {"date": "2026-12-08", "term": "nausea", "grade": "7"},
        "grade",
        "choose one of the listed values",
    ),
    "response": (
        {"date": "2026-12-08", "status": "great"},
        "status",
        "choose one of the listed values",
    ),
    "medication": ({"date": "2026-12-08", "name": "", "action": "start"}, "name", "required"),
    "pregnancy_test": ({"date": "yesterday", "result": "negative"}, "date", "YYYY-MM-DD"),
    "ecg": ({"date": "2026-12-08", "qtcf_ms": "4,41"}, "qtcf_ms", "decimal point"),
    "hsct": ({"date": "", "conditioning": "thiotepa"}, "date", "required"),
    "discontinuation": ({"date": "2026-12-08", "reason": ""}, "reason", "required"),
    "plan_change": (
        {"date": "2026-12-08", "cycle1_days": "28", "reason": ""},
        "reason",
        "required",
    ),
    "reschedule": (
        {"date": "2026-12-08", "cycle": "1", "day": "8", "to": "9 Dec", "reason": "x"},
        "to",
        "YYYY-MM-DD",
    ),
    "dose_change": (
        {"date": "2026-12-08", "cycle": "1", "day": "8", "dose_mg_per_m2": "0,4", "reason": "x"},
        "dose_mg_per_m2",
        "decimal point",
    ),
}
ROLE_FOR = {
    "vitals": "nurse",
    "labs": "nurse",
    "administration": "prescriber",
    "ecg": "nurse",
    "pregnancy_test": "nurse",
    "toxicity": "prescriber",
    "response": "prescriber",
    "medication": "prescriber",
    "hsct": "prescriber",
    "discontinuation": "prescriber",
    "plan_change": "prescriber",
    "reschedule": "prescriber",
    "dose_change": "prescriber",
}
FORBIDDEN_FOR = {
    "vitals": "pharmacist",
    "labs": "viewer",
    "administration": "nurse",
    "ecg": "pharmacist",
    "pregnancy_test": "viewer",
    "toxicity": "nurse",
    "response": "nurse",
    "medication": "pharmacist",
    "hsct": "nurse",
    "discontinuation": "viewer",
    "plan_change": "nurse",
    "reschedule": "pharmacist",
    "dose_change": "nurse",
}


def _events(app: Any, course_id: int) -> list[dict[str, Any]]:
    from inoplan.services.records import course_document

    return list(course_document(app.state.database, course_id)["events"])


def _version(app: Any, course_id: int) -> int:
    from inoplan.services.records import course_document

    return int(course_document(app.state.database, course_id)["version"])


def _post(client: Any, course_id: int, kind: str, data: dict[str, str], **extra: Any) -> Any:
    page = client.get(f"/courses/{course_id}")
    version = re.search(r'name="version" value="(\d+)"', page.text)
    body = {
        "csrf_token": csrf_of(page.text),
        "version": version.group(1) if version else "1",
        **data,
    }
    return client.post(
        f"/courses/{course_id}/events/{kind}", data=body, follow_redirects=False, **extra
    )


def test_every_form_has_cases() -> None:
    assert set(VALID) == set(FORMS) == set(INVALID) == set(ROLE_FOR) == set(FORBIDDEN_FOR)


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_valid_form_is_saved_and_redirects(
    client: Any, app: Any, course_id: int, kind: str
) -> None:
    login(client, ROLE_FOR[kind])
    before = _events(app, course_id)
    response = _post(client, course_id, kind, VALID[kind])
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/courses/{course_id}?recorded={kind}#saved"
    after = _events(app, course_id)
    assert len(after) == len(before) + 1
    assert after[-1]["type"] == kind
    page = client.get(response.headers["location"])
    assert "Saved:" in page.text


def test_lab_form_keeps_units_as_entered(client: Any, app: Any, course_id: int) -> None:
    login(client, "nurse")
    _post(client, course_id, "labs", VALID["labs"])
    event = _events(app, course_id)[-1]
    assert event["platelets"] == {"value": 88000, "unit": "/uL"}
    assert event["bilirubin"] == {"value": 15, "unit": "umol/L", "uln": 21}
    assert event["anc"] == {"value": 1.2, "unit": "10*9/L"}


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_invalid_form_shows_the_error_next_to_the_field_and_saves_nothing(
    client: Any, app: Any, course_id: int, kind: str
) -> None:
    data, field, message = INVALID[kind]
    login(client, ROLE_FOR[kind])
    before = _events(app, course_id)
    response = _post(client, course_id, kind, data)
    assert response.status_code == 422
    html = html_lib.unescape(response.text)
    spec = next(f for f in FORMS[kind].fields if f.name == field)
    form_id = "override" if kind == "administration" else kind  # the override form's ids
    error_id = f"{form_id}-{spec.html_id}-error"
    match = re.search(rf'<span class="field-error" id="{re.escape(error_id)}"[^>]*>([^<]*)<', html)
    assert match, f"no error next to {field}"
    assert message in match.group(1)
    assert f'aria-describedby="{error_id}' in html
    opened = 'id="override-dose" open' if kind == "administration" else f'id="form-{kind}" open'
    assert opened in html  # the form stays open with what was typed
    assert _events(app, course_id) == before


def test_service_validation_error_lands_next_to_the_field(
    client: Any, app: Any, course_id: int
) -> None:
    """A cycle beyond the label's maximum passes the form but not the document check."""
    login(client, "prescriber")
    before = _events(app, course_id)
    response = _post(
        client,
        course_id,
        "administration",
        {**VALID["administration"], "cycle": "9"},
    )
    assert response.status_code == 422
    assert 'id="override-f-cycle-error"' in response.text
    assert 'value="9"' in response.text
    assert _events(app, course_id) == before


def test_missing_uln_for_liver_tests_is_an_error(client: Any, app: Any, course_id: int) -> None:
    login(client, "nurse")
    response = _post(
        client, course_id, "labs", {"date": "2026-12-08", "alt.value": "200", "alt.unit": "U/L"}
    )
    assert response.status_code == 422
    assert 'id="labs-f-alt-uln-error"' in response.text


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_forbidden_role_gets_403_and_nothing_is_saved(
    client: Any, app: Any, course_id: int, kind: str
) -> None:
    login(client, FORBIDDEN_FOR[kind])
    before = _events(app, course_id)
    response = _post(client, course_id, kind, VALID[kind])
    assert response.status_code == 403
    assert "Nothing was saved" in response.text
    assert _events(app, course_id) == before


def test_post_without_csrf_token_is_refused(client: Any, app: Any, course_id: int) -> None:
    login(client, "nurse")
    before = _events(app, course_id)
    response = client.post(
        f"/courses/{course_id}/events/ecg",
        data={"version": "1", **VALID["ecg"]},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert _events(app, course_id) == before


def test_cross_origin_post_is_refused(client: Any, app: Any, course_id: int) -> None:
    login(client, "nurse")
    before = _events(app, course_id)
    response = _post(
        client, course_id, "ecg", VALID["ecg"], headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert _events(app, course_id) == before


def test_post_without_session_goes_to_login(client: Any, course_id: int) -> None:
    response = client.post(
        f"/courses/{course_id}/events/ecg", data=VALID["ecg"], follow_redirects=False
    )
    assert response.status_code == 303 and response.headers["location"] == "/login"


def test_stale_version_gets_409_keeps_entries_and_saves_nothing(
    client: Any, app: Any, course_id: int
) -> None:
    from inoplan.services.records import append_event

    login(client, "nurse")
    page = client.get(f"/courses/{course_id}")
    token = csrf_of(page.text)
    version = _version(app, course_id)
    # someone else writes first
    append_event(
        app.state.database,
        course_id,
        {"date": "2026-12-08", "type": "ecg", "qtcf_ms": 440},
        expected_version=version,
        actor="someone-else",
    )
    before = _events(app, course_id)
    response = client.post(
        f"/courses/{course_id}/events/vitals",
        data={
            "csrf_token": token,
            "version": str(version),
            "date": "2026-12-08",
            "weight_kg": "72",
        },
        follow_redirects=False,
    )
    assert response.status_code == 409
    assert "Nothing was saved" in response.text
    assert 'value="72"' in response.text
    assert _events(app, course_id) == before


def test_if_match_header_wins_over_the_form(client: Any, app: Any, course_id: int) -> None:
    login(client, "nurse")
    version = _version(app, course_id)
    response = _post(
        client, course_id, "ecg", VALID["ecg"], headers={"If-Match": f'"{version + 5}"'}
    )
    assert response.status_code == 409
    response = _post(client, course_id, "ecg", VALID["ecg"], headers={"If-Match": str(version)})
    assert response.status_code == 303


def test_recording_a_lab_changes_the_decision(client: Any, course_id: int) -> None:
    """Bilirubin above the label's threshold on the dose day: today's dose is held."""
    login(client, "nurse")
    assert 'data-status="give"' in client.get(f"/courses/{course_id}").text
    response = _post(
        client,
        course_id,
        "labs",
        {
            "date": "2026-12-08",
            "anc.value": "1.5",
            "anc.unit": "10*9/L",
            "platelets.value": "90",
            "platelets.unit": "10*9/L",
            "bilirubin.value": "2.4",
            "bilirubin.unit": "mg/dL",
            "bilirubin.uln": "1.2",
            "ast.value": "35",
            "ast.unit": "U/L",
            "ast.uln": "40",
            "alt.value": "30",
            "alt.unit": "U/L",
            "alt.uln": "41",
        },
    )
    assert response.status_code == 303
    page = client.get(response.headers["location"]).text
    assert 'data-status="hold"' in page
    assert "Table 3" in page


# -- pure form parsing -------------------------------------------------------------------------


def test_parse_event_omits_empty_optional_fields() -> None:
    assert parse_event(
        "vitals",
        {
            "date": "2026-12-01",
            "height_cm": "",
            "weight_kg": "70",
            "hepatomegaly": "",
            "ascites": "no",
        },
    ) == {"type": "vitals", "date": "2026-12-01", "weight_kg": 70, "ascites": False}


def test_parse_event_needs_one_lab_result() -> None:
    with pytest.raises(FormError) as caught:
        parse_event("labs", {"date": "2026-12-01", "anc.unit": "10*9/L"})
    assert caught.value.errors == {"": "enter at least one result"}


def test_parse_event_transfused_platelets() -> None:
    event = parse_event(
        "labs",
        {
            "date": "2026-12-01",
            "platelets.value": "40",
            "platelets.unit": "10*9/L",
            "platelets.transfused": "yes",
        },
    )
    assert event["platelets"] == {"value": 40, "unit": "10*9/L", "transfused": True}


def test_service_fields_map_to_form_fields() -> None:
    assert field_for_error("labs", "event.anc.unit") == "anc.unit"
    assert field_for_error("labs", "event.bilirubin") == "bilirubin.value"
    assert field_for_error("vitals", "event.height_cm") == "height_cm"
    assert field_for_error("administration", "event.supersedes") == "supersedes"
    assert field_for_error("labs", "event.reason") == "correction_reason"
    assert field_for_error("discontinuation", "event.reason") == "reason"
    assert field_for_error("ecg", "event") == ""


# -- corrections -----------------------------------------------------------------------------


def test_web_entries_get_ids_and_can_be_corrected(client: Any, app: Any, course_id: int) -> None:
    login(client, "nurse")
    _post(client, course_id, "ecg", {"date": "2026-12-08", "qtcf_ms": "514"})
    wrong = _events(app, course_id)[-1]
    assert wrong["id"].startswith("ecg-")
    page = client.get(f"/courses/{course_id}").text
    assert f'<option value="{wrong["id"]}">' in page  # offered in the ECG form's correction list
    response = _post(
        client,
        course_id,
        "ecg",
        {
            "date": "2026-12-08",
            "qtcf_ms": "451",
            "supersedes": wrong["id"],
            "correction_reason": "transcription error",
        },
    )
    assert response.status_code == 303
    fixed = _events(app, course_id)[-1]
    assert fixed["supersedes"] == wrong["id"] and fixed["reason"] == "transcription error"
    page = client.get(f"/courses/{course_id}").text
    assert 'class="superseded"' in page and "Corrected, no longer counts" in page
    assert f'<option value="{wrong["id"]}">' not in page  # already corrected


def test_withdrawing_a_correction_puts_the_entry_back(
    client: Any, app: Any, course_id: int
) -> None:
    """The page resolves corrections with the document's rule: a voided correction is struck
    through, the entry it corrected counts again (and may be corrected again)."""
    login(client, "prescriber")
    _post(client, course_id, "ecg", {"date": "2026-12-08", "qtcf_ms": "514"})
    original = _events(app, course_id)[-1]["id"]
    fix = {"date": "2026-12-08", "qtcf_ms": "451", "supersedes": original}
    _post(client, course_id, "ecg", {**fix, "correction_reason": "transcription error"})
    correction = _events(app, course_id)[-1]["id"]
    page = client.get(f"/courses/{course_id}").text
    response = client.post(
        f"/courses/{course_id}/void",
        data={
            "csrf_token": csrf_of(page),
            "version": str(_version(app, course_id)),
            "supersedes": correction,
            "reason": "wrong",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    page = html_lib.unescape(client.get(f"/courses/{course_id}").text)
    assert page.count('class="superseded"') == 1  # the withdrawn correction only
    assert "Withdrawn (entered in error), no longer counts" in page
    assert "Corrected, no longer counts" not in page
    assert f'<option value="{original}">' in page  # in force: it may be corrected again


def test_correction_needs_a_reason(client: Any, app: Any, course_id: int) -> None:
    login(client, "nurse")
    _post(client, course_id, "ecg", {"date": "2026-12-08", "qtcf_ms": "514"})
    target = _events(app, course_id)[-1]["id"]
    before = _events(app, course_id)
    response = _post(
        client, course_id, "ecg", {"date": "2026-12-08", "qtcf_ms": "451", "supersedes": target}
    )
    assert response.status_code == 422
    assert 'id="ecg-f-correction-reason-error"' in response.text
    assert _events(app, course_id) == before


def test_correction_of_an_unknown_entry_is_refused(client: Any, app: Any, course_id: int) -> None:
    login(client, "nurse")
    before = _events(app, course_id)
    response = _post(
        client,
        course_id,
        "ecg",
        {
            "date": "2026-12-08",
            "qtcf_ms": "451",
            "supersedes": "ecg-nope",
            "correction_reason": "typo",
        },
    )
    assert response.status_code == 422
    assert 'id="ecg-f-supersedes-error"' in response.text
    assert _events(app, course_id) == before
