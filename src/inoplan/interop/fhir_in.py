"""FHIR R4 (plain JSON) -> course document (docs/course-document.md). Pure: no I/O, no clock.

Works on dicts as they come off the wire, not on ``fhir.resources`` models: EHRs send shapes
that strict models refuse (search Bundles without ``type``, opioid-CDS style wrapped entries,
units as free text) and full model validation would dominate the CDS Hooks hot path.

Rules: LOINC decides what an Observation is; units are normalised through a fixed table and an
unknown unit is an error naming the resource (never a guess); a lab's ``referenceRange.high`` is
its upper limit of normal; a value that cannot be used is left out and said so in ``notes``.
The result must validate with ``inoplan.document.parse_course``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from inoplan.errors import InvalidInput, UnknownUnit
from inoplan.interop import codes as k

__all__ = [
    "ImportResult",
    "bundle_to_document",
    "codings",
    "has_code",
    "is_inotuzumab",
    "lab_unit",
    "resources_of",
]

Resource = dict[str, Any]


@dataclass
class ImportResult:
    """A course document built from FHIR, with what the mapping had to decide or drop."""

    document: dict[str, Any]
    notes: list[str] = field(default_factory=list)
    #: input name (``weight_kg``, ``anc``...) -> "Observation/wt-1 (2025-03-02)"
    sources: dict[str, str] = field(default_factory=dict)


# -- walking Bundles -----------------------------------------------------------------------------


def resources_of(*values: Any) -> list[Resource]:
    """Every resource in the values: Bundles of any type (or none), wrapped entries, lone resources.

    ``None`` and OperationOutcome (a prefetch error report) are skipped.
    """
    out: list[Resource] = []
    for value in values:
        _collect(value, out, depth=0)
    return out


def _collect(value: Any, out: list[Resource], depth: int) -> None:
    if not isinstance(value, dict) or depth > 4:
        return
    kind = value.get("resourceType")
    if kind is None and isinstance(value.get("resource"), dict):
        _collect(value["resource"], out, depth + 1)  # {"response": {...}, "resource": {...}}
        return
    if kind == "Bundle":
        for entry in value.get("entry") or ():
            if isinstance(entry, dict):
                _collect(entry.get("resource"), out, depth + 1)
        return
    if kind is None or kind == "OperationOutcome":
        return
    out.append(dict(value))
    for contained in value.get("contained") or ():
        if isinstance(contained, dict) and contained.get("resourceType"):
            out.append(dict(contained))


def ref(resource: Mapping[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id', '?')}"


# -- codes ---------------------------------------------------------------------------------------


def codings(concept: Any) -> list[Mapping[str, Any]]:
    if not isinstance(concept, dict):
        return []
    return [c for c in concept.get("coding") or () if isinstance(c, dict)]


def has_code(concept: Any, system: str, wanted: Iterable[str]) -> bool:
    wanted = set(wanted)
    return any(c.get("system") == system and c.get("code") in wanted for c in codings(concept))


def _text(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    parts = [str(concept.get("text") or "")]
    parts += [str(c.get("display") or "") for c in codings(concept)]
    return " ".join(p for p in parts if p)


def _label_of(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if concept.get("text"):
        return str(concept["text"]).strip()
    for c in codings(concept):
        if c.get("display"):
            return str(c["display"]).strip()
    for c in codings(concept):
        if c.get("code"):
            return str(c["code"]).strip()
    return ""


def _concept_is_inotuzumab(concept: Any) -> bool:
    for c in codings(concept):
        system, code = c.get("system"), str(c.get("code") or "")
        if system == k.RXNORM and code in k.RXNORM_INOTUZUMAB:
            return True
        if system == k.ATC and code.upper() in k.ATC_INOTUZUMAB:
            return True
    text = _text(concept).lower()
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
    name = _label_of(resource.get("medicationCodeableConcept"))
    if not name:
        reference = (resource.get("medicationReference") or {}).get("reference")
        medication = by_ref.get(str(reference).lstrip("#")) if reference else None
        name = _label_of(medication.get("code")) if medication else ""
        if not name:
            name = str((resource.get("medicationReference") or {}).get("display") or "")
    return name.strip()


# -- numbers, dates and units --------------------------------------------------------------------


def _decimal(value: Any, where: str) -> Decimal:
    from inoplan.domain.units import to_decimal

    return to_decimal(value, field=where)


def number(value: Decimal, places: str = "0.01") -> int | float:
    """A Decimal as the JSON number the course document wants (int when whole)."""
    rounded = value.quantize(Decimal(places), rounding=ROUND_HALF_UP).normalize()
    if rounded == rounded.to_integral_value():
        return int(rounded)
    return float(rounded)


def _date(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None  # a year or year-month is not a day
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def _clock(value: Any) -> str | None:
    """``2026-12-01T09:30:00+01:00`` -> ``09:30`` (the local clock time as written)."""
    if isinstance(value, str) and len(value) >= 16 and value[10] == "T":
        hhmm = value[11:16]
        if re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", hhmm):
            return hhmm
    return None


def _effective(resource: Mapping[str, Any]) -> str | None:
    for key in ("effectiveDateTime", "effectiveInstant", "occurrenceDateTime", "performedDateTime"):
        if isinstance(resource.get(key), str):
            return str(resource[key])
    for key in ("effectivePeriod", "performedPeriod"):
        period = resource.get(key)
        if isinstance(period, dict) and isinstance(period.get("start"), str):
            return str(period["start"])
    return None


def _quantity_unit(quantity: Mapping[str, Any]) -> str | None:
    """The UCUM code when the quantity is UCUM-coded, else the printed unit."""
    if quantity.get("system") == k.UCUM and quantity.get("code"):
        return str(quantity["code"])
    if quantity.get("code") and not quantity.get("unit"):
        return str(quantity["code"])
    unit = quantity.get("unit")
    return str(unit) if unit is not None else None


def lab_unit(unit: str | None, where: str) -> str:
    """A lab unit as written by an EHR -> the course document's spelling; unknown -> error."""
    if unit is None:
        raise InvalidInput(where, "the result has no unit")
    folded = unit.strip().replace("µ", "u").replace("μ", "u").lower()
    if folded not in k.LAB_UNIT_ALIASES:
        raise UnknownUnit(where, unit, tuple(sorted(set(k.LAB_UNIT_ALIASES.values()))))
    return k.LAB_UNIT_ALIASES[folded]


def _body_value(quantity: Mapping[str, Any], table: Mapping[str, str], where: str) -> Decimal:
    unit = _quantity_unit(quantity)
    value = _decimal(quantity.get("value"), f"{where}.value")
    if unit is None:
        raise InvalidInput(where, "the measurement has no unit")
    key = unit.strip()
    factor = table.get(key) or table.get(key.lower())
    if factor is None:
        raise UnknownUnit(where, unit, tuple(table))
    return value * Decimal(factor)


# -- the mapping ---------------------------------------------------------------------------------

_OK_STATUS = {None, "final", "amended", "corrected"}
_WEIGHT = frozenset(k.WEIGHT)
_BODY = _WEIGHT | frozenset(k.HEIGHT)
_ANALYTES = frozenset(k.LOINC_ANALYTE)
_QTC = frozenset(k.QTC)
_PREGNANCY = frozenset(k.PREGNANCY_TEST)
_RELEVANT_LOINC = _BODY | _ANALYTES | _QTC | _PREGNANCY
_OUR_OBSERVATION = k.CS + "observation"
_INACTIVE = {"inactive", "resolved", "remission"}
_REFUTED = {"refuted", "entered-in-error"}


@dataclass
class _Mapper:
    resources: list[Resource]
    patient_id: str | None
    label: str
    start_date: date | None
    notes: list[str] = field(default_factory=list)
    sources: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_ref: dict[str, Resource] = {}
        for r in self.resources:
            if r.get("id"):
                self.by_ref[ref(r)] = r
                self.by_ref.setdefault(str(r["id"]), r)
        # Observations listed by a DiagnosticReport take its date when they carry none.
        self.report_date: dict[str, str] = {}
        for r in self.of("DiagnosticReport"):
            when = _effective(r) or r.get("issued")
            for result in r.get("result") or ():
                reference = str((result or {}).get("reference") or "")
                if when and reference:
                    self.report_date[reference.rsplit("/", 1)[-1]] = str(when)
        for _ in range(3):  # panels (hasMember) pass their date on to their members
            for r in self.of("Observation"):
                when = _effective(r) or self.report_date.get(str(r.get("id")))
                for member in r.get("hasMember") or ():
                    reference = str((member or {}).get("reference") or "").rsplit("/", 1)[-1]
                    if when and reference:
                        self.report_date.setdefault(reference, str(when))

    def of(self, kind: str) -> list[Resource]:
        if not hasattr(self, "_by_type"):
            self._by_type: dict[str, list[Resource]] = {}
            for r in self.resources:
                if self._mine(r):
                    self._by_type.setdefault(str(r.get("resourceType")), []).append(r)
        return self._by_type.get(kind, [])

    def _mine(self, r: Mapping[str, Any]) -> bool:
        """Resources about another patient are ignored (a Bundle may hold several)."""
        if self.patient_id is None or r.get("resourceType") == "Patient":
            return True
        subject = r.get("subject") or r.get("patient")
        reference = str((subject or {}).get("reference") or "") if isinstance(subject, dict) else ""
        return not reference or reference.rsplit("/", 1)[-1] == self.patient_id

    def when(self, r: Mapping[str, Any]) -> str | None:
        return _effective(r) or self.report_date.get(str(r.get("id"))) or r.get("issued")

    # -- patient -----------------------------------------------------------------------------

    def patient(self) -> dict[str, Any]:
        patients = self.of("Patient")
        if self.patient_id is not None:
            patients = [p for p in patients if p.get("id") == self.patient_id] or patients
        if not patients:
            raise InvalidInput(
                "Patient", "no Patient resource: need the patient's birth date and sex"
            )
        p = patients[0]
        where = ref(p)
        birth = _date(p.get("birthDate"))
        if birth is None:
            raise InvalidInput(f"{where}.birthDate", "need the full birth date (YYYY-MM-DD)")
        sex = p.get("gender")
        if sex not in ("female", "male"):
            raise InvalidInput(
                f"{where}.gender", f"need female or male for dosing rules, got {sex!r}"
            )
        doc: dict[str, Any] = {
            "id": str(p.get("id") or self.patient_id or "unknown")[:64],
            "birth_date": birth.isoformat(),
            "sex": sex,
        }
        ext = _extensions(p)
        for name in ("reproductive_potential", "breastfeeding"):
            if isinstance(ext.get(name), bool):
                doc[name] = ext[name]
        history = {
            name: ext[name]
            for name in ("prior_vod", "prior_hsct", "gilbert_syndrome")
            if isinstance(ext.get(name), bool)
        }
        if isinstance(ext.get("liver_disease"), str):
            history["liver_disease"] = ext["liver_disease"]
        if isinstance(ext.get("salvage_line"), int):
            history["salvage_line"] = ext["salvage_line"]
        doc["allergies"] = self.allergies()
        doc["history"] = history
        self.sources["patient"] = where
        return doc

    def allergies(self) -> list[str]:
        found: list[str] = []
        for a in self.of("AllergyIntolerance"):
            clinical = {c.get("code") for c in codings(a.get("clinicalStatus"))}
            verification = {c.get("code") for c in codings(a.get("verificationStatus"))}
            if clinical & _INACTIVE or verification & _REFUTED:
                continue
            if any(c.get("code") in k.NO_KNOWN_ALLERGY for c in codings(a.get("code"))):
                continue
            name = _label_of(a.get("code"))
            if name and name not in found:
                found.append(name[:200])
        return found

    # -- plan ----------------------------------------------------------------------------------

    def plan(self, administrations: list[dict[str, Any]]) -> dict[str, Any]:
        plan: dict[str, Any] = {}
        label = self.label
        for care_plan in self.of("CarePlan"):
            ext = _extensions(care_plan)
            if "bsa_formula" not in ext and "vial" not in ext and "label" not in ext:
                continue  # not one of ours
            start = _date((care_plan.get("period") or {}).get("start"))
            if start is not None:
                plan["start_date"] = start.isoformat()
            for name in ("hsct_intended", "cycle1_days", "vial", "bsa_formula"):
                if name in ext:
                    plan[name] = ext[name]
            label = str(ext.get("label") or label)
            break
        if "start_date" not in plan:
            first = min((a["date"] for a in administrations), default=None)
            start_text = first or (self.start_date.isoformat() if self.start_date else None)
            if start_text is None:
                raise InvalidInput(
                    "plan.start_date",
                    "no inotuzumab administration and no planned start: need the start date",
                )
            plan["start_date"] = start_text
        plan.setdefault("bsa_formula", "mosteller")
        self.label = label
        return plan

    # -- observations ----------------------------------------------------------------------

    def observations(self) -> list[dict[str, Any]]:
        vitals: dict[tuple[str, str | None], dict[str, Any]] = {}
        labs: dict[tuple[str, str | None], dict[str, Any]] = {}
        latest_lab: dict[tuple[str, str | None, str], str] = {}
        events: list[dict[str, Any]] = []
        for o in self.of("Observation"):
            where = ref(o)
            if o.get("status") not in _OK_STATUS:
                self.notes.append(f"{where} skipped: status {o.get('status')!r}")
                continue
            concept = o.get("code")
            when = self.when(o)
            day = _date(when)
            eid = _event_id(o)
            loinc = {str(c.get("code")) for c in codings(concept) if c.get("system") == k.LOINC}
            ours = {
                str(c.get("code")) for c in codings(concept) if c.get("system") == _OUR_OBSERVATION
            }
            relevant = loinc & _RELEVANT_LOINC or ours
            if not relevant:
                continue
            if day is None:
                self.notes.append(f"{where} skipped: no date")
                continue
            iso = day.isoformat()
            quantity = o.get("valueQuantity") if isinstance(o.get("valueQuantity"), dict) else None
            if loinc & _BODY:
                if quantity is None:
                    self.notes.append(f"{where} skipped: no valueQuantity")
                    continue
                slot = vitals.setdefault((iso, eid), {"date": iso, "type": "vitals"})
                if loinc & _WEIGHT:
                    kg = _body_value(quantity, k.MASS_TO_KG, f"{where}.valueQuantity")
                    slot["weight_kg"] = number(kg)
                    self.sources[f"weight_kg@{iso}"] = f"{where} ({iso})"
                else:
                    cm = _body_value(quantity, k.LENGTH_TO_CM, f"{where}.valueQuantity")
                    slot["height_cm"] = number(cm)
                    self.sources[f"height_cm@{iso}"] = f"{where} ({iso})"
                ext = _extensions(o)
                for name in ("hepatomegaly", "ascites"):
                    if isinstance(ext.get(name), bool):
                        slot[name] = ext[name]
                if eid:
                    slot["id"] = eid
            elif loinc & _ANALYTES:
                analyte = k.LOINC_ANALYTE[sorted(loinc & _ANALYTES)[0]]
                if quantity is None:
                    self.notes.append(f"{where} skipped: no valueQuantity")
                    continue
                value = self.lab_value(o, analyte, quantity, where)
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
                self.sources[f"{analyte}@{iso}"] = f"{where} ({iso})"
            elif loinc & _QTC:
                if quantity is None:
                    continue
                unit = (_quantity_unit(quantity) or "").strip()
                ms = _decimal(quantity.get("value"), f"{where}.valueQuantity.value")
                if unit == "s":
                    ms *= 1000
                elif unit not in ("ms", "msec"):
                    raise UnknownUnit(f"{where}.valueQuantity", unit, ("ms", "s"))
                event: dict[str, Any] = {"date": iso, "type": "ecg", "qtcf_ms": number(ms, "1")}
                if "8636-3" in loinc and "76634-5" not in loinc:
                    self.notes.append(f"{where}: QTc method not stated; read as QTcF")
                events.append(_with_id(event, eid))
                self.sources[f"qtcf_ms@{iso}"] = f"{where} ({iso})"
            elif loinc & _PREGNANCY:
                result = _pregnancy(o)
                if result is None:
                    self.notes.append(f"{where} skipped: pregnancy result not readable")
                    continue
                events.append(
                    _with_id({"date": iso, "type": "pregnancy_test", "result": result}, eid)
                )
                self.sources[f"pregnancy_test@{iso}"] = f"{where} ({iso})"
            elif ours:
                found = self.inoplan_observation(o, ours, iso, where)
                if found is not None:
                    event = found
                    if event["type"] == "labs":
                        slot = labs.setdefault((iso, eid), {"date": iso, "type": "labs"})
                        slot.update(
                            {key: v for key, v in event.items() if key not in ("date", "type")}
                        )
                        if eid:
                            slot["id"] = eid
                    else:
                        events.append(_with_id(event, eid))
        return list(vitals.values()) + list(labs.values()) + events

    def lab_value(
        self, o: Mapping[str, Any], analyte: str, quantity: Mapping[str, Any], where: str
    ) -> dict[str, Any] | None:
        from inoplan.domain.units import convert

        unit = lab_unit(_quantity_unit(quantity), f"{where}.valueQuantity.unit")
        value = _decimal(quantity.get("value"), f"{where}.valueQuantity.value")
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
        for name, bound in (("uln", high), ("lln", low)):
            if bound is None or (name == "lln" and analyte not in ("potassium", "magnesium")):
                continue
            if name == "uln" and analyte not in ("bilirubin", "ast", "alt"):
                continue
            bound_value = _decimal(bound.get("value"), f"{where}.referenceRange.{name}")
            bound_unit_raw = _quantity_unit(bound)
            bound_unit = (
                unit
                if bound_unit_raw is None
                else lab_unit(bound_unit_raw, f"{where}.referenceRange")
            )
            if bound_unit != unit:  # express the limit in the value's unit
                canonical = convert(
                    analyte, bound_value, bound_unit, field=f"{where}.referenceRange"
                )
                per_unit = convert(analyte, Decimal(1), unit, field=f"{where}.valueQuantity.unit")
                bound_value = canonical / per_unit
            out[name] = number(bound_value, "0.0001")
        if analyte in ("bilirubin", "ast", "alt") and "uln" not in out:
            self.notes.append(
                f"{where} ({analyte}) not used: no reference range, so no upper limit of normal"
            )
            return None
        if analyte == "platelets" and _extensions(o).get("transfused") is True:
            out["transfused"] = True
        return out

    def inoplan_observation(
        self, o: Mapping[str, Any], ours: set[Any], iso: str, where: str
    ) -> dict[str, Any] | None:
        ext = _extensions(o)
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
            return {
                "date": iso,
                "type": "discontinuation",
                "reason": str(o.get("valueString") or ""),
            }
        if ours & {"peripheral_blasts_pct", "marrow_blasts_pct"}:
            name = sorted(ours & {"peripheral_blasts_pct", "marrow_blasts_pct"})[0]
            quantity = o.get("valueQuantity") or {}
            value = _decimal(quantity.get("value"), f"{where}.valueQuantity.value")
            return {"date": iso, "type": "labs", name: number(value, "0.01")}
        return None

    # -- medications ---------------------------------------------------------------------------

    def administrations(self) -> list[dict[str, Any]]:
        given = []
        for a in self.of("MedicationAdministration"):
            if not is_inotuzumab(a, self.by_ref):
                continue
            where = ref(a)
            if a.get("status") not in ("completed", None):
                self.notes.append(f"{where} skipped: status {a.get('status')!r}")
                continue
            when = _effective(a)
            day = _date(when)
            if day is None:
                raise InvalidInput(
                    f"{where}.effective", "an inotuzumab administration needs its date"
                )
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
            clock = _clock(when)
            if clock and clock != "09:00":  # the contract's default is left implicit
                event["time"] = clock
            period = a.get("effectivePeriod") or {}
            if isinstance(period, dict) and period.get("start") and period.get("end"):
                minutes = _minutes_between(str(period["start"]), str(period["end"]))
                if minutes and minutes != 60:
                    event["duration_min"] = minutes
            ext = _extensions(a)
            position = _cycle_day(ext, dosage.get("text"))
            if position:
                event["cycle"], event["day"] = position
            eid = _event_id(a)
            given.append((when or "", _with_id(event, eid), where))
        given.sort(key=lambda item: (item[1]["date"], item[0]))
        return self._place_in_cycles(given)

    def _place_in_cycles(
        self, given: list[tuple[str, dict[str, Any], str]]
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
                        where,
                        "cannot place this dose in the cycle from its date: record cycle and day",
                    )
                if day == 1:
                    cycle_start = on
                event["cycle"], event["day"] = cycle, day
                self.notes.append(f"{where}: cycle {cycle} day {day} inferred from the dates")
            out.append(event)
        return out

    def medications(self, start: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for kind in ("MedicationRequest", "MedicationStatement"):
            for m in self.of(kind):
                if is_inotuzumab(m, self.by_ref):
                    continue
                status = m.get("status")
                if status in ("entered-in-error", "cancelled", "draft", "not-taken", "unknown"):
                    continue
                name = medication_name(m, self.by_ref)
                if not name:
                    continue
                period = (
                    m.get("effectivePeriod") if isinstance(m.get("effectivePeriod"), dict) else {}
                )
                began = (
                    _date(m.get("authoredOn"))
                    or _date(m.get("effectiveDateTime"))
                    or _date((period or {}).get("start"))
                    or _date(m.get("dateAsserted"))
                )
                on = began.isoformat() if began else start
                if began is None:
                    self.notes.append(f"{ref(m)}: no start date; counted from the course start")
                eid = _event_id(m)
                events.append(
                    _with_id(
                        {"date": on, "type": "medication", "name": name[:200], "action": "start"},
                        eid,
                    )
                )
                ended = _date((period or {}).get("end"))
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

    # -- conditions and procedures ------------------------------------------------------------

    def conditions(self, start: str, history: dict[str, Any]) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        for c in self.of("Condition"):
            where = ref(c)
            verification = {x.get("code") for x in codings(c.get("verificationStatus"))}
            if verification & _REFUTED:
                continue
            concept = c.get("code")
            ext = _extensions(c)
            onset = (
                _date(c.get("onsetDateTime"))
                or _date(
                    (c.get("onsetPeriod") or {}).get("start")
                    if isinstance(c.get("onsetPeriod"), dict)
                    else None
                )
                or _date(c.get("recordedDate"))
            )
            term = next(
                (
                    str(x.get("code"))
                    for x in codings(concept)
                    if x.get("system") == k.CS + "toxicity"
                ),
                None,
            )
            if term is not None and onset is not None and isinstance(ext.get("grade"), int):
                event = {
                    "date": onset.isoformat(),
                    "type": "toxicity",
                    "term": term,
                    "grade": ext["grade"],
                }
                if isinstance(ext.get("related"), bool):
                    event["related"] = ext["related"]
                events.append(_with_id(event, _event_id(c)))
                continue
            if _is_vod(concept):
                clinical = {x.get("code") for x in codings(c.get("clinicalStatus"))}
                if onset is None or onset.isoformat() < start or clinical & _INACTIVE:
                    history["prior_vod"] = True
                    self.notes.append(
                        f"{where}: VOD before the course or resolved -> history.prior_vod"
                    )
                    self.sources["prior_vod"] = where
                    continue
                grade = _severity_grade(c)
                if grade is None:
                    grade = 3
                    self.notes.append(f"{where}: VOD severity not recorded; counted as grade 3")
                events.append(
                    {"date": onset.isoformat(), "type": "toxicity", "term": "vod", "grade": grade}
                )
                self.sources[f"vod@{onset.isoformat()}"] = where
            elif _is_hsct(concept):
                history["prior_hsct"] = True
                self.sources["prior_hsct"] = where
        for p in self.of("Procedure"):
            concept = p.get("code")
            ours = has_code(concept, k.CS + "procedure", ("hsct",))
            if not (ours or _is_hsct(concept)):
                continue
            if p.get("status") in ("entered-in-error", "not-done"):
                continue
            when = _date(_effective(p))
            planned = p.get("status") in ("preparation", "in-progress", "on-hold")
            if ours and when is not None:
                ext = _extensions(p)
                conditioning = ext.get("conditioning") or []
                event = {
                    "date": when.isoformat(),
                    "type": "hsct",
                    "planned": planned,
                    "conditioning": list(conditioning)
                    if isinstance(conditioning, list)
                    else [conditioning],
                }
                events.append(_with_id(event, _event_id(p)))
            elif when is None or when.isoformat() < start:
                history["prior_hsct"] = True
                self.sources["prior_hsct"] = ref(p)
            else:
                events.append(
                    {
                        "date": when.isoformat(),
                        "type": "hsct",
                        "planned": planned,
                        "conditioning": [],
                    }
                )
        return events


def _is_vod(concept: Any) -> bool:
    if has_code(concept, k.SNOMED, (k.SNOMED_VOD,)) or has_code(concept, k.ICD10CM, (k.ICD10_VOD,)):
        return True
    if has_code(concept, k.CS + "toxicity", ("vod",)):
        return True
    text = _text(concept).lower()
    return any(re.search(rf"(^|[^a-z]){re.escape(word)}([^a-z]|$)", text) for word in k.VOD_TEXT)


def _is_hsct(concept: Any) -> bool:
    if has_code(concept, k.SNOMED, (k.SNOMED_HSCT,)):
        return True
    text = _text(concept).lower()
    return any(re.search(rf"(^|[^a-z]){re.escape(w)}([^a-z]|$)", text) for w in k.HSCT_TEXT)


def _severity_grade(condition: Mapping[str, Any]) -> int | None:
    ext = _extensions(condition)
    if isinstance(ext.get("grade"), int):
        return int(ext["grade"])
    for c in codings(condition.get("severity")):
        if c.get("system") == k.SNOMED and c.get("code") in k.SEVERITY_GRADE:
            return k.SEVERITY_GRADE[str(c["code"])]
    text = _text(condition.get("severity")).lower()
    for word, grade in (("severe", 3), ("moderate", 2), ("mild", 1)):
        if word in text:
            return grade
    return None


def _pregnancy(o: Mapping[str, Any]) -> str | None:
    concept = o.get("valueCodeableConcept")
    if has_code(concept, k.SNOMED, (k.SNOMED_PREGNANT, k.SNOMED_POSITIVE)):
        return "positive"
    if has_code(concept, k.SNOMED, (k.SNOMED_NOT_PREGNANT, k.SNOMED_NEGATIVE)):
        return "negative"
    text = (_text(concept) + " " + str(o.get("valueString") or "")).strip().lower()
    if text in ("negative", "neg", "not pregnant", "not detected"):
        return "negative"
    if text in ("positive", "pos", "pregnant", "detected"):
        return "positive"
    return None


def _dose_mg(quantity: Mapping[str, Any], where: str) -> Decimal:
    unit = (_quantity_unit(quantity) or "").strip()
    value = _decimal(quantity.get("value"), f"{where}.value")
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
    ext = _extensions(resource)
    for text in texts or [None]:
        found = _cycle_day(ext, text)
        if found:
            return found
    return _cycle_day(ext, None)


def _extensions(resource: Mapping[str, Any]) -> dict[str, Any]:
    """inoplan's own extensions on a resource, by short name (value[x] unwrapped)."""
    out: dict[str, Any] = {}
    for ext in resource.get("extension") or ():
        if not isinstance(ext, dict):
            continue
        url = str(ext.get("url") or "")
        if not url.startswith(k.EXT):
            continue
        name = url[len(k.EXT) :]
        value = next((v for key, v in ext.items() if key.startswith("value")), None)
        if name in out:
            existing = out[name]
            out[name] = [*existing, value] if isinstance(existing, list) else [existing, value]
        else:
            out[name] = value
    return out


def _event_id(resource: Mapping[str, Any]) -> str | None:
    for identifier in resource.get("identifier") or ():
        if isinstance(identifier, dict) and identifier.get("system") == k.EVENT_ID_SYSTEM:
            return str(identifier.get("value"))
    return None


def _with_id(event: dict[str, Any], eid: str | None) -> dict[str, Any]:
    if eid:
        event["id"] = eid
    return event


# -- entry point ---------------------------------------------------------------------------------


def bundle_to_document(
    *values: Any,
    patient_id: str | None = None,
    label: str = "us",
    start_date: date | None = None,
) -> ImportResult:
    """Map FHIR resources (Bundles, lone resources, prefetch values) to a course document.

    Parameters
    ----------
    values
        Bundles of any type, wrapped entries or single resources; ``None`` is skipped.
    patient_id
        Keep only resources about this patient (a ``Patient/`` prefix is allowed).
    label
        The knowledge base when the FHIR data does not name one (``us`` or ``eu``).
    start_date
        Planned cycle 1 day 1 when no administration (and no inoplan CarePlan) says otherwise.

    Raises
    ------
    InvalidInput
        Naming the resource and element at fault (no Patient, unknown unit, undated dose...).
    """
    if patient_id is not None:
        patient_id = patient_id.rsplit("/", 1)[-1]
    mapper = _Mapper(resources_of(*values), patient_id, label, start_date)
    patient = mapper.patient()
    administrations = mapper.administrations()
    plan = mapper.plan(administrations)
    start = plan["start_date"]
    history = patient["history"]
    events: list[dict[str, Any]] = []
    events += mapper.observations()
    events += administrations
    events += mapper.medications(start)
    events += mapper.conditions(start, history)
    events = [e for e in events if e["date"] >= patient["birth_date"]]
    events.sort(key=lambda e: (e["date"], _ORDER.get(e["type"], 99)))
    document = {"label": mapper.label, "patient": patient, "plan": plan, "events": events}
    return ImportResult(document=document, notes=mapper.notes, sources=mapper.sources)


_ORDER = {
    "vitals": 0,
    "labs": 1,
    "ecg": 2,
    "pregnancy_test": 3,
    "medication": 4,
    "administration": 5,
    "toxicity": 6,
    "response": 7,
    "hsct": 8,
    "discontinuation": 9,
}
