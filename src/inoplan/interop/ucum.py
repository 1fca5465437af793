"""Units on the wire (FHIR, HL7 v2): only UCUM codes, and unit text through ONE explicit table.

A result's unit reaches inoplan in one of two ways:

- as a **UCUM code** (FHIR ``Quantity.system`` = ``http://unitsofmeasure.org``; HL7 OBX-6 with
  coding system ``UCUM``): it must be one of ``codes.UCUM_LAB_UNITS``, exactly (UCUM is
  case-sensitive). ``K/uL`` coded as UCUM is kelvin per microlitre and is refused, never
  reinterpreted;
- as **text** (no UCUM system): it is folded and looked up in ``codes.UNIT_SPELLINGS``, the one
  table of clinicians' and laboratory systems' spellings, which gives the UCUM code it means.

Either way the result is the course document's unit (docs/course-document.md); anything else
raises :class:`~inoplan.errors.UnknownUnit` naming the field and the accepted units. The course
document itself keeps accepting its documented spellings (``K/uL`` and others): this strictness
is about what arrives over FHIR and HL7. Pure.
"""

from __future__ import annotations

import re
from typing import Final

from inoplan.errors import InvalidInput, UnknownUnit
from inoplan.interop import codes as k

__all__ = ["UCUM_SYSTEM_NAMES", "document_unit_to_ucum", "fold_unit_text", "wire_lab_unit"]

#: How HL7 v2 names UCUM in a coded element's coding system component (HL7 table 0396).
UCUM_SYSTEM_NAMES: Final = frozenset({"UCUM", "http://unitsofmeasure.org"})

_SUPERSCRIPTS: Final = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹", "0123456789")
_POWER: Final = re.compile("10([⁰¹²³⁴⁵⁶⁷⁸⁹]+)")


def fold_unit_text(text: str) -> str:
    """How unit text is compared: trimmed, micro and mu as ``u``, ``×`` as ``x``, lower case.

    >>> fold_unit_text(" ×10⁹/L ")
    'x10^9/l'
    """
    folded = text.strip().replace("µ", "u").replace("μ", "u").replace("×", "x")
    folded = _POWER.sub(lambda m: "10^" + m.group(1).translate(_SUPERSCRIPTS), folded)
    return folded.lower()


def wire_lab_unit(
    *, ucum_code: str | None, text: str | None, where: str, percent: bool = False
) -> str:
    """The course document's unit for a lab result's unit as it came off the wire.

    Parameters
    ----------
    ucum_code
        The unit as a UCUM code (``None`` when the sender did not code it in UCUM).
    text
        The unit as text (FHIR ``Quantity.unit``, HL7 OBX-6 identifier or text).
    where
        The field named in an error (``Observation/plt-1.valueQuantity``, ``OBX[3].6``).
    percent
        The result is a percentage (blasts): only ``%`` is accepted.

    Examples
    --------
    >>> wire_lab_unit(ucum_code="10*3/uL", text="K/uL", where="x")
    '10*3/uL'
    >>> wire_lab_unit(ucum_code=None, text="K/µL", where="x")
    '10*3/uL'
    """
    if ucum_code is not None and ucum_code.strip():
        code = ucum_code.strip()
        unit = k.UCUM_LAB_UNITS.get(code)
        if unit is None or (unit == "%") != percent:
            raise UnknownUnit(where, f"{code} (as a UCUM code)", _accepted(percent))
        return unit
    if text is None or not text.strip():
        raise InvalidInput(where, "the result has no unit")
    ucum = k.UNIT_SPELLINGS.get(fold_unit_text(text))
    if ucum is None or (ucum == "%") != percent:
        raise UnknownUnit(where, text, _accepted(percent))
    return k.UCUM_LAB_UNITS[ucum]


def _accepted(percent: bool) -> tuple[str, ...]:
    """The UCUM codes an error lists (built only when a unit is refused)."""
    return ("%",) if percent else tuple(sorted(set(k.UCUM_LAB_UNITS) - {"%"}))


def document_unit_to_ucum(unit: str) -> str | None:
    """The UCUM code for a course document lab unit (``K/uL`` -> ``10*3/uL``); None if unknown."""
    return k.DOCUMENT_UNIT_UCUM.get(unit.strip().replace("µ", "u").replace("μ", "u"))
