"""Laboratory results in one step (issue 14 item 4): the site's units and ULNs prefilled from the
site policy, units in the words clinicians use (the UCUM-like code stored), plausibility with
"did you mean" through the records service."""

from __future__ import annotations

import html as html_lib
import re
from decimal import Decimal
from typing import Any

from inoplan.domain.policy import DEFAULT_LAB_REFERENCES, LabReference, SitePolicy
from inoplan.web.forms import FORMS, lab_defaults

from .conftest import csrf_of, login


def _events(app: Any, course_id: int) -> list[dict[str, Any]]:
    from inoplan.services.records import course_document

    return list(course_document(app.state.database, course_id)["events"])


def _form_fields(page: str) -> dict[str, str]:
    """What the browser would submit from the laboratory form as it is shown."""
    form = page[page.index('id="form-labs"') :]
    form = form[: form.index("</form>")]
    values: dict[str, str] = {}
    for name, value in re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', form):
        values[name] = html_lib.unescape(value)
    for name, body in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', form, re.S):
        chosen = re.search(r'<option value="([^"]*)" selected>', body) or re.search(
            r'<option value="([^"]*)"', body
        )
        assert chosen is not None
        values[name] = html_lib.unescape(chosen.group(1))
    values.pop("platelets.transfused", None)  # an unticked checkbox is not submitted
    return values


def _site(app: Any) -> None:
    references = tuple(
        LabReference("bilirubin", "umol/L", Decimal(21)) if r.analyte == "bilirubin" else r
        for r in DEFAULT_LAB_REFERENCES
    )
    app.state.site_policy = SitePolicy(lab_references=references)


def test_the_form_is_prefilled_with_the_sites_units_and_ulns(
    client: Any, app: Any, course_id: int
) -> None:
    _site(app)
    login(client, "nurse")
    values = _form_fields(client.get(f"/courses/{course_id}").text)
    assert values["bilirubin.unit"] == "umol/L"
    assert values["bilirubin.uln"] == "21"
    assert values["ast.uln"] == "40" and values["alt.uln"] == "41"
    assert values["anc.unit"] == "10*9/L"
    assert values["anc.value"] == ""


def test_units_are_offered_in_words_each_once() -> None:
    for spec in FORMS["labs"].fields:
        if spec.name.endswith(".unit"):
            words = [text for _, text in spec.options]
            assert len(words) == len(set(words)), spec.name
    anc = next(f for f in FORMS["labs"].fields if f.name == "anc.unit")
    assert ("10*9/L", "× 10⁹/L") in anc.options
    bilirubin = next(f for f in FORMS["labs"].fields if f.name == "bilirubin.unit")
    assert ("umol/L", "µmol/L") in bilirubin.options


def test_one_draw_needs_only_the_values(client: Any, app: Any, course_id: int) -> None:
    _site(app)
    login(client, "nurse")
    page = client.get(f"/courses/{course_id}").text
    body = _form_fields(page)
    body.update(
        {
            "date": "2026-12-08",
            "anc.value": "1.3",
            "platelets.value": "95",
            "bilirubin.value": "15",
            "ast.value": "30",
            "alt.value": "29",
        }
    )
    body["csrf_token"] = csrf_of(page)
    response = client.post(f"/courses/{course_id}/events/labs", data=body, follow_redirects=False)
    assert response.status_code == 303, response.text
    event = _events(app, course_id)[-1]
    assert event["bilirubin"] == {"value": 15, "unit": "umol/L", "uln": 21}
    assert event["ast"] == {"value": 30, "unit": "U/L", "uln": 40}
    assert event["anc"] == {"value": 1.3, "unit": "10*9/L"}
    assert "wbc" not in event and "potassium" not in event  # nothing typed: no result
    shown = client.get(response.headers["location"]).text
    assert "total bilirubin 15 µmol/L (upper limit of normal 21)" in html_lib.unescape(shown)


def test_a_prefilled_uln_without_a_value_is_not_an_entry(
    client: Any, app: Any, course_id: int
) -> None:
    login(client, "nurse")
    page = client.get(f"/courses/{course_id}").text
    body = {**_form_fields(page), "date": "2026-12-08", "anc.value": "1.3"}
    body["csrf_token"] = csrf_of(page)
    response = client.post(f"/courses/{course_id}/events/labs", data=body, follow_redirects=False)
    assert response.status_code == 303, response.text
    assert set(_events(app, course_id)[-1]) == {"type", "date", "id", "anc"}


def test_a_changed_uln_without_a_value_asks_for_the_value(
    client: Any, app: Any, course_id: int
) -> None:
    login(client, "nurse")
    page = client.get(f"/courses/{course_id}").text
    before = _events(app, course_id)
    body = {**_form_fields(page), "date": "2026-12-08", "anc.value": "1.3", "ast.uln": "35"}
    body["csrf_token"] = csrf_of(page)
    response = client.post(f"/courses/{course_id}/events/labs", data=body, follow_redirects=False)
    assert response.status_code == 422
    assert 'id="labs-f-ast-value-error"' in response.text
    assert _events(app, course_id) == before


def test_an_implausible_value_gets_did_you_mean_and_keeps_the_draw(
    client: Any, app: Any, course_id: int
) -> None:
    login(client, "nurse")
    page = client.get(f"/courses/{course_id}").text
    before = _events(app, course_id)
    body = {
        **_form_fields(page),
        "date": "2026-12-08",
        "anc.value": "1300",
        "platelets.value": "95",
    }
    body["csrf_token"] = csrf_of(page)
    response = client.post(f"/courses/{course_id}/events/labs", data=body, follow_redirects=False)
    assert response.status_code == 422
    html = html_lib.unescape(response.text)
    error = re.search(r'id="labs-f-anc-value-error">([^<]*)<', html)
    assert error is not None and "did you mean" in error.group(1)
    assert "10*9/L" not in error.group(1)  # the unit in words
    assert 'value="1300"' in html and 'value="95"' in html
    assert 'class="error-summary"' in html
    assert _events(app, course_id) == before


def test_lab_defaults_follow_the_policy() -> None:
    assert lab_defaults(None)["bilirubin.uln"] == "1.2"
    custom = SitePolicy(lab_references=(LabReference("ast", "IU/L", Decimal("37.0")),))
    assert lab_defaults(custom) == {"ast.unit": "IU/L", "ast.uln": "37"}
