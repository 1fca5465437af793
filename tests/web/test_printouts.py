"""Printouts (issue 14, item 7): two patient identifiers on every page, the worksheet's allergies,
lot and expiry fields, beyond-use times, the bag label with the order's QR code, signatures on
the page of the doses, the handout's contacts from site policy, the calendar through the web.

PDFs are read back with pypdf (text per page, text positions, the embedded QR image)."""

from __future__ import annotations

import io
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from inoplan import DISCLAIMER

from .conftest import TODAY, course_document, login


def _pages(pdf: bytes) -> list[str]:
    from pypdf import PdfReader

    return [re.sub(r"\s+", " ", page.extract_text()) for page in PdfReader(io.BytesIO(pdf)).pages]


def _named(name: str | None = "Ada Lovelace-Byron", allergies: list[str] | None = None) -> Any:
    document = course_document()
    if name is not None:
        document["patient"]["name"] = name
    document["patient"]["allergies"] = ["penicillin"] if allergies is None else allergies
    return document


def _worksheet(client: Any, course: int, query: str = "") -> bytes:
    response = client.get(f"/courses/{course}/worksheet.pdf{query}")
    assert response.status_code == 200, response.text[-400:]
    return bytes(response.content)


# -- identifiers and the disclaimer on every page of every printout ----------------------------


@pytest.mark.parametrize("printout", ["worksheet", "worksheet-held", "handout"])
@pytest.mark.parametrize("name", ["Ada Lovelace-Byron", None])
def test_every_page_carries_two_identifiers_and_the_disclaimer(
    client: Any, new_course: Any, printout: str, name: str | None
) -> None:
    document = _named(name)
    if printout == "worksheet-held":
        from .status_courses import status_course

        document = {**status_course("hold")[0], "patient": document["patient"]}
    course = new_course(document)
    login(client, "pharmacist")
    path = "handout.pdf" if printout == "handout" else "worksheet.pdf"
    response = client.get(f"/courses/{course}/{path}")
    assert response.status_code == 200
    pages = _pages(response.content)
    assert len(pages) >= 1
    shown_name = name or "NAME NOT RECORDED"
    for number, text in enumerate(pages, 1):
        assert f"Patient: {shown_name} - born 14 Mar 1971 - MRN WEB-001" in text, number
        assert re.sub(r"\s+", " ", DISCLAIMER) in text, number
    if printout != "handout":
        assert "held" in printout or "Allergies penicillin" in pages[0]


def test_no_allergies_recorded_is_said_not_left_blank(client: Any, new_course: Any) -> None:
    course = new_course(_named(allergies=[]))
    login(client, "pharmacist")
    assert "Allergies none recorded" in _pages(_worksheet(client, course))[0]


# -- the worksheet ---------------------------------------------------------------------------


def test_lot_expiry_and_beyond_use_times(client: Any, new_course: Any) -> None:
    from inoplan.knowledge.loader import load_label

    course = new_course(_named())
    login(client, "pharmacist")
    first = _pages(_worksheet(client, course, "?prepared_at=21:30"))[0]
    # lot and expiry: labelled fields to fill in by hand (no preparation record yet)
    assert re.search(r"Vial lot number\(s\) _{8,}", first)
    assert re.search(r"Vial expiry date _{8,}", first)
    # beyond-use: the label's 4 h to dilution and 8 h to the end of the infusion, past midnight
    assert "Reconstituted at 21:30" in first
    assert "Dilute by (+4 h) 01:30 (+1 day)" in first
    assert "Infusion ends by (+8 h) 05:30 (+1 day) (beyond-use)" in first
    storage = load_label("us").storage
    assert re.sub(r"\s+", " ", storage.reconstituted) in first
    assert re.sub(r"\s+", " ", storage.diluted) in first
    blank = _pages(_worksheet(client, course))[0]
    assert "Infusion ends by (+8 h) ____:____ (beyond-use)" in blank


def _positions(pdf: bytes) -> list[tuple[int, float, str]]:
    """(page, y from the top, text) of every text run."""
    from pypdf import PdfReader

    out: list[tuple[int, float, str]] = []
    for number, page in enumerate(PdfReader(io.BytesIO(pdf)).pages):

        def visit(
            text: str,
            cm: Any,
            tm: Any,
            font: Any,
            size: Any,
            n: int = number,
            top: float = float(page.mediabox.height),
        ) -> None:
            if text.strip():
                out.append((n, top - float(tm[5]), text.strip()))

        page.extract_text(visitor_text=visit)
    return out


def _where(positions: list[tuple[int, float, str]], start: str) -> tuple[int, float]:
    found = [(p, y) for p, y, t in positions if t.startswith(start)]
    assert found, start
    return found[0]


@pytest.mark.parametrize("allergies", [1, 40])
def test_signatures_are_on_the_page_of_the_doses(
    client: Any, new_course: Any, allergies: int
) -> None:
    """Never a signature block alone on a page: with one allergy, and with so many that the
    dose block no longer fits under the header of page 1 (it then moves whole)."""
    listed = [
        f"allergen number {i}, a long descriptive name of a substance and its reaction"
        for i in range(40)
    ]
    course = new_course(_named(allergies=listed[:allergies]))
    login(client, "pharmacist")
    pdf = _worksheet(client, course)
    positions = _positions(pdf)
    dose_page, dose_y = _where(positions, "Dose in mg")
    withdraw_page, _ = _where(positions, "Withdraw")
    for role in ("Prepared by", "Checked by"):
        page, y = _where(positions, role)
        assert page == dose_page == withdraw_page, (role, page, dose_page)
        assert y > dose_y
    pages = _pages(pdf)
    assert all(not p.strip().startswith("Signatures") for p in pages)
    if allergies == 40:
        assert dose_page == 1 and "Dose in mg" not in pages[0]  # moved whole to page 2


def _dark(pixel: Any) -> bool:
    return bool(pixel < 128)


def _qr_matrix(pdf: bytes) -> list[list[bool]]:
    """The modules of the QR image embedded in the PDF (dark = True)."""
    from pypdf import PdfReader

    for page in PdfReader(io.BytesIO(pdf)).pages:
        for image in page.images:
            assert image.image is not None
            picture = image.image.convert("L")
            scale, border = 4, 4
            modules = picture.width // scale - 2 * border
            return [
                [
                    _dark(picture.getpixel(((c + border) * scale + 2, (r + border) * scale + 2)))
                    for c in range(modules)
                ]
                for r in range(modules)
            ]
    raise AssertionError("no image in the PDF")


def test_bag_label_with_the_order_s_qr_code(client: Any, app: Any, new_course: Any) -> None:
    import segno

    from inoplan.services.auth import Principal
    from inoplan.web.pdf import order_code
    from inoplan.web.views import worksheet_view

    course = new_course(_named())
    login(client, "pharmacist")
    pdf = _worksheet(client, course, "?prepared_at=09:30")
    text = " ".join(_pages(pdf))
    label = text[text.index("Bag label") :]
    for part in (
        "INOTUZUMAB OZOGAMICIN",
        "0.91 mg in 50 mL",
        "0.9% Sodium Chloride Injection, 0.0182 mg/mL",
        "IV over 60 min at 50 mL/h",
        "Ada Lovelace-Byron",
        "Born 14 Mar 1971 - MRN WEB-001",
        "Reconstituted 09:30",
        "Use by 17:30",
        "Protect from light",
    ):
        assert part in label, part
    view = worksheet_view(app.state.database, Principal("pharmacist", "pharmacist"), course, TODAY)
    code = order_code(view)
    assert code.startswith("INOPLAN-ORDER/1|MRN=WEB-001|DOB=1971-03-14|")
    assert "|C1D8|" in code and "|DOSE=0.91 mg|VOLUME=50 mL|" in code
    assert "Ada" not in code  # the name stays off the code; MRN and birth date identify
    expected = [[bool(v) for v in row] for row in segno.make(code, error="m").matrix]
    assert _qr_matrix(pdf) == expected


def test_a_held_dose_prints_no_bag_label(client: Any, new_course: Any) -> None:
    from .status_courses import status_course

    course = new_course(status_course("hold")[0])
    login(client, "pharmacist")
    text = " ".join(_pages(_worksheet(client, course)))
    assert "Bag label" not in text and "INOTUZUMAB OZOGAMICIN (Besponsa)" not in text


# -- the handout's contacts -------------------------------------------------------------------


def _policy(tmp_path: Path, body: str) -> Any:
    from inoplan.sitepolicy import load_site_policy

    path = tmp_path / "site.toml"
    path.write_text(body, encoding="utf-8")
    return load_site_policy(path)


CLINIC = """
[clinic]
name = "Haematology day unit"
phone_day = "+44 20 7946 0000"
phone_out_of_hours = "+44 20 7946 0999"

[[clinic.contact]]
name = "Sam Rivera"
role = "clinical nurse specialist"
phone = "+44 20 7946 0123"

[[clinic.contact]]
name = "Dr Kim Osei"
role = "haematologist"
"""


def _handout(client: Any, course: int) -> str:
    response = client.get(f"/courses/{course}/handout.pdf")
    assert response.status_code == 200
    return " ".join(_pages(response.content))


def test_handout_prints_the_clinic_s_numbers_and_contacts(
    client: Any, app: Any, course_id: int, tmp_path: Path
) -> None:
    app.state.site_policy = _policy(tmp_path, CLINIC)
    login(client, "nurse")
    text = _handout(client, course_id)
    assert "Your clinic: Haematology day unit." in text
    assert "Clinic phone (day): +44 20 7946 0000" in text
    assert "Phone at night and at weekends: +44 20 7946 0999" in text
    assert "Sam Rivera, clinical nurse specialist, +44 20 7946 0123" in text
    assert "Dr Kim Osei, haematologist" in text
    assert "___" not in text


def test_handout_without_contacts_says_to_ask_never_blank_lines(
    client: Any, course_id: int
) -> None:
    login(client, "nurse")
    text = _handout(client, course_id)
    assert "Ask us for the phone numbers to call, by day and at night." in text
    assert "Ask us who your nurse and doctor are." in text
    assert "___" not in text


def test_handout_with_a_day_number_only_says_what_to_do_at_night(
    client: Any, app: Any, course_id: int, tmp_path: Path
) -> None:
    app.state.site_policy = _policy(tmp_path, '[clinic]\nphone_day = "020 7946 0000"\n')
    login(client, "nurse")
    text = _handout(client, course_id)
    assert "Clinic phone (day): 020 7946 0000" in text
    assert "At night and at weekends: ask us which number to call." in text


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ('[clinic]\nphone_day = "call reception"\n', "site_policy.clinic.phone_day"),
        ('[clinic]\nphone_day = ""\n', "site_policy.clinic.phone_day"),
        ('[clinic]\nemail = "x@example.org"\n', "site_policy.clinic.email"),
        ('[clinic]\ncontact = "Sam"\n', "site_policy.clinic.contact"),
        ('[[clinic.contact]]\nrole = "nurse"\n', "site_policy.clinic.contact[0].name"),
        ('[[clinic.contact]]\nname = "Sam"\npager = "1"\n', "site_policy.clinic.contact[0]"),
        ('[[clinic.contact]]\nname = "Sam"\nphone = "12"\n', "site_policy.clinic.contact[0].phone"),
        ('[clinic]\nname = "' + "x" * 101 + '"\n', "site_policy.clinic.name"),
    ],
)
def test_a_bad_clinic_section_is_refused_naming_the_key(
    tmp_path: Path, body: str, field: str
) -> None:
    from inoplan.errors import InvalidInput

    with pytest.raises(InvalidInput) as refused:
        _policy(tmp_path, body)
    assert refused.value.field == field


def test_phone_numbers_as_people_write_them(tmp_path: Path) -> None:
    for phone in ("+1 (555) 010-0199", "020 7946 0000 ext 45", "+49 30/1234.5678", "112"):
        clinic = _policy(tmp_path, f'[clinic]\nphone_day = "{phone}"\n').clinic
        assert clinic.phone_day == phone and clinic.configured


# -- the calendar through the web -------------------------------------------------------------


def test_web_calendar_uids_reveal_nothing_and_follow_the_course_version(
    client: Any, app: Any, course_id: int
) -> None:
    from icalendar import Calendar

    login(client, "nurse")
    first = client.get(f"/courses/{course_id}/calendar.ics")
    assert first.status_code == 200
    assert b"WEB-001" not in first.content
    events = {str(e["summary"]): e for e in Calendar.from_ical(first.content).walk("VEVENT")}
    assert events and all(int(str(e["sequence"])) == 1 for e in events.values())
    # a new entry raises the course version: same UIDs, higher SEQUENCE
    page = client.get(f"/courses/{course_id}")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token
    client.post(
        f"/courses/{course_id}/events/vitals",
        data={
            "csrf_token": token.group(1),
            "version": "1",
            "date": "2026-12-08",
            "weight_kg": "70.5",
        },
        follow_redirects=False,
    )
    second = client.get(f"/courses/{course_id}/calendar.ics")
    again = {str(e["uid"]): e for e in Calendar.from_ical(second.content).walk("VEVENT")}
    assert {str(e["uid"]) for e in events.values()} <= set(again)
    assert all(int(str(e["sequence"])) == 2 for e in again.values())


@pytest.mark.parametrize("on", ["2026-12-02", "2026-12-08"])
def test_web_calendar_is_the_plan_of_its_date(
    client: Any, app: Any, course_id: int, on: str
) -> None:
    """``?on`` gives the calendar of the plan as of that date (the decision's), not of today."""
    from icalendar import Calendar

    from inoplan.services.records import plan_course

    login(client, "nurse")
    response = client.get(f"/courses/{course_id}/calendar.ics?on={on}")
    assert response.status_code == 200
    plan = plan_course(app.state.database, course_id, on=date.fromisoformat(on))
    assert plan["as_of"] == on
    events = Calendar.from_ical(response.content).walk("VEVENT")
    listed = {(str(e.decoded("dtstart")), str(e.get("status", "")) == "CANCELLED") for e in events}
    expected = {
        (str(d["scheduled"]), d["status"] == "omitted")
        for d in plan["doses"]
        if d["status"] in ("planned", "held", "omitted")
    }
    assert expected <= listed
    assert (
        f"decision: {plan['decision_status'].replace('_', ' ')}".encode()
        in response.content.replace(b"\r\n ", b"")
    )


@pytest.mark.parametrize(
    ("on", "status"),
    [("2099-12-31", 200), ("2100-01-01", 422), ("1899-12-31", 422), ("12/08/2026", 422)],
)
def test_web_calendar_date_bounds(client: Any, course_id: int, on: str, status: int) -> None:
    login(client, "nurse")
    assert client.get(f"/courses/{course_id}/calendar.ics?on={on}").status_code == status
