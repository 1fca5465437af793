"""The decision and its parts as immutable values (docs/decision.md). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, Final

__all__ = [
    "STATUSES",
    "Alert",
    "Decision",
    "KeyDates",
    "Modification",
    "NextDose",
    "Reason",
    "Verdict",
]

# docs/decision.md: when several apply, the first in this order wins.
STATUSES: Final = ("discontinue", "complete", "hold", "cannot_decide", "give", "wait")


@dataclass(frozen=True, slots=True)
class Reason:
    """Why: one rule that fired, its citation, the input values it used."""

    rule: str
    citation: str
    message: str
    inputs: Mapping[str, Any] = field(default_factory=dict)
    interpretation: str | None = None
    confidence: str | None = None
    verdict: str | None = None  # the status this reason asks for, if any


@dataclass(frozen=True, slots=True)
class Alert:
    severity: str  # critical | warning | info
    code: str
    message: str
    citation: str
    inputs: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A status some rule asks for, with the reason that says why."""

    status: str
    reason: Reason


@dataclass(frozen=True, slots=True)
class NextDose:
    cycle: int
    day: int
    scheduled: date
    earliest: date
    latest: date | None
    dose_mg_per_m2: Decimal | None
    dose_mg: Decimal | None
    bsa_m2: Decimal | None
    regimen: str
    provisional: bool
    status: str  # planned | held
    due: bool
    late_days: int = 0
    limited_from: Decimal | None = None  # scheduled mg/m2 when capped by the cycle maximum


@dataclass(frozen=True, slots=True)
class Modification:
    code: str  # reduce_total_25 | two_doses_per_cycle
    from_cycle: int
    factor: Decimal
    days: tuple[int, ...] | None
    citation: str
    interpretation: str | None
    pending: bool = False  # applies once the ongoing interruption ends


@dataclass(frozen=True, slots=True)
class KeyDates:
    contraception_until: date | None
    no_breastfeeding_until: date | None
    provisional: bool
    last_dose_on: date | None


@dataclass(frozen=True, slots=True)
class Decision:
    label: str  # "us" | "eu"
    label_revision: str
    engine_version: str
    as_of: date
    status: str
    next_dose: NextDose | None
    modifications: tuple[Modification, ...]
    omitted_doses: tuple[tuple[int, int], ...]
    key_dates: KeyDates
    reasons: tuple[Reason, ...]
    alerts: tuple[Alert, ...]
    patient_id: str
    current_cycle: int | None = None
    current_day: int | None = None
    notes: tuple[str, ...] = ()
    state: Mapping[str, Any] = field(default_factory=dict)  # the course as reconstructed
