"""The course lifecycle forms of the web UI: a new patient and course, as one course document.

The form's text becomes exactly the document the API's ``POST /api/v1/courses`` receives (the
patient, the plan, and the height and weight as a ``vitals`` entry), and the records service
(``records.create_course``) validates and stores it: one validation path for the API and the
web. This module only turns text into JSON values and says which input a service error belongs
to; every clinical and plausibility check stays in the document model and the guards.

Field names are the document's paths (``patient.birth_date``, ``plan.start_date``), so an error
the service reports on ``patient.birth_date`` lands next to that input. The height and weight
are the vitals entry's fields (``height_cm``, ``weight_kg``, measured on ``measured_on``).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any, Final

from inoplan.web.forms import Field, FormError, FormSpec, read_fields

__all__ = [
    "NEW_COURSE",
    "allergen_names",
    "course_field_for_error",
    "new_course_document",
]

_TRI: Final = (("", "not known"), ("yes", "yes"), ("no", "no"))
_BSA: Final = (
    ("mosteller", "Mosteller"),
    ("dubois", "DuBois"),
    ("haycock", "Haycock"),
    ("gehan-george", "Gehan and George"),
    ("boyd", "Boyd"),
)


@functools.cache
def allergen_names() -> tuple[str, ...]:
    """Every name of every allergen of the vocabulary (the drug, its excipients, related
    substances), for the allergy input's suggestions. Free text stays possible."""
    from inoplan.knowledge.vocabulary import load_vocabulary

    names: dict[str, None] = {}
    for allergen in load_vocabulary().allergens.values():
        for name in allergen.names():
            names.setdefault(name, None)
    return tuple(names)


def _new_course_spec() -> FormSpec:
    return FormSpec(
        "course",
        "New patient and course",
        (
            Field("patient.id", "MRN (medical record number)", "text", required=True),
            Field("patient.name", "Patient's name", "text", hint="as the clinic writes it"),
            Field("patient.birth_date", "Birth date", "date", required=True),
            Field(
                "patient.sex",
                "Sex",
                "select",
                required=True,
                options=(("", "choose"), ("female", "female"), ("male", "male")),
            ),
            Field(
                "patient.reproductive_potential",
                "Can become pregnant or father a child",
                "select",
                options=_TRI,
                hint="not known is treated as possibly for the pregnancy test",
            ),
            Field("height_cm", "Height", required=True, unit="cm"),
            Field("weight_kg", "Weight", required=True, unit="kg"),
            Field(
                "measured_on",
                "Measured on",
                "date",
                required=True,
                hint="the date of the height and weight above",
            ),
            Field(
                "patient.allergies",
                "Allergies (comma-separated)",
                "text",
                hint="substances, e.g. polysorbate 80; leave empty if none",
                datalist=allergen_names(),
            ),
            Field(
                "label",
                "Label",
                "select",
                required=True,
                options=(("us", "US prescribing information"), ("eu", "EU SmPC")),
            ),
            Field(
                "plan.hsct_intended",
                "Transplant (HSCT) intended after treatment",
                "select",
                options=(("", "undecided"), ("yes", "yes"), ("no", "no")),
                hint="yes: 2 cycles (a third if needed); no or undecided: up to 6",
            ),
            Field(
                "plan.cycle1_days",
                "Length of cycle 1",
                "select",
                required=True,
                options=(("21", "21 days"), ("28", "28 days (extended for response/recovery)")),
                default="21",
            ),
            Field("plan.start_date", "Start date (cycle 1 day 1)", "date", required=True),
            Field(
                "plan.bsa_formula",
                "BSA formula",
                "select",
                required=True,
                options=_BSA,
                default="mosteller",
            ),
        ),
        intro="Creates the patient's course. The plan, the decision and every alert come from "
        "the label the course follows; a qualified clinician confirms each decision.",
        groups=("patient", "course"),
    )


NEW_COURSE: Final[FormSpec] = _new_course_spec()
#: The inputs shown under "Patient" (the others under "Course").
PATIENT_FIELDS: Final = frozenset(
    {
        "patient.id",
        "patient.name",
        "patient.birth_date",
        "patient.sex",
        "patient.reproductive_potential",
        "height_cm",
        "weight_kg",
        "measured_on",
        "patient.allergies",
    }
)
_TRI_VALUE: Final = {"": None, "yes": True, "no": False}


def new_course_document(form: Mapping[str, Any]) -> dict[str, Any]:
    """Form text -> the course document of a new course (what the API would receive).

    Raises
    ------
    FormError
        A required input is empty or not a number, date or listed choice; nothing is stored.

    >>> doc = new_course_document({"patient.id": "P-1", "patient.birth_date": "1971-03-14",
    ...     "patient.sex": "female", "height_cm": "170", "weight_kg": "70",
    ...     "measured_on": "2026-12-01", "label": "us", "plan.cycle1_days": "21",
    ...     "plan.start_date": "2026-12-01", "plan.bsa_formula": "mosteller",
    ...     "patient.allergies": "Tween 80, sucrose"})
    >>> doc["patient"]["allergies"], doc["plan"]["cycle1_days"], doc["events"][0]["weight_kg"]
    (['Tween 80', 'sucrose'], 21, 70)
    """
    values, errors = read_fields(NEW_COURSE.fields, form)
    if errors:
        raise FormError(errors)
    patient: dict[str, Any] = {
        "id": values["patient.id"],
        "birth_date": values["patient.birth_date"],
        "sex": values["patient.sex"],
    }
    if values.get("patient.name"):
        patient["name"] = values["patient.name"]
    potential = _TRI_VALUE[str(values.get("patient.reproductive_potential", ""))]
    if potential is not None:
        patient["reproductive_potential"] = potential
    allergies = str(values.get("patient.allergies", ""))
    patient["allergies"] = [a.strip() for a in re.split(r"[,;\n]", allergies) if a.strip()]
    plan: dict[str, Any] = {
        "start_date": values["plan.start_date"],
        "cycle1_days": int(values["plan.cycle1_days"]),
        "bsa_formula": values["plan.bsa_formula"],
    }
    intended = _TRI_VALUE[str(values.get("plan.hsct_intended", ""))]
    if intended is not None:
        plan["hsct_intended"] = intended
    vitals = {
        "type": "vitals",
        "date": values["measured_on"],
        "height_cm": values["height_cm"],
        "weight_kg": values["weight_kg"],
    }
    return {"label": values["label"], "patient": patient, "plan": plan, "events": [vitals]}


def course_field_for_error(path: str) -> str:
    """The input a service error on ``path`` belongs to ("" = the form as a whole).

    >>> course_field_for_error("events[0].weight_kg"), course_field_for_error("patient.sex")
    ('weight_kg', 'patient.sex')
    >>> course_field_for_error("events[0].date"), course_field_for_error("patient.allergies[1]")
    ('measured_on', 'patient.allergies')
    """
    names = {f.name for f in NEW_COURSE.fields}
    name = re.sub(r"\[\d+\]", "", path)
    if path.startswith("events[0]"):
        rest = path.removeprefix("events[0]").lstrip(".")
        return {"date": "measured_on", "": ""}.get(rest, rest if rest in names else "")
    while name and name not in names:
        name = name.rpartition(".")[0]
    return name
