"""Observation -> vitals, labs, ECG, pregnancy test, response and discontinuation events.

LOINC decides what an Observation is; units go through a fixed table and an unknown unit is an
error naming the resource (never a guess); a lab's ``referenceRange.high`` is its upper limit of
normal; a value that cannot be used is left out and said so in the notes.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from inoplan.errors import InvalidInput, UnknownUnit
from inoplan.interop import codes as k
from inoplan.interop.fhir_in.common import (
    Context,
    codings,
    decimal,
    event_id,
    extensions,
    has_code,
    number,
    quantity_unit,
    ref,
    text_of,
    to_date,
    with_id,
)
from inoplan.interop.ucum import wire_lab_unit

__all__ = ["lab_unit", "observations", "pregnancy_result", "quantity_lab_unit"]

_OK_STATUS = {None, "final", "amended", "corrected"}
_WEIGHT = frozenset(k.WEIGHT)
_BODY = _WEIGHT | frozenset(k.HEIGHT)
_ANALYTES = frozenset(k.LOINC_ANALYTE)
_QTC = frozenset(k.QTC)
_PREGNANCY = frozenset(k.PREGNANCY_TEST)
_RELEVANT_LOINC = _BODY | _ANALYTES | _QTC | _PREGNANCY
_OUR_OBSERVATION = k.CS + "observation"


def lab_unit(unit: str | None, where: str) -> str:
    """A lab unit written as *text* -> the course document's unit, through the one table of
    spellings (``codes.UNIT_SPELLINGS``); unknown -> error naming ``where``."""
    return wire_lab_unit(ucum_code=None, text=unit, where=where)


def quantity_lab_unit(quantity: Mapping[str, Any], where: str) -> str:
    """A Quantity's lab unit: its UCUM code when coded in UCUM (strict), else its text."""
    code = quantity.get("code")
    if quantity.get("system") == k.UCUM and code:
        return wire_lab_unit(ucum_code=str(code), text=None, where=f"{where}.code")
    text = quantity.get("unit") if quantity.get("unit") is not None else code
    return wire_lab_unit(
        ucum_code=None, text=None if text is None else str(text), where=f"{where}.unit"
    )


def _body_value(quantity: Mapping[str, Any], table: Mapping[str, str], where: str) -> Decimal:
    unit = quantity_unit(quantity)
    value = decimal(quantity.get("value"), f"{where}.value")
    if unit is None:
        raise InvalidInput(where, "the measurement has no unit")
    key = unit.strip()
    factor = table.get(key) or table.get(key.lower())
    if factor is None:
        raise UnknownUnit(where, unit, tuple(table))
    return value * Decimal(factor)


def pregnancy_result(o: Mapping[str, Any]) -> str | None:
    """``positive``/``negative`` from SNOMED CT codes or plain words; else None."""
    concept = o.get("valueCodeableConcept")
    if has_code(concept, k.SNOMED, (k.SNOMED_PREGNANT, k.SNOMED_POSITIVE)):
        return "positive"
    if has_code(concept, k.SNOMED, (k.SNOMED_NOT_PREGNANT, k.SNOMED_NEGATIVE)):
        return "negative"
    text = (text_of(concept) + " " + str(o.get("valueString") or "")).strip().lower()
    if text in ("negative", "neg", "not pregnant", "not detected"):
        return "negative"
    if text in ("positive", "pos", "pregnant", "detected"):
        return "positive"
    return None


def observations(ctx: Context) -> list[dict[str, Any]]:
    vitals: dict[tuple[str, str | None], dict[str, Any]] = {}
    labs: dict[tuple[str, str | None], dict[str, Any]] = {}
    latest_lab: dict[tuple[str, str | None, str], str] = {}
    events: list[dict[str, Any]] = []
    for o in ctx.of("Observation"):
        where = ref(o)
        if o.get("status") not in _OK_STATUS:
            ctx.notes.append(f"{where} skipped: status {o.get('status')!r}")
            continue
        concept = o.get("code")
        when = ctx.when(o)
        day = to_date(when)
        eid = event_id(o)
        coded = codings(concept)
        loinc = {str(c.get("code")) for c in coded if c.get("system") == k.LOINC}
        ours = {str(c.get("code")) for c in coded if c.get("system") == _OUR_OBSERVATION}
        relevant = loinc & _RELEVANT_LOINC or ours
        if not relevant:
            continue
        if day is None:
            ctx.notes.append(f"{where} skipped: no date")
            continue
        iso = day.isoformat()
        quantity = o.get("valueQuantity") if isinstance(o.get("valueQuantity"), dict) else None
        if loinc & _BODY:
            if quantity is None:
                ctx.notes.append(f"{where} skipped: no valueQuantity")
                continue
            slot = vitals.setdefault((iso, eid), {"date": iso, "type": "vitals"})
            if loinc & _WEIGHT:
                kg = _body_value(quantity, k.MASS_TO_KG, f"{where}.valueQuantity")
                slot["weight_kg"] = number(kg)
                ctx.sources[f"weight_kg@{iso}"] = f"{where} ({iso})"
            else:
                cm = _body_value(quantity, k.LENGTH_TO_CM, f"{where}.valueQuantity")
                slot["height_cm"] = number(cm)
                ctx.sources[f"height_cm@{iso}"] = f"{where} ({iso})"
            ext = extensions(o)
            for name in ("hepatomegaly", "ascites"):
                if isinstance(ext.get(name), bool):
                    slot[name] = ext[name]
            if eid:
                slot["id"] = eid
        elif loinc & _ANALYTES:
            analyte = k.LOINC_ANALYTE[sorted(loinc & _ANALYTES)[0]]
            if quantity is None:
                ctx.notes.append(f"{where} skipped: no valueQuantity")
                continue
            value = _lab_value(ctx, o, analyte, quantity, where)
            if value is None:
                continue
            key = (iso, eid, analyte)
            if key in latest_lab and latest_lab[key] >= str(when):
                continue  # an earlier result the same day: the later one counts
            latest_lab[key] = str(when)
            slot = labs.setdefault((iso, eid), {"date": iso, "type": "labs"})
            slot[analyte] = value
            if eid:
                slot["id"] = eid
            ctx.sources[f"{analyte}@{iso}"] = f"{where} ({iso})"
        elif loinc & _QTC:
            if quantity is None:
                continue
            unit = (quantity_unit(quantity) or "").strip()
            ms = decimal(quantity.get("value"), f"{where}.valueQuantity.value")
            if unit == "s":
                ms *= 1000
            elif unit not in ("ms", "msec"):
                raise UnknownUnit(f"{where}.valueQuantity", unit, ("ms", "s"))
            event: dict[str, Any] = {"date": iso, "type": "ecg", "qtcf_ms": number(ms, "1")}
            if "8636-3" in loinc and "76634-5" not in loinc:
                ctx.notes.append(f"{where}: QTc method not stated; read as QTcF")
            events.append(with_id(event, eid))
            ctx.sources[f"qtcf_ms@{iso}"] = f"{where} ({iso})"
        elif loinc & _PREGNANCY:
            result = pregnancy_result(o)
            if result is None:
                ctx.notes.append(f"{where} skipped: pregnancy result not readable")
                continue
            events.append(with_id({"date": iso, "type": "pregnancy_test", "result": result}, eid))
            ctx.sources[f"pregnancy_test@{iso}"] = f"{where} ({iso})"
        elif ours:
            found = _inoplan_observation(o, ours, iso, where)
            if found is not None:
                event = found
                if event["type"] == "labs":
                    slot = labs.setdefault((iso, eid), {"date": iso, "type": "labs"})
                    slot.update({key: v for key, v in event.items() if key not in ("date", "type")})
                    if eid:
                        slot["id"] = eid
                else:
                    events.append(with_id(event, eid))
    return list(vitals.values()) + list(labs.values()) + events


def _lab_value(
    ctx: Context, o: Mapping[str, Any], analyte: str, quantity: Mapping[str, Any], where: str
) -> dict[str, Any] | None:
    from inoplan.domain.units import convert

    unit = quantity_lab_unit(quantity, f"{where}.valueQuantity")
    value = decimal(quantity.get("value"), f"{where}.valueQuantity.value")
    out: dict[str, Any] = {"value": number(value, "0.0001"), "unit": unit}
    high = low = None
    for rr in o.get("referenceRange") or ():
        if not isinstance(rr, dict):
            continue
        if isinstance(rr.get("high"), dict) and rr["high"].get("value") is not None:
            high = rr["high"]
        if isinstance(rr.get("low"), dict) and rr["low"].get("value") is not None:
            low = rr["low"]
        break
    for name, bound in (("uln", high), ("lln", low)):  # kept for every analyte, as given
        if bound is None:
            continue
        bound_value = decimal(bound.get("value"), f"{where}.referenceRange.{name}")
        has_unit = any(bound.get(key) for key in ("code", "unit"))
        bound_unit = (
            quantity_lab_unit(bound, f"{where}.referenceRange.{name}") if has_unit else unit
        )
        if bound_unit != unit:  # express the limit in the value's unit
            canonical = convert(analyte, bound_value, bound_unit, field=f"{where}.referenceRange")
            per_unit = convert(analyte, Decimal(1), unit, field=f"{where}.valueQuantity.unit")
            bound_value = canonical / per_unit
        if name == "uln" and bound_value <= 0:
            continue  # "0" is no upper limit (the course document needs one > 0)
        out[name] = number(bound_value, "0.0001")
    if analyte in ("bilirubin", "ast", "alt") and "uln" not in out:
        ctx.notes.append(
            f"{where} ({analyte}) not used: no reference range, so no upper limit of normal"
        )
        return None
    if analyte == "platelets" and extensions(o).get("transfused") is True:
        out["transfused"] = True
    return out


def _inoplan_observation(
    o: Mapping[str, Any], ours: set[Any], iso: str, where: str
) -> dict[str, Any] | None:
    ext = extensions(o)
    if "response" in ours:
        status = next(
            (
                str(c.get("code"))
                for c in codings(o.get("valueCodeableConcept"))
                if c.get("system") == k.CS + "response"
            ),
            None,
        )
        if status is None:
            return None
        event: dict[str, Any] = {"date": iso, "type": "response", "status": status}
        for name in ("mrd_negative", "disease_stable_or_improved", "cytopenia_due_to_disease"):
            if isinstance(ext.get(name), bool):
                event[name] = ext[name]
        return event
    if "discontinuation" in ours:
        return {"date": iso, "type": "discontinuation", "reason": str(o.get("valueString") or "")}
    if ours & {"peripheral_blasts_pct", "marrow_blasts_pct"}:
        name = sorted(ours & {"peripheral_blasts_pct", "marrow_blasts_pct"})[0]
        quantity = o.get("valueQuantity") or {}
        value = decimal(quantity.get("value"), f"{where}.valueQuantity.value")
        return {"date": iso, "type": "labs", name: number(value, "0.01")}
    return None
