"""One course per decision status, and the date to look at it, for page-type tests (plain words,
axe-core, reflow at 320 px). Give and hold are the web fixture's course on its "today"; the other
statuses are golden cases (tests/golden/cases, written by hand from the label) on their date."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

from .conftest import TODAY, course_document

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "cases"
STATUSES = ("give", "hold", "cannot_decide", "wait", "complete", "discontinue")
_CASES = {
    "cannot_decide": "data-labs-4-days-old-cannot-decide.yaml",
    "wait": "data-dose-deviation-exactly-5-percent-under.yaml",
    "complete": "cap-hsct-complete-after-2-cycles-mrd-negative.yaml",
    "discontinue": "hep-severe-liver-toxicity-discontinue.yaml",
}


def status_course(status: str) -> tuple[dict[str, Any], date]:
    """A course document whose decision on the returned date is ``status``."""
    if status in ("give", "hold"):
        document = course_document()
        document["patient"]["name"] = "Ada Lovelace-Byron"
        document["patient"]["allergies"] = ["penicillin"]
        if status == "hold":  # bilirubin 2 x ULN on the dose day: hold (label Table 3)
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
        return document, TODAY
    import yaml

    document = yaml.safe_load((GOLDEN / _CASES[status]).read_text("utf-8"))
    on = document.pop("expect")["as_of"]
    return document, on if isinstance(on, date) else date.fromisoformat(str(on))
