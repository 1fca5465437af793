"""Patient -> the course document's ``patient`` block (birth date, sex, inoplan's extensions)."""

from __future__ import annotations

from typing import Any

from inoplan.errors import InvalidInput
from inoplan.interop.fhir_in.allergy import allergies
from inoplan.interop.fhir_in.common import Context, extensions, ref, to_date

__all__ = ["patient"]


def patient(ctx: Context) -> dict[str, Any]:
    """The patient block; birth date and sex are required (the error names the element)."""
    patients = ctx.of("Patient")
    if ctx.patient_id is not None:
        patients = [p for p in patients if p.get("id") == ctx.patient_id] or patients
    if not patients:
        raise InvalidInput("Patient", "no Patient resource: need the patient's birth date and sex")
    p = patients[0]
    where = ref(p)
    birth = to_date(p.get("birthDate"))
    if birth is None:
        raise InvalidInput(f"{where}.birthDate", "need the full birth date (YYYY-MM-DD)")
    sex = p.get("gender")
    if sex not in ("female", "male"):
        raise InvalidInput(f"{where}.gender", f"need female or male for dosing rules, got {sex!r}")
    doc: dict[str, Any] = {
        "id": str(p.get("id") or ctx.patient_id or "unknown")[:64],
        "birth_date": birth.isoformat(),
        "sex": sex,
    }
    ext = extensions(p)
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
    doc["allergies"] = allergies(ctx)
    doc["history"] = history
    ctx.sources["patient"] = where
    return doc
