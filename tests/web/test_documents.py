"""PDF tests: the worksheet's numbers are ``dose_json``'s for the same inputs; the handout is
plain language with the dates and warnings it must carry. Text is read back with pypdf."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from datetime import time
from typing import Any

import pytest

from inoplan import DISCLAIMER

from .conftest import course_document, login


def _text(pdf: bytes) -> str:
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return re.sub(r"[ \t]+", " ", text)


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def _num(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def test_worksheet_numbers_equal_dose_json(client: Any, course_id: int) -> None:
    from inoplan.services.dosing import dose_json

    login(client, "pharmacist")
    response = client.get(f"/courses/{course_id}/worksheet.pdf?prepared_at=09:30")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    text = _flat(_text(response.content))
    # Same inputs as the course: 170 cm, 70 kg, Mosteller, cycle 1 day 8 = 0.5 mg/m2, US vial.
    expected = dose_json(
        height_cm=170,
        weight_kg=70,
        mg_per_m2=0.5,
        vial="us-0.9mg",
        formula="mosteller",
        prepared_at=time(9, 30),
        label="us",
    )
    assert expected["dose_mg"] == 0.91 and expected["bsa_m2"] == 1.82
    must = [
        "MRN WEB-001",
        f"BSA {_num(expected['bsa_m2'])} m2 (mosteller formula)",
        f"Prescribed dose {_num(expected['dose_mg_per_m2'])} mg/m2",
        f"Dose in mg {_num(expected['dose_mg'])} mg",
        f"Vials {expected['vials']} x {expected['vial_name']}",
        f"with {_num(expected['reconstitution_ml_per_vial'])} mL Sterile Water for Injection",
        f"{_num(expected['reconstituted_mg_per_ml'])} mg/mL",
        f"Withdraw {_num(expected['withdraw_ml'])} mL",
        f"Diluent {_num(expected['diluent_ml'])} mL {expected['diluent']}",
        f"Final volume {_num(expected['final_volume_ml'])} mL",
        f"Final concentration {_num(expected['concentration_mg_per_ml'])} mg/mL",
        f"Infusion {_num(expected['infusion_rate_ml_per_h'])} mL/h over "
        f"{expected['infusion_minutes']} minutes",
        f"Dilute by (+4 h) {expected['deadlines']['dilute_by']}",
        f"Infusion ends by (+8 h) {expected['deadlines']['infusion_end_by']}",
        f"Reconstituted at {expected['deadlines']['reconstituted_at']}",
        "protect from light",
        "Premedication:",
        "Observation:",
        "Prepared by: name",
        "Checked by : name",
        "Decision: Give today - cycle 1 day 8",
    ]
    missing = [m for m in must if m.lower() not in text.lower()]
    assert not missing, missing
    assert _flat(DISCLAIMER) in text


def test_worksheet_without_preparation_time_leaves_deadline_blanks(
    client: Any, course_id: int
) -> None:
    login(client, "pharmacist")
    text = _flat(_text(client.get(f"/courses/{course_id}/worksheet.pdf").content))
    assert "Reconstituted at ____:____" in text
    assert "Dilute by (+4 h) ____:____" in text


def test_worksheet_for_a_held_dose_says_do_not_prepare(
    client: Any, new_course: Callable[[dict[str, Any]], int]
) -> None:
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
    held = new_course(document)
    login(client, "pharmacist")
    text = _flat(_text(client.get(f"/courses/{held}/worksheet.pdf").content))
    assert "Decision: HOLD - do not prepare" in text
    # no preparation numbers for a held dose (issue 11): it says why instead
    for number in ("Withdraw", "Dose in mg", "Final volume", "Diluent", "0.91 mg"):
        assert number not in text
    assert "Why" in text and "Table 3" in text


def test_worksheet_refuses_a_bad_preparation_time(client: Any, course_id: int) -> None:
    login(client, "pharmacist")
    response = client.get(f"/courses/{course_id}/worksheet.pdf?prepared_at=25:99")
    assert response.status_code == 422
    assert "reconstitution time: a time as HH:MM" in response.text  # in words (web.messages)


def test_worksheet_when_no_dose_is_left(
    client: Any, new_course: Callable[[dict[str, Any]], int]
) -> None:
    document = course_document()
    document["events"].append(
        {"date": "2026-12-07", "type": "discontinuation", "reason": "patient's decision"}
    )
    stopped = new_course(document)
    login(client, "pharmacist")
    response = client.get(f"/courses/{stopped}/worksheet.pdf")
    assert response.status_code == 409
    assert "No dose to prepare" in response.text
    assert "patient&#39;s decision" in response.text or "patient's decision" in response.text


def test_worksheet_records_the_decision_shown(client: Any, app: Any, course_id: int) -> None:
    from inoplan.services.records import course_decisions

    login(client, "pharmacist")
    client.get(f"/courses/{course_id}/worksheet.pdf")
    assert [d.shown_to for d in course_decisions(app.state.database, course_id)] == ["pharmacist"]


# -- handout ---------------------------------------------------------------------------------


def test_handout_has_calendar_warnings_and_end_dates(client: Any, course_id: int) -> None:
    login(client, "nurse")
    response = client.get(f"/courses/{course_id}/handout.pdf")
    assert response.status_code == 200
    text = _flat(_text(response.content))
    for phrase in (
        "Your appointments",
        "Tue 08 Dec 2026 Cycle 1, day 8",
        "Why we test your liver",
        "VOD",
        "skin or the whites of your eyes turn yellow",  # VOD sign
        "reaction to the drip",  # infusion reactions
        "Signs of bleeding",
        "Signs of an infection",
        "rhythm of your heart",  # QT medicines
        "birth control",
        "Do not breastfeed",
        "If you miss a visit",
        "Who to call",
    ):
        assert phrase.lower() in text.lower(), phrase
    from inoplan.knowledge.loader import load_label

    label = load_label("us")
    assert f"we may move it up to {label.regimen.day_window_days} days" in text
    observation = label.threshold("observation_hours").number
    assert f"We watch you for at least {observation} hour after it" in text
    # contraception and breastfeeding end dates are the decision's key dates
    assert re.search(r"until \w{3} \d\d \w{3} 20\d\d", text)


def test_handout_end_dates_equal_the_decision(client: Any, app: Any, course_id: int) -> None:
    from datetime import date

    from inoplan.services.courses import decide_document
    from inoplan.services.records import export_document

    from .conftest import TODAY

    key_dates = decide_document(export_document(app.state.database, course_id), TODAY)["key_dates"]
    login(client, "nurse")
    text = _flat(_text(client.get(f"/courses/{course_id}/handout.pdf").content))
    for key in ("contraception_until", "no_breastfeeding_until"):
        shown = date.fromisoformat(str(key_dates[key])).strftime("%a %d %b %Y")
        assert shown in text, key


def _syllables(word: str) -> int:
    word = word.lower().strip(".,;:()'\"!?")
    if not word:
        return 0
    groups = re.findall(r"[aeiouy]+", word)
    count = len(groups)
    if word.endswith("e") and not word.endswith(("le", "ee")) and count > 1:
        count -= 1
    return max(1, count)


def flesch_kincaid_grade(text: str) -> float:
    """Flesch-Kincaid grade level; a bullet point or a heading line counts as a sentence."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]

    def as_sentence(line: str) -> str:
        short_heading = len(line) < 45 and line[-1].isalnum()
        return line + "." if line.startswith("- ") or short_heading else line

    joined = " ".join(as_sentence(line) for line in lines)
    sentences = [s for s in re.split(r"[.!?:]+(?:\s|$)", joined) if re.search(r"[A-Za-z]", s)]
    words = re.findall(r"[A-Za-z][A-Za-z'-]*", text)
    syllables = sum(_syllables(w) for w in words)
    return 0.39 * len(words) / len(sentences) + 11.8 * syllables / len(words) - 15.59


def test_handout_reads_at_about_age_twelve(client: Any, course_id: int) -> None:
    """Flesch-Kincaid grade <= 6 (US grade 6 = about 11-12 years old) for the handout's prose."""
    login(client, "nurse")
    text = _text(client.get(f"/courses/{course_id}/handout.pdf").content)
    body = re.sub(r"inoplan - information for patient.*?Page \d+/\d+", "", text, flags=re.S)
    assert "Signs of an infection" in body and "If you miss a visit" in body
    grade = flesch_kincaid_grade(body)
    assert grade <= 6.0, grade


@pytest.mark.parametrize("sex", ["male", "female"])
def test_handout_contraception_wording_by_sex(
    client: Any, new_course: Callable[[dict[str, Any]], int], sex: str
) -> None:
    document = course_document()
    document["patient"]["sex"] = sex
    document["patient"]["id"] = f"WEB-{sex}"
    course = new_course(document)
    login(client, "nurse")
    text = _flat(_text(client.get(f"/courses/{course}/handout.pdf").content))
    if sex == "male":
        assert "Your partner must not get pregnant" in text
        assert "Do not breastfeed" not in text
    else:
        assert "Do not get pregnant" in text and "Do not breastfeed" in text
