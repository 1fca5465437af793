"""Use case: the dose and preparation for a body, from an mg/m2 or a cycle/day/response.

On the command line's fast path: standard library and the domain only (no pydantic). The
answers are ``TypedDict`` JSON objects (docs/cli.md), printed as they are.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from typing import TYPE_CHECKING, TypedDict

from inoplan import DISCLAIMER, __version__
from inoplan.domain.body import BSA_FORMULA_REFERENCES, Body, bsa_m2, parse_formula
from inoplan.domain.policy import SitePolicy
from inoplan.domain.units import to_decimal
from inoplan.errors import InvalidInput
from inoplan.services.render import CitationJson, Number, PreparedJson, citation_json, number

if TYPE_CHECKING:  # ``inoplan bsa`` starts without the label's types (bench/README.md)
    from inoplan.domain.label import Label

__all__ = ["BsaJson", "DoseJson", "RegimenReason", "bsa_json", "dose_json", "regimen_mg_per_m2"]


class BsaJson(TypedDict):
    """``inoplan bsa --json`` (docs/cli.md)."""

    bsa_m2: Number | None
    formula: str
    height_cm: Number | None
    weight_kg: Number | None
    reference: str
    rounding: str


class RegimenInputs(TypedDict):
    cycle: int
    day: int
    response: str | None


class RegimenReason(TypedDict):
    """The Table 1 reason for the mg/m2 of a cycle day (a decision reason's shape)."""

    rule: str
    citation: str
    message: str
    inputs: RegimenInputs


class DoseJson(PreparedJson):
    """``inoplan dose --json`` (docs/cli.md): the body, the dose, then its preparation
    (:class:`~inoplan.services.render.PreparedJson`), then limits and sources."""

    bsa_m2: Number | None
    bsa_formula: str
    height_cm: Number | None
    weight_kg: Number | None
    dose_mg_per_m2: Number | None
    dose_mg: Number | None
    max_mg_per_m2_per_dose: Number | None
    limits_citation: CitationJson
    rounding: str
    reasons: list[RegimenReason]
    label_revision: str
    engine_version: str
    disclaimer: str


_RESPONSES = ("CR", "CRi", "PR", "NR")


def _body(height_cm: object, weight_kg: object) -> Body:
    """Height and weight checked as a course document's are (with "did you mean ...?")."""
    from inoplan.document.plausibility import check_measure

    height = to_decimal(height_cm, field="height_cm")
    weight = to_decimal(weight_kg, field="weight_kg")
    check_measure("height_cm", height, field="height_cm", what="height")
    check_measure("weight_kg", weight, field="weight_kg", what="weight")
    return Body(height_cm=height, weight_kg=weight)


def bsa_json(
    height_cm: object,
    weight_kg: object,
    formula: str = "mosteller",
    *,
    policy: SitePolicy = SitePolicy(),
) -> BsaJson:
    """``inoplan bsa``: ``{"bsa_m2", "formula"}`` plus the inputs and the reference."""
    chosen = parse_formula(formula, field="formula")
    body = _body(height_cm, weight_kg)
    return {
        "bsa_m2": number(bsa_m2(body, chosen, step=policy.rounding.bsa_step_m2)),
        "formula": chosen.value,
        "height_cm": number(body.height_cm),
        "weight_kg": number(body.weight_kg),
        "reference": BSA_FORMULA_REFERENCES[chosen],
        "rounding": policy.rounding.description,
    }


def regimen_mg_per_m2(
    label: Label, cycle: int, day: int, response: str | None
) -> tuple[Decimal, str, RegimenReason]:
    """Table 1: the mg/m2 for a cycle day; later cycles' day 1 needs the response."""
    if day not in label.regimen.dose_days:
        raise InvalidInput("day", f"{day} is not a dose day; one of {label.regimen.dose_days}")
    cap = max(label.caps.no_hsct, label.caps.hsct_intended)
    if not 1 <= cycle <= cap:
        raise InvalidInput("cycle", f"{cycle} is outside 1-{cap} (the label's maximum)")
    if response is not None and response not in _RESPONSES:
        raise InvalidInput("response", f"{response!r}; one of {', '.join(_RESPONSES)}")
    if cycle > 1 and response is None:
        later = {
            sid: label.regimen.schedules[sid].mg_per_m2_on(day)
            for sid in ("later-after-cr", "later-no-cr")
        }
        if len(set(later.values())) > 1:
            raise InvalidInput(
                "response",
                f"needed for cycle {cycle} day {day}: CR/CRi -> {later['later-after-cr']} mg/m2, "
                f"otherwise {later['later-no-cr']} mg/m2 ({label.regimen.citation})",
            )
    remission = response in label.regimen.remission_statuses
    schedule = label.schedule_for(cycle, in_remission=remission)
    reason: RegimenReason = {
        "rule": f"regimen.{schedule.id}.day-{day}",
        "citation": label.regimen.citation.text,
        "message": f"Cycle {cycle} day {day} ({schedule.applies_to}): "
        f"{schedule.mg_per_m2_on(day)} mg/m2",
        "inputs": {"cycle": cycle, "day": day, "response": response},
    }
    return schedule.mg_per_m2_on(day), schedule.id, reason


def dose_json(
    *,
    height_cm: object,
    weight_kg: object,
    mg_per_m2: object | None = None,
    cycle: int | None = None,
    day: int | None = None,
    response: str | None = None,
    vial: str | None = None,
    formula: str = "mosteller",
    prepared_at: time | None = None,
    label: str = "us",
    policy: SitePolicy = SitePolicy(),
) -> DoseJson:
    """``inoplan dose`` (docs/cli.md): BSA, dose in mg and how to prepare it."""
    from inoplan.domain.dosing import dose_mg, prepare_dose
    from inoplan.knowledge.loader import load_label
    from inoplan.services.render import prepared_to_json

    the_label = load_label(label)
    reasons: list[RegimenReason] = []
    if mg_per_m2 is not None:
        if cycle is not None or day is not None or response is not None:
            raise InvalidInput("mg_per_m2", "give either --mg-per-m2 or --cycle/--day, not both")
        prescribed = to_decimal(mg_per_m2, field="mg_per_m2")
    elif cycle is not None and day is not None:
        prescribed, _, reason = regimen_mg_per_m2(the_label, cycle, day, response)
        reasons.append(reason)
    else:
        raise InvalidInput("mg_per_m2", "give --mg-per-m2, or --cycle and --day")
    chosen = parse_formula(formula, field="formula")
    body = _body(height_cm, weight_kg)
    bsa = bsa_m2(body, chosen, step=policy.rounding.bsa_step_m2)
    mg = dose_mg(prescribed, bsa, the_label.limits, policy.rounding)
    vial_id = vial or {"us": "us-0.9mg", "eu": "eu-1mg"}.get(the_label.region, "us-0.9mg")
    prepared = prepare_dose(mg, vial_id, the_label, policy=policy, prepared_at=prepared_at)
    return {
        "bsa_m2": number(bsa),
        "bsa_formula": chosen.value,
        "height_cm": number(body.height_cm),
        "weight_kg": number(body.weight_kg),
        "dose_mg_per_m2": number(prescribed),
        "dose_mg": number(mg),
        **prepared_to_json(prepared),
        "max_mg_per_m2_per_dose": number(the_label.limits.max_mg_per_m2_per_dose),
        "limits_citation": citation_json(the_label.limits.citation),
        "rounding": policy.rounding.description,
        "reasons": reasons,
        "label_revision": the_label.id,
        "engine_version": __version__,
        "disclaimer": DISCLAIMER,
    }
