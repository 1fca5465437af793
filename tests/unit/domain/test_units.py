"""Unit conversions at the edge (docs/course-document.md "Units accepted at least").

Expected values are worked out by hand: 1 cell/uL = 1 cell/mm3 = 10^6 cells/L = 10^-3 x 10^9/L;
1 K/uL = 1 x 10^3/uL = 10^9/L; bilirubin 1 mg/dL = 17.1 umol/L.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from inoplan.domain.units import (
    BILIRUBIN_UMOL_PER_MG_DL,
    CANONICAL_UNIT,
    accepted_units,
    convert,
    tidy,
    to_decimal,
)
from inoplan.errors import InvalidInput, UnknownUnit

D = Decimal


class TestCounts:
    @pytest.mark.parametrize("unit", ["10*9/L", "10*3/uL", "K/uL", "10^9/L", "10^3/uL"])
    def test_units_equal_to_10e9_per_litre_pass_through(self, unit: str) -> None:
        # 85 x 10^3/uL = 85 x 10^3 x 10^6/L = 85 x 10^9/L
        assert convert("platelets", D("85"), unit, field="platelets.unit") == D("85")

    @pytest.mark.parametrize("unit", ["/uL", "/mm3", "cells/uL", "cells/mm3"])
    def test_cells_per_microlitre_are_divided_by_1000(self, unit: str) -> None:
        # 2400 /uL = 2400 x 10^6/L = 2.4 x 10^9/L
        assert convert("anc", D("2400"), unit, field="anc.unit") == D("2.4")

    def test_blasts_at_the_cytoreduction_threshold(self) -> None:
        # 10,000/mm3 = 10,000 x 10^6/L = 10 x 10^9/L (label section 2.2)
        assert convert("peripheral_blasts", D("10000"), "/mm3", field="x") == D("10")

    def test_micro_sign_and_greek_mu_are_folded(self) -> None:
        assert convert("wbc", D("3.1"), "10*3/\u00b5L", field="wbc.unit") == D("3.1")
        assert convert("wbc", D("3100"), "/\u03bcL", field="wbc.unit") == D("3.1")

    def test_surrounding_spaces_are_ignored(self) -> None:
        assert convert("anc", D("1.5"), " 10*9/L ", field="anc.unit") == D("1.5")

    def test_canonical_unit_of_counts(self) -> None:
        assert CANONICAL_UNIT["count"] == "10*9/L"
        assert accepted_units("anc")[0] == "10*9/L"


class TestBilirubin:
    def test_factor_is_17_1(self) -> None:
        assert D("17.1") == BILIRUBIN_UMOL_PER_MG_DL

    def test_umol_per_litre_to_mg_per_dl(self) -> None:
        # 34.2 / 17.1 = 2 mg/dL; 17.1 / 17.1 = 1; 25.65 / 17.1 = 1.5
        assert convert("bilirubin", D("34.2"), "umol/L", field="b") == D("2")
        assert convert("bilirubin", D("17.1"), "umol/L", field="b") == D("1")
        assert convert("bilirubin", D("25.65"), "umol/L", field="b") == D("1.5")

    def test_micromol_with_micro_sign(self) -> None:
        assert convert("bilirubin", D("8.55"), "\u00b5mol/L", field="b") == D("0.5")

    def test_mg_per_dl_round_trip_at_17_1(self) -> None:
        # 1.2 mg/dL x 17.1 = 20.52 umol/L, and back: 20.52 / 17.1 = 1.2
        umol = D("1.2") * BILIRUBIN_UMOL_PER_MG_DL
        assert umol == D("20.52")
        assert convert("bilirubin", umol, "umol/L", field="b") == D("1.2")
        assert convert("bilirubin", D("1.2"), "mg/dL", field="b") == D("1.2")

    def test_bilirubin_does_not_accept_count_units(self) -> None:
        with pytest.raises(UnknownUnit) as err:
            convert("bilirubin", D("1"), "10*9/L", field="events[1].bilirubin.unit")
        assert err.value.field == "events[1].bilirubin.unit"


class TestEnzymesAndElectrolytes:
    def test_enzymes_in_units_per_litre(self) -> None:
        assert convert("ast", D("31"), "U/L", field="ast") == D("31")
        assert convert("alt", D("28"), "IU/L", field="alt") == D("28")

    def test_electrolytes_in_mmol_per_litre(self) -> None:
        assert convert("potassium", D("3.5"), "mmol/L", field="k") == D("3.5")
        assert convert("magnesium", D("0.7"), "mmol/L", field="mg") == D("0.7")

    def test_magnesium_in_mg_per_dl_is_not_guessed(self) -> None:
        with pytest.raises(UnknownUnit, match=r"magnesium\.unit"):
            convert("magnesium", D("1.8"), "mg/dL", field="magnesium.unit")


class TestUnknownUnits:
    @pytest.mark.parametrize("unit", ["g/L", "10*6/L", "cells", "", "MG/DL", "K/ul ", "/ul"])
    def test_unknown_unit_names_the_field(self, unit: str) -> None:
        with pytest.raises(UnknownUnit) as err:
            convert("anc", D("1"), unit, field="events[2].anc.unit")
        assert err.value.field == "events[2].anc.unit"
        assert "events[2].anc.unit" in str(err.value)
        assert "10*9/L" in err.value.accepted

    def test_unknown_unit_is_an_invalid_input_and_a_value_error(self) -> None:
        with pytest.raises(InvalidInput):
            convert("anc", D("1"), "bananas", field="anc.unit")
        with pytest.raises(ValueError):
            convert("anc", D("1"), "bananas", field="anc.unit")

    @pytest.mark.parametrize("unit", [None, 5, ["10*9/L"]])
    def test_a_unit_that_is_not_text_is_refused(self, unit: object) -> None:
        with pytest.raises(UnknownUnit, match=r"platelets\.unit"):
            convert("platelets", D("1"), unit, field="platelets.unit")

    def test_unknown_analyte_names_the_field(self) -> None:
        with pytest.raises(InvalidInput) as err:
            convert("ferritin", D("1"), "ug/L", field="ferritin")
        assert err.value.field == "ferritin"


class TestNumbers:
    def test_tidy_drops_trailing_zeros_without_exponent(self) -> None:
        assert str(tidy(D("2.4000"))) == "2.4"
        assert str(tidy(D("100.0"))) == "100"
        assert str(tidy(D("1E+2"))) == "100"

    @pytest.mark.parametrize(
        ("value", "expected"),
        [(1.46, D("1.46")), (2, D("2")), ("0.8", D("0.8")), (D("0.5"), D("0.5"))],
    )
    def test_to_decimal_reads_numbers_exactly(self, value: object, expected: Decimal) -> None:
        assert to_decimal(value, field="x") == expected

    @pytest.mark.parametrize(
        "value", [True, None, "abc", "1.2 mg", float("inf"), float("nan"), [1]]
    )
    def test_to_decimal_refuses_non_numbers_naming_the_field(self, value: object) -> None:
        with pytest.raises(InvalidInput) as err:
            to_decimal(value, field="dose_mg")
        assert err.value.field == "dose_mg"
