"""Units on the wire: UCUM codes only, and the ONE table of spellings, each entry tested.

The expected UCUM code of every spelling is written out here by hand (not read from the table):
adding a spelling to ``codes.UNIT_SPELLINGS`` without a line here fails
``test_the_table_is_exactly_the_tested_one``.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from inoplan.domain.units import convert
from inoplan.errors import InvalidInput, UnknownUnit
from inoplan.interop import codes
from inoplan.interop.ucum import document_unit_to_ucum, fold_unit_text, wire_lab_unit

# spelling as a clinician or a laboratory system writes it -> the UCUM code it means
SPELLINGS: dict[str, str] = {
    "10*9/L": "10*9/L",
    "10^9/L": "10*9/L",
    "x10*9/L": "10*9/L",
    "x10^9/L": "10*9/L",
    "x 10^9/L": "10*9/L",
    "x10E9/L": "10*9/L",
    "10E9/L": "10*9/L",
    "x10(9)/L": "10*9/L",
    "Gpt/L": "10*9/L",
    "10*3/uL": "10*3/uL",
    "10^3/uL": "10*3/uL",
    "x10*3/uL": "10*3/uL",
    "x10^3/uL": "10*3/uL",
    "x 10^3/uL": "10*3/uL",
    "x10E3/uL": "10*3/uL",
    "10E3/uL": "10*3/uL",
    "K/uL": "10*3/uL",
    "thou/uL": "10*3/uL",
    "thou/mm3": "10*3/uL",
    "K/mm3": "10*3/uL",
    "10*3/mm3": "10*3/uL",
    "10^3/mm3": "10*3/uL",
    "/uL": "/uL",
    "cells/uL": "/uL",
    "{cells}/uL": "/uL",
    "/mm3": "/mm3",
    "cells/mm3": "/mm3",
    "/cmm": "/mm3",
    "cells/cmm": "/mm3",
    "mg/dL": "mg/dL",
    "umol/L": "umol/L",
    "U/L": "U/L",
    "IU/L": "[IU]/L",
    "[IU]/L": "[IU]/L",
    "mmol/L": "mmol/L",
    "%": "%",
}


def test_the_table_is_exactly_the_tested_one() -> None:
    assert {fold_unit_text(k): v for k, v in SPELLINGS.items()} == codes.UNIT_SPELLINGS


@pytest.mark.parametrize(("spelling", "ucum"), sorted(SPELLINGS.items()))
def test_each_spelling_maps_to_its_ucum_code(spelling: str, ucum: str) -> None:
    percent = ucum == "%"
    unit = wire_lab_unit(ucum_code=None, text=spelling, where="u", percent=percent)
    assert unit == codes.UCUM_LAB_UNITS[ucum]
    assert wire_lab_unit(ucum_code=ucum, text=None, where="u", percent=percent) == unit


@pytest.mark.parametrize(
    ("written", "ucum"),
    [(" k/µl ", "10*3/uL"), ("K/μL", "10*3/uL"), ("×10⁹/L", "10*9/L"), ("x 10³/µL", "10*3/uL")],
)
def test_micro_sign_mu_times_sign_superscripts_and_case_are_folded(written: str, ucum: str) -> None:
    assert wire_lab_unit(ucum_code=None, text=written, where="u") == codes.UCUM_LAB_UNITS[ucum]


@pytest.mark.parametrize("code", ["K/uL", "x10*9/L", "cells/uL", "IU/L", "10E9/L", "Mg/dL", "uL"])
def test_codes_that_are_not_ucum_or_mean_something_else_are_refused_as_codes(code: str) -> None:
    # K/uL is kelvin per microlitre in UCUM; x10*9/L, cells/uL, IU/L are not UCUM; UCUM is
    # case-sensitive (Mg is megagram)
    with pytest.raises(UnknownUnit) as caught:
        wire_lab_unit(ucum_code=code, text="K/uL", where="OBX[2].6")
    assert caught.value.field == "OBX[2].6"


@pytest.mark.parametrize("text", ["G/L", "g/L", "furlongs", "10^6/L", "mEq/L", "mg%"])
def test_text_outside_the_table_is_refused_never_guessed(text: str) -> None:
    # G/L: gauss per litre in UCUM and grams per litre to a chemist; mEq/L differs for Mg
    with pytest.raises(UnknownUnit):
        wire_lab_unit(ucum_code=None, text=text, where="u")


def test_no_unit_at_all_is_an_error() -> None:
    with pytest.raises(InvalidInput):
        wire_lab_unit(ucum_code=None, text="  ", where="u")


def test_percent_only_for_percentages() -> None:
    with pytest.raises(UnknownUnit):
        wire_lab_unit(ucum_code="%", text=None, where="u")
    with pytest.raises(UnknownUnit):
        wire_lab_unit(ucum_code="10*9/L", text=None, where="u", percent=True)


def test_every_accepted_ucum_code_is_a_unit_the_course_document_converts() -> None:
    analyte_for = {"mg/dL": "bilirubin", "umol/L": "bilirubin", "U/L": "ast", "IU/L": "ast"}
    for code, unit in codes.UCUM_LAB_UNITS.items():
        if unit == "%":
            continue
        analyte = analyte_for.get(unit, "potassium" if unit == "mmol/L" else "anc")
        assert convert(analyte, Decimal(1), unit, field=code) > 0


@pytest.mark.parametrize(
    ("unit", "ucum"),
    [
        ("K/uL", "10*3/uL"),
        ("x10*9/L", "10*9/L"),
        ("10^9/L", "10*9/L"),
        ("cells/uL", "/uL"),
        ("cells/mm3", "/mm3"),
        ("IU/L", "[IU]/L"),
        ("mg/dL", "mg/dL"),
        ("umol/L", "umol/L"),
    ],
)
def test_the_export_writes_ucum_for_every_course_document_unit(unit: str, ucum: str) -> None:
    assert document_unit_to_ucum(unit) == ucum
