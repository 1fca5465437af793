"""Preparation of one dose (US PI 2.4; docs/label-facts.md section 4).

Facts used, all by hand: a vial delivers 0.9 mg (us-0.9mg) or 1 mg (eu-1mg); 4 mL sterile water
gives 0.25 mg/mL, so withdraw = dose / 0.25 mL; the standard bag is 50 mL at 50 mL/h over 60 min;
the final concentration must stay within 0.01-0.1 mg/mL (a dose below 0.01 x 50 = 0.5 mg gets a
smaller whole-mL volume, rate = volume per hour); reconstitution->dilution <= 4 h,
reconstitution->end of infusion <= 8 h; waste = vials x deliverable - dose.
"""

from __future__ import annotations

from datetime import time
from decimal import Decimal

import pytest

from inoplan.domain.dosing import prepare_dose
from inoplan.domain.policy import SitePolicy
from inoplan.errors import InvalidInput
from inoplan.knowledge import load_label

D = Decimal
US = load_label("us")


def prep(dose: str, vial: str = "us-0.9mg", **kwargs: object):  # type: ignore[no-untyped-def]
    return prepare_dose(D(dose), vial, US, **kwargs)  # type: ignore[arg-type]


class TestVials:
    @pytest.mark.parametrize(
        ("dose", "vials"),
        [
            ("0.35", 1),
            ("0.89", 1),
            ("0.9", 1),  # exactly one vial's deliverable amount
            ("0.91", 2),  # 0.01 mg more needs a second vial
            ("1.46", 2),
            ("1.8", 2),  # 2 x 0.9 = 1.8
            ("1.81", 3),
            ("2.7", 3),
            ("2.71", 4),
        ],
    )
    def test_us_vials_by_deliverable_0_9_mg(self, dose: str, vials: int) -> None:
        assert prep(dose).vials == vials

    @pytest.mark.parametrize(
        ("dose", "vials"), [("0.99", 1), ("1", 1), ("1.01", 2), ("2", 2), ("2.01", 3)]
    )
    def test_eu_vials_by_deliverable_1_mg(self, dose: str, vials: int) -> None:
        assert prep(dose, "eu-1mg").vials == vials

    @pytest.mark.parametrize(
        ("dose", "vial", "waste"),
        [
            ("1.46", "us-0.9mg", "0.34"),  # 2 x 0.9 - 1.46 = 0.34
            ("0.9", "us-0.9mg", "0"),  # 1 x 0.9 - 0.9 = 0
            ("0.91", "us-0.9mg", "0.89"),  # 2 x 0.9 - 0.91 = 0.89
            ("1.81", "us-0.9mg", "0.89"),  # 3 x 0.9 - 1.81 = 0.89
            ("1.46", "eu-1mg", "0.54"),  # 2 x 1 - 1.46 = 0.54
        ],
    )
    def test_waste(self, dose: str, vial: str, waste: str) -> None:
        assert prep(dose, vial).waste_mg == D(waste)

    def test_unknown_vial_names_the_field(self) -> None:
        with pytest.raises(InvalidInput) as err:
            prep("1.46", "us-2mg")
        assert err.value.field == "vial"


class TestVolumes:
    def test_reconstitution_gives_a_quarter_milligram_per_millilitre(self) -> None:
        p = prep("1.46")
        assert p.reconstitution_ml_per_vial == D(4)
        assert p.reconstituted_mg_per_ml == D("0.25")

    @pytest.mark.parametrize(
        ("dose", "withdraw"),
        [
            ("1.46", "5.84"),  # 1.46 / 0.25 = 5.84
            ("0.91", "3.64"),  # 0.91 / 0.25 = 3.64
            ("0.55", "2.20"),  # 0.55 / 0.25 = 2.2
            ("1.69", "6.76"),  # 1.69 / 0.25 = 6.76
            ("0.9", "3.60"),  # one vial's deliverable 3.6 mL
        ],
    )
    def test_withdraw_volume(self, dose: str, withdraw: str) -> None:
        assert prep(dose).withdraw_ml == D(withdraw)

    def test_adult_dose_in_the_standard_50_ml_bag(self) -> None:
        p = prep("1.46")
        assert p.final_volume_ml == D(50)
        assert p.diluent_ml == D("44.16")  # 50 - 5.84
        assert p.concentration_mg_per_ml == D("0.0292")  # 1.46 / 50
        assert p.infusion_rate_ml_per_h == D(50)  # 50 mL over 60 min
        assert p.infusion_minutes == 60
        assert p.reduced_volume is False

    def test_the_minimum_concentration_at_the_50_ml_boundary(self) -> None:
        # 0.5 mg / 50 mL = 0.01 mg/mL: exactly the minimum, so the standard bag is kept
        at = prep("0.5")
        assert (at.final_volume_ml, at.concentration_mg_per_ml, at.reduced_volume) == (
            D(50),
            D("0.01"),
            False,
        )
        # 0.51 mg / 50 mL = 0.0102 mg/mL: above the minimum, standard bag
        above = prep("0.51")
        assert (above.final_volume_ml, above.concentration_mg_per_ml) == (D(50), D("0.0102"))
        # 0.49 mg / 50 mL = 0.0098 < 0.01: largest whole mL at >= 0.01 is 0.49 / 0.01 = 49 mL,
        # infused at 49 mL/h to keep one hour
        below = prep("0.49")
        assert below.reduced_volume is True
        assert below.final_volume_ml == D(49)
        assert below.concentration_mg_per_ml == D("0.01")
        assert below.infusion_rate_ml_per_h == D(49)
        assert below.infusion_minutes == 60
        assert below.diluent_ml == D("47.04")  # 49 - 0.49 / 0.25 = 49 - 1.96

    def test_a_small_childs_dose_is_never_diluted_below_the_minimum(self) -> None:
        # 0.5 mg/m2 x 0.69 m2 = 0.345 -> 0.35 mg; 0.35 / 50 = 0.007 < 0.01;
        # 0.35 / 0.01 = 35 mL at 35 mL/h; withdraw 0.35 / 0.25 = 1.4 mL; diluent 33.6 mL
        p = prep("0.35")
        assert p.final_volume_ml == D(35)
        assert p.infusion_rate_ml_per_h == D(35)
        assert p.concentration_mg_per_ml == D("0.01")
        assert p.withdraw_ml == D("1.40")
        assert p.diluent_ml == D("33.6")
        assert any("35 mL" in n for n in p.notes)

    def test_a_volume_that_is_not_a_whole_millilitre_is_rounded_down(self) -> None:
        # 0.455 / 0.01 = 45.5 -> 45 mL (rounding up to 46 mL would give 0.00989 < 0.01);
        # 0.455 / 45 = 0.010111 -> 0.0101 mg/mL
        p = prep("0.455")
        assert p.final_volume_ml == D(45)
        assert p.concentration_mg_per_ml == D("0.0101")
        assert p.concentration_mg_per_ml >= D("0.01")

    @pytest.mark.parametrize("dose", ["0.001", "0.004", "0.009"])
    def test_a_dose_too_small_for_one_millilitre_is_refused(self, dose: str) -> None:
        # below 0.01 mg/mL x 1 mL = 0.01 mg no whole-mL volume reaches the minimum
        # concentration (0.001 mg also withdraws 0.004 -> 0.00 mL); an input error, not a crash
        with pytest.raises(InvalidInput) as err:
            prep(dose)
        assert err.value.field == "dose_mg"

    def test_the_smallest_preparable_dose(self) -> None:
        # 0.01 mg in 1 mL = 0.01 mg/mL; withdraw 0.01 / 0.25 = 0.04 mL
        p = prep("0.01")
        assert (p.final_volume_ml, p.withdraw_ml, p.concentration_mg_per_ml) == (
            D(1),
            D("0.04"),
            D("0.01"),
        )

    def test_the_maximum_concentration(self) -> None:
        # 0.1 mg/mL x 50 mL = 5 mg fits; 5.01 mg would be 0.1002 mg/mL: refused
        assert prep("5").concentration_mg_per_ml == D("0.1")
        with pytest.raises(InvalidInput) as err:
            prep("5.01")
        assert err.value.field == "dose_mg"

    def test_a_site_may_set_another_concentration_range(self) -> None:
        # minimum 0.02 mg/mL: 0.91 mg / 50 = 0.0182 < 0.02 -> 0.91 / 0.02 = 45.5 -> 45 mL
        policy = SitePolicy(final_concentration_min_mg_per_ml=D("0.02"))
        p = prep("0.91", policy=policy)
        assert p.final_volume_ml == D(45)
        assert p.concentration_range_mg_per_ml == (D("0.02"), D("0.1"))

    def test_an_inverted_range_is_refused(self) -> None:
        policy = SitePolicy(
            final_concentration_min_mg_per_ml=D("0.2"), final_concentration_max_mg_per_ml=D("0.1")
        )
        with pytest.raises(InvalidInput) as err:
            prep("1.46", policy=policy)
        assert err.value.field == "final_concentration"

    def test_a_zero_minimum_is_refused_not_silently_replaced(self) -> None:
        # a site minimum of 0 mg/mL is not a valid range (0 < min < max); it must not fall back
        # quietly to the label file's 0.01
        policy = SitePolicy(final_concentration_min_mg_per_ml=D(0))
        with pytest.raises(InvalidInput) as err:
            prep("1.46", policy=policy)
        assert err.value.field == "final_concentration"

    @pytest.mark.parametrize("dose", ["0", "-1", "NaN"])
    def test_not_a_positive_dose_is_refused(self, dose: str) -> None:
        with pytest.raises(InvalidInput) as err:
            prep(dose)
        assert err.value.field == "dose_mg"


class TestClocks:
    def test_no_deadlines_without_a_preparation_time(self) -> None:
        p = prep("1.46")
        assert (p.dilute_by, p.infusion_end_by, p.start_infusion_by) == (None, None, None)

    def test_same_day(self) -> None:
        # 09:30 + 4 h = 13:30; + 8 h = 17:30; the 60-min infusion must start by 17:30 - 1 h
        p = prep("1.46", prepared_at=time(9, 30))
        assert p.dilute_by == "13:30"
        assert p.infusion_end_by == "17:30"
        assert p.start_infusion_by == "16:30"

    def test_just_before_midnight(self) -> None:
        # 15:59 + 8 h = 23:59 (same day); 19:59 + 4 h = 23:59 (same day)
        assert prep("1.46", prepared_at=time(15, 59)).infusion_end_by == "23:59"
        assert prep("1.46", prepared_at=time(19, 59)).dilute_by == "23:59"

    def test_at_midnight(self) -> None:
        # 16:00 + 8 h = 00:00 next day; 20:00 + 4 h = 00:00 next day
        assert prep("1.46", prepared_at=time(16, 0)).infusion_end_by == "00:00 (+1 day)"
        assert prep("1.46", prepared_at=time(20, 0)).dilute_by == "00:00 (+1 day)"

    def test_across_midnight(self) -> None:
        # 22:30 + 4 h = 02:30 next day; + 8 h = 06:30 next day; start by 05:30 next day
        p = prep("1.46", prepared_at=time(22, 30))
        assert p.dilute_by == "02:30 (+1 day)"
        assert p.infusion_end_by == "06:30 (+1 day)"
        assert p.start_infusion_by == "05:30 (+1 day)"

    def test_one_minute_after_midnight(self) -> None:
        # 00:01 + 4 h = 04:01; + 8 h = 08:01
        p = prep("1.46", prepared_at=time(0, 1))
        assert (p.dilute_by, p.infusion_end_by) == ("04:01", "08:01")

    def test_citations_name_the_preparation_and_storage_sections(self) -> None:
        texts = {c.text for c in prep("1.46").citations}
        assert "US PI 2.4" in texts
        assert "US PI 2.4, Table 6" in texts
