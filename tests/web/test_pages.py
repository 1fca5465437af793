"""Route tests for the web UI: login, sessions and CSRF, today's list, the course page, roles."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from inoplan import DISCLAIMER

from .conftest import ROLES, TODAY, course_document, csrf_of, login, password_for


def _disclaimer_shown(html: str) -> bool:
    import html as html_lib

    return DISCLAIMER in html_lib.unescape(html)


# -- login, session, CSRF --------------------------------------------------------------------


class TestLogin:
    def test_pages_redirect_to_login_without_a_session(self, client: Any, course_id: int) -> None:
        for path in (
            "/",
            f"/courses/{course_id}",
            f"/courses/{course_id}/worksheet.pdf",
            f"/courses/{course_id}/handout.pdf",
            f"/courses/{course_id}/calendar.ics",
        ):
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 303, path
            assert response.headers["location"].startswith("/login?next=")

    def test_login_page_has_labelled_fields_csrf_and_disclaimer(self, client: Any) -> None:
        page = client.get("/login")
        assert page.status_code == 200
        assert '<label for="username">' in page.text and '<label for="password">' in page.text
        assert 'name="username"' in page.text and 'name="password"' in page.text
        assert csrf_of(page.text)
        assert _disclaimer_shown(page.text)

    def test_session_cookie_is_httponly_and_samesite(self, client: Any) -> None:
        page = client.get("/login")
        cookie = page.headers["set-cookie"]
        assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
        response = client.post(
            "/login",
            data={
                "username": "nurse",
                "password": password_for("nurse"),
                "csrf_token": csrf_of(page.text),
            },
            follow_redirects=False,
        )
        assert response.status_code == 303
        cookie = response.headers["set-cookie"]
        assert "HttpOnly" in cookie and "samesite=lax" in cookie.lower()

    def test_cookie_is_secure_over_https(self, app: Any) -> None:
        from fastapi.testclient import TestClient

        with TestClient(app, base_url="https://testserver") as client:
            assert "Secure" in client.get("/login").headers["set-cookie"]

    def test_wrong_password_is_refused_with_a_message(self, client: Any) -> None:
        page = client.get("/login")
        response = client.post(
            "/login",
            data={
                "username": "nurse",
                "password": "not-the-password",
                "csrf_token": csrf_of(page.text),
            },
            follow_redirects=False,
        )
        assert response.status_code == 401
        assert "Wrong user name or password" in response.text
        assert client.get("/", follow_redirects=False).status_code == 303

    def test_login_without_csrf_token_is_refused(self, client: Any) -> None:
        client.get("/login")
        response = client.post(
            "/login",
            data={"username": "nurse", "password": password_for("nurse"), "csrf_token": "forged"},
            follow_redirects=False,
        )
        assert response.status_code == 403
        assert client.get("/", follow_redirects=False).status_code == 303

    def test_next_goes_back_to_the_page_asked_for_but_never_off_site(
        self, client: Any, course_id: int
    ) -> None:
        for target, expected in (
            (f"/courses/{course_id}", f"/courses/{course_id}"),
            ("//evil.example/x", "/"),
            ("https://evil.example/", "/"),
        ):
            client.cookies.clear()
            page = client.get("/login")
            response = client.post(
                "/login",
                data={
                    "username": "viewer",
                    "password": password_for("viewer"),
                    "csrf_token": csrf_of(page.text),
                    "next": target,
                },
                follow_redirects=False,
            )
            assert response.headers["location"] == expected

    def test_logout_ends_the_session(self, client: Any) -> None:
        login(client, "nurse")
        page = client.get("/")
        response = client.post(
            "/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
        )
        assert response.status_code == 303
        assert client.get("/", follow_redirects=False).status_code == 303

    def test_tampered_cookie_is_no_session(self, client: Any) -> None:
        login(client, "nurse")
        value = client.cookies.get("inoplan_session")
        client.cookies.set("inoplan_session", value[:-3] + "AAA")
        assert client.get("/", follow_redirects=False).status_code == 303

    def test_security_headers(self, client: Any) -> None:
        page = client.get("/login")
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["cache-control"] == "no-store"


# -- today -----------------------------------------------------------------------------------


class TestToday:
    def test_lists_a_course_with_a_dose_due_with_its_reason_and_link(
        self, client: Any, course_id: int
    ) -> None:
        login(client, "pharmacist")
        page = client.get("/")
        assert page.status_code == 200
        assert f'href="/courses/{course_id}"' in page.text
        assert "WEB-001" in page.text
        assert "Give today" in page.text
        assert "US PI 2.1" in page.text  # the one-line reason carries its citation
        assert f'href="/courses/{course_id}/worksheet.pdf?download=1"' in page.text
        assert _disclaimer_shown(page.text)

    def test_filters_by_status_and_patient(
        self, client: Any, course_id: int, new_course: Callable[[dict[str, Any]], int]
    ) -> None:
        other = course_document()
        other["patient"]["id"] = "WEB-002"
        other["plan"]["start_date"] = "2027-03-01"  # nothing due on TODAY
        other["events"] = [e for e in other["events"] if e["date"] < "2026-12-01"]
        other_id = new_course(other)
        login(client, "viewer")
        default = client.get("/").text
        assert "WEB-001" in default and "WEB-002" not in default  # "needs action" by default
        everything = client.get("/?show=all").text
        assert "WEB-001" in everything and f'href="/courses/{other_id}"' in everything
        waiting = client.get("/?show=wait").text
        assert "WEB-002" in waiting and "WEB-001" not in waiting
        # the patient filter is posted: the clinic's identifier never appears in a URL
        assert 'method="post" action="/"' in everything
        by_patient = client.post(
            "/", data={"show": "all", "patient": "002", "csrf_token": csrf_of(everything)}
        ).text
        assert "WEB-002" in by_patient and "WEB-001" not in by_patient
        ignored = client.get("/?show=all&patient=002").text  # not read from the URL
        assert "WEB-001" in ignored and "WEB-002" in ignored
        forged = client.post("/", data={"show": "all", "patient": "002", "csrf_token": "x"})
        assert forged.status_code == 403

    def test_other_day_via_query(self, client: Any, course_id: int) -> None:
        login(client, "viewer")
        page = client.get("/?on=2026-12-04&show=all")
        assert page.status_code == 200
        assert "Fri 04 Dec 2026" in page.text
        assert "No dose today" in page.text
        assert client.get("/?on=04.12.2026").status_code == 422

    def test_the_list_reads_stored_decisions_and_the_course_page_records_one_as_shown(
        self, client: Any, app: Any, course_id: int
    ) -> None:
        from inoplan.services.decisions import day_decisions
        from inoplan.services.records import course_decisions

        login(client, "viewer")
        assert "Give today" in client.get("/").text
        assert course_decisions(app.state.database, course_id) == []  # the list writes none
        [stored] = day_decisions(app.state.database, TODAY).rows
        assert (stored.course_id, stored.status, stored.recomputed) == (course_id, "give", False)
        client.get(f"/courses/{course_id}")
        shown = course_decisions(app.state.database, course_id)
        assert [(d.shown_to, d.as_of, d.status) for d in shown] == [("viewer", TODAY, "give")]


# -- course page -----------------------------------------------------------------------------


class TestCoursePage:
    def test_decision_with_dose_reasons_citations_alerts_and_key_dates(
        self, client: Any, course_id: int
    ) -> None:
        login(client, "pharmacist")
        page = client.get(f"/courses/{course_id}")
        assert page.status_code == 200
        html = page.text
        assert 'data-status="give"' in html
        # next dose with mg and mg/m2: 0.5 mg/m2 x 1.82 m2 = 0.91 mg
        assert "Cycle 1 day 8" in html and "0.91 mg" in html and "0.5 mg/m²" in html
        assert "1.82" in html
        assert "US PI 2.1, Table 1" in html  # reason citation
        assert "Inputs used" in html
        assert "Alerts" in html and "PREMEDICATION" in html
        assert "Contraception until" in html
        assert "qualified clinician confirms this decision" in html
        assert _disclaimer_shown(html)

    def test_timeline_shows_given_and_planned_doses_with_windows(
        self, client: Any, course_id: int
    ) -> None:
        login(client, "viewer")
        html = client.get(f"/courses/{course_id}").text
        assert "Cycle 1 · from Tue 01 Dec 2026" in html
        assert 'class="dose-status dose-status-given">given</span> on Tue 01 Dec 2026' in html
        assert "dose-status-planned" in html
        assert "Mon 07 Dec 2026 – Thu 10 Dec 2026" in html  # day 8 window (>= 6 days after day 1)

    def test_lab_plots_have_label_threshold_lines(self, client: Any, course_id: int) -> None:
        from inoplan.knowledge.loader import load_label

        label = load_label("us")
        login(client, "viewer")
        html = client.get(f"/courses/{course_id}").text
        charts = dict(re.findall(r'data-chart="(\w+)"(.*?)</svg>', html, re.S))
        assert set(charts) == {"anc", "platelets", "liver", "weight"}

        def values(svg: str) -> set[float]:
            return {float(v) for v in re.findall(r'class="threshold" data-value="([\d.]+)"', svg)}

        assert values(charts["anc"]) == {float(label.threshold("anc_recovery").number)}
        assert values(charts["platelets"]) == {float(label.threshold("platelets_recovery").number)}
        assert values(charts["liver"]) == {
            float(label.threshold("bilirubin_x_uln").number),
            float(label.threshold("ast_alt_x_uln").number),
        }
        gain = float(label.threshold("vod_weight_gain_percent").number)
        assert values(charts["weight"]) == {70.0, round(70 * (1 + gain / 100), 1)}
        assert 'role="img"' in html and "<title" in html

    def test_audit_history_for_roles_that_may_read_it(self, client: Any, course_id: int) -> None:
        login(client, "pharmacist")
        html = client.get(f"/courses/{course_id}").text
        # actions in words, not the audit trail's action ids
        assert "course started" in html and "decision shown" in html
        assert "course.create" not in html and "decision.show" not in html

    def test_audit_history_hidden_from_nurses(self, client: Any, course_id: int) -> None:
        login(client, "nurse")
        html = client.get(f"/courses/{course_id}").text
        assert "may not read the audit trail" in html
        assert "course started" not in html

    def test_unknown_course_is_404(self, client: Any) -> None:
        login(client, "viewer")
        assert client.get("/courses/999").status_code == 404

    def test_every_input_has_a_label(self, client: Any, course_id: int) -> None:
        login(client, "admin")
        html = client.get(f"/courses/{course_id}").text
        ids = re.findall(r'<(?:input|select)[^>]*?\bid="([^"]+)"', html)
        hidden = set(re.findall(r'<input[^>]*type="hidden"[^>]*id="([^"]+)"', html))
        labelled = set(re.findall(r'<label for="([^"]+)"', html))
        missing = [i for i in ids if i not in labelled and i not in hidden]
        assert ids and not missing
        unnamed = re.findall(r'<input(?![^>]*type="hidden")(?![^>]*\bid=)[^>]*>', html)
        assert not unnamed

    @pytest.mark.parametrize(
        ("role", "forms"),
        [
            # no role has the plain administration form (review H2): the workflow's give step
            # records a dose; a prescriber's override form records one given outside it
            ("nurse", {"vitals", "labs", "ecg", "pregnancy_test"}),
            (
                "prescriber",
                {
                    "vitals",
                    "labs",
                    "ecg",
                    "pregnancy_test",
                    "toxicity",
                    "response",
                    "medication",
                    "hsct",
                    "discontinuation",
                    "plan_change",
                    "reschedule",
                    "dose_change",
                },
            ),
            ("pharmacist", set()),
            ("viewer", set()),
        ],
    )
    def test_forms_offered_follow_the_permission_matrix(
        self, client: Any, course_id: int, role: str, forms: set[str]
    ) -> None:
        login(client, role)
        html = client.get(f"/courses/{course_id}").text
        assert set(re.findall(r'id="form-(\w+)"', html)) == forms
        assert ('id="override-dose"' in html) == (role in ("prescriber", "admin"))

    def test_calendar_ics(self, client: Any, course_id: int) -> None:
        login(client, "viewer")
        response = client.get(f"/courses/{course_id}/calendar.ics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/calendar")
        assert b"BEGIN:VCALENDAR" in response.content
        assert b"cycle 1 day 8" in response.content
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["x-content-type-options"] == "nosniff"

    def test_static_css_and_print_stylesheet(self, client: Any) -> None:
        css = client.get("/assets/inoplan.css")
        assert css.status_code == 200 and "@media print" in css.text
        assert client.get("/assets/../routes.py").status_code == 404
        assert client.get("/assets/missing.css").status_code == 404


@pytest.mark.parametrize("role", ROLES)
def test_every_role_can_read_every_page(client: Any, course_id: int, role: str) -> None:
    login(client, role)
    assert client.get("/").status_code == 200
    assert client.get(f"/courses/{course_id}").status_code == 200
    assert client.get(f"/courses/{course_id}/handout.pdf").status_code == 200
    assert client.get(f"/courses/{course_id}/worksheet.pdf").status_code == 200
    assert client.get(f"/courses/{course_id}/calendar.ics").status_code == 200


def test_empty_forms_suggest_the_day_and_the_dose_due(client: Any, course_id: int) -> None:
    login(client, "prescriber")
    html = client.get(f"/courses/{course_id}").text
    form = html[html.index('id="override-dose"') :]
    form = form[: form.index("</form>")]
    assert 'id="override-f-date" name="date"' in form
    assert re.search(r'id="override-f-date"[^>]*value="2026-12-08"', form)
    assert re.search(r'id="override-f-cycle"[^>]*value="1"', form)
    assert '<option value="8" selected>' in form
    assert re.search(r'id="override-f-dose-mg"[^>]*value="0.91"', form)


def test_eu_course_uses_the_eu_label(
    client: Any, new_course: Callable[[dict[str, Any]], int]
) -> None:
    document = course_document()
    document["label"] = "eu"
    document["plan"]["vial"] = "eu-1mg"
    document["patient"]["id"] = "WEB-EU"
    course = new_course(document)
    login(client, "pharmacist")
    html = client.get(f"/courses/{course}").text
    assert "EU SmPC 4.2, Table 2" in html  # the ANC/platelet lines cite the EU SmPC
    assert "eu-2022-02" in html
    worksheet = client.get(f"/courses/{course}/worksheet.pdf")
    assert worksheet.status_code == 200


def _luminance(hex_colour: str) -> float:
    rgb = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_colours_have_at_least_aa_contrast() -> None:
    """Text colours of the stylesheet against their backgrounds: WCAG 2.1 AA (4.5:1)."""
    from importlib import resources

    css = (resources.files("inoplan.web") / "static" / "inoplan.css").read_text()
    variables = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})", css))
    white, page = "#ffffff", variables["bg"]
    pairs = {
        "ink on page": (variables["ink"], page),
        "muted on page": (variables["muted"], page),
        "muted on white": (variables["muted"], white),
        "link on white": (variables["link"], white),
        "header": (white, "#12355b"),
        "error text": ("#b00020", white),
        "threshold label": ("#8a4500", white),
        **{
            f"{name} badge": (white, variables[name])
            for name in ("give", "hold", "decide", "wait", "done")
        },
        **{
            f"{sev} tag": (white, colour)
            for sev, colour in re.findall(
                r"\.sev-(critical|warning|info) \{ background: (#[0-9a-f]{6})", css
            )
        },
    }
    assert len(pairs) >= 15
    low = {
        name: round(contrast(*colours), 2)
        for name, colours in pairs.items()
        if contrast(*colours) < 4.5
    }
    assert not low, low


def test_logout_with_a_stale_form_asks_again(client: Any) -> None:
    login(client, "nurse")
    response = client.post("/logout", data={"csrf_token": "stale"}, follow_redirects=False)
    assert response.status_code == 403
    assert "Log out again" in response.text
    assert client.get("/", follow_redirects=False).status_code == 200  # still logged in


def test_exposure_plot_is_an_svg_image(client: Any, course_id: int) -> None:
    login(client, "viewer")
    response = client.get(f"/courses/{course_id}/exposure.svg")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in response.text
    assert "default-src 'none'" in response.headers["content-security-policy"]
    if "No exposure plot" not in response.text:  # a course with doses: curve and band
        assert "typical patient" in response.text
        assert "population p5-p95" in response.text


def test_ids_are_unique_and_labels_point_at_inputs(client: Any, course_id: int) -> None:
    from collections import Counter

    login(client, "admin")
    html = client.get(f"/courses/{course_id}").text
    ids = Counter(re.findall(r'\bid="([^"]+)"', html))
    assert not [i for i, n in ids.items() if n > 1]
    for target in re.findall(r'<label for="([^"]+)"', html):
        assert ids[target] == 1, target


def test_course_page_reads_only_the_newest_audit_records(app: Any, course_id: int) -> None:
    """The page's audit history stays bounded however often the course is viewed."""
    from inoplan.services.records import append_event, course_audit

    for version in range(1, 6):
        append_event(
            app.state.database,
            course_id,
            {"date": "2026-12-08", "type": "ecg", "qtcf_ms": 430 + version},
            expected_version=version,
            actor="test",
        )
    everything = course_audit(app.state.database, course_id)
    newest = course_audit(app.state.database, course_id, limit=3)
    assert [r.seq for r in newest] == [r.seq for r in everything][-3:]
