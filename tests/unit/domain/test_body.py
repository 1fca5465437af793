"""BSA by five published formulas, rounding half-up to 0.01 m2, and plausibility limits.

Known answers are worked out by hand from the published formulas (natural logs to 6 places):
  ln 70 = 4.248495, ln 170 = 5.135798, ln 88 = 4.477337, ln 182 = 5.204007,
  ln 16.5 = 2.803360, ln 103 = 4.634729, ln 9 = 2.197225, ln 75 = 4.317488.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from inoplan.domain.body import (
    HEIGHT_CM_RANGE,
    WEIGHT_KG_RANGE,
    Body,
    BsaFormula,
    bsa_m2,
    bsa_m2_unrounded,
    parse_formula,
)
from inoplan.errors import ImplausibleMeasurement, InvalidInput

D = Decimal
M = BsaFormula


def body(height_cm: str | int, weight_kg: str | int) -> Body:
    return Body(height_cm=D(str(height_cm)), weight_kg=D(str(weight_kg)))


# (height, weight, formula, unrounded by hand, rounded half-up to 0.01)
KNOWN = [
    # Mosteller sqrt(H*W/3600): 170*70 = 11900; 11900/3600 = 3.305556; sqrt = 1.818119
    (170, 70, M.MOSTELLER, 1.818119, "1.82"),
    # 182*88 = 16016; /3600 = 4.448889; sqrt = 2.109239
    (182, 88, M.MOSTELLER, 2.109239, "2.11"),
    # 103*16.5 = 1699.5; /3600 = 0.472083; sqrt = 0.687083
    (103, "16.5", M.MOSTELLER, 0.687083, "0.69"),
    # 75*9 = 675; /3600 = 0.1875; sqrt = 0.433013
    (75, 9, M.MOSTELLER, 0.433013, "0.43"),
    # DuBois 0.007184 W^0.425 H^0.725:
    # 170/70: exp(0.425*4.248495 + 0.725*5.135798) = exp(1.805610 + 3.723454) = exp(5.529064)
    #         = 251.91; * 0.007184 = 1.80971
    (170, 70, M.DUBOIS, 1.80971, "1.81"),
    # 182/88: exp(0.425*4.477337 + 0.725*5.204007) = exp(1.902868 + 3.772905) = exp(5.675773)
    #         = 291.71; * 0.007184 = 2.09567
    (182, 88, M.DUBOIS, 2.09567, "2.10"),
    # 103/16.5: exp(0.425*2.803360 + 0.725*4.634729) = exp(1.191428 + 3.360178) = exp(4.551606)
    #         = 94.786; * 0.007184 = 0.68093
    (103, "16.5", M.DUBOIS, 0.68093, "0.68"),
    # Haycock 0.024265 W^0.5378 H^0.3964:
    # 170/70: exp(0.5378*4.248495 + 0.3964*5.135798) = exp(2.284841 + 2.035830) = exp(4.320671)
    #         = 75.239; * 0.024265 = 1.82568
    (170, 70, M.HAYCOCK, 1.82568, "1.83"),
    # 103/16.5: exp(0.5378*2.803360 + 0.3964*4.634729) = exp(1.507647 + 1.837207) = exp(3.344854)
    #         = 28.357; * 0.024265 = 0.68807
    (103, "16.5", M.HAYCOCK, 0.68807, "0.69"),
    # 75/9: exp(0.5378*2.197225 + 0.3964*4.317488) = exp(1.181668 + 1.711452) = exp(2.893120)
    #         = 18.049; * 0.024265 = 0.43797
    (75, 9, M.HAYCOCK, 0.43797, "0.44"),
    # Gehan-George 0.0235 W^0.51456 H^0.42246:
    # 170/70: exp(0.51456*4.248495 + 0.42246*5.135798) = exp(2.186106 + 2.169669) = exp(4.355775)
    #         = 77.927; * 0.0235 = 1.83129
    (170, 70, M.GEHAN_GEORGE, 1.83129, "1.83"),
    # 103/16.5: exp(0.51456*2.803360 + 0.42246*4.634729) = exp(1.442497 + 1.957988) = exp(3.400485)
    #         = 29.979; * 0.0235 = 0.70450
    (103, "16.5", M.GEHAN_GEORGE, 0.70450, "0.70"),
    # Boyd 0.0003207 H^0.3 G^(0.7285 - 0.0188 log10 G), G = weight in grams:
    # 170/70: G = 70000, log10 G = 4.845098; exponent = 0.7285 - 0.091088 = 0.637412;
    #   ln G = 11.156251; G^0.637412 = exp(7.111130) = 1225.53; H^0.3 = exp(1.540740) = 4.66804;
    #   0.0003207 * 4.66804 * 1225.53 = 1.83467
    (170, 70, M.BOYD, 1.83467, "1.83"),
    # 182/88: G = 88000, log10 G = 4.944483; exponent = 0.7285 - 0.092956 = 0.635544;
    #   ln G = 11.385092; G^0.635544 = exp(7.235724) = 1388.15; H^0.3 = exp(1.561202) = 4.76454;
    #   0.0003207 * 4.76454 * 1388.15 = 2.12107
    (182, 88, M.BOYD, 2.12107, "2.12"),
    # 103/16.5: G = 16500, log10 G = 4.217484; exponent = 0.7285 - 0.079289 = 0.649211;
    #   ln G = 9.711116; G^0.649211 = exp(6.304566) = 547.06; H^0.3 = exp(1.390419) = 4.01653;
    #   0.0003207 * 4.01653 * 547.06 = 0.70467
    (103, "16.5", M.BOYD, 0.70467, "0.70"),
]


@pytest.mark.parametrize(
    ("height", "weight", "formula", "unrounded", "rounded"),
    KNOWN,
    ids=[f"{f.value}-{h}-{w}" for h, w, f, _, _ in KNOWN],
)
def test_known_answers(
    height: int, weight: int | str, formula: BsaFormula, unrounded: float, rounded: str
) -> None:
    b = body(height, weight)
    assert bsa_m2_unrounded(b, formula) == pytest.approx(unrounded, abs=2e-4)
    assert bsa_m2(b, formula) == D(rounded)


def test_mosteller_is_the_default() -> None:
    assert bsa_m2(body(170, 70)) == D("1.82")


def test_rounding_is_half_up_at_exactly_x_xx5() -> None:
    # 111 cm x 27.75 kg = 3080.25; / 3600 = 0.855625 = 0.925^2 exactly: BSA is 0.925 m2,
    # which rounds half-up to 0.93 (never down to 0.92 through a binary-float artefact).
    assert bsa_m2(body(111, "27.75")) == D("0.93")
    # 150 cm x 79.935 kg = 11990.25; / 3600 = 3.330625 = 1.825^2 exactly -> 1.83
    assert bsa_m2(body(150, "79.935")) == D("1.83")
    # 105 cm x 9.45 kg = 992.25; / 3600 = 0.275625 = 0.525^2 exactly -> 0.53
    assert bsa_m2(body(105, "9.45")) == D("0.53")


def test_rounding_just_below_and_above_the_half() -> None:
    # 111 x 27.74 = 3079.14; /3600 = 0.855317; sqrt = 0.924833 -> 0.92
    assert bsa_m2(body(111, "27.74")) == D("0.92")
    # 111 x 27.76 = 3081.36; /3600 = 0.855933; sqrt = 0.925166 -> 0.93
    assert bsa_m2(body(111, "27.76")) == D("0.93")


def test_a_coarser_step_is_honoured() -> None:
    # 1.818119 to 0.1 m2 -> 1.8; 2.109239 -> 2.1
    assert bsa_m2(body(170, 70), step=D("0.1")) == D("1.8")
    assert bsa_m2(body(182, 88), step=D("0.1")) == D("2.1")


@pytest.mark.parametrize("formula", list(BsaFormula))
def test_every_formula_is_near_mosteller_for_an_adult(formula: BsaFormula) -> None:
    # all five agree within about 0.05 m2 for 170 cm / 70 kg (1.81-1.83, hand values above)
    assert abs(bsa_m2(body(170, 70), formula) - D("1.82")) <= D("0.03")


class TestPlausibility:
    def test_limits_are_as_documented(self) -> None:
        assert (D(40), D(250)) == HEIGHT_CM_RANGE
        assert (D(3), D(350)) == WEIGHT_KG_RANGE

    @pytest.mark.parametrize("height", ["40", "250"])
    def test_height_at_the_limits_is_accepted(self, height: str) -> None:
        # weight chosen so the BMI stays inside 7-100: 40 cm/3 kg -> 18.75; 250 cm/100 kg -> 16
        body(height, 3 if height == "40" else 100)

    @pytest.mark.parametrize("height", ["39.99", "250.01", "1.7", "0", "-170"])
    def test_height_just_outside_is_refused_naming_height(self, height: str) -> None:
        with pytest.raises(ImplausibleMeasurement) as err:
            body(height, 20)
        assert err.value.field == "height_cm"
        assert "height_cm" in str(err.value)

    @pytest.mark.parametrize("weight", ["3", "350"])
    def test_weight_at_the_limits_is_accepted(self, weight: str) -> None:
        # 3 kg at 50 cm: BMI 12; 350 kg at 250 cm: BMI 56
        body(50 if weight == "3" else 250, weight)

    @pytest.mark.parametrize("weight", ["2.99", "350.01", "0", "-70"])
    def test_weight_just_outside_is_refused_naming_weight(self, weight: str) -> None:
        with pytest.raises(ImplausibleMeasurement) as err:
            body(60 if weight == "2.99" else 250, weight)
        assert err.value.field == "weight_kg"

    def test_not_a_number_is_refused(self) -> None:
        with pytest.raises(ImplausibleMeasurement):
            Body(height_cm=D("NaN"), weight_kg=D(70))

    def test_body_mass_index_limits_just_below_at_and_above(self) -> None:
        # 100 cm: BMI = weight / 1.0^2; accepted from 7 to 100 kg/m2
        body(100, "7")
        body(100, "100")
        for weight in ("6.99", "100.01"):
            with pytest.raises(InvalidInput) as err:
                body(100, weight)
            assert err.value.field == "weight_kg"

    def test_pounds_typed_as_kilograms_are_caught_by_the_bmi(self) -> None:
        # 154 "kg" at 100 cm is a BMI of 154: a weight in pounds for a child
        with pytest.raises(InvalidInput, match="weight_kg"):
            body(100, 154)


class TestFormulaNames:
    @pytest.mark.parametrize(
        ("name", "expected"),
        [
            ("mosteller", M.MOSTELLER),
            ("Mosteller", M.MOSTELLER),
            ("dubois", M.DUBOIS),
            ("du-bois", M.DUBOIS),
            ("du_bois", M.DUBOIS),
            ("haycock", M.HAYCOCK),
            ("gehan-george", M.GEHAN_GEORGE),
            ("boyd", M.BOYD),
        ],
    )
    def test_names(self, name: str, expected: BsaFormula) -> None:
        assert parse_formula(name) is expected

    @pytest.mark.parametrize("name", ["", "bsa", None, 3])
    def test_unknown_formula_names_the_field(self, name: object) -> None:
        with pytest.raises(InvalidInput) as err:
            parse_formula(name, field="plan.bsa_formula")
        assert err.value.field == "plan.bsa_formula"
