"""The event forms of the course page: their fields, and form text -> one course-document event.

Each form produces exactly one event (docs/course-document.md), which the records service validates
against the whole course and stores in one transaction (or not at all). This module only turns
text into JSON values and says which field is wrong; clinical checks stay in the domain.

Field names follow the event's JSON paths (``anc.value``, ``bilirubin.uln``), so an error the
service reports as ``event.anc.unit`` lands next to the ``anc.unit`` input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Final

from inoplan.domain.course import PREMEDICATION_AGENTS

__all__ = [
    "CORRECTABLE",
    "FORMS",
    "OVERRIDE_FIELDS",
    "OVERRIDE_FORM",
    "STEP_FORMS",
    "Field",
    "FormError",
    "FormSpec",
    "add_correction",
    "field_for_error",
    "lab_defaults",
    "parse_event",
    "parse_step",
    "read_fields",
]


@dataclass(frozen=True, slots=True)
class Field:
    """One input: ``kind`` is date, number, integer, time, text, password, select or checkbox."""

    name: str
    label: str
    kind: str = "number"
    required: bool = False
    unit: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (value, label)
    default: str = ""
    hint: str = ""
    datalist: tuple[str, ...] = ()
    group: str = ""  # lab analyte this field belongs to

    @property
    def html_id(self) -> str:
        return "f-" + self.name.replace(".", "-").replace("_", "-")


@dataclass(frozen=True, slots=True)
class FormSpec:
    event_type: str
    title: str
    fields: tuple[Field, ...]
    intro: str = ""
    groups: tuple[str, ...] = field(default_factory=tuple)


class FormError(Exception):
    """Errors by field name (``""`` = the form as a whole); nothing was written."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k or 'form'}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


_TRI: Final = (("", "not assessed"), ("yes", "yes"), ("no", "no"))
_DATE = Field("date", "Date", "date", required=True)

# Lab analytes: (name, label, needs uln, has lln). Units come from the domain's unit tables.
_ANALYTES: Final = (
    ("anc", "ANC (neutrophils)", False, False),
    ("platelets", "Platelets", False, False),
    ("bilirubin", "Total bilirubin", True, False),
    ("ast", "AST", True, False),
    ("alt", "ALT", True, False),
    ("peripheral_blasts", "Peripheral blasts (absolute)", False, False),
    ("wbc", "White cells (WBC)", False, False),
    ("potassium", "Potassium", False, True),
    ("magnesium", "Magnesium", False, True),
)
ULN_REQUIRED: Final = frozenset(a for a, _, needs, _ in _ANALYTES if needs)

# suggestions only (any text may be typed); each one a name the vocabulary codes (tested)
KNOWN_TOXICITY_TERMS: Final = (
    "vod",
    "infusion_related_reaction",
    "liver_toxicity_severe",
    "nausea",
    "vomiting",
    "fatigue",
    "febrile neutropenia",
    "sepsis",
    "lung infection",
    "abdominal pain",
    "headache",
    "pyrexia",
    "hyperbilirubinemia",
    "aspartate aminotransferase increased",
    "alanine aminotransferase increased",
    "gamma-glutamyltransferase increased",
    "electrocardiogram QT corrected interval prolonged",
)


def _unit_choices(analyte: str) -> tuple[tuple[str, str], ...]:
    """The accepted units of ``analyte`` as (stored code, words clinicians use), one per wording:
    ``10*9/L`` and ``10^9/L`` are both "× 10⁹/L", so only the first is offered."""
    from inoplan.domain.units import accepted_units
    from inoplan.web.messages import unit_text

    seen: dict[str, str] = {}
    for code in accepted_units(analyte):
        seen.setdefault(unit_text(code), code)
    return tuple((code, words) for words, code in seen.items())


def _lab_fields() -> tuple[Field, ...]:
    out: list[Field] = [_DATE]
    for analyte, label, needs_uln, has_lln in _ANALYTES:
        units = _unit_choices(analyte)
        out.append(Field(f"{analyte}.value", label, "number", group=analyte))
        out.append(
            Field(
                f"{analyte}.unit",
                f"{label} unit",
                "select",
                options=units,
                default=units[0][0],
                group=analyte,
            )
        )
        if needs_uln:
            out.append(
                Field(
                    f"{analyte}.uln",
                    f"{label} upper limit of normal (ULN), same unit",
                    "number",
                    group=analyte,
                    hint="the site's reference range, prefilled; change it if the "
                    "laboratory's report gives another",
                )
            )
        if has_lln:
            out.append(
                Field(f"{analyte}.lln", f"{label} lower limit of normal, same unit", group=analyte)
            )
        if analyte == "platelets":
            out.append(
                Field(
                    "platelets.transfused",
                    "Taken under platelet transfusion support",
                    "checkbox",
                    group=analyte,
                )
            )
    out.append(Field("peripheral_blasts_pct", "Peripheral blasts", unit="%"))
    out.append(Field("marrow_blasts_pct", "Marrow blasts", unit="%"))
    return tuple(out)


def lab_defaults(policy: Any) -> dict[str, str]:
    """The laboratory form's prefilled units and ULNs from the site policy (``[labs]``)."""
    from inoplan.domain.policy import SitePolicy

    policy = policy if policy is not None else SitePolicy()
    values: dict[str, str] = {}
    for analyte, *_ in _ANALYTES:
        reference = policy.lab_reference(analyte)
        if reference is None:
            continue
        values[f"{analyte}.unit"] = reference.unit
        if reference.uln is not None and analyte in ULN_REQUIRED:
            values[f"{analyte}.uln"] = f"{reference.uln.normalize():f}"
    return values


def _toxicity_terms() -> tuple[str, ...]:
    """The label's own codes, then the preferred name of every coded toxicity term of the
    vocabulary (CTCAE v5.0 and the label's terms): the toxicity form's suggestions."""
    from inoplan.knowledge.vocabulary import load_vocabulary

    names = sorted({t.name for t in load_vocabulary().terms.values()}, key=str.lower)
    return (*KNOWN_TOXICITY_TERMS[:3], *names)


def _forms() -> dict[str, FormSpec]:
    specs = [
        FormSpec(
            "vitals",
            "Vitals",
            (
                _DATE,
                Field("height_cm", "Height", unit="cm"),
                Field("weight_kg", "Weight", unit="kg"),
                Field(
                    "hepatomegaly", "Hepatomegaly (tender, enlarged liver)", "select", options=_TRI
                ),
                Field("ascites", "Ascites", "select", options=_TRI),
            ),
            intro="Height and/or weight. The dose in mg is recalculated from the newest values.",
        ),
        FormSpec(
            "labs",
            "Laboratory results",
            _lab_fields(),
            intro="One blood draw in one step: enter the values. The site's units and upper "
            "limits of normal (ULN) are prefilled from the site policy; change a unit or a ULN "
            "when the laboratory's report gives another. Bilirubin, AST and ALT need a ULN.",
            groups=tuple(a for a, *_ in _ANALYTES),
        ),
        FormSpec(
            "administration",
            "Administration (dose given)",
            (
                _DATE,
                Field("cycle", "Cycle", "integer", required=True),
                Field(
                    "day",
                    "Day",
                    "select",
                    required=True,
                    options=(("1", "day 1"), ("8", "day 8"), ("15", "day 15")),
                ),
                Field("dose_mg", "Dose given", required=True, unit="mg"),
                Field("time", "Infusion start", "time", default="09:00"),
                Field("duration_min", "Infusion duration", "integer", default="60", unit="min"),
            ),
        ),
        FormSpec(
            "toxicity",
            "Toxicity (CTCAE)",
            (
                _DATE,
                Field(
                    "term",
                    "CTCAE term",
                    "text",
                    required=True,
                    datalist=_toxicity_terms(),
                    hint="vod, infusion_related_reaction and liver_toxicity_severe "
                    "drive label rules; a text the vocabulary does not know is kept and "
                    "asked to be coded",
                ),
                Field(
                    "grade",
                    "CTCAE grade",
                    "select",
                    required=True,
                    options=tuple(
                        (str(g), f"grade {g}" + (" (resolved)" if g == 0 else "")) for g in range(6)
                    ),
                ),
                Field("related", "Related to inotuzumab ozogamicin", "checkbox", default="yes"),
            ),
        ),
        FormSpec(
            "response",
            "Response assessment",
            (
                _DATE,
                Field(
                    "status",
                    "Response",
                    "select",
                    required=True,
                    options=tuple((s, s) for s in ("CR", "CRi", "PR", "NR", "relapse")),
                ),
                Field("mrd_negative", "MRD negative", "select", options=_TRI),
                Field(
                    "disease_stable_or_improved",
                    "Disease stable or improved (clinician's judgement)",
                    "select",
                    options=_TRI,
                ),
                Field(
                    "cytopenia_due_to_disease",
                    "Cytopenia due to disease (clinician's judgement)",
                    "select",
                    options=_TRI,
                ),
            ),
        ),
        FormSpec(
            "medication",
            "Other medicine",
            (
                _DATE,
                Field("name", "Medicine", "text", required=True),
                Field(
                    "action",
                    "Action",
                    "select",
                    required=True,
                    options=(("start", "started"), ("stop", "stopped")),
                ),
            ),
            intro="Record every medicine started or stopped; "
            "QT-prolonging medicines raise an alert.",
        ),
        FormSpec(
            "pregnancy_test",
            "Pregnancy test",
            (
                _DATE,
                Field(
                    "result",
                    "Result",
                    "select",
                    required=True,
                    options=(("negative", "negative"), ("positive", "positive")),
                ),
            ),
        ),
        FormSpec("ecg", "ECG", (_DATE, Field("qtcf_ms", "QTcF", required=True, unit="ms"))),
        FormSpec(
            "hsct",
            "Transplant (HSCT)",
            (
                _DATE,
                Field(
                    "conditioning",
                    "Conditioning agents (comma-separated)",
                    "text",
                    hint="e.g. thiotepa, busulfan, fludarabine",
                ),
                Field("planned", "Planned (not yet done)", "checkbox", default="yes"),
            ),
        ),
        FormSpec(
            "discontinuation",
            "Discontinuation",
            (_DATE, Field("reason", "Reason", "text", required=True)),
            intro="Stops the course permanently: from this date no further dose is planned "
            "and the decision is to discontinue. The reason is required.",
        ),
        FormSpec(
            "plan_change",
            "Change the plan",
            (
                Field("date", "Decided on", "date", required=True),
                Field(
                    "hsct_intended",
                    "Transplant (HSCT) intended",
                    "select",
                    options=(
                        ("", "no change"),
                        ("yes", "yes (2 cycles, a third if needed)"),
                        ("no", "no (up to 6 cycles)"),
                        ("undecided", "undecided (planned like no)"),
                    ),
                ),
                Field(
                    "cycle1_days",
                    "Length of cycle 1",
                    "select",
                    options=(("", "no change"), ("21", "21 days"), ("28", "28 days")),
                ),
                Field(
                    "bsa_formula",
                    "BSA formula",
                    "select",
                    options=(
                        ("", "no change"),
                        ("mosteller", "Mosteller"),
                        ("dubois", "DuBois"),
                        ("haycock", "Haycock"),
                        ("gehan-george", "Gehan and George"),
                        ("boyd", "Boyd"),
                    ),
                ),
                Field("reason", "Reason for the change", "text", required=True),
            ),
            intro="Changes the plan from the date decided on; the choices not changed stay. "
            "The plan, the cycle cap and every dose follow the label for the new plan.",
        ),
        FormSpec(
            "reschedule",
            "Move a treatment day",
            (
                Field("date", "Decided on", "date", required=True),
                Field("cycle", "Cycle", "integer", required=True),
                Field(
                    "day",
                    "Day",
                    "select",
                    required=True,
                    options=(("1", "day 1"), ("8", "day 8"), ("15", "day 15")),
                ),
                Field("to", "New date", "date", required=True),
                Field("reason", "Reason for the move", "text", required=True),
            ),
            intro="Days 8 and 15 move only inside the label's window (the scheduled day plus "
            "or minus the window, at least 6 days after the previous dose); day 1 may be "
            "delayed, never brought forward. A move outside is refused with the window.",
        ),
        FormSpec(
            "dose_change",
            "Lower a dose",
            (
                Field("date", "Decided on", "date", required=True),
                Field("cycle", "Cycle", "integer", required=True),
                Field(
                    "day",
                    "Day",
                    "select",
                    required=True,
                    options=(("1", "day 1"), ("8", "day 8"), ("15", "day 15")),
                ),
                Field("dose_mg_per_m2", "New dose", required=True, unit="mg/m2"),
                Field("reason", "Reason for the change", "text", required=True),
            ),
            intro="Lowers the dose of one treatment day not given yet below the label's dose "
            "(with its Table 4 changes); a higher dose is refused. The dose in mg follows from "
            "the BSA.",
        ),
    ]
    return {s.event_type: s for s in specs}


FORMS: Final[dict[str, FormSpec]] = _forms()

#: A dose recorded outside the treatment-day workflow (given elsewhere, documented late, or given
#: deliberately against the decision: a held day, a stopped course, above the day's planned dose
#: or a hard limit): the administration fields plus the prescriber's required reason
#: (``dose.override``). It posts to the administration route; the reason stays on the record and
#: raises a critical alert. The plain administration form is offered to no role (review H2): a
#: dose is recorded by the workflow's give step (``services.workflow.give``).
OVERRIDE_FORM: Final = FormSpec(
    "administration",
    "Dose given outside the treatment-day workflow (prescriber override)",
    (
        *FORMS["administration"].fields,
        Field(
            "override_reason",
            "Reason for recording this dose outside the workflow",
            "text",
            required=True,
            hint="A prescriber's decision: it stays on the record and shows as a critical "
            "alert on every decision.",
        ),
    ),
    intro="A dose is recorded by the treatment-day workflow: release, pharmacist verification, "
    "preparation and administration, each with its second signer (the Treatment days table). "
    "Use this form only for a dose given outside it: given elsewhere or documented late, or "
    "given deliberately on a held day, on a stopped course, above the day's planned dose or a "
    "maximum, or fewer than 6 days after another dose.",
)

_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_TIME = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


# -- treatment-day steps (inoplan.services.workflow) --------------------------------------------

_NOTE = Field("note", "Note (optional)", "text")
_SIGNER = (
    Field(
        "second_signer",
        "Second signer: user name",
        "text",
        required=True,
        hint="Another person checks independently and signs with their own account.",
    ),
    Field(
        "second_signer_password",
        "Second signer: password (typed by them)",
        "password",
        required=True,
    ),
)
#: The form of each step, by step name (the form's id prefix on the course page).
STEP_FORMS: Final[Mapping[str, FormSpec]] = {
    "release": FormSpec(
        "release",
        "Release the dose (prescriber)",
        (_NOTE,),
        intro="Releases the dose that today's decision gives. A held, stopped or undecided day "
        "cannot be released.",
    ),
    "verify": FormSpec(
        "verify",
        "Verify the dose (pharmacist)",
        (
            Field(
                "dose_mg",
                "Dose you calculated",
                "number",
                required=True,
                unit="mg",
                hint="Calculate it yourself from the order; it must equal the released dose.",
            ),
            _NOTE,
        ),
    ),
    "prepare": FormSpec(
        "prepare",
        "Record the preparation (pharmacist, with a second signer)",
        (
            Field("lot", "Vial lot number", "text", required=True),
            Field("expiry", "Vial expiry date", "date", required=True),
            Field("prepared_at", "Reconstituted at", "time"),
            *_SIGNER,
            _NOTE,
        ),
    ),
    "give": FormSpec(
        "give",
        "Record the administration (nurse, with a second signer)",
        (
            Field("started_at", "Infusion started at", "time", required=True),
            Field("ended_at", "Infusion ended at", "time", required=True),
            *(
                Field(f"premedication_{agent}", f"Premedication given: {agent}", "checkbox")
                for agent in PREMEDICATION_AGENTS
            ),
            Field(
                "premedication_reason",
                "Why premedication was not given in full",
                "text",
                hint="Required when an agent above is not ticked (the label asks for all three "
                "before every dose).",
            ),
            Field("reactions", "Reactions", "text", hint="'none', or what happened"),
            Field("observation_end", "Observation ended at", "time", required=True),
            Field(
                "observation_reason",
                "Why the observation was shorter",
                "text",
                hint="Required when the patient was observed for less than the label's time "
                "after the end of the infusion (at least 1 hour).",
            ),
            *_SIGNER,
            _NOTE,
        ),
    ),
    "withdraw": FormSpec(
        "withdraw",
        "Withdraw: back to ordered",
        (Field("reason", "Reason", "text", required=True),),
        intro="The dose goes back to 'ordered'; the steps so far stay in its history.",
    ),
}


def parse_step(step: str, form: Mapping[str, Any]) -> dict[str, Any]:
    """The values of a step's form, converted (dates and times as Python values).

    Raises ``FormError`` with a message per field; the password is read as typed.

    >>> parse_step("verify", {"dose_mg": "0.91"})
    {'dose_mg': 0.91}
    >>> parse_step("verify", {"dose_mg": "0,91"})
    Traceback (most recent call last):
    ...
    inoplan.web.forms.FormError: dose_mg: use a decimal point, not a comma (e.g. 1.5)
    """
    from datetime import time

    spec = STEP_FORMS[step]
    plain = tuple(f for f in spec.fields if f.kind != "password")
    values, errors = read_fields(plain, form)
    for item in spec.fields:
        if item.kind == "password":
            raw = form.get(item.name)
            if isinstance(raw, str) and raw:
                values[item.name] = raw
            elif item.required:
                errors[item.name] = "required"
    if errors:
        raise FormError(errors)
    for name in ("expiry",):
        if name in values:
            values[name] = date.fromisoformat(values[name])
    for name in ("started_at", "ended_at", "observation_end", "prepared_at"):
        if name in values:
            values[name] = time.fromisoformat(values[name])
    if step == "give":
        values["premedication"] = [
            agent for agent in PREMEDICATION_AGENTS if values.pop(f"premedication_{agent}", False)
        ]
    return values


def _text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def _number(raw: str) -> float | int:
    if "," in raw:
        raise ValueError("use a decimal point, not a comma (e.g. 1.5)")
    if not _NUMBER.match(raw):
        raise ValueError("enter a number")
    number = float(raw)
    return int(number) if _INTEGER.match(raw) else number


def _convert(spec: Field, raw: str) -> Any:
    if spec.kind == "number":
        return _number(raw)
    if spec.kind == "integer":
        if not _INTEGER.match(raw):
            raise ValueError("enter a whole number")
        return int(raw)
    if spec.kind == "date":
        try:
            return date.fromisoformat(raw).isoformat()
        except ValueError:
            raise ValueError("enter a date as YYYY-MM-DD") from None
    if spec.kind == "time":
        if not _TIME.match(raw):
            raise ValueError("enter a time as HH:MM (24-hour clock)")
        return raw
    if spec.kind == "select":
        allowed = {value for value, _ in spec.options}
        if raw not in allowed:
            raise ValueError("choose one of the listed values")
        if spec.options == _TRI:
            return {"yes": True, "no": False}[raw]
        if spec.name == "day":
            return int(raw)
        if spec.name == "grade":
            return int(raw)
        return raw
    return raw  # text


def read_fields(
    fields: tuple[Field, ...], form: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Read and convert every non-checkbox input of ``fields``: (values by name, errors by name).

    An empty optional input is left out; a checkbox is ``True`` when ticked.
    """
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for item in fields:
        raw = _text(form, item.name)
        if item.kind == "checkbox":
            values[item.name] = raw in ("yes", "on", "true", "1")
            continue
        if not raw:
            if item.required:
                errors[item.name] = "required"
            continue
        try:
            values[item.name] = _convert(item, raw)
        except ValueError as exc:
            errors[item.name] = str(exc)
    return values, errors


def parse_event(
    event_type: str, form: Mapping[str, Any], *, defaults: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Turn submitted form text into one course-document event.

    ``defaults`` are the values the form was prefilled with (the site's units and ULNs): a
    prefilled limit left as it was, with no value entered, is not an entry.

    Raises
    ------
    FormError
        With a message per field; nothing is stored.

    Examples
    --------
    >>> parse_event("ecg", {"date": "2026-12-01", "qtcf_ms": "438"})
    {'type': 'ecg', 'date': '2026-12-01', 'qtcf_ms': 438}
    >>> parse_event("ecg", {"date": "2026-12-01", "qtcf_ms": "4,38"})
    Traceback (most recent call last):
    ...
    inoplan.web.forms.FormError: qtcf_ms: use a decimal point, not a comma (e.g. 1.5)
    """
    spec = FORMS.get(event_type)
    if spec is None:
        raise FormError({"": f"unknown form {event_type!r}"})
    if event_type == "administration" and _text(form, "override_form"):
        spec = OVERRIDE_FORM
    errors: dict[str, str] = {}
    event: dict[str, Any] = {"type": event_type}
    labs: dict[str, dict[str, Any]] = {}
    for item in spec.fields:
        if item.kind == "checkbox":
            continue
        raw = _text(form, item.name)
        if not raw:
            if item.required:
                errors[item.name] = "required"
            continue
        try:
            value = _convert(item, raw)
        except ValueError as exc:
            errors[item.name] = str(exc)
            continue
        if item.group:
            labs.setdefault(item.group, {})[item.name.split(".", 1)[1]] = value
        elif item.name == "conditioning":
            event[item.name] = [part.strip() for part in raw.split(",") if part.strip()]
        else:
            event[item.name] = value
    for item in spec.fields:
        if item.kind == "checkbox":
            checked = _text(form, item.name) in ("yes", "on", "true", "1")
            if item.group:
                if item.group in labs:
                    labs[item.group][item.name.split(".", 1)[1]] = checked
            else:
                event[item.name] = checked
    if event_type == "labs":
        for analyte, parts in list(labs.items()):
            if "value" not in parts:
                if any(f"{analyte}.value" == k for k in errors):
                    continue
                extra = [
                    k
                    for k in parts
                    if k not in ("unit", "transfused")
                    and _text(form, f"{analyte}.{k}") != (defaults or {}).get(f"{analyte}.{k}")
                ]
                if extra:
                    errors[f"{analyte}.value"] = "enter the value for this limit"
                del labs[analyte]
                continue
            if analyte in ULN_REQUIRED and "uln" not in parts and f"{analyte}.uln" not in errors:
                errors[f"{analyte}.uln"] = (
                    "required: the label's thresholds are multiples of the upper limit of normal"
                )
            if parts.get("transfused") is False:
                del parts["transfused"]
        event.update(labs)
        has_result = bool(labs) or any(
            k in event for k in ("peripheral_blasts_pct", "marrow_blasts_pct")
        )
        if not has_result and not errors:
            errors[""] = "enter at least one result"
    if event_type == "plan_change" and not errors:
        if "hsct_intended" in event:
            event["hsct_intended"] = {"yes": True, "no": False}.get(event["hsct_intended"])
        if "cycle1_days" in event:
            event["cycle1_days"] = int(event["cycle1_days"])
        if not {"hsct_intended", "cycle1_days", "bsa_formula"} & set(event):
            errors[""] = "choose at least one change to the plan"
    if event_type == "vitals" and not errors and not ("height_cm" in event or "weight_kg" in event):
        errors["weight_kg"] = "enter a height, a weight or both"
    if errors:
        raise FormError(errors)
    # JSON-style key order: type, date, then the rest as entered
    ordered = {"type": event_type, "date": event.pop("date")}
    event.pop("type")
    ordered.update(event)
    return ordered


#: Forms whose events can be corrected (the required ``reason`` of a discontinuation, a plan change
#: or a move would clash with the correction's reason; withdraw such an entry instead).
CORRECTABLE: Final = frozenset(FORMS) - {
    "discontinuation",
    "plan_change",
    "reschedule",
    "dose_change",
}
#: Fields shown only to roles with ``dose.override``.
OVERRIDE_FIELDS: Final = frozenset({"override_reason"})


def add_correction(event_type: str, event: dict[str, Any], form: Mapping[str, Any]) -> None:
    """Turn the optional "corrects" fields into ``supersedes`` and ``reason`` (in place).

    Raises
    ------
    FormError
        A correction without its reason.

    >>> event = {"type": "ecg", "date": "2026-12-01", "qtcf_ms": 438}
    >>> add_correction("ecg", event, {"supersedes": "ecg-1", "correction_reason": "typo"})
    >>> event["supersedes"], event["reason"]
    ('ecg-1', 'typo')
    """
    target = _text(form, "supersedes")
    reason = _text(form, "correction_reason")
    if not target:
        if reason:
            raise FormError({"supersedes": "choose the entry this corrects, or clear the reason"})
        return
    if event_type not in CORRECTABLE:
        raise FormError({"": "this kind of entry cannot be corrected here"})
    if not reason:
        raise FormError({"correction_reason": "required: say why the entry is corrected"})
    event["supersedes"] = target
    event["reason"] = reason[:500]


def field_for_error(event_type: str, service_field: str) -> str:
    """The form field next to which a service error belongs (``event.anc.unit`` -> ``anc.unit``).

    ``""`` means the form as a whole.
    """
    name = service_field.removeprefix("event.") if service_field.startswith("event.") else ""
    if name == "supersedes" or (name == "reason" and event_type in CORRECTABLE):
        return "supersedes" if name == "supersedes" else "correction_reason"
    names = {f.name for f in FORMS[event_type].fields}
    if event_type == OVERRIDE_FORM.event_type:
        names |= {f.name for f in OVERRIDE_FORM.fields}
    while name and name not in names:
        if name + ".value" in names:
            return name + ".value"
        name = name.rpartition(".")[0]
    return name
