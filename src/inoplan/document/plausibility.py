"""Plausibility of the numbers and dates of a course document: one table, one set of checks.

The ranges live in ``plausibility.toml`` beside this module (data, not code); height, weight and
body mass index use the decision engine's own limits (``inoplan.domain.body``), so the engine and
the door agree. Every entry point reaches these checks through ``parse_course`` (or, for dates
asked for, :func:`check_date`), so ``inoplan evaluate`` of a file, the REST API, the web forms,
the FHIR import and CDS Hooks refuse the same values with the same message.

A refusal is :class:`~inoplan.errors.ImplausibleMeasurement` naming the field; when one unit
slip explains the value, the message asks "did you mean ...?":

>>> try:
...     check_lab("anc", Decimal(900), Decimal(900), "10*9/L", field="anc.value")
... except InvalidInput as exc:
...     print(exc.message.split("; ")[-1])
did you mean 900 /µL (0.9 × 10⁹/L)?
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from inoplan.domain.body import BMI_RANGE, HEIGHT_CM_RANGE, WEIGHT_KG_RANGE
from inoplan.domain.units import ANALYTE_KINDS, convert, tidy
from inoplan.errors import ImplausibleMeasurement, InvalidInput

__all__ = [
    "LAB_NAMES",
    "DateWindow",
    "Range",
    "check_bmi",
    "check_date",
    "check_lab",
    "check_lab_limit",
    "check_magnitude",
    "check_measure",
    "date_window",
    "lab_range",
    "measure_range",
    "pretty_unit",
]

#: How each analyte reads in a message.
LAB_NAMES: Final[Mapping[str, str]] = {
    "anc": "ANC",
    "platelets": "platelets",
    "wbc": "WBC",
    "peripheral_blasts": "peripheral blasts",
    "bilirubin": "total bilirubin",
    "ast": "AST",
    "alt": "ALT",
    "potassium": "potassium",
    "magnesium": "magnesium",
}

_PRETTY_UNITS: Final = {
    "10*9/L": "× 10⁹/L",
    "10^9/L": "× 10⁹/L",
    "x10*9/L": "× 10⁹/L",
    "10*3/uL": "× 10³/µL",
    "10^3/uL": "× 10³/µL",
    "K/uL": "K/µL",
    "/uL": "/µL",
    "cells/uL": "cells/µL",
    "umol/L": "µmol/L",
}


def pretty_unit(unit: str) -> str:
    """A unit as a clinician reads it (``10*9/L`` -> ``× 10⁹/L``, ``/uL`` -> ``/µL``)."""
    folded = unit.strip().replace("µ", "u").replace("μ", "u")
    return _PRETTY_UNITS.get(folded, unit.strip())


def _num(value: Decimal) -> str:
    if not value.is_finite():
        return str(value)
    if abs(value) >= Decimal("1e12") or (value != 0 and abs(value) < Decimal("1e-6")):
        return f"{value:.3E}"
    return format(tidy(value), "f")


def _short(value: Decimal) -> str:
    """A suggested reading, to about three significant digits (``7.02``, ``0.9``, ``181``)."""
    if abs(value) >= 100:
        return format(value.quantize(Decimal(1)), "f")
    return format(tidy(Decimal(format(value, ".3g"))), "f")


@dataclass(frozen=True, slots=True)
class Range:
    """An inclusive plausible range in ``unit``, with why it is there."""

    low: Decimal
    high: Decimal
    unit: str
    basis: str = ""

    def __contains__(self, value: object) -> bool:
        return isinstance(value, Decimal) and value.is_finite() and self.low <= value <= self.high


@dataclass(frozen=True, slots=True)
class DateWindow:
    earliest: date
    latest: date
    max_age_years: int
    basis: str = ""


@functools.cache
def _table() -> dict[str, Any]:
    from inoplan.knowledge.prebuilt import prebuilt, source_files

    # the package's own file (not importlib.resources: start-up time of `inoplan dose`)
    source = Path(__file__).with_name("plausibility.toml")
    files = (source, *source_files("document/plausibility.py"))
    return prebuilt("plausibility", files, lambda: _read_table(source))


def _read_table(source: Path) -> dict[str, Any]:
    import tomllib

    data: dict[str, Any] = tomllib.loads(source.read_text("utf-8"), parse_float=Decimal)
    return data


def _range(pair: Any, unit: str, basis: str) -> Range:
    low, high = (Decimal(x) for x in pair)
    return Range(low, high, unit, basis)


@functools.cache
def lab_range(analyte: str, part: str = "value") -> Range | None:
    """The plausible range of a lab ``value`` (or its ``uln``/``lln``) in the canonical unit."""
    entry = _table()["lab"].get(analyte)
    if entry is None:
        return None
    pair = entry.get(part) or (entry["value"] if part != "value" else None)
    if pair is None:
        return None
    return _range(pair, entry["unit"], entry.get("basis", ""))


@functools.cache
def measure_range(name: str) -> Range:
    """The plausible range of a measurement: ``qtcf_ms``, ``dose_mg``, ``percent``, ``height_cm``,
    ``weight_kg``, ``bmi`` (the last three are the engine's, ``inoplan.domain.body``)."""
    engine = {
        "height_cm": (HEIGHT_CM_RANGE, "cm"),
        "weight_kg": (WEIGHT_KG_RANGE, "kg"),
        "bmi": (BMI_RANGE, "kg/m²"),
    }
    if name in engine:
        (low, high), unit = engine[name]
        return Range(low, high, unit, "the decision engine's limit (inoplan.domain.body)")
    entry = _table()["measure"][name]
    return _range(entry["range"], entry["unit"], entry.get("basis", ""))


@functools.cache
def date_window() -> DateWindow:
    entry = _table()["dates"]
    return DateWindow(
        earliest=entry["earliest"],
        latest=entry["latest"],
        max_age_years=int(entry["max_age_years"]),
        basis=entry.get("basis", ""),
    )


# -- checks ------------------------------------------------------------------------------------


def check_date(value: date, field: str) -> date:
    """Refuse a date outside the sane window (1900-01-01 to 2099-12-31).

    >>> check_date(date(9999, 12, 31), "on")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    inoplan.errors.InvalidInput: on: 9999-12-31 is outside the accepted dates 1900-01-01 to ...
    """
    window = date_window()
    if not window.earliest <= value <= window.latest:
        raise InvalidInput(
            field,
            f"{value.isoformat()} is outside the accepted dates "
            f"{window.earliest.isoformat()} to {window.latest.isoformat()}",
        )
    return value


def _lab_suggestion(
    analyte: str, reported: Decimal, unit: str, plausible: Range, part: str
) -> str | None:
    """The reading one unit slip would give, if that reading is plausible."""
    from inoplan.domain.units import accepted_units

    kind = ANALYTE_KINDS[analyte]
    try:
        given = convert(analyte, reported, unit, field="unit")
    except (InvalidInput, ArithmeticError):
        return None
    for other in accepted_units(analyte):
        try:
            candidate = convert(analyte, reported, other, field="unit")
        except (InvalidInput, ArithmeticError):  # pragma: no cover - accepted units convert
            continue
        if candidate == given or candidate not in plausible:
            continue
        if kind == "count" and candidate > given:
            continue  # only "a per-microlitre count typed as 10^9/L", never the reverse
        return (
            f"{_num(reported)} {pretty_unit(other)} "
            f"({_short(candidate)} {pretty_unit(plausible.unit)})"
        )
    return None


#: No reported number of a course document comes near this: anything larger is refused before
#: any unit arithmetic (a 1e308 would overflow the decimal context of the conversion).
MAGNITUDE_LIMIT: Final = Decimal("1e12")


def check_magnitude(analyte: str, part: str, reported: Decimal, unit: str, *, field: str) -> None:
    """Refuse an absurd lab number (``1e308``) before it is converted."""
    if reported.is_finite() and abs(reported) < MAGNITUDE_LIMIT:
        return
    plausible = lab_range(analyte, part)
    low, high, canonical = (
        (_num(plausible.low), _num(plausible.high), pretty_unit(plausible.unit))
        if plausible is not None
        else ("0", _num(MAGNITUDE_LIMIT), pretty_unit(unit))
    )
    name = LAB_NAMES.get(analyte, analyte)
    raise ImplausibleMeasurement(
        field,
        f"{_num(reported)} {pretty_unit(unit)}",
        low,
        high,
        canonical,
        what=name if part == "value" else f"{name} {part.upper()}",
    )


def check_lab(
    analyte: str, canonical: Decimal, reported: Decimal, unit: str, *, field: str
) -> Decimal:
    """Refuse a lab value outside its plausible range (``canonical`` is in the canonical unit)."""
    return check_lab_limit(analyte, "value", canonical, reported, unit, field=field)


def check_lab_limit(
    analyte: str, part: str, canonical: Decimal, reported: Decimal, unit: str, *, field: str
) -> Decimal:
    """Refuse a lab's ``value``, ``uln`` or ``lln`` outside its plausible range."""
    plausible = lab_range(analyte, part)
    if plausible is None or canonical in plausible:
        return canonical
    name = LAB_NAMES.get(analyte, analyte)
    what = name if part == "value" else f"{name} {part.upper()}"
    shown = (
        _num(reported)
        if _same_unit(unit, plausible.unit)
        else f"{_num(reported)} {pretty_unit(unit)} = {_num(canonical)}"
    )
    raise ImplausibleMeasurement(
        field,
        shown,
        _num(plausible.low),
        _num(plausible.high),
        pretty_unit(plausible.unit),
        what=what,
        suggestion=_lab_suggestion(analyte, reported, unit, plausible, part),
    )


def _same_unit(unit: str, canonical: str) -> bool:
    return pretty_unit(unit) == pretty_unit(canonical)


#: Unit slips worth naming for a measurement: (factor to the field's unit, the unit it suggests).
_SLIPS: Final[Mapping[str, tuple[tuple[Decimal, str], ...]]] = {
    "height_cm": ((Decimal(100), "m"), (Decimal("0.1"), "mm"), (Decimal("2.54"), "in")),
    "weight_kg": ((Decimal("0.001"), "g"), (Decimal("0.45359237"), "lb")),
    "qtcf_ms": ((Decimal(1000), "s"),),
    "dose_mg": ((Decimal("0.001"), "µg"),),
}


def check_measure(name: str, value: Decimal, *, field: str, what: str = "") -> Decimal:
    """Refuse a measurement outside its plausible range (``height_cm``, ``weight_kg``,
    ``qtcf_ms``, ``dose_mg``, ``percent``), suggesting the unit slip that explains it."""
    plausible = measure_range(name)
    if value in plausible:
        return value
    suggestion = None
    if value.is_finite():
        for factor, unit in _SLIPS.get(name, ()):
            candidate = value * factor
            if candidate in plausible:
                suggestion = f"{_num(value)} {unit} ({_short(candidate)} {plausible.unit})"
                break
    raise ImplausibleMeasurement(
        field,
        _num(value),
        _num(plausible.low),
        _num(plausible.high),
        plausible.unit,
        what=what,
        suggestion=suggestion,
    )


def check_bmi(height_cm: Decimal, weight_kg: Decimal, *, field: str) -> None:
    """Refuse a height and weight that do not belong together (the engine's BMI limits)."""
    plausible = measure_range("bmi")
    bmi = weight_kg / (height_cm / 100) ** 2
    if bmi not in plausible:
        raise InvalidInput(
            field,
            f"{_num(weight_kg)} kg at {_num(height_cm)} cm gives a body mass index of "
            f"{bmi:.0f} kg/m², outside the plausible range {_num(plausible.low)}-"
            f"{_num(plausible.high)} kg/m²; check both values and their units",
        )
