"""The models as data: loader, covariate equations, ranges, selection by age."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from inoplan.domain.pk.model import TypicalParameters, terminal_half_life_h
from inoplan.errors import InvalidInput, KnowledgeBaseError
from inoplan.knowledge.pk import available_models, load_pk_model, select_model

from .helpers import garrett_typical


def test_both_models_ship_and_every_parameter_names_its_source() -> None:
    assert set(available_models()) == {"garrett-2019", "wu-2024"}
    for model_id in available_models():
        model = load_pk_model(model_id)
        for parameter in model.parameters.values():
            assert parameter.typical.source_tag in {"P", "T", "U"}
            assert parameter.typical.source and parameter.typical.unit
            for effect in parameter.effects:
                assert effect.source_tag in {"P", "T", "U"} and effect.source
        assert model.confirmation == "T"
        assert model.citation and model.sources


def test_an_unknown_model_is_a_knowledge_base_error() -> None:
    with pytest.raises(KnowledgeBaseError, match="no PK model"):
        load_pk_model("smith-1999")


def test_typical_adult_all_reproduces_the_published_clearance_and_decay() -> None:
    p = garrett_typical()
    assert round(p.cl1_l_per_h, 4) == 0.0333  # label and paper: 0.0333 L/h
    assert p.cl1_l_per_h == pytest.approx(0.113 * 0.255 * 1.155, rel=1e-12)
    assert p.kdes_per_h == pytest.approx(0.00472, rel=1e-3)
    assert math.log(2) / p.kdes_per_h == pytest.approx(147, abs=0.5)  # CLt half-life 147 h
    assert (p.v1_l, p.v2_l, p.cl2_l_per_h, p.q_l_per_h) == (6.70, 5.10, 0.369, 0.0405)


def test_terminal_half_life_is_between_12_1_and_12_3_days() -> None:
    days = terminal_half_life_h(garrett_typical()) / 24
    assert 12.1 <= days <= 12.3
    # docs/pk-model.md 5.1 sensitivity: BSA 1.8 m2 gives CL1 0.0322 L/h and 12.32 days
    smaller = garrett_typical(bsa_m2=1.80)
    assert smaller.cl1_l_per_h == pytest.approx(0.0322, abs=5e-5)
    assert terminal_half_life_h(smaller) / 24 == pytest.approx(12.32, abs=0.01)


def test_covariate_effects_match_the_published_percentile_effects() -> None:
    ref = garrett_typical()
    low, high = garrett_typical(bsa_m2=1.55), garrett_typical(bsa_m2=2.21)
    assert low.cl1_l_per_h / ref.cl1_l_per_h - 1 == pytest.approx(-0.23, abs=0.01)
    assert high.cl1_l_per_h / ref.cl1_l_per_h - 1 == pytest.approx(0.33, abs=0.01)
    assert low.v1_l / ref.v1_l - 1 == pytest.approx(-0.23, abs=0.01)
    assert high.v1_l / ref.v1_l - 1 == pytest.approx(0.29, abs=0.01)
    no_blasts = garrett_typical(blasts_pct=0.0001)
    assert no_blasts.kdes_per_h / ref.kdes_per_h - 1 == pytest.approx(0.55, abs=0.01)


@pytest.mark.parametrize("bsa", [1.12, 0.69, 0.5, 2.82])
def test_garrett_refuses_a_bsa_outside_its_data(bsa: float) -> None:
    model = load_pk_model("garrett-2019")
    with pytest.raises(InvalidInput) as info:
        model.prepare_covariate("bsa_m2", bsa, field="bsa_m2")
    assert info.value.field == "bsa_m2"
    assert "1.13-2.81" in info.value.message


@pytest.mark.parametrize("bsa", [1.13, 2.81])
def test_garrett_accepts_the_ends_of_its_bsa_range(bsa: float) -> None:
    model = load_pk_model("garrett-2019")
    assert model.prepare_covariate("bsa_m2", bsa, field="bsa_m2") == (bsa, False)


def test_garrett_central_volume_turns_negative_for_small_bodies_and_is_refused() -> None:
    model = load_pk_model("garrett-2019")
    with pytest.raises(InvalidInput, match="v1_l"):
        model.typical_parameters({"bsa_m2": 0.5, "peripheral_blasts_pct": 5.25})


def test_zero_blasts_are_raised_to_the_documented_floor() -> None:
    model = load_pk_model("garrett-2019")
    assert model.prepare_covariate("peripheral_blasts_pct", 0.0, field="x") == (0.0001, True)
    assert model.covariates["peripheral_blasts_pct"].floor_source
    with pytest.raises(InvalidInput):
        model.prepare_covariate("peripheral_blasts_pct", 101.0, field="peripheral_blasts_pct")


def test_wu_model_reproduces_the_reference_script_clearances() -> None:
    wu = load_pk_model("wu-2024")
    child = wu.typical_parameters(
        {"lbm_kg": 29.5, "age_years": 9, "peripheral_blasts_10e9_per_l": 0.352}
    )
    adult = wu.typical_parameters(
        {"lbm_kg": 54.4, "age_years": 46, "peripheral_blasts_10e9_per_l": 0.82}
    )
    assert child.cl1_l_per_h == pytest.approx(0.0165, abs=5e-5)
    assert adult.cl1_l_per_h == pytest.approx(0.0313, abs=5e-5)
    assert terminal_half_life_h(child) / 24 == pytest.approx(16.7, abs=0.05)
    assert terminal_half_life_h(adult) / 24 == pytest.approx(12.1, abs=0.05)


def test_lean_body_mass_uses_peters_for_children_and_boer_for_adults() -> None:
    lbm = load_pk_model("wu-2024").lean_body_mass
    assert lbm is not None
    child = lbm.lbm_kg(weight_kg=16.5, height_cm=103, sex="female", age_years=4)
    assert child == pytest.approx(3.8 * 0.0215 * 16.5**0.6469 * 103**0.7236)
    assert lbm.lbm_kg(weight_kg=80, height_cm=180, sex="male", age_years=30) == pytest.approx(61.42)
    assert lbm.lbm_kg(weight_kg=60, height_cm=165, sex="female", age_years=30) == pytest.approx(
        44.865
    )


@pytest.mark.parametrize(
    ("age", "model_id"),
    [(1, "wu-2024"), (17, "wu-2024"), (18, "garrett-2019"), (90, "garrett-2019")],
)
def test_the_model_is_chosen_by_age(age: int, model_id: str) -> None:
    assert select_model(age).id == model_id


def test_an_infant_has_no_model() -> None:
    with pytest.raises(InvalidInput) as info:
        select_model(0)
    assert info.value.field == "patient.birth_date"


def test_omega_blocks_reproduce_the_published_correlations() -> None:
    omega = load_pk_model("garrett-2019").omega
    corr: Callable[[int, int], float] = lambda i, j: (  # noqa: E731
        omega[i][j] / math.sqrt(omega[i][i] * omega[j][j])
    )
    assert corr(0, 1) == pytest.approx(0.894, abs=0.002)
    assert corr(0, 2) == pytest.approx(0.750, abs=0.002)
    assert corr(1, 2) == pytest.approx(0.802, abs=0.002)
    assert math.sqrt(omega[0][0]) == pytest.approx(0.423, abs=0.001)


def test_typical_parameters_are_a_plain_mapping() -> None:
    p = TypicalParameters(1, 2, 3, 4, 5, 6)
    assert list(p.as_dict().values()) == [1, 2, 3, 4, 5, 6]
