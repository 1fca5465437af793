"""MedicationAdministration (inotuzumab doses) and MedicationRequest/MedicationStatement
(co-medication for the QT screen) -> administration and medication events."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from inoplan.errors import InvalidInput, UnknownUnit
from inoplan.interop import codes as k
from inoplan.interop.fhir_in.common import (
    Context,
    Resource,
    clock,
    codings,
    decimal,
    effective,
    event_id,
    extensions,
    label_of,
    number,
    quantity_unit,
    ref,
    text_of,
    to_date,
    with_id,
)

__all__ = [
    "administrations",
    "cycle_day_of",
    "is_inotuzumab",
    "medication_name",
    "medications",
]


def _concept_is_inotuzumab(concept: Any) -> bool:
    for c in codings(concept):
        system, code = c.get("system"), str(c.get("code") or "")
        if system == k.RXNORM and code in k.RXNORM_INOTUZUMAB:
            return True
        if system == k.ATC and code.upper() in k.ATC_INOTUZUMAB:
            return True
    text = text_of(concept).lower()
    return any(word in text for word in k.DRUG_TEXT)


def is_inotuzumab(
    resource: Mapping[str, Any], by_ref: Mapping[str, Resource] | None = None
) -> bool:
    """True when a Medication* resource's medication is inotuzumab ozogamicin (any coding)."""
    if _concept_is_inotuzumab(resource.get("medicationCodeableConcept")):
        return True
    reference = (resource.get("medicationReference") or {}).get("reference")
    if reference and by_ref is not None:
        medication = by_ref.get(str(reference).lstrip("#")) or by_ref.get(str(reference))
        if medication is not None:
            return _concept_is_inotuzumab(medication.get("code"))
    return False


def medication_name(resource: Mapping[str, Any], by_ref: Mapping[str, Resource]) -> str:
    name = label_of(resource.get("medicationCodeableConcept"))
    if not name:
        reference = (resource.get("medicationReference") or {}).get("reference")
        medication = by_ref.get(str(reference).lstrip("#")) if reference else None
        name = label_of(medication.get("code")) if medication else ""
        if not name:
            name = str((resource.get("medicationReference") or {}).get("display") or "")
    return name.strip()


def _dose_mg(quantity: Mapping[str, Any], where: str) -> Decimal:
    unit = (quantity_unit(quantity) or "").strip()
    value = decimal(quantity.get("value"), f"{where}.value")
    factors = {
        "mg": Decimal(1),
        "ug": Decimal("0.001"),
        "mcg": Decimal("0.001"),
        "µg": Decimal("0.001"),
    }
    if unit not in factors:
        raise UnknownUnit(where, unit or None, ("mg", "ug"))
    return value * factors[unit]


def _minutes_between(start: str, end: str) -> int | None:
    from datetime import datetime

    try:
        a = datetime.fromisoformat(start.replace("Z", "+00:00"))
        b = datetime.fromisoformat(end.replace("Z", "+00:00"))
    except ValueError:
        return None
    if (a.tzinfo is None) != (b.tzinfo is None):
        return None
    minutes = int((b - a).total_seconds() // 60)
    return minutes if 1 <= minutes <= 1440 else None


_CYCLE_DAY = re.compile(r"(?:cycle\s*(\d+)\D{0,6}day\s*(\d+))|(?:\bC(\d+)\s*D(\d+)\b)", re.I)


def _cycle_day(ext: Mapping[str, Any], text: Any) -> tuple[int, int] | None:
    if isinstance(ext.get("cycle"), int) and isinstance(ext.get("day"), int):
        return int(ext["cycle"]), int(ext["day"])
    if isinstance(text, str):
        match = _CYCLE_DAY.search(text)
        if match:
            cycle = int(match.group(1) or match.group(3))
            day = int(match.group(2) or match.group(4))
            if day in (1, 8, 15) and 1 <= cycle <= 6:
                return cycle, day
    return None


def cycle_day_of(resource: Mapping[str, Any]) -> tuple[int, int] | None:
    """Cycle and day of an order or administration (our extension, or text such as C1D8)."""
    texts = [d.get("text") for d in resource.get("dosageInstruction") or () if isinstance(d, dict)]
    texts.append(
        (resource.get("dosage") or {}).get("text")
        if isinstance(resource.get("dosage"), dict)
        else None
    )
    ext = extensions(resource)
    for text in texts or [None]:
        found = _cycle_day(ext, text)
        if found:
            return found
    return _cycle_day(ext, None)


def administrations(ctx: Context) -> list[dict[str, Any]]:
    given = []
    for a in ctx.of("MedicationAdministration"):
        if not is_inotuzumab(a, ctx.by_ref):
            continue
        where = ref(a)
        if a.get("status") not in ("completed", None):
            ctx.notes.append(f"{where} skipped: status {a.get('status')!r}")
            continue
        when = effective(a)
        day = to_date(when)
        if day is None:
            raise InvalidInput(f"{where}.effective", "an inotuzumab administration needs its date")
        dosage = a.get("dosage") or {}
        dose = dosage.get("dose") if isinstance(dosage.get("dose"), dict) else None
        if dose is None:
            raise InvalidInput(f"{where}.dosage.dose", "need the dose given in mg")
        dose_mg = _dose_mg(dose, f"{where}.dosage.dose")
        event: dict[str, Any] = {
            "date": day.isoformat(),
            "type": "administration",
            "dose_mg": number(dose_mg),
        }
        hhmm = clock(when)
        if hhmm and hhmm != "09:00":  # the contract's default is left implicit
            event["time"] = hhmm
        period = a.get("effectivePeriod") or {}
        if isinstance(period, dict) and period.get("start") and period.get("end"):
            minutes = _minutes_between(str(period["start"]), str(period["end"]))
            if minutes and minutes != 60:
                event["duration_min"] = minutes
        ext = extensions(a)
        position = _cycle_day(ext, dosage.get("text"))
        if position:
            event["cycle"], event["day"] = position
        _infusion_care(event, ext)
        ctx.sources[f"dose_mg@{day.isoformat()}"] = f"{where} ({day.isoformat()})"
        given.append((when or "", with_id(event, event_id(a)), where))
    given.sort(key=lambda item: (item[1]["date"], item[0]))
    return _place_in_cycles(ctx, given)


def _infusion_care(event: dict[str, Any], ext: Mapping[str, Any]) -> None:
    """inoplan's extensions for premedication, observation and override (as exported); the
    course document's checks then apply (a reason where the label's care was not given)."""
    agents = ext.get("premedication")
    if isinstance(agents, str):
        event["premedication"] = [] if agents == "none" else agents.split(",")
    for name in ("premedication_reason", "observation_reason", "override_reason"):
        if isinstance(ext.get(name), str):
            event[name] = ext[name]
    if isinstance(ext.get("observation_min"), int):
        event["observation_min"] = ext["observation_min"]


def _place_in_cycles(
    ctx: Context, given: list[tuple[str, dict[str, Any], str]]
) -> list[dict[str, Any]]:
    """Fill in cycle and day where the EHR did not record them, from the dates."""
    out: list[dict[str, Any]] = []
    cycle_start: date | None = None
    cycle, day = 0, 0
    for _, event, where in given:
        on = date.fromisoformat(event["date"])
        if "cycle" in event:
            cycle, day = event["cycle"], event["day"]
            cycle_start = on - timedelta(days=day - 1)
        else:
            gap = None if cycle_start is None else (on - cycle_start).days
            if gap is None or gap >= 19:
                cycle, day = cycle + 1, 1
            elif day == 1 and 4 <= gap <= 11:
                day = 8
            elif day in (1, 8) and 11 <= gap <= 18:
                day = 15
            else:
                raise InvalidInput(
                    where, "cannot place this dose in the cycle from its date: record cycle and day"
                )
            if day == 1:
                cycle_start = on
            event["cycle"], event["day"] = cycle, day
            ctx.notes.append(f"{where}: cycle {cycle} day {day} inferred from the dates")
        out.append(event)
    return out


def medications(ctx: Context, start: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for kind in ("MedicationRequest", "MedicationStatement"):
        for m in ctx.of(kind):
            if is_inotuzumab(m, ctx.by_ref):
                continue
            status = m.get("status")
            if status in ("entered-in-error", "cancelled", "draft", "not-taken", "unknown"):
                continue
            name = medication_name(m, ctx.by_ref)
            if not name:
                continue
            period = m.get("effectivePeriod") if isinstance(m.get("effectivePeriod"), dict) else {}
            began = (
                to_date(m.get("authoredOn"))
                or to_date(m.get("effectiveDateTime"))
                or to_date((period or {}).get("start"))
                or to_date(m.get("dateAsserted"))
            )
            on = began.isoformat() if began else start
            if began is None:
                ctx.notes.append(f"{ref(m)}: no start date; counted from the course start")
            events.append(
                with_id(
                    {"date": on, "type": "medication", "name": name[:200], "action": "start"},
                    event_id(m),
                )
            )
            ended = to_date((period or {}).get("end"))
            if status in ("stopped", "completed") and ended is not None:
                events.append(
                    {
                        "date": ended.isoformat(),
                        "type": "medication",
                        "name": name[:200],
                        "action": "stop",
                    }
                )
    return events
