"""Site rounding policy (domain/policy.py): validation, half-up and down rounding."""

from __future__ import annotations

from decimal import Decimal

import pytest

from inoplan.domain.policy import RoundingPolicy, SitePolicy
from inoplan.errors import InvalidInput

D = Decimal


def test_defaults_reproduce_the_contract() -> None:
    policy = SitePolicy()
    assert policy.rounding.bsa_step_m2 == D("0.01")
    assert policy.rounding.dose_step_mg == D("0.01")
    assert policy.rounding.mode == "half-up"
    assert policy.final_concentration_min_mg_per_ml is None  # use the label file's value
    assert policy.rounding.description == (
        "BSA rounded half-up to 0.01 m2; dose rounded half-up to 0.01 mg"
    )


@pytest.mark.parametrize(
    ("value", "half_up", "down"),
    [
        ("1.455", "1.46", "1.45"),  # exactly half: half-up goes up, down goes down
        ("1.4549", "1.45", "1.45"),  # just below the half
        ("1.4551", "1.46", "1.45"),  # just above the half
        ("0.905", "0.91", "0.90"),
        ("1.46", "1.46", "1.46"),  # already on the step
    ],
)
def test_round_dose(value: str, half_up: str, down: str) -> None:
    assert RoundingPolicy().round_dose(D(value)) == D(half_up)
    assert RoundingPolicy(mode="down").round_dose(D(value)) == D(down)


def test_round_bsa() -> None:
    assert RoundingPolicy().round_bsa(D("1.825")) == D("1.83")
    assert RoundingPolicy(mode="down").round_bsa(D("1.829")) == D("1.82")
    assert RoundingPolicy(bsa_step_m2=D("0.1")).round_bsa(D("1.85")) == D("1.9")


def test_unknown_mode_names_the_field() -> None:
    with pytest.raises(InvalidInput) as err:
        RoundingPolicy(mode="banker")
    assert err.value.field == "rounding.mode"


@pytest.mark.parametrize("step", ["0", "-0.01", "1.01", "10"])
def test_step_outside_zero_to_one_is_refused(step: str) -> None:
    with pytest.raises(InvalidInput) as err:
        RoundingPolicy(dose_step_mg=D(step))
    assert err.value.field == "rounding.dose_step_mg"
    with pytest.raises(InvalidInput) as err:
        RoundingPolicy(bsa_step_m2=D(step))
    assert err.value.field == "rounding.bsa_step_m2"


@pytest.mark.parametrize("step", ["0.001", "0.1", "1"])
def test_steps_up_to_one_are_accepted(step: str) -> None:
    RoundingPolicy(dose_step_mg=D(step), bsa_step_m2=D(step))


def test_description_states_the_mode() -> None:
    assert "dose rounded down to 0.01 mg" in RoundingPolicy(mode="down").description


def test_description_tells_how_the_bsa_was_actually_rounded() -> None:
    # With mode "down" the BSA used for dosing is still rounded half-up: 182 cm / 88 kg is
    # sqrt(16016 / 3600) = 2.1092 -> 2.11 (down would be 2.10). The stated policy must match.
    from inoplan.services.dosing import bsa_json, dose_json

    policy = SitePolicy(rounding=RoundingPolicy(mode="down"))
    result = bsa_json(182, 88, policy=policy)
    assert result["bsa_m2"] == 2.11
    assert result["rounding"] == "BSA rounded half-up to 0.01 m2; dose rounded down to 0.01 mg"
    # and the dose is rounded down: 0.8 x 2.11 = 1.688 -> 1.68
    assert dose_json(height_cm=182, weight_kg=88, mg_per_m2=0.8, policy=policy)["dose_mg"] == 1.68
