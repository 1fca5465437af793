"""Quantities with explicit units, converted at the edge into canonical units.

Canonical units: cell counts in 10^9/L, total bilirubin in mg/dL, enzymes in U/L,
potassium and magnesium in mmol/L. Units are matched exactly (after trimming and folding the
micro sign); an unknown unit is an input error naming the field, never a guess. Pure.

>>> convert("anc", Decimal("2400"), "/uL", field="anc")
Decimal('2.4')
>>> convert("bilirubin", Decimal("34.2"), "umol/L", field="bilirubin")
Decimal('2')
"""

from __future__ import annotations

import functools
import math
from decimal import Decimal
from typing import Final

from inoplan.errors import InvalidInput, UnknownUnit

__all__ = [
    "ANALYTE_KINDS",
    "BILIRUBIN_UMOL_PER_MG_DL",
    "CANONICAL_UNIT",
    "MINUTES_PER_HOUR",
    "accepted_units",
    "convert",
    "tidy",
    "to_decimal",
    "unit_rule",
]

# 1 mg/dL of bilirubin = 17.1 umol/L (molar mass about 584.7 g/mol), the factor
# docs/course-document.md fixes.
BILIRUBIN_UMOL_PER_MG_DL: Final = Decimal("17.1")
#: A label time in hours (``threshold.observation_hours``) compared with minutes recorded.
MINUTES_PER_HOUR: Final = 60

# Factor that turns a value in the given unit into the canonical unit of its kind.
_COUNT: Final[dict[str, Decimal]] = {
    "10*9/L": Decimal(1),
    "10^9/L": Decimal(1),
    "x10*9/L": Decimal(1),
    "10*3/uL": Decimal(1),  # 10^3 per microlitre = 10^9 per litre
    "10^3/uL": Decimal(1),
    "K/uL": Decimal(1),
    "/uL": Decimal("0.001"),  # cells per microlitre
    "cells/uL": Decimal("0.001"),
    "/mm3": Decimal("0.001"),  # 1 mm3 = 1 uL
    "cells/mm3": Decimal("0.001"),
}
_BILIRUBIN: Final[dict[str, Decimal]] = {
    "mg/dL": Decimal(1),
    "umol/L": BILIRUBIN_UMOL_PER_MG_DL,  # divisor: see _DIVIDE
}
_DIVIDE: Final = frozenset({("bilirubin", "umol/L")})  # exact division keeps 34.2 -> 2
_ENZYME: Final[dict[str, Decimal]] = {"U/L": Decimal(1), "IU/L": Decimal(1)}
_ELECTROLYTE: Final[dict[str, Decimal]] = {"mmol/L": Decimal(1)}

_TABLES: Final[dict[str, dict[str, Decimal]]] = {
    "count": _COUNT,
    "bilirubin": _BILIRUBIN,
    "enzyme": _ENZYME,
    "electrolyte": _ELECTROLYTE,
}

#: Which kind of quantity each lab analyte of the course document is.
ANALYTE_KINDS: Final[dict[str, str]] = {
    "anc": "count",
    "platelets": "count",
    "wbc": "count",
    "peripheral_blasts": "count",
    "bilirubin": "bilirubin",
    "ast": "enzyme",
    "alt": "enzyme",
    "potassium": "electrolyte",
    "magnesium": "electrolyte",
}

CANONICAL_UNIT: Final[dict[str, str]] = {
    "count": "10*9/L",
    "bilirubin": "mg/dL",
    "enzyme": "U/L",
    "electrolyte": "mmol/L",
}


def _fold(unit: str) -> str:
    return unit.strip().replace("µ", "u").replace("μ", "u")  # micro sign and Greek mu


def accepted_units(analyte: str) -> tuple[str, ...]:
    """Units accepted for one analyte, canonical first."""
    table = _TABLES[ANALYTE_KINDS[analyte]]
    return tuple(table)


def convert(analyte: str, value: Decimal, unit: object, *, field: str) -> Decimal:
    """Convert ``value`` given in ``unit`` into the canonical unit of ``analyte``.

    Parameters
    ----------
    analyte
        A key of ``ANALYTE_KINDS`` (``anc``, ``bilirubin``, ...).
    value
        The number as reported.
    unit
        The unit as reported; compared exactly after trimming, folding the micro sign.
    field
        Where the value came from, named in the error (``events[3].anc.unit``).

    Raises
    ------
    UnknownUnit
        If the unit is not one this analyte accepts.

    Examples
    --------
    >>> convert("platelets", Decimal("85"), "K/uL", field="platelets")
    Decimal('85')
    """
    rule = unit_rule(analyte, unit) if isinstance(unit, str) else None
    if rule is None:
        if analyte not in ANALYTE_KINDS:
            raise InvalidInput(field, f"unknown analyte {analyte!r}")
        raise UnknownUnit(field, unit, tuple(_TABLES[ANALYTE_KINDS[analyte]]))
    factor, divide = rule
    return tidy(value / factor if divide else value * factor)


@functools.lru_cache(maxsize=512)
def unit_rule(analyte: str, unit: str) -> tuple[Decimal, bool] | None:
    """How a value of ``analyte`` in ``unit`` becomes canonical: ``(factor, divide)``; None
    when the analyte or the unit is unknown.

    A pure function of two short strings, cached (a course repeats the same few units), so
    :func:`convert` does one dictionary look-up and at most one exact Decimal operation.

    >>> unit_rule("anc", " /µL"), unit_rule("bilirubin", "umol/L"), unit_rule("ast", "U/L")
    ((Decimal('0.001'), False), (Decimal('17.1'), True), (Decimal('1'), False))
    >>> unit_rule("anc", "mg/dL") is None
    True
    """
    kind = ANALYTE_KINDS.get(analyte)
    if kind is None:
        return None
    folded = _fold(unit)
    factor = _TABLES[kind].get(folded)
    if factor is None:
        return None
    return factor, (kind, folded) in _DIVIDE


def tidy(number: Decimal) -> Decimal:
    """Drop trailing zeros without switching to exponent notation.

    >>> tidy(Decimal("2.4000")), tidy(Decimal("100.0"))
    (Decimal('2.4'), Decimal('100'))
    """
    if number == number.to_integral_value():
        return number.quantize(Decimal(1))
    return number.normalize()


def to_decimal(value: object, *, field: str) -> Decimal:
    """Read a JSON/YAML/CLI number as a finite Decimal (never from a string with units).

    The Decimal of a float is that of its shortest repr (``1.46`` -> ``Decimal('1.46')``, not
    the binary expansion), of an int its exact digits.

    >>> to_decimal(1.46, field="dose_mg")
    Decimal('1.46')
    """
    kind = type(value)
    if kind is int:  # the common cases first: Decimal(int) == Decimal(str(int)), exactly
        return Decimal(value)  # type: ignore[arg-type]
    if kind is float and math.isfinite(value):  # type: ignore[arg-type]
        return Decimal(repr(value))  # str(float) is repr(float)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise InvalidInput(field, f"expected a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise InvalidInput(field, f"expected a number, got {value!r}") from None
    if not number.is_finite():
        raise InvalidInput(field, f"expected a finite number, got {value!r}")
    return number
