"""FHIR R4 (plain JSON) -> course document (docs/course-document.md). Pure: no I/O, no clock.

Works on dicts as they come off the wire, not on ``fhir.resources`` models: EHRs send shapes
that strict models refuse (search Bundles without ``type``, opioid-CDS style wrapped entries,
units as free text) and full model validation would dominate the CDS Hooks hot path.

One module per resource type:

- ``patient`` (Patient) and ``allergy`` (AllergyIntolerance) -> the ``patient`` block;
- ``careplan`` (inoplan's CarePlan) -> the ``plan`` block; inoplan's change Tasks ->
  ``plan_change``, ``reschedule``, ``dose_change``;
- ``observation`` (Observation) -> vitals, labs, ECG, pregnancy test, response, discontinuation;
- ``medication`` (MedicationAdministration -> doses given; MedicationRequest and
  MedicationStatement -> co-medication);
- ``condition`` (Condition, Procedure) -> toxicities, transplant, history flags;
- ``common``: Bundle walking, codings, numbers, dates, extensions shared by all of them.

The result must validate with ``inoplan.document.parse_course``.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from inoplan.errors import InvalidInput
from inoplan.interop.fhir_in.careplan import changes as _changes
from inoplan.interop.fhir_in.careplan import plan as _plan
from inoplan.interop.fhir_in.common import (
    Context,
    ImportResult,
    codings,
    has_code,
    number,
    ref,
    resources_of,
)
from inoplan.interop.fhir_in.condition import conditions as _conditions
from inoplan.interop.fhir_in.medication import (
    administrations as _administrations,
)
from inoplan.interop.fhir_in.medication import (
    cycle_day_of,
    is_inotuzumab,
    medication_name,
)
from inoplan.interop.fhir_in.medication import (
    medications as _medications,
)
from inoplan.interop.fhir_in.observation import lab_unit, pregnancy_result
from inoplan.interop.fhir_in.observation import observations as _observations
from inoplan.interop.fhir_in.patient import patient as _patient

__all__ = [
    "ImportResult",
    "bundle_to_document",
    "codings",
    "cycle_day_of",
    "has_code",
    "is_inotuzumab",
    "lab_unit",
    "medication_name",
    "number",
    "pregnancy_result",
    "ref",
    "resources_of",
    "validate_import",
]


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
    ctx = Context(resources_of(*values), patient_id, label, start_date)
    patient = _patient(ctx)
    administrations = _administrations(ctx)
    plan = _plan(ctx, administrations)
    start = plan["start_date"]
    history = patient["history"]
    events: list[dict[str, Any]] = []
    events += _observations(ctx)
    events += administrations
    events += _medications(ctx, start)
    events += _conditions(ctx, start, history)
    events += _changes(ctx)
    events = [e for e in events if e["date"] >= patient["birth_date"]]
    events.sort(key=lambda e: (e["date"], _ORDER.get(e["type"], 99)))
    document = {"label": ctx.label, "patient": patient, "plan": plan, "events": events}
    return ImportResult(document=document, notes=ctx.notes, sources=ctx.sources)


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
    "plan_change": 10,
    "reschedule": 11,
    "dose_change": 12,
}


#: Where a course-document field came from in FHIR terms (the element of the resource).
_ELEMENTS = {
    "value": "valueQuantity.value",
    "uln": "referenceRange.high",
    "lln": "referenceRange.low",
    "unit": "valueQuantity.unit",
    "height_cm": "valueQuantity.value",
    "weight_kg": "valueQuantity.value",
    "qtcf_ms": "valueQuantity.value",
    "dose_mg": "dosage.dose",
    "date": "effective",
}
_EVENT_FIELD = re.compile(r"^events\[(\d+)\](?:\.([a-z_]+))?(?:\.([a-z_]+))?")


def validate_import(result: ImportResult) -> Any:
    """Validate the imported document (``parse_course``); an error names the FHIR resource.

    ``events[3].anc.value`` becomes ``Observation/anc-1.valueQuantity.value`` when the mapping
    knows which resource the value came from (the course-document path stays in the message).
    Returns the domain course.
    """
    from inoplan.document import parse_course

    try:
        return parse_course(result.document)
    except InvalidInput as exc:
        where = _fhir_field(result, exc.field)
        if where is not None:
            message = f"{exc.message} (course document: {exc.field})"
            exc.field, exc.message = where, message
            exc.args = (f"{where}: {message}",)
        raise


def _fhir_field(result: ImportResult, field: str) -> str | None:
    match = _EVENT_FIELD.match(field)
    if match is None:
        return None
    events = result.document.get("events") or []
    index = int(match.group(1))
    if index >= len(events):
        return None
    event = events[index]
    name, part = match.group(2), match.group(3)
    if name is None or name == "date":
        name = next(
            (k for k in event if f"{k}@{event.get('date')}" in result.sources),
            None,
        )
        part = "date"
    if name is None:
        return None
    source = result.sources.get(f"{name}@{event.get('date')}")
    if source is None:
        return None
    resource = source.split(" (", 1)[0]
    element = _ELEMENTS.get(part or name)
    return f"{resource}.{element}" if element else resource
