"""A whole course through the web UI only, in Chromium (issue 14, "Done when"): a prescriber
creates the course, a nurse records labs, the prescriber releases the dose, a pharmacist
verifies and prepares it with a second signer, a nurse gives it with a second signer, the
prescriber records a response and sees cycle 2 change. At desktop (1366x768) and phone
(390x844) widths; axe-core (vendored, as in test_browser_a11y) finds no violation on any page
visited, no page scrolls sideways (also checked at 320 px), and screenshots of every step go to
``artifacts/screenshots/`` (kept by CI).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from .conftest import SECOND_NURSE, TODAY, make_app, password_for
from .test_browser import SCREENSHOTS, LiveServer
from .test_browser_a11y import _check, _shot, browser

pytestmark = pytest.mark.browser

__all__ = ["browser"]  # the Chromium fixture, shared with the accessibility tests

WIDTHS = {
    "desktop": {"width": 1366, "height": 768},
    "phone": {"width": 390, "height": 844},
}
NARROWEST = {"width": 320, "height": 640}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A live server on an empty database (one user per role), its clock on TODAY."""
    folder = tmp_path_factory.mktemp("flow")
    app = make_app(f"sqlite:///{folder / 'flow.db'}")
    with LiveServer(app) as live:
        yield live


class Desk:
    """One person at their own browser (their own session)."""

    def __init__(self, browser: Any, server: LiveServer, role: str, viewport: dict[str, int]):
        self.role = role
        self.server = server
        self.context = browser.new_context(viewport=viewport)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        page = self.page
        page.goto(server.url + "/login")
        page.fill("#username", role)
        page.fill("#password", password_for(role))
        page.click("button[type=submit]")
        page.wait_for_url(server.url + "/")

    def open(self, path: str) -> Any:
        self.page.goto(self.server.url + path)
        self.page.wait_for_load_state("load")
        return self.page

    def check(self, name: str) -> None:
        """axe-core and sideways scrolling on the page as it is now, and a screenshot."""
        self.problems += _check(self.page, name)
        _shot(self.page, name)

    def close(self) -> None:
        self.context.close()


def _submit(page: Any, form: str, target: str) -> None:
    page.locator(f"{form} button[type=submit]").click()
    page.wait_for_url(f"**{target}")
    page.wait_for_load_state("load")
    error = page.locator("#error-summary")
    assert error.count() == 0, error.inner_text()


def _state(page: Any, cycle: int, day: int) -> str:
    return str(page.locator(f"#day-{cycle}-{day} .state").get_attribute("data-state"))


def _open(page: Any, details: str) -> None:
    page.locator(f"{details} > summary").click()


@pytest.mark.parametrize("width", list(WIDTHS))
def test_a_whole_course_through_the_ui_for_each_role(
    browser: Any, server: LiveServer, width: str
) -> None:
    viewport = WIDTHS[width]
    desks = {
        role: Desk(browser, server, role, viewport)
        for role in ("prescriber", "nurse", "pharmacist")
    }
    mrn = f"FLOW-{width.upper()}"
    today = TODAY.isoformat()
    try:
        # 1. the prescriber creates the patient and the course (issue 14 item 1's form)
        doctor = desks["prescriber"].open("/courses/new")
        doctor.fill("#course-f-patient-id", mrn)
        doctor.fill("#course-f-patient-name", f"Grace Flow {width}")
        doctor.fill("#course-f-patient-birth-date", "1968-05-04")
        doctor.select_option("#course-f-patient-sex", "male")
        doctor.select_option("#course-f-patient-reproductive-potential", "no")
        doctor.fill("#course-f-height-cm", "175")
        doctor.fill("#course-f-weight-kg", "72")
        doctor.fill("#course-f-measured-on", today)
        doctor.select_option("#course-f-plan-hsct-intended", "yes")
        doctor.fill("#course-f-plan-start-date", today)
        desks["prescriber"].check(f"flow-1-new-course-{width}")
        doctor.locator("#form-course button[type=submit]").click()
        doctor.wait_for_url("**#saved")
        course = int(re.search(r"/courses/(\d+)", doctor.url).group(1))  # type: ignore[union-attr]
        path = f"/courses/{course}"
        assert _state(doctor, 1, 1) == "ordered"
        # no labs yet: the decision cannot decide, and the day cannot be released
        assert doctor.locator("#step-release").count() == 0
        desks["prescriber"].check(f"flow-2-course-created-{width}")

        # 2. the nurse records the labs in one step (units and ULNs prefilled)
        nurse = desks["nurse"].open(path)
        _open(nurse, "#form-labs")
        form = nurse.locator("#form-labs form")
        for analyte, value in (
            ("anc", "1.5"),
            ("platelets", "80"),
            ("bilirubin", "0.8"),
            ("ast", "30"),
            ("alt", "30"),
            ("peripheral-blasts", "2"),
        ):
            form.locator(f"#labs-f-{analyte}-value").fill(value)
        _submit(nurse, "#form-labs", "#saved")
        desks["nurse"].check(f"flow-3-labs-{width}")

        # 3. the prescriber sees the parameters met and releases the dose
        doctor = desks["prescriber"].open(path)
        parameters = doctor.locator("#day-1-1 .param")
        assert parameters.count() == 5
        for analyte in ("bilirubin", "ast", "alt"):
            item = doctor.locator(f"#day-1-1 .param[data-analyte={analyte}]")
            assert "param-met" in str(item.get_attribute("class"))
        _open(doctor, "#step-release")
        _submit(doctor, "#step-release", "#roadmap")
        assert _state(doctor, 1, 1) == "released"
        desks["prescriber"].check(f"flow-4-released-{width}")

        # 4. the pharmacist's worklist: this course waits for verification
        pharmacist = desks["pharmacist"].open("/?for=pharmacist")
        row = pharmacist.locator(f"tr:has(a[href='{path}'])")
        assert row.locator("[data-waits=verification]").count() == 1
        desks["pharmacist"].check(f"flow-5-worklist-pharmacist-{width}")
        pharmacist = desks["pharmacist"].open(path)
        _open(pharmacist, "#step-verify")
        released = pharmacist.locator("#step-verify strong").first.inner_text()
        mg = released.split()[0]
        pharmacist.fill("#step-verify-f-dose-mg", mg)
        _submit(pharmacist, "#step-verify", "#roadmap")
        assert _state(pharmacist, 1, 1) == "verified"

        # 5. the preparation with the second signer (another user types their password)
        _open(pharmacist, "#step-prepare")
        pharmacist.fill("#step-prepare-f-lot", "LOT-24A7")
        pharmacist.fill("#step-prepare-f-expiry", "2027-06-30")
        pharmacist.fill("#step-prepare-f-prepared-at", "09:40")
        pharmacist.fill("#step-prepare-f-second-signer", "admin")
        pharmacist.fill("#step-prepare-f-second-signer-password", password_for("admin"))
        desks["pharmacist"].check(f"flow-6-prepare-form-{width}")
        _submit(pharmacist, "#step-prepare", "#roadmap")
        assert _state(pharmacist, 1, 1) == "prepared"
        assert "lot LOT-24A7" in pharmacist.locator("#day-1-1").inner_text()
        desks["pharmacist"].check(f"flow-7-prepared-{width}")

        # 6. the nurse gives the dose with a second signer
        nurse = desks["nurse"].open(path)
        _open(nurse, "#step-give")
        nurse.fill("#step-give-f-started-at", "10:00")
        nurse.fill("#step-give-f-ended-at", "11:00")
        for agent in ("corticosteroid", "antipyretic", "antihistamine"):
            nurse.check(f"#step-give-f-premedication-{agent}")
        nurse.fill("#step-give-f-reactions", "none")
        nurse.fill("#step-give-f-observation-end", "12:05")
        nurse.fill("#step-give-f-second-signer", SECOND_NURSE)
        nurse.fill("#step-give-f-second-signer-password", password_for(SECOND_NURSE))
        _submit(nurse, "#step-give", "#roadmap")
        assert _state(nurse, 1, 1) == "given"
        events = nurse.locator("#events").inner_text()
        assert "administration" in events.lower() or "dose" in events.lower()
        desks["nurse"].check(f"flow-8-given-{width}")

        # 7. the prescriber records a response (CR) and sees cycle 2 change
        doctor = desks["prescriber"].open(path)
        before = doctor.locator("#day-2-1").inner_text()
        assert "0.8 mg/m²" in before  # no CR/CRi recorded: 0.8 mg/m2 on cycle 2 day 1
        _open(doctor, "#form-response")
        doctor.locator("#form-response form").locator("#response-f-status").select_option("CR")
        _submit(doctor, "#form-response", "#saved")
        after = doctor.locator("#day-2-1").inner_text()
        assert "0.5 mg/m²" in after, after  # after CR/CRi: 0.5 mg/m2 (label Table 1)
        desks["prescriber"].check(f"flow-9-response-cycle-2-{width}")
        doctor.locator("#roadmap").screenshot(path=str(SCREENSHOTS / f"flow-roadmap-{width}.png"))

        doctor.goto(server.url + "/")
        desks["prescriber"].check(f"flow-10-today-{width}")
        if width == "phone":  # the narrowest screen: nothing scrolls sideways
            doctor.set_viewport_size(NARROWEST)
            for name, target in (("today", "/"), ("course", path)):
                desks["prescriber"].open(target)
                desks["prescriber"].check(f"flow-320-{name}")
    finally:
        problems = [p for desk in desks.values() for p in desk.problems]
        for desk in desks.values():
            desk.close()
    assert not problems, "\n".join(problems)
