"""The course document's schema checked without pydantic: a conservative fast lane.

``inoplan.document.models`` (pydantic) is the one schema source: the JSON Schema, OpenAPI and
every error message come from it. Importing pydantic and building those models costs several
times a bare Python start-up (``inoplan evaluate``, bench/README.md), and validating a 50-event
document with it is a good part of a decision. This module accepts only documents that are
plainly valid, written the common way (JSON/YAML types: ``dict``, ``list``, ``str``, ``int``,
``float``, ``bool``, ``None``, ISO ``YYYY-MM-DD`` dates or ``datetime.date``), and returns the
same values the models would hold, as plain attribute objects with the models' attribute names.
Anything else (a missing or unknown field, a wrong type, a value outside a bound, an unusual but
maybe valid spelling) returns None, and the caller validates with pydantic, which accepts it or
names the field at fault. So this lane never refuses and never answers differently: it only
skips work (``tests/unit/document/test_fast_schema.py`` holds it to the models, field for
field, on valid and broken documents). Standard library only.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from datetime import date
from types import SimpleNamespace
from typing import Any, Final

__all__ = ["validate_document", "validate_event"]


class _Bad(Exception):
    """Not plainly valid: the pydantic models decide (and name the field)."""


_BAD: Final = _Bad()
_NO: Final = object()  # no default: the field is required

Check = Callable[[Any], Any]
#: field -> (check, default); a check returns the field's value or raises _Bad
Spec = dict[str, tuple[Check, Any]]

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_TIME = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]", re.ASCII)
_INT_LIMIT: Final = 2**53  # beyond: let pydantic judge (big integers)


def _text(value: Any) -> str:
    """A str whose characters pydantic-core reads as they are (no lone surrogate)."""
    if type(value) is not str:
        raise _BAD
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _BAD from None
    return value


def _string(low: int, high: int) -> Check:
    def check(value: Any) -> str:
        text = _text(value)
        if not low <= len(text) <= high:
            raise _BAD
        return text

    return check


def _optional(check: Check) -> Check:
    def optional(value: Any) -> Any:
        return None if value is None else check(value)

    return optional


def _bool(value: Any) -> bool:
    if type(value) is not bool:
        raise _BAD
    return value


def _int(low: int, high: int) -> Check:
    def check(value: Any) -> int:
        if type(value) is not int or not low <= value <= high:
            raise _BAD
        return value

    return check


def _number(*, ge: float | None = None, gt: float | None = None, le: float | None = None) -> Check:
    """``StrictFloat | StrictInt`` with bounds (``allow_inf_nan=False``): the number as given."""

    def check(value: Any) -> float | int:
        kind = type(value)
        if kind is float:
            if not math.isfinite(value):
                raise _BAD
        elif kind is not int or not -_INT_LIMIT < value < _INT_LIMIT:
            raise _BAD
        if (
            (ge is not None and not value >= ge)
            or (gt is not None and not value > gt)
            or (le is not None and not value <= le)
        ):
            raise _BAD
        return value  # type: ignore[no-any-return]

    return check


def _literal(*values: str | int) -> Check:
    allowed = frozenset(values)
    kinds = frozenset(type(v) for v in values)

    def check(value: Any) -> Any:
        if type(value) not in kinds or value not in allowed:
            raise _BAD
        return value

    return check


def _date(value: Any) -> date:
    kind = type(value)
    if kind is date:
        return value  # type: ignore[no-any-return]
    if kind is str and len(value) == 10 and _DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise _BAD from None
    raise _BAD


def _time(value: Any) -> str:
    if type(value) is not str or not _TIME.fullmatch(value):
        raise _BAD
    return value


def _person(high: int) -> Check:
    """``PatientId`` / ``PersonName``: 1..high printable characters."""

    def person(value: Any) -> str:
        text = _text(value)
        if not 1 <= len(text) <= high:
            raise _BAD
        return _printable(text)

    return person


def _printable(value: str) -> str:
    """``models.check_patient_id`` (kept in step by the tests): printable characters only."""
    if value[0] == " " or value[-1] == " ":
        raise _BAD
    if not value.isascii() or not value.isprintable():
        import unicodedata

        for ch in value:
            if ch != " " and unicodedata.category(ch)[0] in "CZ":
                raise _BAD
    return value


def _list(check: Check) -> Check:
    def items(value: Any) -> list[Any]:
        if type(value) is not list:
            raise _BAD
        return [check(v) for v in value]

    return items


class _Model:
    """A model's fields: the check of each, the defaults, which are required."""

    __slots__ = ("checks", "defaults", "factories", "required")

    def __init__(self, spec: Spec) -> None:
        self.checks = {name: check for name, (check, _) in spec.items()}
        self.required = frozenset(name for name, (_, d) in spec.items() if d is _NO)
        self.defaults = {
            name: d for name, (_, d) in spec.items() if d is not _NO and not callable(d)
        }
        self.factories = tuple((name, d) for name, (_, d) in spec.items() if callable(d))


def _model(spec: Spec) -> Check:
    """A nested model given as a dict: its fields checked, defaults filled in."""
    model = _Model(spec)

    def nested(value: Any) -> SimpleNamespace:
        return SimpleNamespace(**_fields(value, model))

    return nested


def _fields(value: Any, model: _Model) -> dict[str, Any]:
    if type(value) is not dict:
        raise _BAD
    checks = model.checks
    keys = value.keys()
    if not (checks.keys() >= keys and model.required <= keys):
        raise _BAD  # a key the model does not know (extra="forbid"), or a required one missing
    out = model.defaults.copy()
    for name, factory in model.factories:
        out[name] = factory()
    for name, raw in value.items():
        out[name] = checks[name](raw)
    return out


_ID = _optional(_string(1, 64))
_REASON = _optional(_string(0, 500))
_REQUIRED_REASON = (_string(1, 500), _NO)
_CYCLE = (_int(1, 6), _NO)
_DAY = (_literal(1, 8, 15), _NO)
_FORMULAS = ("mosteller", "dubois", "haycock", "gehan-george", "boyd")

_VALUE = _number(ge=0)
_ULN = _number(gt=0)


class LabValueFields:
    """A ``LabValueDoc``'s values (the hot spot of a course: about seven per labs event)."""

    __slots__ = ("lln", "transfused", "uln", "unit", "value")

    def __init__(
        self, value: float, unit: str, uln: float | None, lln: float | None, transfused: bool
    ) -> None:
        self.value = value
        self.unit = unit
        self.uln = uln
        self.lln = lln
        self.transfused = transfused


def _lab(value: Any) -> LabValueFields | None:
    """``LabValueDoc | None``: ``value`` >= 0, ``unit``, ``uln`` > 0, ``lln`` >= 0 and
    ``transfused``."""
    if value is None:
        return None
    if type(value) is not dict:
        raise _BAD
    number = _VALUE(value.get("value"))
    unit = _text(value.get("unit"))
    known = 2
    uln = value.get("uln")
    if "uln" in value:
        known += 1
        if uln is not None:
            uln = _ULN(uln)
    lln = value.get("lln")
    if "lln" in value:
        known += 1
        if lln is not None:
            lln = _VALUE(lln)
    transfused = False
    if "transfused" in value:
        known += 1
        transfused = _bool(value["transfused"])
    if len(value) != known:
        raise _BAD  # a missing value/unit (None above) or an unknown key
    return LabValueFields(number, unit, uln, lln, transfused)


_LAB = _lab
_ANALYTES: tuple[str, ...] = ("anc", "platelets", "bilirubin", "ast", "alt", "peripheral_blasts")
_ANALYTES += ("wbc", "potassium", "magnesium")
_BOOL_OR_NONE = (_optional(_bool), None)

_BASE: Final[Spec] = {
    "date": (_date, _NO),
    "id": (_ID, None),
    "supersedes": (_ID, None),
    "reason": (_REASON, None),
}


def _event_spec(kind: str, fields: Spec) -> _Model:
    return _Model({**_BASE, "type": (_literal(kind), _NO), **fields})


_EVENTS: Final[dict[str, _Model]] = {
    "vitals": _event_spec(
        "vitals",
        {
            "height_cm": (_optional(_number(gt=0)), None),
            "weight_kg": (_optional(_number(gt=0)), None),
            "hepatomegaly": _BOOL_OR_NONE,
            "ascites": _BOOL_OR_NONE,
        },
    ),
    "labs": _event_spec(
        "labs",
        {
            **dict.fromkeys(_ANALYTES, (_LAB, None)),
            "peripheral_blasts_pct": (_optional(_number(ge=0, le=100)), None),
            "marrow_blasts_pct": (_optional(_number(ge=0, le=100)), None),
        },
    ),
    "administration": _event_spec(
        "administration",
        {
            "cycle": _CYCLE,
            "day": _DAY,
            "dose_mg": (_number(gt=0), _NO),
            "time": (_time, "09:00"),
            "duration_min": (_int(1, 1440), 60),
            "override_reason": (_optional(_string(1, 500)), None),
            "premedication": (
                _optional(_list(_literal("corticosteroid", "antipyretic", "antihistamine"))),
                None,
            ),
            "premedication_reason": (_optional(_string(1, 500)), None),
            "observation_min": (_optional(_int(0, 1440)), None),
            "observation_reason": (_optional(_string(1, 500)), None),
        },
    ),
    "toxicity": _event_spec(
        "toxicity",
        {
            "term": (_string(1, 200), _NO),
            "grade": (_int(0, 5), _NO),
            "related": (_bool, True),
        },
    ),
    "response": _event_spec(
        "response",
        {
            "status": (_literal("CR", "CRi", "PR", "NR", "relapse"), _NO),
            "mrd_negative": _BOOL_OR_NONE,
            "disease_stable_or_improved": _BOOL_OR_NONE,
            "cytopenia_due_to_disease": _BOOL_OR_NONE,
        },
    ),
    "medication": _event_spec(
        "medication",
        {"name": (_string(1, 200), _NO), "action": (_literal("start", "stop"), _NO)},
    ),
    "ecg": _event_spec("ecg", {"qtcf_ms": (_number(gt=0), _NO)}),
    "pregnancy_test": _event_spec(
        "pregnancy_test", {"result": (_literal("negative", "positive"), _NO)}
    ),
    "hsct": _event_spec(
        "hsct",
        {"conditioning": (_list(_string(1, 100)), list), "planned": (_bool, False)},
    ),
    "discontinuation": _event_spec("discontinuation", {"reason": _REQUIRED_REASON}),
    "plan_change": _event_spec(
        "plan_change",
        {
            "reason": _REQUIRED_REASON,
            "hsct_intended": _BOOL_OR_NONE,
            "cycle1_days": (_optional(_literal(21, 28)), None),
            "bsa_formula": (_optional(_literal(*_FORMULAS)), None),
        },
    ),
    "reschedule": _event_spec(
        "reschedule",
        {"reason": _REQUIRED_REASON, "cycle": _CYCLE, "day": _DAY, "to": (_date, _NO)},
    ),
    "dose_change": _event_spec(
        "dose_change",
        {
            "reason": _REQUIRED_REASON,
            "cycle": _CYCLE,
            "day": _DAY,
            "dose_mg_per_m2": (_number(gt=0), _NO),
        },
    ),
    "void": _event_spec("void", {"supersedes": (_string(1, 64), _NO), "reason": _REQUIRED_REASON}),
}

_HISTORY: Final[Spec] = {
    "liver_disease": (_literal("none", "prior", "ongoing"), "none"),
    "prior_vod": (_bool, False),
    "prior_hsct": (_bool, False),
    "gilbert_syndrome": (_bool, False),
    "salvage_line": (_optional(_int(1, 20)), None),
}
_PATIENT: Final[Spec] = {
    "id": (_person(64), _NO),
    "name": (_optional(_person(200)), None),
    "birth_date": (_date, _NO),
    "sex": (_literal("female", "male"), _NO),
    "reproductive_potential": _BOOL_OR_NONE,
    "breastfeeding": _BOOL_OR_NONE,
    "allergies": (_list(_string(1, 200)), list),
    "history": (_model(_HISTORY), lambda: SimpleNamespace(**_fields({}, _Model(_HISTORY)))),
}
_PLAN: Final[Spec] = {
    "start_date": (_date, _NO),
    "hsct_intended": _BOOL_OR_NONE,
    "cycle1_days": (_literal(21, 28), 21),
    "vial": (_optional(_literal("us-0.9mg", "eu-1mg")), None),
    "bsa_formula": (_literal(*_FORMULAS), "mosteller"),
}


def _event(value: Any) -> SimpleNamespace:
    if type(value) is not dict:
        raise _BAD
    kind = value.get("type")
    spec = _EVENTS.get(kind) if type(kind) is str else None
    if spec is None:
        raise _BAD
    fields = _fields(value, spec)
    if kind == "plan_change":
        fields["model_fields_set"] = frozenset(value)
    return SimpleNamespace(**fields)


def _version(value: Any) -> int:
    if type(value) is not int:
        raise _BAD
    return value


def _course_id(value: Any) -> str | int:
    if type(value) is str:
        return _text(value)
    if type(value) is int and -_INT_LIMIT < value < _INT_LIMIT:
        return value
    raise _BAD


_DOCUMENT: Final[Spec] = {
    "label": (_string(2, 32), "us"),
    "patient": (_model(_PATIENT), _NO),
    "plan": (_model(_PLAN), _NO),
    "events": (_list(_event), list),
    "id": (_optional(_course_id), None),
    "version": (_optional(_version), None),
}


_DOCUMENT_MODEL: Final = _Model(_DOCUMENT)


def validate_document(data: Mapping[str, Any]) -> SimpleNamespace | None:
    """The values ``CourseDocument.model_validate(data)`` would hold (same attribute names),
    or None when the document is not plainly valid (then pydantic decides)."""
    try:
        return SimpleNamespace(**_fields(data, _DOCUMENT_MODEL))
    except _Bad:
        return None


def validate_event(data: Mapping[str, Any]) -> SimpleNamespace | None:
    """One event as the ``EventDoc`` union would validate it, or None (then pydantic decides)."""
    try:
        return _event(data)
    except _Bad:
        return None
