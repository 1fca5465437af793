"""The decision engine: course state, rules by area, and ``evaluate`` (docs/decision.md).

Pure: standard library and the domain only; "today" is the ``on`` parameter.

Modules: ``state`` (the course as of a date: calendar, interruptions, Table 4 steps),
``rules_final`` (discontinue/complete), ``rules_dose`` (schedule, regimen, Tables 2-3, data),
``safety`` (VOD, HSCT, QT, reproduction, dose deviation), ``ctcae`` (lab grades), ``qt`` (QT
medicine matcher), ``values`` (the Decision), ``core`` (``evaluate``).
"""

from inoplan.domain.engine.core import evaluate
from inoplan.domain.engine.values import (
    STATUSES,
    Alert,
    Decision,
    KeyDates,
    Modification,
    NextDose,
    Reason,
)

__all__ = [
    "STATUSES",
    "Alert",
    "Decision",
    "KeyDates",
    "Modification",
    "NextDose",
    "Reason",
    "evaluate",
]
