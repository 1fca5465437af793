"""Plain words on the pages (issue 14, item 5): one translation table, complete, and no internal
id, field path or UCUM unit in anything a clinician reads, after any failed save.

The table (``inoplan.web.messages``) is checked for completeness against its sources (every
field of the course document models, every alert code and dosing schedule of every label file,
every permission, every accepted unit, every audit action). Then every class of error the
services can give the web forms is provoked through the forms themselves, and the page that
comes back is read as a person sees it (text, not markup) for anything internal.
"""

from __future__ import annotations

import html as html_lib
import re
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from inoplan.web import messages as m

from .conftest import course_document, csrf_of, login
from .status_courses import STATUSES

# -- what a clinician must never read ---------------------------------------------------------

LEAKS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a field path", re.compile(r"\bevents\[\d+\]|\b(?:event|patient|plan)\.[a-z_]+")),
    ("a UCUM unit", re.compile(r"10\*9|10\^9|10\*3|\bumol/L|(?<![µ\w])/uL\b|\bmm3\b")),
    ("a document field name", re.compile(r"\b(?:supersedes|override_reason|uln|lln)\b")),
    ("a dosing schedule id", re.compile(r"\b(?:later-after-cr|later-no-cr|cycle-1)\b")),
    ("a rule id", re.compile(r"\b[a-z]+\.[a-z]+-[a-z-]+\b")),
    ("a permission id", re.compile(r"'(?:event|dose|course|audit|user)\.[a-z_]+'")),
    ("an entry id", re.compile(r"\b(?:[a-z]+-[0-9a-f]{8}|stop-1|tox-1|ecg-1)\b")),
    ("a snake_case name", re.compile(r"\b[a-z][a-z0-9]*_[a-z0-9_]+\b")),
    ("an exception name", re.compile(r"\b[A-Z][a-z]+(?:Error|Exception)\b")),
    ("pydantic's words", re.compile(r"Input should|Value error|Field required|String should")),
)


class _Text(HTMLParser):
    """The text a person reads: text nodes (and the title), no markup, no attribute values;
    the toxicity term suggestions (a <datalist>) are the vocabulary's own codes, skipped."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "datalist", "code"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "datalist", "code"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return html_lib.unescape(" ".join(parser.parts))


def leaks(text: str) -> list[str]:
    found = []
    for what, pattern in LEAKS:
        for match in pattern.finditer(text):
            start = max(0, match.start() - 50)
            found.append(f"{what}: {match.group(0)!r} in …{text[start : match.end() + 30]}…")
    return found


def test_the_leak_detector_catches_what_the_issue_quoted() -> None:
    for text in (
        "events[8].anc.unit",
        "unknown unit; accepted: 10*9/L",
        "correct one with 'supersedes'",
        "regimen later-after-cr",
        "rule hepatic.bilirubin-and-transaminases",
        "role 'nurse' may not perform 'event.toxicity'",
        "withdraw labs-3f2a9c1d",
        "needs height_cm",
        "(KeyError)",
        "Input should be 'CR' or 'PR'",
    ):
        assert leaks(text), text


# -- the table is complete ---------------------------------------------------------------------


def _model_fields(model: Any, seen: set[Any]) -> set[str]:
    """Every field name of a pydantic model and the models it contains."""
    import typing

    if model in seen:
        return set()
    seen.add(model)
    names: set[str] = set()
    for name, info in model.model_fields.items():
        names.add(name)
        stack = [info.annotation]
        while stack:
            kind = stack.pop()
            if isinstance(kind, type) and hasattr(kind, "model_fields"):
                names |= _model_fields(kind, seen)
            stack.extend(typing.get_args(kind))
    return names


def test_every_field_of_the_course_document_has_words() -> None:
    from inoplan.document.models import CourseDocument

    names = _model_fields(CourseDocument, set())
    assert {"birth_date", "uln", "supersedes", "override_reason", "qtcf_ms"} <= names
    words = m.FIELD_WORDS
    missing = sorted(n for n in names if n not in words and f"patient.{n}" not in words)
    assert not missing, missing
    for name in names:
        assert "_" not in m.field_label(f"event.{name}"), name


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("event.bilirubin.uln", "total bilirubin upper limit of normal"),
        ("event.anc.value", "ANC (neutrophils)"),
        ("event.anc.unit", "ANC (neutrophils) unit"),
        ("event.override_reason", "reason for the override"),
        ("event.supersedes", "entry it corrects"),
        ("patient.birth_date", "birth date"),
        ("patient.name", "patient's name"),
        ("patient.id", "record number (MRN)"),
        ("plan.start_date", "start date (cycle 1 day 1)"),
        ("patient.history.prior_vod", "history earlier VOD"),
        ("patient.allergies[1]", "allergies (item 2)"),
        ("events[1].weight_kg", "weight (laboratory results of Tue 01 Dec 2026)"),
        ("events[7].date", "date (an earlier entry)"),
        ("event", ""),
    ],
)
def test_field_paths_in_words(path: str, words: str) -> None:
    events = [
        {"type": "vitals", "date": "2026-11-30"},
        {"type": "labs", "date": "2026-12-01"},
    ]
    assert m.field_label(path, events) == words


def test_every_alert_code_and_schedule_of_every_label_file_has_words() -> None:
    from inoplan.knowledge.loader import available_versions, read_raw

    for revision in available_versions():
        raw = read_raw(revision)
        missing = sorted(code for code in raw["alert"] if code not in m.ALERT_TITLES)
        assert not missing, (revision, missing)
        for schedule in raw["regimen"]["schedule"]:
            text = m.schedule_text(schedule["id"])
            assert text == schedule["applies_to"] and not leaks(text), schedule["id"]


def test_every_permission_and_audit_action_has_words() -> None:
    from inoplan.services.auth import PERMISSIONS

    assert not [a for a in PERMISSIONS if a not in m.ACTION_WORDS]
    source = Path(__file__).resolve().parents[2] / "src" / "inoplan"
    actions = set()
    for path in source.rglob("*.py"):
        actions |= set(re.findall(r'action="([a-z_]+\.[a-z_]+)"', path.read_text("utf-8")))
    assert {"course.create", "decision.show"} <= actions
    missing = sorted(a for a in actions if a not in m.AUDIT_WORDS and not a.startswith("result."))
    assert not missing, missing


def test_every_accepted_unit_reads_as_clinicians_write_it() -> None:
    from inoplan.domain.units import ANALYTE_KINDS, accepted_units

    for analyte in ANALYTE_KINDS:
        for unit in accepted_units(analyte):
            shown = m.unit_text(unit)
            assert not leaks(f"value 1 {shown}"), (analyte, unit, shown)
            assert m.plain(f"1 {unit}") == f"1 {shown}"


def test_plain_is_idempotent_and_keeps_ordinary_words() -> None:
    message = (
        "cycle 1 day 8 is recorded as given twice (also events[4]); correct one with 'supersedes'"
    )
    once = m.plain(
        message,
        [{"type": "vitals", "date": "2026-11-28"}] * 4
        + [{"type": "administration", "date": "2026-12-01", "cycle": 1, "day": 1}],
    )
    assert once == (
        "cycle 1 day 8 is recorded as given twice (also dose given of Tue 01 Dec 2026 (cycle 1 "
        "day 1)); correct one of them (“Correct an earlier entry”)"
    )
    assert m.plain(once) == once
    assert m.plain("Hold the dose: bilirubin above 1.5 × ULN (US PI Table 3).") == (
        "Hold the dose: bilirubin above 1.5 × ULN (US PI Table 3)."
    )


# Every message the door and the guards produce, straight from the functions that raise them.


def _raised(call: Any) -> str:
    from inoplan.errors import InvalidInput

    try:
        call()
    except InvalidInput as exc:
        return f"{exc.field}: {exc.message}"
    raise AssertionError("no error raised")


def test_plausibility_messages_read_plainly_for_every_analyte_unit_and_measure() -> None:
    from inoplan.document import plausibility as p
    from inoplan.domain.units import ANALYTE_KINDS, accepted_units, convert

    produced = []
    for analyte in ANALYTE_KINDS:
        for unit in accepted_units(analyte):
            for part in ("value", "uln", "lln"):
                plausible = p.lab_range(analyte, part)
                if plausible is None:
                    continue
                reported = plausible.high * 1000 + 1
                canonical = convert(analyte, reported, unit, field="x")
                produced.append(
                    _raised(
                        lambda a=analyte, c=canonical, r=reported, u=unit, pt=part: (
                            p.check_lab_limit(a, pt, c, r, u, field=f"event.{a}.{pt}")
                        )
                    )
                )
            produced.append(
                _raised(
                    lambda a=analyte, u=unit: p.check_magnitude(
                        a, "value", Decimal("1e308"), u, field=f"event.{a}.value"
                    )
                )
            )
    for name in ("height_cm", "weight_kg", "qtcf_ms", "dose_mg", "percent"):
        for value in (Decimal("0.0001"), Decimal("1.7"), Decimal("438000"), Decimal("1e13")):
            try:
                p.check_measure(name, value, field=f"event.{name}")
            except Exception as exc:
                produced.append(f"{exc}")
    produced.append(_raised(lambda: p.check_bmi(Decimal(170), Decimal(7), field="event.weight_kg")))
    produced.append(_raised(lambda: p.check_date(__import__("datetime").date(1800, 1, 1), "on")))
    assert len(produced) > 60
    for message in produced:
        field, _, text = message.partition(": ")
        shown = f"{m.field_label(field)}: {m.plain(text)}"
        assert not leaks(shown), (message, shown)


def test_unknown_unit_and_override_messages_read_plainly() -> None:
    from inoplan.domain.units import convert
    from inoplan.errors import OverrideRequired

    unknown = _raised(lambda: convert("anc", Decimal(1), "g", field="event.anc.unit"))
    assert "10*9/L" in unknown
    assert not leaks(m.plain(unknown.partition(": ")[2]))
    override = str(OverrideRequired("event.override_reason", ("the decision holds",)))
    assert "override_reason" in override
    assert not leaks(m.plain(override.partition(": ")[2]))


def test_guard_messages_read_plainly() -> None:
    from datetime import UTC, datetime

    from inoplan.document import parse_course
    from inoplan.services import guards
    from inoplan.services.auth import Forbidden

    document = course_document()
    document["events"].append(
        {"id": "tox-1", "date": "2026-12-09", "type": "toxicity", "term": "nausea", "grade": 2}
    )
    course = parse_course(document)
    future = _raised(lambda: guards.check_not_future(course, datetime(2026, 12, 8, 10, tzinfo=UTC)))
    assert future.startswith("events[6].date")
    shown = f"{m.field_label(future.partition(': ')[0], document['events'])}: " + m.plain(
        future.partition(": ")[2], document["events"]
    )
    assert not leaks(shown), shown
    assert "toxicity of Wed 09 Dec 2026" in shown
    correction = {"type": "toxicity", "date": "2026-12-09", "supersedes": "tox-1", "reason": "x"}
    with pytest.raises(Forbidden) as refused:
        guards.authorize_event("nurse", correction, document["events"])
    shown = m.plain(str(refused.value), document["events"])
    assert not leaks(shown), shown
    assert "your role (nurse) may not record toxicity" in shown


# -- through the forms: every class of refusal, read as a person reads the page ------------------


def _post(client: Any, path: str, data: dict[str, str], page: str) -> Any:
    token = csrf_of(client.get(page).text)
    return client.post(path, data={"csrf_token": token, **data}, follow_redirects=False)


def _version(client: Any, course_id: int) -> str:
    match = re.search(r'name="version" value="(\d+)"', client.get(f"/courses/{course_id}").text)
    assert match
    return match.group(1)


LABS_OK = {
    "date": "2026-12-08",
    "anc.value": "1.5",
    "anc.unit": "10*9/L",
    "bilirubin.value": "0.8",
    "bilirubin.unit": "mg/dL",
    "bilirubin.uln": "1.2",
}
DOSE = {"date": "2026-12-08", "cycle": "1", "day": "8", "dose_mg": "0.91"}
OVERRIDE = {**DOSE, "override_form": "1", "override_reason": "given at the partner hospital"}

#: (role, form, submitted fields, status): one row per class of refusal the web forms can meet.
REFUSALS: list[tuple[str, str, dict[str, str], int]] = [
    ("nurse", "vitals", {"date": "2026-12-08", "weight_kg": "seventy"}, 422),
    ("nurse", "vitals", {"date": "2026-12-08", "height_cm": "1.7"}, 422),  # unit slip
    ("nurse", "vitals", {"date": "2026-12-08", "weight_kg": "7"}, 422),  # BMI
    ("nurse", "vitals", {"date": "2026-12-09", "weight_kg": "70"}, 422),  # future
    ("nurse", "vitals", {"date": "1800-01-01", "weight_kg": "70"}, 422),  # outside the dates
    ("nurse", "vitals", {"date": "1950-01-01", "weight_kg": "70"}, 422),  # before birth
    ("nurse", "labs", {**LABS_OK, "anc.value": "900"}, 422),  # did you mean /uL
    ("nurse", "labs", {**LABS_OK, "anc.unit": "g/L"}, 422),
    ("nurse", "labs", {**LABS_OK, "anc.value": "1e308"}, 422),
    ("nurse", "labs", {**LABS_OK, "bilirubin.uln": "90"}, 422),
    ("nurse", "labs", {**LABS_OK, "bilirubin.uln": ""}, 422),
    ("nurse", "labs", {"date": "2026-12-08"}, 422),
    ("nurse", "labs", {**LABS_OK, "supersedes": "nothing-like-it", "correction_reason": "x"}, 422),
    ("nurse", "labs", {**LABS_OK, "supersedes": "ecg-1", "correction_reason": "typo"}, 422),
    ("nurse", "labs", {**LABS_OK, "supersedes": "ecg-1"}, 422),
    ("nurse", "labs", {**LABS_OK, "correction_reason": "why"}, 422),
    ("nurse", "ecg", {"date": "2026-12-08", "qtcf_ms": "0.438"}, 422),
    ("prescriber", "administration", {**OVERRIDE, "dose_mg": "910"}, 422),  # µg
    ("prescriber", "administration", {**OVERRIDE, "day": "1"}, 422),  # given twice
    ("prescriber", "administration", {**OVERRIDE, "time": "25:00"}, 422),
    ("prescriber", "administration", {**DOSE, "dose_mg": "5"}, 403),  # the plain form: review H2
    ("nurse", "administration", {**DOSE, "dose_mg": "0.91"}, 403),  # the workflow gives a dose
    ("nurse", "administration", {**OVERRIDE}, 403),  # a nurse has no override
    ("nurse", "toxicity", {"date": "2026-12-08", "term": "nausea", "grade": "1"}, 403),
    ("prescriber", "medication", {"date": "2026-12-08", "name": "x" * 201, "action": "start"}, 422),
    ("prescriber", "toxicity", {"date": "2026-12-08", "term": "t" * 201, "grade": "1"}, 422),
    ("prescriber", "discontinuation", {"date": "2026-12-08", "reason": "r" * 501}, 422),
    ("prescriber", "response", {"date": "2026-12-08", "status": "great"}, 422),
    (
        "prescriber",
        "toxicity",
        {
            **DOSE,
            "term": "nausea",
            "grade": "2",
            "supersedes": "tox-1",
            "correction_reason": "wrong grade",
            "date": "2026-12-08",
        },
        422,
    ),
]


@pytest.fixture
def stocked_course(new_course: Any) -> int:
    document = course_document()
    document["events"].append({"id": "ecg-1", "date": "2026-12-07", "type": "ecg", "qtcf_ms": 440})
    return int(new_course(document))


@pytest.mark.parametrize(("role", "kind", "data", "status"), REFUSALS)
def test_every_refusal_reads_plainly_with_a_summary_linking_to_the_fields(
    client: Any, stocked_course: int, role: str, kind: str, data: dict[str, str], status: int
) -> None:
    login(client, role)
    page = f"/courses/{stocked_course}"
    data = {**data, "version": _version(client, stocked_course)}
    response = _post(client, f"/courses/{stocked_course}/events/{kind}#error-summary", data, page)
    assert response.status_code == status, response.text[-600:]
    html = response.text
    text = visible_text(html)
    assert not leaks(text), leaks(text)
    if status == 403:
        return
    # the GOV.UK pattern: a focusable summary first in <main>, focused on load, a heading,
    # a link per error to an element of the page
    main = html[html.index('<main id="main"') :]
    assert main.index('id="error-summary"') < main.index("<h1")
    summary = main[main.index('id="error-summary"') : main.index("</div>")]
    assert "autofocus" in html[html.index('<div class="error-summary"') :][:200]
    assert "There is a problem" in summary
    links = re.findall(r'<a href="#([^"]+)"', summary)
    assert links
    for target in links:
        assert f'id="{target}"' in html, target
    assert "<title>Error: " in html
    # what was typed is kept (a choice that was not on the list cannot be shown again)
    from inoplan.web.forms import FORMS

    typed = {f.name for f in FORMS[kind].fields if f.kind != "select"} | {"correction_reason"}
    for name, value in data.items():
        if name in typed and len(value) < 20:
            assert f'value="{html_lib.escape(value)}"' in html or value in html, name


def test_a_stale_version_says_so_in_words(client: Any, course_id: int) -> None:
    login(client, "nurse")
    page = f"/courses/{course_id}"
    data = {"date": "2026-12-08", "weight_kg": "71", "version": "1"}
    _post(client, f"/courses/{course_id}/events/vitals", {**data, "weight_kg": "70.5"}, page)
    response = _post(client, f"/courses/{course_id}/events/vitals", data, page)
    assert response.status_code == 409
    text = visible_text(response.text)
    assert "someone else saved a change to this course first" in text
    assert not leaks(text), leaks(text)


def test_withdrawing_without_a_reason_names_the_entry_in_words(
    client: Any, stocked_course: int
) -> None:
    login(client, "nurse")
    page = f"/courses/{stocked_course}"
    data = {"supersedes": "ecg-1", "reason": "", "version": _version(client, stocked_course)}
    response = _post(client, f"/courses/{stocked_course}/void", data, page)
    assert response.status_code == 422
    text = visible_text(response.text)
    assert "ECG of Mon 07 Dec 2026" in text
    assert not leaks(text), leaks(text)


def test_a_good_save_lands_on_the_banner(client: Any, course_id: int) -> None:
    login(client, "nurse")
    page = f"/courses/{course_id}"
    data = {"date": "2026-12-08", "weight_kg": "70.5", "version": _version(client, course_id)}
    response = _post(client, f"/courses/{course_id}/events/vitals", data, page)
    assert response.status_code == 303
    assert response.headers["location"].endswith("?recorded=vitals#saved")
    html = client.get(response.headers["location"].split("#")[0]).text
    main = html[html.index('<main id="main"') :]
    assert main.index('id="saved"') < main.index('id="decision"')
    assert "Saved: vitals. The decision below includes it." in visible_text(main)


@pytest.mark.parametrize("status_case", STATUSES)
def test_course_pages_of_every_status_read_plainly(
    client: Any, new_course: Any, status_case: str
) -> None:
    from .status_courses import status_course

    document, on = status_course(status_case)
    course = new_course(document)
    login(client, "prescriber")
    html = client.get(f"/courses/{course}?on={on.isoformat()}").text
    assert f'data-status="{status_case}"' in html
    text = visible_text(html)
    assert not leaks(text), leaks(text)


def test_today_and_error_pages_read_plainly(client: Any, course_id: int) -> None:
    login(client, "prescriber")
    for path, status in (("/", 200), ("/courses/999", 404), ("/courses/1?on=1800-01-01", 422)):
        response = client.get(path)
        assert response.status_code == status
        text = visible_text(response.text)
        assert not leaks(text), (path, leaks(text))


@pytest.mark.parametrize(
    "message",
    [
        # services/guards.py, as the web forms can meet them
        "event: with this entry the course could not be planned or decided (KeyError); nothing "
        "was saved. Check the dates and values.",
        "events[3].weight_kg: 7 kg at 170 cm gives a body mass index of 2 kg/m², outside the "
        "plausible range 8-80 kg/m²; check both values and their units (the course would not "
        "be decidable)",
        "event.date: a planned transplant may be dated at most 365 days ahead (latest "
        "2027-12-08); 2028-01-01 is not",
        "plan.start_date: 2029-01-01 is more than 365 days ahead (latest 2027-12-08); check the "
        "year",
        "event.override_reason: this dose goes against the decision: the decision for "
        "2026-12-08 holds: Bilirubin 2.00 x ULN (US PI Table 3); 3 days from cycle 1 day 1 given "
        "on 2026-12-05; at least 6 days must separate two doses (US PI 2.1). Nothing was saved. "
        "If it was given deliberately, a prescriber records it with an override reason "
        "(override_reason); otherwise check the date, cycle, day and dose.",
        "event: cycle 1 day 1 is recorded as given twice (also events[4]); correct one with "
        "'supersedes'",
        "event.supersedes: a labs entry cannot correct 'ecg-1', which is a ecg entry; record a "
        "'void' (entered in error) to withdraw it",
        "event.transfused: only platelet counts carry 'transfused'",
        "event: vitals need height_cm, weight_kg or both",
        "event.bilirubin.uln: bilirubin needs its upper limit of normal (uln)",
        "event.anc.unit: unknown unit 'g/L'; accepted: 10*9/L, 10^9/L, x10*9/L, 10*3/uL, "
        "10^3/uL, K/uL, /uL, cells/uL, /mm3, cells/mm3",
        "role 'nurse' may not perform 'event.toxicity', so it may not correct or withdraw "
        "'ecg-1' (a toxicity entry); ask a colleague whose role records it",
        "course 3 is at version 5, not 4; reload it and apply your change again",
    ],
)
def test_service_messages_for_the_web_forms_read_plainly(message: str) -> None:
    events: list[dict[str, Any]] = [
        {"type": "vitals", "date": "2026-11-28"},
        {"type": "labs", "date": "2026-11-28"},
        {"type": "ecg", "date": "2026-11-28", "id": "ecg-1"},
        {"type": "pregnancy_test", "date": "2026-11-27"},
        {"type": "administration", "date": "2026-12-01", "cycle": 1, "day": 1},
    ]
    field, sep, text = message.partition(": ")
    if not sep or " " in field:
        field, text = "", message
    shown = m.plain(text, events)
    label = m.field_label(field, events)
    assert not leaks(f"{label}: {shown}"), (label, shown)
    assert m.plain(shown, events) == shown  # idempotent


def test_a_failed_login_uses_the_same_error_summary(client: Any) -> None:
    page = client.get("/login")
    token = csrf_of(page.text)
    response = client.post(
        "/login",
        data={"csrf_token": token, "username": "nurse", "password": "wrong", "next": "/"},
        follow_redirects=False,
    )
    assert response.status_code == 401
    html = response.text
    summary = html[html.index('id="error-summary"') :]
    assert '<a href="#username">Wrong user name or password.</a>' in summary
    assert 'value="nurse"' in html  # what was typed is kept (never the password)
    assert html.count("autofocus") == 1  # the summary, not the user name field
