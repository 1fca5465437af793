"""Browser tests: a real server (Uvicorn) and headless Chromium driven by Playwright.

Debian's ``chromium`` is the browser (``apt-get install -y chromium``); Playwright's own browser
download is never used. Skipped only when ``/usr/bin/chromium`` is missing AND
``INOPLAN_REQUIRE_BROWSER`` is unset (CI sets it, so there a missing browser fails the run).
Screenshots of the main pages go to ``artifacts/screenshots/`` (kept by CI).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .conftest import course_document, make_app, password_for

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("INOPLAN_REQUIRE_BROWSER"):
            pytest.fail(
                f"{CHROMIUM} is missing and INOPLAN_REQUIRE_BROWSER is set "
                "(apt-get install -y chromium)"
            )
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield browser
        browser.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    def __init__(self, app: Any) -> None:
        import uvicorn

        self.app = app
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="on",
            access_log=False,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)


@pytest.fixture
def server(tmp_path: Path, template_database: Path) -> Iterator[LiveServer]:
    from inoplan.services.records import create_course

    path = tmp_path / "browser.db"
    shutil.copyfile(template_database, path)
    app = make_app(f"sqlite:///{path}", users=False)
    create_course(app.state.database, course_document(), actor="test-setup")
    other = course_document()
    other["patient"]["id"] = "WEB-002"
    other["events"] = [e for e in other["events"] if e["date"] < "2026-12-01"]
    other["plan"]["start_date"] = "2026-12-08"  # first dose due today, no ECG/labs in window
    create_course(app.state.database, other, actor="test-setup")
    with LiveServer(app) as live:
        yield live


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.console_messages = []
    page.on("console", lambda message: page.console_messages.append(message.text))
    yield page
    context.close()


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _log_in(page: Any, server: LiveServer, role: str) -> None:
    page.goto(server.url + "/")
    assert page.url.startswith(server.url + "/login")
    _shot(page, "login")
    # keyboard only: type the name, Tab to the password, Enter submits
    page.focus("#username")
    page.keyboard.type(role)
    page.keyboard.press("Tab")
    page.keyboard.type(password_for(role))
    page.keyboard.press("Enter")
    page.wait_for_url(server.url + "/")


def test_pharmacist_journey_in_a_real_browser(
    page: Any, server: LiveServer, tmp_path: Path
) -> None:
    """Log in, see who is due, open a course, record a lab, see the decision change, print."""
    _log_in(page, server, "admin")
    assert page.get_by_role("heading", name="Today: Tue 08 Dec 2026").is_visible()
    assert page.locator("text=WEB-001").is_visible()
    assert page.get_by_text("qualified clinician must confirm every decision").first.is_visible()
    _shot(page, "today")

    page.get_by_role("link", name="WEB-001").click()
    page.wait_for_url(server.url + "/courses/1")
    status = page.locator("#decision .badge")
    assert status.get_attribute("data-status") == "give"
    assert "0.91 mg" in page.locator(".next-dose").inner_text()
    assert page.locator("svg[data-chart=anc] line.threshold").count() == 1
    page.wait_for_load_state("load")  # images included: the exposure plot
    _shot(page, "course")

    # record a lab result: bilirubin 2 x ULN on the dose day -> the dose is held (Table 3)
    page.locator("#form-labs summary").click()
    form = page.locator("#form-labs form")
    form.get_by_label("Date").fill("2026-12-08")
    form.get_by_label("ANC (neutrophils)", exact=True).fill("1.5")
    form.get_by_label("Platelets", exact=True).fill("90")
    form.get_by_label("Total bilirubin", exact=True).fill("34.2")
    form.get_by_label("Total bilirubin unit").select_option("umol/L")
    form.get_by_label("Total bilirubin upper limit of normal (ULN), same unit").fill("17.1")
    form.get_by_label("AST", exact=True).fill("35")
    form.get_by_label("AST upper limit of normal (ULN), same unit").fill("40")
    form.get_by_label("ALT", exact=True).fill("30")
    form.get_by_label("ALT upper limit of normal (ULN), same unit").fill("41")
    form.get_by_role("button", name="Save laboratory results").click()
    page.wait_for_url(server.url + "/courses/1?recorded=labs#saved")
    assert page.locator("#decision .badge").get_attribute("data-status") == "hold"
    assert "Table 3" in page.locator("#decision .reasons").inner_text()
    assert page.get_by_role("status").inner_text().startswith("✓ Saved: laboratory results")
    _shot(page, "course-after-lab")

    # the worksheet downloads as a PDF whose text names the held dose
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Preparation worksheet (PDF)").click()
    download = download_info.value
    target = tmp_path / "worksheet.pdf"
    download.save_as(str(target))
    from pypdf import PdfReader

    text = "\n".join(p.extract_text() for p in PdfReader(str(target)).pages)
    assert text.startswith("Patient: NAME NOT RECORDED - born 14 Mar 1971 - MRN WEB-001")
    assert "Preparation worksheet" in text
    # a held dose prints no preparation numbers, only why (issue 11)
    assert "HOLD" in text and "0.91 mg" not in text and "Withdraw" not in text
    assert not [m for m in page.console_messages if "Content Security Policy" in m]


def test_validation_error_is_next_to_the_field_in_the_browser(
    page: Any, server: LiveServer
) -> None:
    _log_in(page, server, "nurse")
    page.goto(server.url + "/courses/1")
    page.locator("#form-vitals summary").click()
    form = page.locator("#form-vitals form")
    form.get_by_label("Date").fill("2026-12-08")
    form.get_by_label("Weight").fill("seventy")
    form.get_by_role("button", name="Save vitals").click()
    weight = page.locator("#vitals-f-weight-kg")
    assert weight.get_attribute("aria-invalid") == "true"
    error = page.locator("#vitals-f-weight-kg-error")
    assert error.is_visible() and error.inner_text() == "enter a number"
    assert weight.input_value() == "seventy"
    _shot(page, "course-form-error")


def test_print_stylesheet_hides_forms(page: Any, server: LiveServer) -> None:
    _log_in(page, server, "prescriber")
    page.goto(server.url + "/courses/1")
    assert page.locator("#record").is_visible()
    page.emulate_media(media="print")
    assert not page.locator("#record").is_visible()
    assert page.locator("#decision").is_visible()
    assert page.locator(".disclaimer").is_visible()


def test_viewer_sees_no_forms_and_can_log_out(page: Any, server: LiveServer) -> None:
    _log_in(page, server, "viewer")
    page.goto(server.url + "/courses/2")
    assert page.locator("#record form").count() == 0
    assert "reads courses only" in page.locator("#record").inner_text()
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url(server.url + "/login")
    page.goto(server.url + "/courses/2")
    assert page.url.startswith(server.url + "/login")
