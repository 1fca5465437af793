"""Dose arithmetic and the hard limits (docs/cli.md "Dose arithmetic"; US PI 2.1 Table 1).

Per-dose limit 0.8 mg/m2 (the highest labelled single dose, day 1); per-cycle limit 1.8 mg/m2
(cycle 1: 0.8 + 0.5 + 0.5). Dose in mg = prescribed mg/m2 x BSA (0.01 m2), rounded half-up to
0.01 mg.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from inoplan.domain.dosing import check_cycle_total, check_dose, dose_mg
from inoplan.domain.policy import RoundingPolicy
from inoplan.errors import DoseLimitExceeded, InvalidInput
from inoplan.knowledge import load_label

D = Decimal
US = load_label("us")
EU = load_label("eu")


class TestPerDoseLimit:
    @pytest.mark.parametrize("mg_per_m2", ["0.79", "0.8", "0.80", "0.5", "0.01"])
    def test_at_or_below_is_accepted(self, mg_per_m2: str) -> None:
        assert check_dose(D(mg_per_m2), US.limits) == D(mg_per_m2)

    @pytest.mark.parametrize("mg_per_m2", ["0.81", "0.8000001", "1.8", "8"])
    def test_just_above_is_refused_with_the_citation(self, mg_per_m2: str) -> None:
        with pytest.raises(DoseLimitExceeded) as err:
            check_dose(D(mg_per_m2), US.limits, field="mg_per_m2")
        assert err.value.field == "mg_per_m2"
        assert err.value.limit == D("0.8")
        assert "US PI 2.1, Table 1" in str(err.value)

    def test_the_same_limit_applies_under_the_eu_label(self) -> None:
        check_dose(D("0.8"), EU.limits)
        with pytest.raises(DoseLimitExceeded):
            check_dose(D("0.81"), EU.limits)

    @pytest.mark.parametrize("mg_per_m2", ["0", "-0.5", "NaN", "Infinity"])
    def test_not_a_positive_dose_is_refused(self, mg_per_m2: str) -> None:
        with pytest.raises(InvalidInput) as err:
            check_dose(D(mg_per_m2), US.limits, field="dose_mg_per_m2")
        assert err.value.field == "dose_mg_per_m2"

    def test_dose_mg_checks_the_limit_too(self) -> None:
        with pytest.raises(DoseLimitExceeded):
            dose_mg(D("0.81"), D("1.82"), US.limits)


class TestCycleLimit:
    def test_cycle_one_totals_exactly_the_limit(self) -> None:
        # 0.8 + 0.5 + 0.5 = 1.8
        assert check_cycle_total([D("0.8"), D("0.5"), D("0.5")], US.limits) == D("1.8")

    def test_just_below(self) -> None:
        # 0.8 + 0.5 + 0.49 = 1.79
        assert check_cycle_total([D("0.8"), D("0.5"), D("0.49")], US.limits) == D("1.79")

    def test_just_above_is_refused(self) -> None:
        # 0.8 + 0.5 + 0.51 = 1.81 > 1.8
        with pytest.raises(DoseLimitExceeded) as err:
            check_cycle_total([D("0.8"), D("0.5"), D("0.51")], US.limits, field="cycle 2")
        assert err.value.field == "cycle 2"
        assert err.value.limit == D("1.8")

    def test_four_doses_of_half_a_milligram_exceed_it(self) -> None:
        # 4 x 0.5 = 2.0 > 1.8
        with pytest.raises(DoseLimitExceeded):
            check_cycle_total([D("0.5")] * 4, US.limits)

    def test_an_empty_cycle_is_zero(self) -> None:
        assert check_cycle_total([], US.limits) == 0


class TestDoseMg:
    @pytest.mark.parametrize(
        ("mg_per_m2", "bsa", "expected"),
        [
            ("0.8", "1.82", "1.46"),  # 0.8 x 1.82 = 1.456 -> 1.46
            ("0.5", "1.82", "0.91"),  # 0.5 x 1.82 = 0.91
            ("0.8", "2.11", "1.69"),  # 0.8 x 2.11 = 1.688 -> 1.69
            ("0.5", "2.11", "1.06"),  # 0.5 x 2.11 = 1.055 -> 1.06 (half-up)
            ("0.8", "0.69", "0.55"),  # 0.8 x 0.69 = 0.552 -> 0.55
            ("0.5", "0.69", "0.35"),  # 0.5 x 0.69 = 0.345 -> 0.35 (half-up)
            (
                "0.5",
                "1.81",
                "0.91",
            ),  # 0.5 x 1.81 = 0.905 -> 0.91 (half-up; banker's would give 0.90)
            ("0.5", "1.85", "0.93"),  # 0.925 -> 0.93 (banker's would give 0.92)
            ("0.6", "1.82", "1.09"),  # 0.6 x 1.82 = 1.092 -> 1.09
            ("0.5", "1.97", "0.99"),  # 0.985 -> 0.99
        ],
    )
    def test_half_up_to_a_hundredth_of_a_milligram(
        self, mg_per_m2: str, bsa: str, expected: str
    ) -> None:
        assert dose_mg(D(mg_per_m2), D(bsa), US.limits) == D(expected)

    def test_just_below_the_half_rounds_down(self) -> None:
        # 0.8 x 1.81 = 1.448 -> 1.45; 0.8 x 1.06 = 0.848 -> 0.85; 0.5 x 1.8 = 0.9 exactly
        assert dose_mg(D("0.8"), D("1.81"), US.limits) == D("1.45")
        assert dose_mg(D("0.5"), D("1.8"), US.limits) == D("0.90")
        # 0.45 x 1.01 = 0.4545 -> 0.45 (just below the half)
        assert dose_mg(D("0.45"), D("1.01"), US.limits) == D("0.45")

    def test_rounding_down_policy_never_rounds_up(self) -> None:
        # 0.8 x 2.11 = 1.688 -> 1.68 when the site rounds down; 0.5 x 1.81 = 0.905 -> 0.90
        down = RoundingPolicy(mode="down")
        assert dose_mg(D("0.8"), D("2.11"), US.limits, down) == D("1.68")
        assert dose_mg(D("0.5"), D("1.81"), US.limits, down) == D("0.90")

    def test_a_coarser_dose_step(self) -> None:
        # 0.8 x 1.82 = 1.456 -> 1.5 at 0.1 mg
        assert dose_mg(D("0.8"), D("1.82"), US.limits, RoundingPolicy(dose_step_mg=D("0.1"))) == D(
            "1.5"
        )

    @pytest.mark.parametrize("bsa", ["0", "-1.8", "NaN"])
    def test_a_bsa_that_is_not_positive_is_refused(self, bsa: str) -> None:
        with pytest.raises(InvalidInput) as err:
            dose_mg(D("0.8"), D(bsa), US.limits)
        assert err.value.field == "bsa_m2"
