"""Read course documents (YAML or JSON), validate them and build domain courses.

I/O: ``read_document`` reads one file; everything else is pure.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Mapping, Sequence
from datetime import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from inoplan.document import plausibility as plaus
from inoplan.document.fast import validate_document, validate_event
from inoplan.domain import course as c
from inoplan.domain.body import parse_formula
from inoplan.domain.units import (
    ANALYTE_KINDS,
    CANONICAL_UNIT,
    MINUTES_PER_HOUR,
    convert,
    tidy,
    to_decimal,
    unit_rule,
)
from inoplan.errors import InvalidInput

__all__ = [
    "course_json_schema",
    "extend_course",
    "field_path",
    "parse_course",
    "read_course_file",
    "read_document",
]

_DEFAULT_VIAL = {"us": "us-0.9mg", "eu": "eu-1mg"}


def read_document(path: str | Path, *, field: str = "COURSE") -> dict[str, Any]:
    """Read a YAML or JSON file into a mapping (the format is told by the content)."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(field, f"cannot read {str(source)!r}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput.not_utf8(field, source, exc) from None
    return parse_text(text, field=field)


def parse_text(text: str, *, field: str = "COURSE") -> dict[str, Any]:
    """Parse YAML or JSON text into a mapping."""
    try:
        data = _json_loads(text)
    except ValueError:
        import yaml  # lazy: only documents that are not JSON need it

        # libyaml's C loader when installed (about 10x faster than the pure-Python one); both
        # are "safe" loaders with the same types (dates become datetime.date).
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            data = yaml.load(text, Loader=loader)
        except yaml.YAMLError as exc:
            raise InvalidInput(
                field, f"not valid YAML or JSON ({exc.__class__.__name__})"
            ) from None
    if not isinstance(data, dict):
        raise InvalidInput(field, "a course document must be a mapping with patient, plan, events")
    return data


def _json_loads(text: str) -> Any:
    """JSON text -> Python values: orjson (about 10x the stdlib's speed), the stdlib for what
    orjson refuses but the stdlib reads (integers beyond 64 bits, ``NaN``), so that such a
    document gets the same message as before; ValueError when the text is not JSON."""
    import orjson

    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def read_course_file(path: str | Path) -> c.Course:
    """Read and validate one course document file."""
    return parse_course(read_document(path))


def field_path(loc: Sequence[int | str], tags: frozenset[str] = frozenset()) -> str:
    """``('events', 3, 'labs', 'anc', 'unit')`` -> ``events[3].anc.unit``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in tags:
            continue  # discriminator tag inserted by pydantic
        else:
            out += f".{part}" if out else str(part)
    return out or "document"


def parse_course(document: Mapping[str, Any], *, reference: bool = False) -> c.Course:
    """Validate a course document and return the domain course.

    Every document is validated in full (pydantic models, then plausibility and consistency).
    Lab values take a fast lane (``_quick_lab``): the same exact Decimal conversion and range
    checks without building a field name for each step; anything it is unsure of goes through
    the step-by-step conversion, which names the field at fault. ``reference=True`` sends every
    value the step-by-step way: the reference the fast lane is tested against, decision for
    decision (tests/unit/test_parse_parity.py).

    Raises
    ------
    InvalidInput
        Naming the first field at fault (``events[2].anc.unit``), for any schema violation,
        unknown unit, implausible value (``inoplan.document.plausibility``: lab values per
        analyte, height, weight and body mass index, QTcF, doses, every date) or inconsistent
        reference.
    """
    data = dict(document)
    data.pop("expect", None)  # worked examples carry their expectation beside the course
    # The schema lane without pydantic (``document.fast``): the same values for a plainly valid
    # document, None for anything else, which the models then accept or refuse.
    doc = None if reference else validate_document(data)
    if doc is None:
        doc = _validate_with_models(data)
    return _to_domain(doc, reference=reference)


def _validate_with_models(data: dict[str, Any]) -> Any:
    """``CourseDocument.model_validate``, its first error as InvalidInput naming the field."""
    from pydantic import ValidationError

    from inoplan.document.models import CourseDocument

    try:
        return CourseDocument.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        # discriminator tags, and the member tags pydantic adds for `StrictFloat | StrictInt`
        tags = frozenset(_EVENT_TYPES) | _UNION_MEMBER_TAGS
        raise InvalidInput(field_path(first["loc"], tags), first["msg"]) from None


_UNION_MEMBER_TAGS = frozenset({"float", "int", "str", "bool"})  # never field names here

_EVENT_TYPES = (
    "vitals",
    "labs",
    "administration",
    "toxicity",
    "response",
    "medication",
    "ecg",
    "pregnancy_test",
    "hsct",
    "discontinuation",
    "plan_change",
    "reschedule",
    "dose_change",
    "void",
)


def course_json_schema() -> dict[str, Any]:
    """JSON Schema of the course document, generated from the pydantic models."""
    from inoplan.document.models import CourseDocument

    return CourseDocument.model_json_schema()


# -- conversion to the domain --------------------------------------------------------------


def _to_domain(doc: Any, *, reference: bool = False) -> c.Course:
    from inoplan.knowledge.loader import resolve_label_id

    label_id = resolve_label_id(doc.label)  # raises InvalidInput(field="label")
    region = label_id.split("-", 1)[0]
    p = doc.patient
    _check_dates(doc)
    patient = c.Patient(
        id=p.id,
        birth_date=p.birth_date,
        sex=p.sex,
        name=p.name,
        reproductive_potential=p.reproductive_potential,
        breastfeeding=p.breastfeeding,
        allergies=tuple(p.allergies),
        history=c.History(
            liver_disease=p.history.liver_disease,
            prior_vod=p.history.prior_vod,
            prior_hsct=p.history.prior_hsct,
            gilbert_syndrome=p.history.gilbert_syndrome,
            salvage_line=p.history.salvage_line,
        ),
    )
    plan = c.CoursePlan(
        start_date=doc.plan.start_date,
        hsct_intended=doc.plan.hsct_intended,
        cycle1_days=doc.plan.cycle1_days,
        vial=doc.plan.vial or _DEFAULT_VIAL.get(region, "us-0.9mg"),
        bsa_formula=parse_formula(doc.plan.bsa_formula, field="plan.bsa_formula"),
    )
    events = [_event(e, i, reference) for i, e in enumerate(doc.events)]
    return _course(label_id, patient, plan, events)


def extend_course(course: c.Course, event: Mapping[str, Any], index: int) -> c.Course:
    """``course`` with one more event at ``index`` (its next position), validated as
    :func:`parse_course` validates that event inside the whole document.

    For a course that :func:`parse_course` returned (so every stored event passed the current
    checks), the result and any error (field named ``events[index]...``, same message) equal
    those of parsing the whole document with the event appended; only the new event is
    converted (tests/unit/test_extend_course.py holds the two to each other).
    """
    if index != len(course.events) + len(course.superseded) + len(course.voids):
        raise ValueError(f"event {index} is not the course's next position")
    data = dict(event)
    doc = validate_event(data)
    if doc is None:
        from pydantic import ValidationError

        try:
            doc = _event_adapter().validate_python(data)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            tags = frozenset(_EVENT_TYPES) | _UNION_MEMBER_TAGS
            raise InvalidInput(
                field_path(("events", index, *first["loc"]), tags), first["msg"]
            ) from None
    plaus.check_date(doc.date, f"events[{index}].date")
    if doc.type == "reschedule":
        plaus.check_date(doc.to, f"events[{index}].to")
    new = _event(doc, index)
    stored = sorted((*course.events, *course.superseded, *course.voids), key=lambda e: e.index)
    plan = course.initial_plan or course.plan  # the document's plan; changes re-applied
    return _course(course.label, course.patient, plan, [*stored, new])


@functools.cache
def _event_adapter() -> Any:
    from pydantic import TypeAdapter

    from inoplan.document.models import EventDoc

    return TypeAdapter(EventDoc)


def _course(
    label_id: str, patient: c.Patient, plan: c.CoursePlan, events: list[c.Event]
) -> c.Course:
    """The checks across events (dates, ids, corrections, doses twice, body size) and the
    domain course; ``events`` in document order."""
    if patient.birth_date > plan.start_date:
        raise InvalidInput("patient.birth_date", "is after the plan's start date")
    ids: dict[str, int] = {}
    for i, event in enumerate(events):
        if event.date < patient.birth_date:
            raise InvalidInput(f"events[{i}].date", "is before the patient's birth date")
        if event.id is not None:
            if event.id in ids:
                raise InvalidInput(f"events[{i}].id", f"duplicate event id {event.id!r}")
            ids[event.id] = i
    # one rule for corrections and voids (unknown, self, type, twice, cycles): the domain's
    links = [c.Link(e.id, e.supersedes, e.type, e.reason) for e in events]
    superseded_ids = set(c.correction_targets(links))
    effective = [
        e
        for e in events
        if (e.id is None or e.id not in superseded_ids) and not isinstance(e, c.VoidEvent)
    ]
    superseded = [e for e in events if e.id is not None and e.id in superseded_ids]
    voids = [e for e in events if isinstance(e, c.VoidEvent)]
    effective.sort(key=lambda e: (e.date, e.index))
    _check_administrations(effective)
    _check_infusion_care(label_id, effective)
    _check_body(effective)
    course = c.Course(
        label=label_id,
        patient=patient,
        plan=plan,
        events=tuple(effective),
        superseded=tuple(superseded),
        voids=tuple(voids),
        initial_plan=plan,
    )
    return dataclasses.replace(course, plan=c.plan_in_force(course))


def _check_dates(doc: Any) -> None:
    """Every date inside the sane window; no patient older than the plausible age at the start."""
    birth = plaus.check_date(doc.patient.birth_date, "patient.birth_date")
    start = plaus.check_date(doc.plan.start_date, "plan.start_date")
    for i, event in enumerate(doc.events):
        plaus.check_date(event.date, f"events[{i}].date")
        if event.type == "reschedule":
            plaus.check_date(event.to, f"events[{i}].to")
    oldest = plaus.date_window().max_age_years
    if birth <= start and c.age_years(birth, start) > oldest:
        raise InvalidInput(
            "patient.birth_date",
            f"{birth.isoformat()} makes the patient older than {oldest} years at the start "
            f"({start.isoformat()}); check the birth date",
        )


def _check_body(events: Sequence[c.Event]) -> None:
    """Each height and weight against the other one in force at its date (the engine's BMI)."""
    height: Any = None
    weight: Any = None
    for event in events:
        if not isinstance(event, c.VitalsEvent):
            continue
        height = event.height_cm if event.height_cm is not None else height
        weight = event.weight_kg if event.weight_kg is not None else weight
        if height is not None and weight is not None:
            name = "weight_kg" if event.weight_kg is not None else "height_cm"
            plaus.check_bmi(height, weight, field=f"events[{event.index}].{name}")


def _check_administrations(events: Sequence[c.Event]) -> None:
    seen: dict[tuple[int, int], int] = {}
    for event in events:
        if isinstance(event, c.AdministrationEvent):
            key = (event.cycle, event.day)
            if key in seen:
                raise InvalidInput(
                    f"events[{event.index}]",
                    f"cycle {event.cycle} day {event.day} is recorded as given twice "
                    f"(also events[{seen[key]}]); correct one with 'supersedes'",
                )
            seen[key] = event.index


def _premedication(agents: Sequence[str] | None, field: str) -> tuple[str, ...] | None:
    if agents is None:
        return None
    if len(set(agents)) != len(agents):
        raise InvalidInput(field, "names an agent twice")
    return tuple(a for a in c.PREMEDICATION_AGENTS if a in agents)


def _reason(text: str | None) -> str | None:
    return (text or "").strip() or None


def _check_infusion_care(label_id: str, events: Sequence[c.Event]) -> None:
    """A dose recorded without the label's full premedication, or with an observation shorter
    than the label's, says why (``premedication_reason``, ``observation_reason``)."""
    from inoplan.knowledge.loader import load_label

    required: Decimal | None = None
    for event in events:
        if not isinstance(event, c.AdministrationEvent):
            continue
        missing = event.premedication_missing
        if missing and event.premedication_reason is None:
            given = ", ".join(event.premedication or ()) or "none"
            raise InvalidInput(
                f"events[{event.index}].premedication_reason",
                f"premedication given: {given}; not given: {', '.join(missing)}. Say why "
                "(the label asks for all three before every dose)",
            )
        if event.observation_min is None or event.observation_reason is not None:
            continue
        if required is None:
            required = load_label(label_id).threshold("observation_hours").number * MINUTES_PER_HOUR
        if event.observation_min < required:
            raise InvalidInput(
                f"events[{event.index}].observation_reason",
                f"observed {event.observation_min} minutes after the infusion, fewer than the "
                f"label's {required:f} minutes: say why",
            )


def _dec(value: float | int | None, field: str) -> Decimal | None:
    return None if value is None else to_decimal(value, field=field)


def _measure(value: float | int | None, name: str, field: str, what: str) -> Decimal | None:
    """A number as a Decimal, refused when outside its plausible range (``plausibility``)."""
    number = _dec(value, field)
    if number is None:
        return None
    return plaus.check_measure(name, number, field=field, what=what)


def _event(e: Any, i: int, reference: bool = False) -> c.Event:
    base = {
        "date": e.date,
        "id": e.id,
        "index": i,
        "supersedes": e.supersedes,
        "reason": e.reason,
    }
    where = f"events[{i}]"
    match e.type:
        case "vitals":
            if e.height_cm is None and e.weight_kg is None:
                raise InvalidInput(where, "vitals need height_cm, weight_kg or both")
            return c.VitalsEvent(
                **base,
                height_cm=_measure(e.height_cm, "height_cm", f"{where}.height_cm", "height"),
                weight_kg=_measure(e.weight_kg, "weight_kg", f"{where}.weight_kg", "weight"),
                hepatomegaly=e.hepatomegaly,
                ascites=e.ascites,
            )
        case "labs":
            values: dict[str, c.LabValue] = {}
            for analyte in ANALYTE_KINDS:
                raw = getattr(e, analyte)
                if raw is not None:
                    value = None if reference else _quick_lab(analyte, raw)
                    if value is None:
                        value = _lab(analyte, raw, f"{where}.{analyte}")
                    values[analyte] = value
            if not values and e.peripheral_blasts_pct is None and e.marrow_blasts_pct is None:
                raise InvalidInput(where, "a labs event needs at least one result")
            return c.LabsEvent(
                **base,
                values=values,
                peripheral_blasts_pct=_dec(
                    e.peripheral_blasts_pct, f"{where}.peripheral_blasts_pct"
                ),
                marrow_blasts_pct=_dec(e.marrow_blasts_pct, f"{where}.marrow_blasts_pct"),
            )
        case "administration":
            hours, minutes = (int(x) for x in e.time.split(":"))
            return c.AdministrationEvent(
                **base,
                cycle=e.cycle,
                day=e.day,
                dose_mg=_required(_measure(e.dose_mg, "dose_mg", f"{where}.dose_mg", "dose")),
                time=time(hours, minutes),
                duration_min=e.duration_min,
                override_reason=e.override_reason,
                premedication=_premedication(e.premedication, f"{where}.premedication"),
                premedication_reason=_reason(e.premedication_reason),
                observation_min=e.observation_min,
                observation_reason=_reason(e.observation_reason),
            )
        case "toxicity":
            return c.ToxicityEvent(**base, term=_term(e.term), grade=e.grade, related=e.related)
        case "response":
            return c.ResponseEvent(
                **base,
                status=e.status,
                mrd_negative=e.mrd_negative,
                disease_stable_or_improved=e.disease_stable_or_improved,
                cytopenia_due_to_disease=e.cytopenia_due_to_disease,
            )
        case "medication":
            return c.MedicationEvent(**base, name=e.name.strip(), action=e.action)
        case "ecg":
            qtcf = _measure(e.qtcf_ms, "qtcf_ms", f"{where}.qtcf_ms", "QTcF")
            return c.EcgEvent(**base, qtcf_ms=_required(qtcf))
        case "pregnancy_test":
            return c.PregnancyTestEvent(**base, result=e.result)
        case "hsct":
            return c.HsctEvent(
                **base, conditioning=tuple(a.strip() for a in e.conditioning), planned=e.planned
            )
        case "discontinuation":
            return c.DiscontinuationEvent(**base, reason_text=e.reason)
        case "plan_change":
            changes: dict[str, object] = {
                name: getattr(e, name)
                for name in ("hsct_intended", "cycle1_days", "bsa_formula")
                if name in e.model_fields_set
            }
            if not changes:
                raise InvalidInput(
                    where, "a plan change needs hsct_intended, cycle1_days or bsa_formula"
                )
            if changes.get("cycle1_days", 21) is None:
                raise InvalidInput(f"{where}.cycle1_days", "must be 21 or 28")
            if "bsa_formula" in changes:
                if changes["bsa_formula"] is None:
                    raise InvalidInput(f"{where}.bsa_formula", "name a BSA formula")
                changes["bsa_formula"] = parse_formula(
                    str(changes["bsa_formula"]), field=f"{where}.bsa_formula"
                )
            return c.PlanChangeEvent(**base, changes=changes)
        case "reschedule":
            if e.to < e.date:
                raise InvalidInput(
                    f"{where}.to",
                    f"{e.to.isoformat()} is before the entry's date ({e.date.isoformat()}): a "
                    "treatment day is moved from the day the move is decided on",
                )
            return c.RescheduleEvent(**base, cycle=e.cycle, day=e.day, to=e.to)
        case "dose_change":
            return c.DoseChangeEvent(
                **base,
                cycle=e.cycle,
                day=e.day,
                dose_mg_per_m2=_required(_dec(e.dose_mg_per_m2, f"{where}.dose_mg_per_m2")),
            )
        case "void":
            return c.VoidEvent(**base)
    raise InvalidInput(f"{where}.type", f"unknown event type {e.type!r}")  # pragma: no cover


def _term(term: str) -> str:
    """A toxicity term as recorded (trimmed). The engine codes it with the vocabulary
    (``knowledge/terms/``: CTCAE v5.0, the label's terms and their synonyms); one vocabulary,
    so no second table of aliases here."""
    return " ".join(term.split())


#: Analytes whose value means nothing without the lab's upper limit of normal.
_NEEDS_ULN = frozenset({"bilirubin", "ast", "alt"})


#: ``_quick_lab``'s answers by their whole input (a pure function; LabValue is immutable).
_LAB_MEMO: dict[tuple[Any, ...], c.LabValue | None] = {}
_LAB_MEMO_SIZE = 8192


def _quick_lab(analyte: str, raw: Any) -> c.LabValue | None:
    """``_quick_lab_uncached``, remembered by its whole input: a clinic's lab values repeat (a
    platelet count of 85 with a ULN of 40 is the same LabValue in every course). The key holds
    each number's type beside it, so ``1`` and ``1.0`` (equal, but reported differently) never
    share an entry; zeros (``0.0 == -0.0``) are not remembered. Validated input only: numbers are
    ``int``/``float``, ``transfused`` a bool."""
    value, uln, lln = raw.value, raw.uln, raw.lln
    if not value or uln == 0 or lln == 0:
        return _quick_lab_uncached(analyte, raw)
    key = (
        analyte,
        raw.unit,
        value,
        type(value),
        uln,
        type(uln),
        lln,
        type(lln),
        raw.transfused,
    )
    try:
        return _LAB_MEMO[key]
    except KeyError:
        pass
    result = _quick_lab_uncached(analyte, raw)
    if len(_LAB_MEMO) >= _LAB_MEMO_SIZE:
        _LAB_MEMO.clear()
    _LAB_MEMO[key] = result
    return result


def _quick_lab_uncached(analyte: str, raw: Any) -> c.LabValue | None:
    """``_lab`` for a validated ``LabValueDoc``, without a field name per step: the same
    Decimal of the reported number, the same exact conversion (``unit_rule``: one cached
    look-up per unit) and the same plausibility ranges. None whenever ``_lab`` could refuse the
    value (unknown unit, out of range, a missing ULN, ...): the caller then runs ``_lab``, which
    refuses it naming the field. Only numbers the schema has checked get here (finite ``int`` or
    ``float``), so ``to_decimal`` cannot fail."""
    rule = unit_rule(analyte, raw.unit)
    if rule is None:
        return None
    factor, divide = rule
    reported = to_decimal(raw.value, field="value")
    if not abs(reported) < plaus.MAGNITUDE_LIMIT:
        return None
    value = tidy(reported / factor if divide else reported * factor)
    plausible = plaus.lab_range(analyte, "value")
    if plausible is not None and value not in plausible:
        return None
    limits: list[Decimal | None] = []
    for part in ("uln", "lln"):
        number = getattr(raw, part)
        if number is None:
            if part == "uln" and analyte in _NEEDS_ULN:
                return None
            limits.append(None)
            continue
        given = to_decimal(number, field=part)
        if not abs(given) < plaus.MAGNITUDE_LIMIT:
            return None
        limit = tidy(given / factor if divide else given * factor)
        plausible = plaus.lab_range(analyte, part)
        if plausible is not None and limit not in plausible:
            return None
        limits.append(limit)
    if raw.transfused and analyte != "platelets":
        return None
    return c.LabValue(
        analyte=analyte,
        value=value,
        unit=CANONICAL_UNIT[ANALYTE_KINDS[analyte]],
        reported_value=reported,
        reported_unit=raw.unit,
        uln=limits[0],
        lln=limits[1],
        transfused=raw.transfused,
    )


def _lab(analyte: str, raw: Any, where: str) -> c.LabValue:
    value = to_decimal(raw.value, field=f"{where}.value")
    plaus.check_magnitude(analyte, "value", value, raw.unit, field=f"{where}.value")
    canonical = convert(analyte, value, raw.unit, field=f"{where}.unit")
    plaus.check_lab(analyte, canonical, value, raw.unit, field=f"{where}.value")
    kind = ANALYTE_KINDS[analyte]
    uln = lln = None
    if raw.uln is not None:
        uln = _lab_limit(analyte, "uln", raw, where)
    elif analyte in {"bilirubin", "ast", "alt"}:
        raise InvalidInput(f"{where}.uln", f"{analyte} needs its upper limit of normal (uln)")
    if raw.lln is not None:
        lln = _lab_limit(analyte, "lln", raw, where)
    if raw.transfused and analyte != "platelets":
        raise InvalidInput(f"{where}.transfused", "only platelet counts carry 'transfused'")
    return c.LabValue(
        analyte=analyte,
        value=canonical,
        unit=CANONICAL_UNIT[kind],
        reported_value=value,
        reported_unit=raw.unit,
        uln=uln,
        lln=lln,
        transfused=raw.transfused,
    )


def _lab_limit(analyte: str, part: str, raw: Any, where: str) -> Decimal:
    reported = to_decimal(getattr(raw, part), field=f"{where}.{part}")
    plaus.check_magnitude(analyte, part, reported, raw.unit, field=f"{where}.{part}")
    canonical = convert(analyte, reported, raw.unit, field=f"{where}.unit")
    return plaus.check_lab_limit(
        analyte, part, canonical, reported, raw.unit, field=f"{where}.{part}"
    )


def _required(value: Decimal | None) -> Decimal:
    assert value is not None  # the schema makes the field required
    return value
