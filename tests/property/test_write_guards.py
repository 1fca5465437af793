"""Property (issue 11): no accepted write makes a course undecidable.

Random events of every type -- plausible and absurd values, dates from 1900 to 2099 and beyond,
corrections and voids of earlier entries, overrides, every role -- are written through the
records service (the same call the API and the web make) on a real database (SQLite in memory).
Whatever is accepted, the decision endpoint's service (``records.show_decision``) and the plan
still answer for any date in the accepted window; whatever is refused is refused with a typed
error (``InvalidInput``/``Forbidden``/``Conflict``), never anything else, and leaves the course
unchanged.

CI runs ``WRITE_GUARD_EXAMPLES`` (2,000) examples; the test marked ``slow`` runs 100,000
(``-m slow`` or ``INOPLAN_RUN_SLOW=1``; about 45 CPU-minutes). ``INOPLAN_WRITE_GUARD_EXAMPLES``
changes the CI count.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inoplan.errors import CdsError, Conflict, InvalidInput
from inoplan.services.auth import Forbidden

WRITE_GUARD_EXAMPLES = int(os.environ.get("INOPLAN_WRITE_GUARD_EXAMPLES", "2000"))
NOW = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
TODAY = NOW.date()
START = date(2026, 11, 17)  # cycle 1 day 1, three weeks ago

BASE: dict[str, Any] = {
    "label": "us",
    "patient": {"id": "PROP", "birth_date": "1975-06-01", "sex": "female"},
    "plan": {"start_date": START.isoformat(), "hsct_intended": True},
    "events": [
        {"id": "v0", "date": "2026-11-14", "type": "vitals", "height_cm": 165, "weight_kg": 62},
        {
            "id": "l0",
            "date": "2026-11-16",
            "type": "labs",
            "anc": {"value": 1.8, "unit": "10*9/L"},
            "platelets": {"value": 140, "unit": "10*9/L"},
            "bilirubin": {"value": 0.6, "unit": "mg/dL", "uln": 1.2},
            "ast": {"value": 25, "unit": "U/L", "uln": 40},
            "alt": {"value": 22, "unit": "U/L", "uln": 40},
        },
        {
            "id": "a0",
            "date": START.isoformat(),
            "type": "administration",
            "cycle": 1,
            "day": 1,
            "dose_mg": 1.35,
        },
    ],
}
IDS = ["v0", "l0", "a0", "e1", "e2", "e3", "nope"]

# -- strategies: mostly plausible, recent and permitted (so that writes get in), with absurd
# values, far dates and refused roles mixed in --------------------------------------------------

recent = st.integers(min_value=0, max_value=30).map(lambda n: TODAY - timedelta(days=n))
days = st.one_of(
    recent,
    recent,
    recent,
    st.integers(min_value=1, max_value=400).map(lambda n: TODAY + timedelta(days=n)),
    st.dates(min_value=date(1890, 1, 1), max_value=date(2110, 12, 31)),
    st.sampled_from([date(1900, 1, 1), date(2099, 12, 31), date(1975, 6, 1), START]),
)
absurd = st.one_of(
    st.sampled_from([0, 1e6, 1e12, 1e308, 10**30]),
    st.floats(min_value=0, max_value=1e9, allow_nan=False, allow_infinity=False),
)


def around(low: float, high: float) -> st.SearchStrategy[float]:
    return st.one_of(
        st.floats(min_value=low, max_value=high, allow_nan=False),
        st.floats(min_value=low, max_value=high, allow_nan=False),
        absurd,
    )


UNITS = {
    "count": ["10*9/L", "/uL", "K/uL"],
    "bilirubin": ["mg/dL", "umol/L"],
    "enzyme": ["U/L"],
    "electrolyte": ["mmol/L"],
}
KIND = {
    "anc": "count",
    "platelets": "count",
    "wbc": "count",
    "peripheral_blasts": "count",
    "bilirubin": "bilirubin",
    "ast": "enzyme",
    "alt": "enzyme",
    "potassium": "electrolyte",
    "magnesium": "electrolyte",
}
TYPICAL = {"count": (0, 200), "bilirubin": (0.1, 10), "enzyme": (5, 500), "electrolyte": (0.3, 7)}
roles = st.sampled_from(["admin", "admin", "admin", "prescriber", "nurse", "pharmacist", "viewer"])


@st.composite
def lab_value(draw: st.DrawFn, analyte: str) -> dict[str, Any]:
    kind = KIND[analyte]
    unit = draw(st.one_of(st.sampled_from(UNITS[kind]), st.sampled_from(UNITS[kind]), st.just("g")))
    value: dict[str, Any] = {"value": draw(around(*TYPICAL[kind])), "unit": unit}
    if analyte in {"bilirubin", "ast", "alt"} or draw(st.booleans()):
        value["uln"] = draw(st.one_of(st.sampled_from([1.2, 40, 21]), absurd))
    return value


@st.composite
def event(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(
        st.sampled_from(
            [
                "vitals",
                "labs",
                "administration",
                "administration",
                "toxicity",
                "response",
                "medication",
                "ecg",
                "pregnancy_test",
                "hsct",
                "discontinuation",
                "plan_change",
                "reschedule",
                "dose_change",
                "void",
            ]
        )
    )
    out: dict[str, Any] = {"type": kind, "date": draw(days).isoformat()}
    if draw(st.booleans()):
        out["id"] = draw(st.sampled_from(IDS[3:6]))
    if kind == "vitals":
        out["weight_kg"] = draw(around(40, 90))
        if draw(st.booleans()):
            out["height_cm"] = draw(around(140, 190))
    elif kind == "labs":
        for name in draw(
            st.lists(st.sampled_from(sorted(KIND)), min_size=1, max_size=3, unique=True)
        ):
            out[name] = draw(lab_value(name))
    elif kind == "administration":
        out.update(
            cycle=draw(st.integers(1, 6)),
            day=draw(st.sampled_from([1, 8, 15])),
            dose_mg=draw(st.one_of(around(0.5, 1.5), st.sampled_from([0.83, 0.82, 1.35, 6.6]))),
        )
        if draw(st.booleans()):
            out["override_reason"] = "deliberate, after review"
    elif kind == "toxicity":
        out.update(
            term=draw(st.sampled_from(["vod", "nausea", "hepatic failure", "sepsis", "x"])),
            grade=draw(st.integers(0, 5)),
        )
    elif kind == "response":
        out["status"] = draw(st.sampled_from(["CR", "CRi", "PR", "NR", "relapse"]))
    elif kind == "medication":
        out.update(name=draw(st.sampled_from(["ondansetron", "moxifloxacin"])), action="start")
    elif kind == "ecg":
        out["qtcf_ms"] = draw(around(350, 520))
    elif kind == "pregnancy_test":
        out["result"] = draw(st.sampled_from(["negative", "positive"]))
    elif kind == "hsct":
        out["planned"] = draw(st.booleans())
    elif kind == "discontinuation":
        out["reason"] = "stop"
    elif kind == "plan_change":
        out["reason"] = "new plan"
        for name, values in (
            ("hsct_intended", [True, False, None]),
            ("cycle1_days", [21, 28]),
            ("bsa_formula", ["mosteller", "boyd"]),
        ):
            if draw(st.booleans()):
                out[name] = draw(st.sampled_from(values))
    elif kind in ("reschedule", "dose_change"):
        out.update(cycle=draw(st.integers(1, 6)), day=draw(st.sampled_from([1, 8, 15])))
        out["reason"] = "prescriber's choice"
        if kind == "reschedule":
            out["to"] = draw(days).isoformat()
        else:
            out["dose_mg_per_m2"] = draw(st.sampled_from([0.1, 0.3, 0.4, 0.5, 0.8, 1.0]))
    if kind == "void" or draw(st.integers(0, 5)) == 0:
        out["supersedes"] = draw(st.sampled_from(IDS))
        out["reason"] = "entered in error"
    return out


writes = st.lists(st.tuples(event(), roles), min_size=1, max_size=3)
asked = st.lists(
    st.dates(min_value=date(1900, 1, 1), max_value=date(2099, 12, 31)), min_size=1, max_size=2
)

# -- the property --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def database() -> Iterator[Any]:
    from tests.integration.records_helpers import migrated_database

    db = migrated_database("sqlite://")
    yield db
    db.dispose()


def _decidable(database: Any, course_id: int, dates: list[date]) -> None:
    from inoplan.services.records import plan_course, show_decision

    for on in dates:
        plan_course(database, course_id, on=on)
        decision = show_decision(database, course_id, on, actor="property")
        assert decision["status"] in {
            "give",
            "hold",
            "wait",
            "cannot_decide",
            "complete",
            "discontinue",
        }


def check_writes(database: Any, plan: list[tuple[dict[str, Any], str]], dates: list[date]) -> int:
    """Write each event; after each accepted one the course must still be decided."""
    from inoplan.services import records

    course = records.create_course(database, BASE, actor="property", role="prescriber", now=NOW).id
    accepted = 0
    for data, role in plan:
        version = records.course_version(database, course)
        before = records.course_document(database, course)
        try:
            records.append_event(
                database,
                course,
                data,
                expected_version=version,
                actor=role,
                role=role,
                now=NOW,
            )
        except (InvalidInput, Forbidden, Conflict):
            assert records.course_document(database, course) == before  # nothing stored
            continue
        accepted += 1
        day = date.fromisoformat(data["date"])
        _decidable(database, course, [TODAY, day, *dates])
    return accepted


@settings(
    max_examples=WRITE_GUARD_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,
)
@given(plan=writes, dates=asked)
def test_no_accepted_write_breaks_the_decision(
    database: Any, plan: list[tuple[dict[str, Any], str]], dates: list[date]
) -> None:
    check_writes(database, plan, dates)


@pytest.mark.slow
@settings(
    max_examples=100_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(plan=writes, dates=asked)
def test_no_accepted_write_breaks_the_decision_slow(
    database: Any, plan: list[tuple[dict[str, Any], str]], dates: list[date]
) -> None:
    check_writes(database, plan, dates)


def test_the_generator_reaches_accepted_and_refused_writes(database: Any) -> None:
    """A guard that refused everything would pass the property: show that writes get in."""
    from inoplan.services import records

    good = {"type": "ecg", "date": TODAY.isoformat(), "qtcf_ms": 430}
    bad = {"type": "ecg", "date": TODAY.isoformat(), "qtcf_ms": 4300}
    assert check_writes(database, [(good, "nurse"), (bad, "nurse")], [TODAY]) == 1
    course = records.create_course(database, BASE, actor="p", role="prescriber", now=NOW).id
    with pytest.raises(CdsError):
        records.append_event(
            database, course, bad, expected_version=1, actor="n", role="nurse", now=NOW
        )


# -- the same through HTTP: never a 500 -----------------------------------------------------------

API_EXAMPLES = int(os.environ.get("INOPLAN_WRITE_GUARD_API_EXAMPLES", "150"))


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, dict[str, str]]]:
    from fastapi.testclient import TestClient

    from inoplan.api import create_app
    from tests.integration.records_helpers import add_users, settings_for

    path = tmp_path_factory.mktemp("write-guards") / "api.db"
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("INOPLAN_") and not name.startswith(
                ("INOPLAN_TEST_", "INOPLAN_REQUIRE_", "INOPLAN_WRITE_GUARD")
            ):
                mp.delenv(name)
        app = create_app(settings_for(f"sqlite:///{path}"))
        with TestClient(app) as client:
            yield client, add_users(app.state.database)


@settings(
    max_examples=API_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=True,
)
@given(plan=writes, dates=asked)
def test_through_the_api_no_write_or_decision_is_a_500(
    api: tuple[Any, dict[str, str]], plan: list[tuple[dict[str, Any], str]], dates: list[date]
) -> None:
    from tests.integration.records_helpers import headers

    client, tokens = api
    document = copy.deepcopy(BASE)
    shift = (datetime.now(UTC).date() - TODAY).days  # the API's clock is the real one
    document = _shifted(document, shift)
    created = client.post("/api/v1/courses", json=document, headers=headers(tokens["admin"]))
    assert created.status_code == 201, created.text
    url = f"/api/v1/courses/{created.json()['id']}"
    for data, role in plan:
        version = client.get(url, headers=headers(tokens["viewer"])).json()["version"]
        response = client.post(
            f"{url}/events",
            json=_shifted(data, shift),
            headers=headers(tokens[role], **{"If-Match": str(version)}),
        )
        assert response.status_code in {201, 403, 409, 422}, response.text
        if response.status_code != 201:
            continue
        for on in [None, _shifted(data, shift)["date"], *(d.isoformat() for d in dates)]:
            query = "" if on is None else f"?on={on}"
            decision = client.get(f"{url}/decision{query}", headers=headers(tokens["viewer"]))
            assert decision.status_code in {200, 422}, decision.text
            if decision.status_code == 422:  # only a date outside the window
                assert decision.json()["field"] == "on"
        assert client.get(f"{url}/plan", headers=headers(tokens["viewer"])).status_code == 200


def _shifted(value: Any, days: int) -> Any:
    """Move every ISO date of a document or event by ``days`` (keeping far dates far)."""
    if isinstance(value, dict):
        return {k: _shifted(v, days) if k != "birth_date" else v for k, v in value.items()}
    if isinstance(value, list):
        return [_shifted(v, days) for v in value]
    if isinstance(value, str) and len(value) == 10 and value[4] == "-" and value[7] == "-":
        try:
            moved = date.fromisoformat(value) + timedelta(days=days)
        except (ValueError, OverflowError):
            return value
        return moved.isoformat() if date(1900, 1, 1) < date.fromisoformat(value) else value
    return value
