"""What every resource mapper shares: walking Bundles, codings, numbers, dates, extensions.

Pure: no I/O, no clock. Plain JSON dicts in, plain values out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from inoplan.interop import codes as k

__all__ = [
    "Context",
    "ImportResult",
    "Resource",
    "codings",
    "decimal",
    "effective",
    "event_id",
    "extensions",
    "has_code",
    "label_of",
    "number",
    "quantity_unit",
    "ref",
    "resources_of",
    "text_of",
    "to_date",
    "with_id",
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


def text_of(concept: Any) -> str:
    """The concept's text and every coding's display, joined (for word matching)."""
    if not isinstance(concept, dict):
        return ""
    parts = [str(concept.get("text") or "")]
    parts += [str(c.get("display") or "") for c in codings(concept)]
    return " ".join(p for p in parts if p)


def label_of(concept: Any) -> str:
    """The best human label of a concept: text, else a display, else a code."""
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


# -- numbers, dates and units --------------------------------------------------------------------


def decimal(value: Any, where: str) -> Decimal:
    from inoplan.domain.units import to_decimal  # a cached module after the first call

    return to_decimal(value, field=where)


_PLACES: dict[str, Decimal] = {}


def number(value: Decimal, places: str = "0.01") -> int | float:
    """A Decimal as the JSON number the course document wants (int when whole)."""
    step = _PLACES.get(places)
    if step is None:
        step = _PLACES[places] = Decimal(places)
    rounded = value.quantize(step, rounding=ROUND_HALF_UP).normalize()
    if rounded == rounded.to_integral_value():
        return int(rounded)
    return float(rounded)


def to_date(value: Any) -> date | None:
    if not isinstance(value, str) or len(value) < 10:
        return None  # a year or year-month is not a day
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        return None


def clock(value: Any) -> str | None:
    """``2026-12-01T09:30:00+01:00`` -> ``09:30`` (the local clock time as written)."""
    if isinstance(value, str) and len(value) >= 16 and value[10] == "T":
        hhmm = value[11:16]
        if re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", hhmm):
            return hhmm
    return None


def effective(resource: Mapping[str, Any]) -> str | None:
    for key in ("effectiveDateTime", "effectiveInstant", "occurrenceDateTime", "performedDateTime"):
        if isinstance(resource.get(key), str):
            return str(resource[key])
    for key in ("effectivePeriod", "performedPeriod"):
        period = resource.get(key)
        if isinstance(period, dict) and isinstance(period.get("start"), str):
            return str(period["start"])
    return None


def quantity_unit(quantity: Mapping[str, Any]) -> str | None:
    """The UCUM code when the quantity is UCUM-coded, else the printed unit."""
    if quantity.get("system") == k.UCUM and quantity.get("code"):
        return str(quantity["code"])
    if quantity.get("code") and not quantity.get("unit"):
        return str(quantity["code"])
    unit = quantity.get("unit")
    return str(unit) if unit is not None else None


# -- inoplan's own extensions and identifiers ------------------------------------------------------


def extensions(resource: Mapping[str, Any]) -> dict[str, Any]:
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


def event_id(resource: Mapping[str, Any]) -> str | None:
    for identifier in resource.get("identifier") or ():
        if isinstance(identifier, dict) and identifier.get("system") == k.EVENT_ID_SYSTEM:
            return str(identifier.get("value"))
    return None


def with_id(event: dict[str, Any], eid: str | None) -> dict[str, Any]:
    if eid:
        event["id"] = eid
    return event


# -- the shared state of one import -----------------------------------------------------------


@dataclass
class Context:
    """The resources of one import, indexed, with the notes and sources the mappers add."""

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
        self._by_type: dict[str, list[Resource]] = {}
        for r in self.resources:
            if self._mine(r):
                self._by_type.setdefault(str(r.get("resourceType")), []).append(r)
        # Observations listed by a DiagnosticReport take its date when they carry none.
        self.report_date: dict[str, str] = {}
        for r in self.of("DiagnosticReport"):
            when = effective(r) or r.get("issued")
            for result in r.get("result") or ():
                reference = str((result or {}).get("reference") or "")
                if when and reference:
                    self.report_date[reference.rsplit("/", 1)[-1]] = str(when)
        panels = [r for r in self.of("Observation") if r.get("hasMember")]
        for _ in range(3 if panels else 0):  # panels pass their date on to their members
            for r in panels:
                when = effective(r) or self.report_date.get(str(r.get("id")))
                for member in r.get("hasMember") or ():
                    reference = str((member or {}).get("reference") or "").rsplit("/", 1)[-1]
                    if when and reference:
                        self.report_date.setdefault(reference, str(when))

    def of(self, kind: str) -> list[Resource]:
        return self._by_type.get(kind, [])

    def _mine(self, r: Mapping[str, Any]) -> bool:
        """Resources about another patient are ignored (a Bundle may hold several)."""
        if self.patient_id is None or r.get("resourceType") == "Patient":
            return True
        subject = r.get("subject") or r.get("patient") or r.get("for")
        reference = str((subject or {}).get("reference") or "") if isinstance(subject, dict) else ""
        return not reference or reference.rsplit("/", 1)[-1] == self.patient_id

    def when(self, r: Mapping[str, Any]) -> str | None:
        return effective(r) or self.report_date.get(str(r.get("id"))) or r.get("issued")
