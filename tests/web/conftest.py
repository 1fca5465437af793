"""Web UI fixtures: the real application on a throwaway SQLite file, one user per role."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

TODAY = date(2026, 12, 8)  # cycle 1 day 8 of the course below
ROLES = ("admin", "prescriber", "pharmacist", "nurse", "viewer")


SECOND_NURSE = "charge_nurse"


def password_for(role: str) -> str:
    """A password that passes the policy (it must not contain the user name, i.e. the role)."""
    if role == SECOND_NURSE:
        return "calm river stone six of six"
    return f"calm river stone {ROLES.index(role) + 1} of five"


def course_document() -> dict[str, Any]:
    """An adult in cycle 1: day 1 given, labs the day before day 8 (a dose is due on TODAY)."""
    return {
        "label": "us",
        "patient": {
            "id": "WEB-001",
            "birth_date": "1971-03-14",
            "sex": "female",
            "reproductive_potential": True,
            "breastfeeding": False,
            "allergies": [],
            "history": {
                "liver_disease": "none",
                "prior_vod": False,
                "prior_hsct": False,
                "gilbert_syndrome": False,
                "salvage_line": 1,
            },
        },
        "plan": {
            "start_date": "2026-12-01",
            "hsct_intended": True,
            "cycle1_days": 21,
            "vial": "us-0.9mg",
            "bsa_formula": "mosteller",
        },
        "events": [
            {"date": "2026-11-28", "type": "vitals", "height_cm": 170, "weight_kg": 70},
            {
                "date": "2026-11-28",
                "type": "labs",
                "anc": {"value": 1.6, "unit": "10*9/L"},
                "platelets": {"value": 85, "unit": "10*9/L"},
                "bilirubin": {"value": 0.7, "unit": "mg/dL", "uln": 1.2},
                "ast": {"value": 31, "unit": "U/L", "uln": 40},
                "alt": {"value": 28, "unit": "U/L", "uln": 41},
                "peripheral_blasts": {"value": 4.2, "unit": "10*9/L"},
            },
            {"date": "2026-11-28", "type": "ecg", "qtcf_ms": 438},
            {"date": "2026-11-27", "type": "pregnancy_test", "result": "negative"},
            {
                "date": "2026-12-01",
                "type": "administration",
                "cycle": 1,
                "day": 1,
                "dose_mg": 1.46,
                "time": "09:30",
            },
            {
                "date": "2026-12-07",
                "type": "labs",
                "anc": {"value": 1.4, "unit": "10*9/L"},
                "platelets": {"value": 90, "unit": "10*9/L"},
                "bilirubin": {"value": 0.8, "unit": "mg/dL", "uln": 1.2},
                "ast": {"value": 35, "unit": "U/L", "uln": 40},
                "alt": {"value": 30, "unit": "U/L", "uln": 41},
            },
        ],
    }


@pytest.fixture(autouse=True)
def _no_inoplan_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests pass settings explicitly; the developer's INOPLAN_* variables must not leak in."""
    import os

    for name in list(os.environ):
        if name.startswith("INOPLAN_") and not name.startswith(
            ("INOPLAN_TEST_", "INOPLAN_REQUIRE_")
        ):
            monkeypatch.delenv(name)


def make_app(database_url: str, today: date = TODAY, *, users: bool = True) -> Any:
    """The service's app with the web UI and a fixed clock, database migrated, users created."""
    from inoplan.api.app import create_app
    from inoplan.config import Settings

    settings = Settings(database_url=database_url, secret_key=SecretStr("w" * 48), token_minutes=60)
    app = create_app(settings)
    if not any(getattr(r, "path", None) == "/login" for r in app.routes):
        from inoplan import web  # until the factory mounts the pages itself

        app.include_router(web.router)
    app.state.web_clock = lambda: datetime(today.year, today.month, today.day, 10, 0, tzinfo=UTC)
    app.state.database.upgrade()
    if users:
        from inoplan.services.auth import add_user

        for role in ROLES:
            add_user(app.state.database, role, password_for(role), role, actor="test-setup")
        # a second nurse: the independent second signer of an administration (services.workflow)
        add_user(
            app.state.database,
            SECOND_NURSE,
            password_for(SECOND_NURSE),
            "nurse",
            actor="test-setup",
        )
    return app


@pytest.fixture(scope="session")
def template_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file with one user per role, made once (password hashing is slow)."""
    path = tmp_path_factory.mktemp("web-template") / "template.db"
    app = make_app(f"sqlite:///{path}")
    app.state.database.dispose()
    return path


@pytest.fixture
def app(tmp_path: Path, template_database: Path) -> Any:
    import shutil

    path = tmp_path / "web.db"
    shutil.copyfile(template_database, path)
    return make_app(f"sqlite:///{path}", users=False)


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    with TestClient(app, base_url="http://testserver") as test_client:
        yield test_client


@pytest.fixture
def course_id(app: Any) -> int:
    from inoplan.services.records import create_course

    return create_course(app.state.database, course_document(), actor="test-setup").id


@pytest.fixture
def new_course(app: Any) -> Callable[[dict[str, Any]], int]:
    from inoplan.services.records import create_course

    def create(document: dict[str, Any]) -> int:
        return create_course(app.state.database, copy.deepcopy(document), actor="test-setup").id

    return create


CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(client: Any, role: str) -> None:
    page = client.get("/login")
    assert page.status_code == 200
    response = client.post(
        "/login",
        data={
            "username": role,
            "password": password_for(role),
            "csrf_token": csrf_of(page.text),
            "next": "/",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
