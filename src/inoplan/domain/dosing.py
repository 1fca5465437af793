"""Dose arithmetic, hard limits and the preparation of one dose. Pure.

The dose in mg is the prescribed mg/m2 times the BSA rounded to 0.01 m2, rounded to the nearest
0.01 mg (docs/cli.md; a site may choose another documented rounding policy). The hard
limits of the label apply to the prescribed mg/m2 and are checked here, on every path that turns
an mg/m2 into mg: no caller can compute a dose above them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal

from inoplan.domain.label import Citation, DoseLimits, Label, Preparation, Vial
from inoplan.domain.policy import RoundingPolicy, SitePolicy
from inoplan.errors import DoseLimitExceeded, InvalidInput

__all__ = [
    "PreparedDose",
    "check_cycle_total",
    "check_dose",
    "dose_mg",
    "end_of_infusion_deadline",
    "prepare_dose",
]


def check_dose(mg_per_m2: Decimal, limits: DoseLimits, *, field: str = "mg_per_m2") -> Decimal:
    """Refuse a prescribed mg/m2 that is not positive or above the per-dose limit.

    >>> from inoplan.knowledge import load_label
    >>> check_dose(Decimal("0.8"), load_label("us").limits)
    Decimal('0.8')
    >>> check_dose(Decimal("0.81"), load_label("us").limits)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    inoplan.errors.DoseLimitExceeded: mg_per_m2: 0.81 mg/m2 exceeds the maximum of 0.8 mg/m2 ...
    """
    if not mg_per_m2.is_finite() or mg_per_m2 <= 0:
        raise InvalidInput(field, f"{mg_per_m2} mg/m2 is not a positive dose")
    if mg_per_m2 > limits.max_mg_per_m2_per_dose:
        raise DoseLimitExceeded(
            field, mg_per_m2, limits.max_mg_per_m2_per_dose, "per dose", limits.citation.text
        )
    return mg_per_m2


def check_cycle_total(
    doses_mg_per_m2: Sequence[Decimal], limits: DoseLimits, *, field: str = "cycle"
) -> Decimal:
    """Refuse a cycle whose prescribed doses add up to more than the per-cycle limit."""
    total = sum(doses_mg_per_m2, Decimal(0))
    if total > limits.max_mg_per_m2_per_cycle:
        raise DoseLimitExceeded(
            field, total, limits.max_mg_per_m2_per_cycle, "per cycle", limits.citation.text
        )
    return total


def dose_mg(
    mg_per_m2: Decimal,
    bsa_m2: Decimal,
    limits: DoseLimits,
    rounding: RoundingPolicy = RoundingPolicy(),
) -> Decimal:
    """mg/m2 x m2 -> mg, after checking the per-dose limit.

    >>> from inoplan.knowledge import load_label
    >>> dose_mg(Decimal("0.8"), Decimal("1.82"), load_label("us").limits)
    Decimal('1.46')
    """
    check_dose(mg_per_m2, limits)
    if not bsa_m2.is_finite() or bsa_m2 <= 0:
        raise InvalidInput("bsa_m2", f"{bsa_m2} m2 is not a body surface area")
    return rounding.round_dose(mg_per_m2 * bsa_m2)


@dataclass(frozen=True, slots=True)
class PreparedDose:
    """How to make one dose: vials, volumes, infusion, clocks. Volumes in mL."""

    dose_mg: Decimal
    vial: Vial
    vials: int
    reconstitution_ml_per_vial: Decimal
    reconstituted_mg_per_ml: Decimal
    withdraw_ml: Decimal
    diluent: str
    diluent_ml: Decimal
    final_volume_ml: Decimal
    concentration_mg_per_ml: Decimal
    infusion_minutes: int
    infusion_rate_ml_per_h: Decimal
    waste_mg: Decimal
    reduced_volume: bool
    concentration_range_mg_per_ml: tuple[Decimal, Decimal]
    prepared_at: time | None = None
    dilute_by: str | None = None
    infusion_end_by: str | None = None
    start_infusion_by: str | None = None
    notes: tuple[str, ...] = ()
    citations: tuple[Citation, ...] = field(default_factory=tuple)


def _clock(start: time, hours: Decimal) -> str:
    """Wall-clock time ``hours`` after ``start``, with the day offset when it passes midnight."""
    minutes = start.hour * 60 + start.minute + int(hours * 60)
    days, minute_of_day = divmod(minutes, 24 * 60)
    text = f"{minute_of_day // 60:02d}:{minute_of_day % 60:02d}"
    return text + (f" (+{days} day)" if days else "")


def end_of_infusion_deadline(prepared_at: datetime, label: Label) -> datetime:
    """The latest end of infusion for a dose reconstituted at ``prepared_at`` (label section
    2.4 timing: reconstitution to end of infusion), the same rule as ``infusion_end_by``.

    >>> from inoplan.knowledge import load_label
    >>> end_of_infusion_deadline(datetime(2026, 12, 8, 7, 0), load_label("us")).isoformat()
    '2026-12-08T15:00:00'
    """
    hours = label.preparation.reconstitution_to_end_of_infusion_max_hours
    return prepared_at + timedelta(minutes=int(hours * 60))


def prepare_dose(
    dose_mg_value: Decimal,
    vial_id: str,
    label: Label,
    *,
    policy: SitePolicy = SitePolicy(),
    prepared_at: time | None = None,
) -> PreparedDose:
    """Reconstitution, withdrawal, dilution and infusion of one dose (label section 2.4).

    The standard bag holds 50 mL at 50 mL/h over 1 hour. A dose too small for the minimum final
    concentration in 50 mL is diluted to a smaller volume (never below the minimum), and the rate
    keeps a 1-hour infusion.

    >>> from inoplan.knowledge import load_label
    >>> p = prepare_dose(Decimal("1.46"), "us-0.9mg", load_label("us"))
    >>> p.vials, p.withdraw_ml, p.final_volume_ml, p.infusion_rate_ml_per_h
    (2, Decimal('5.84'), Decimal('50'), Decimal('50'))
    """
    prep: Preparation = label.preparation
    vial = label.vials.get(vial_id)
    if vial is None:
        raise InvalidInput("vial", f"unknown vial {vial_id!r}; one of {', '.join(label.vials)}")
    if not dose_mg_value.is_finite() or dose_mg_value <= 0:
        raise InvalidInput("dose_mg", f"{dose_mg_value} mg is not a positive dose")
    c_min = policy.final_concentration_min_mg_per_ml
    if c_min is None:  # "is None", not "or": a site value of 0 is refused below, never replaced
        c_min = prep.final_concentration_min_mg_per_ml
    c_max = policy.final_concentration_max_mg_per_ml
    if c_max is None:
        c_max = prep.final_concentration_max_mg_per_ml
    if not 0 < c_min < c_max:
        raise InvalidInput("final_concentration", f"range {c_min}-{c_max} mg/mL is not valid")

    vials = math.ceil(dose_mg_value / vial.deliverable_mg)
    withdraw_ml = (dose_mg_value / prep.reconstituted_mg_per_ml).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )
    final_ml = prep.standard_final_volume_ml
    notes: list[str] = []
    reduced = False
    if dose_mg_value / final_ml < c_min:
        # Largest whole-mL volume that keeps the concentration at or above the minimum.
        final_ml = (dose_mg_value / c_min).to_integral_value(rounding=ROUND_FLOOR)
        reduced = True
        notes.append(
            f"Dose {dose_mg_value} mg is below {c_min} mg/mL in "
            f"{prep.standard_final_volume_ml} mL: "
            f"diluted to {final_ml} mL instead so the final concentration stays within "
            f"{c_min}-{c_max} mg/mL."
        )
    if final_ml <= 0 or final_ml < withdraw_ml or dose_mg_value / final_ml > c_max:
        raise InvalidInput(
            "dose_mg",
            f"{dose_mg_value} mg cannot be diluted within {c_min}-{c_max} mg/mL in "
            f"{prep.standard_final_volume_ml} mL or less",
        )
    minutes = prep.infusion_minutes
    rate = (final_ml * 60 / minutes).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    concentration = (dose_mg_value / final_ml).quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)
    waste = vials * vial.deliverable_mg - dose_mg_value
    notes.append(prep.final_concentration_note)
    notes.append(prep.syringe_pathway_note)
    if vial.note:
        notes.append(vial.note)
    dilute_by = end_by = start_by = None
    if prepared_at is not None:
        dilute_by = _clock(prepared_at, prep.reconstitution_to_dilution_max_hours)
        end_by = _clock(prepared_at, prep.reconstitution_to_end_of_infusion_max_hours)
        start_by = _clock(
            prepared_at,
            prep.reconstitution_to_end_of_infusion_max_hours - Decimal(minutes) / 60,
        )
    return PreparedDose(
        dose_mg=dose_mg_value,
        vial=vial,
        vials=vials,
        reconstitution_ml_per_vial=vial.reconstitution_ml,
        reconstituted_mg_per_ml=prep.reconstituted_mg_per_ml,
        withdraw_ml=withdraw_ml,
        diluent=prep.diluent,
        diluent_ml=final_ml - withdraw_ml,
        final_volume_ml=final_ml,
        concentration_mg_per_ml=concentration,
        infusion_minutes=minutes,
        infusion_rate_ml_per_h=_tidy(rate),
        waste_mg=waste,
        reduced_volume=reduced,
        concentration_range_mg_per_ml=(c_min, c_max),
        prepared_at=prepared_at,
        dilute_by=dilute_by,
        infusion_end_by=end_by,
        start_infusion_by=start_by,
        notes=tuple(notes),
        citations=(
            prep.citation,
            prep.final_concentration_citation,
            prep.timing_citation,
            vial.citation,
        ),
    )


def _tidy(value: Decimal) -> Decimal:
    return value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize()
