"""Golden clinical scenarios: hand-written course documents with their expected decision.

Every file in ``cases/`` is a course document (docs/course-document.md) plus an ``expect`` block
worked out by hand from ``docs/label-facts.md`` and docs/decision.md (never from the
engine's output). See ``README.md`` for the keys of ``expect`` and the coverage table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml

CASES_DIR = Path(__file__).parent / "cases"
#: The repository's worked examples (examples/*.yaml) run as golden cases too.
EXAMPLES_DIR = Path(__file__).parents[2] / "examples"
CASES = sorted(CASES_DIR.glob("*.yaml")) + sorted(EXAMPLES_DIR.glob("*.yaml"))

#: Keys an ``expect`` block may carry; anything else is a typo in a case file.
EXPECT_KEYS = frozenset(
    {
        "as_of",
        "status",
        "status_in",
        "status_not",
        "next_dose",
        "alerts_include",
        "alerts_exclude",
        "reasons_cite",
        "rules_include",
        "modifications_include",
        "modifications_exclude",
        "omitted_include",
        "key_dates",
    }
)
STATUSES = ("discontinue", "complete", "hold", "cannot_decide", "give", "wait")


def load_case(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return (course document, expect block) of one case file."""
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    expect = document.pop("expect")
    return document, expect


def _plain(value: Any) -> Any:
    """Dates as ISO strings so YAML dates compare with JSON strings."""
    return value.isoformat() if isinstance(value, date) else value


def _same(expected: Any, actual: Any) -> bool:
    expected, actual = _plain(expected), _plain(actual)
    if expected is None:
        return actual is None
    if isinstance(expected, bool) or isinstance(actual, bool):
        same_flag: bool = expected == actual
        return same_flag
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(float(expected), float(actual), rel_tol=0, abs_tol=1e-9)
    same: bool = expected == actual
    return same


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def check(expect: dict[str, Any], decision: Mapping[str, Any]) -> list[str]:
    """Compare a decision with an expect block; return one message per mismatch."""
    problems: list[str] = []
    status = decision.get("status")
    if "status" in expect and status != expect["status"]:
        problems.append(f"status: expected {expect['status']!r}, got {status!r}")
    if "status_in" in expect and status not in expect["status_in"]:
        problems.append(f"status: expected one of {expect['status_in']}, got {status!r}")
    if "status_not" in expect and status in expect["status_not"]:
        problems.append(f"status: must not be {status!r} (excluded: {expect['status_not']})")

    if "next_dose" in expect:
        wanted = expect["next_dose"]
        actual = decision.get("next_dose")
        if wanted is None:
            if actual is not None:
                problems.append(f"next_dose: expected null, got {actual!r}")
        elif not isinstance(actual, dict):
            problems.append(f"next_dose: expected {wanted!r}, got {actual!r}")
        else:
            for key, value in wanted.items():
                if key not in actual:
                    problems.append(f"next_dose.{key}: missing (expected {_plain(value)!r})")
                elif not _same(value, actual[key]):
                    problems.append(
                        f"next_dose.{key}: expected {_plain(value)!r}, got {actual[key]!r}"
                    )

    codes = [a.get("code") for a in decision.get("alerts") or []]
    for code in expect.get("alerts_include", []):
        if code not in codes:
            problems.append(f"alerts: {code} expected among {codes}")
    for code in expect.get("alerts_exclude", []):
        if code in codes:
            problems.append(f"alerts: {code} must not be raised (got {codes})")

    reasons = decision.get("reasons") or []
    citations = [str(r.get("citation", "")) for r in reasons]
    rules = [str(r.get("rule", "")) for r in reasons]
    for text in _as_list(expect.get("reasons_cite", [])):
        if not any(text in c for c in citations):
            problems.append(f"reasons: no citation contains {text!r} (citations: {citations})")
    for prefix in expect.get("rules_include", []):
        if not any(r.startswith(prefix) for r in rules):
            problems.append(f"reasons: no rule id starts with {prefix!r} (rules: {rules})")

    modifications = decision.get("modifications") or []
    for mod in expect.get("modifications_include", []):
        if mod not in modifications:
            problems.append(f"modifications: {mod} expected among {modifications}")
    for mod in expect.get("modifications_exclude", []):
        if mod in modifications:
            problems.append(f"modifications: {mod} must not be active (got {modifications})")

    omitted = [(o.get("cycle"), o.get("day")) for o in decision.get("omitted_doses") or []]
    for dose in expect.get("omitted_include", []):
        if (dose["cycle"], dose["day"]) not in omitted:
            problems.append(
                f"omitted_doses: cycle {dose['cycle']} day {dose['day']} expected among {omitted}"
            )

    key_dates = decision.get("key_dates") or {}
    for key, value in (expect.get("key_dates") or {}).items():
        if not _same(value, key_dates.get(key)):
            problems.append(
                f"key_dates.{key}: expected {_plain(value)!r}, got {key_dates.get(key)!r}"
            )
    return problems


def _case_id(path: Path) -> str:
    return path.stem


def test_there_are_enough_hand_written_cases() -> None:
    own = [p for p in CASES if p.parent == CASES_DIR]
    examples = [p for p in CASES if p.parent == EXAMPLES_DIR]
    assert len(own) >= 70, f"only {len(own)} hand-written golden cases"
    assert len(examples) == 4, f"expected the 4 worked examples, found {len(examples)}"


@pytest.mark.parametrize("case_file", CASES, ids=_case_id)
def test_case_is_a_valid_course_document(case_file: Path) -> None:
    """Each case (without ``expect``) passes the course-document validation."""
    from inoplan.document import parse_course

    document, expect = load_case(case_file)
    unknown = set(expect) - EXPECT_KEYS
    assert not unknown, f"{case_file.name}: unknown expect keys {sorted(unknown)}"
    assert isinstance(expect.get("as_of"), date), f"{case_file.name}: expect.as_of is not a date"
    assert {"status", "status_in", "status_not"} & set(expect), f"{case_file.name}: no status"
    for key in ("status_in", "status_not"):
        assert set(expect.get(key, [])) <= set(STATUSES), f"{case_file.name}: bad {key}"
    assert expect.get("status", "give") in STATUSES, f"{case_file.name}: bad status"
    first_line = case_file.read_text(encoding="utf-8").splitlines()[0]
    assert first_line.startswith("# "), f"{case_file.name}: first line must say what it tests"
    parse_course(document)


@pytest.mark.parametrize("case_file", CASES, ids=_case_id)
def test_golden_decision(case_file: Path) -> None:
    """The engine's decision on ``expect.as_of`` matches the hand-worked expectation."""
    from inoplan.services.courses import decide_document

    document, expect = load_case(case_file)
    decision = decide_document(document, on=expect["as_of"])
    problems = check(expect, decision)
    what = case_file.read_text(encoding="utf-8").splitlines()[0]
    assert not problems, (
        f"{case_file.name} on {expect['as_of']}\n  {what}\n  - "
        + "\n  - ".join(problems)
        + f"\n  decision status={decision.get('status')!r} "
        f"next_dose={decision.get('next_dose')!r} "
        f"reasons={[(r.get('rule'), r.get('message')) for r in decision.get('reasons') or []]}"
    )
