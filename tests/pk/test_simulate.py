"""The integrator: docs/pk-model.md 5.1 figures, an independent solve_ivp solution, closed form."""

from __future__ import annotations

import numpy as np
import pytest

from inoplan.domain.pk.model import TypicalParameters
from inoplan.domain.pk.population import (
    draw_random_effects,
    individual_parameters,
    simulate_chunk,
    split,
)
from inoplan.domain.pk.simulate import (
    CycleWindow,
    Exposure,
    Infusion,
    SubjectArrays,
    simulate_exposure,
)
from inoplan.errors import InvalidInput
from inoplan.knowledge.pk import load_pk_model

from .helpers import garrett_typical, reference_solution, regimen

# docs/pk-model.md section 5.1, typical subject, scenario A
TABLE_CMAX = [212.6, 236.4, 265.8, 285.3, 289.9, 290.9]
TABLE_TROUGH = [18.53, 47.45, 66.96, 71.62, 72.59, 72.79]
TABLE_AUC = [16_966, 64_787, 90_170, 97_509, 99_105, 99_432]
SPOTS = {
    1: 212.62,
    24: 51.04,
    168: 1.89,
    169: 136.76,
    336: 6.43,
    337: 142.19,
    504: 18.53,
    505: 236.37,
    1848: 66.96,
    1849: 285.29,
}


def _typical_run(**kwargs: object) -> Exposure:
    infusions, windows = regimen(**kwargs)  # type: ignore[arg-type]
    params = SubjectArrays.from_typical(garrett_typical())
    return simulate_exposure(
        params, infusions, windows, times_h=np.array(sorted(SPOTS), dtype=float)
    )


def test_scenario_a_reproduces_the_reference_table_within_one_percent() -> None:
    run = _typical_run()
    np.testing.assert_allclose(run.cmax_ng_per_ml[0], TABLE_CMAX, rtol=0.01)
    np.testing.assert_allclose(run.auc_ng_h_per_ml[0], TABLE_AUC, rtol=0.01)
    np.testing.assert_allclose(run.ctrough_ng_per_ml[0], TABLE_TROUGH, rtol=0.01)
    assert run.cycles == (1, 2, 3, 4, 5, 6)


def test_scenario_a_matches_the_reference_to_its_printed_digits() -> None:
    run = _typical_run()
    np.testing.assert_allclose(run.cmax_ng_per_ml[0], TABLE_CMAX, atol=0.051)
    np.testing.assert_allclose(run.auc_ng_h_per_ml[0], TABLE_AUC, atol=0.51)
    assert run.conc_ng_per_ml is not None
    np.testing.assert_allclose(
        run.conc_ng_per_ml[0], [SPOTS[t] for t in sorted(SPOTS)], atol=0.0051
    )


def test_steady_state_auc_approaches_dose_over_cl1() -> None:
    run = _typical_run(cycles=8)
    steady = 1.8 * 1.84 / garrett_typical().cl1_l_per_h * 1000  # 99,515 ng*h/mL
    assert steady == pytest.approx(99_515, abs=1)
    assert run.auc_ng_h_per_ml[0, -1] == pytest.approx(steady, rel=0.003)


def test_the_cumulative_auc_is_the_sum_of_the_cycles() -> None:
    run = _typical_run()
    assert run.cumulative_auc_ng_h_per_ml[0] == pytest.approx(
        run.auc_ng_h_per_ml[0].sum(), rel=1e-12
    )


def test_population_cycle4_means_are_within_ten_percent_of_the_label() -> None:
    infusions, windows = regimen(cycles=4)
    model = load_pk_model("garrett-2019")
    etas = draw_random_effects(model.omega, 3000, rng=np.random.default_rng(2019))
    run = simulate_chunk(
        garrett_typical(), model.iiv_parameters, etas, infusions, windows, rtol=1e-6
    )
    cmax_mean = run.cmax_ng_per_ml[:, 3].mean()
    auc_mean = run.auc_ng_h_per_ml[:, 3].mean()
    assert cmax_mean == pytest.approx(308, rel=0.10)  # label: mean Cmax 308 ng/mL
    assert auc_mean == pytest.approx(100_000, rel=0.10)  # label: mean AUC per cycle 100,000
    # and close to the independent reference Monte Carlo (n = 2000): 305 ng/mL, 101,572
    assert cmax_mean == pytest.approx(305, rel=0.04)
    assert auc_mean == pytest.approx(101_572, rel=0.04)


HISTORIES = {
    "as labelled": {},
    "held: cycle 2 delayed 9 days": {"delay_days": {2: 9}},
    "omitted: cycle 1 day 15 and cycle 3 day 8": {"skip": [(1, 15), (3, 8)]},
    "reduced: cycle 2 onwards by 25 %": {
        "scale": {(c, d): 0.75 for c in (2, 3) for d in (1, 8, 15)}
    },
}


@pytest.mark.parametrize("history", list(HISTORIES), ids=list(HISTORIES))
def test_agrees_with_solve_ivp_for_held_omitted_and_reduced_histories(history: str) -> None:
    infusions, windows = regimen(cycles=3, **HISTORIES[history])  # type: ignore[arg-type]
    model = load_pk_model("garrett-2019")
    etas = draw_random_effects(model.omega, 4, rng=np.random.default_rng(7))
    etas[0] = 0.0  # the typical subject plus three with random effects
    params = individual_parameters(
        garrett_typical(bsa_m2=1.6, blasts_pct=40.0), model.iiv_parameters, etas
    )
    times = np.array([0.5, 1.0, 30.0, 168.0, 400.0, windows[-1].end_h])
    run = simulate_exposure(params, infusions, windows, times_h=times)
    for i in range(params.n):
        subject = TypicalParameters(
            *(
                float(getattr(params, k)[i])
                for k in ("cl1_l_per_h", "cl2_l_per_h", "kdes_per_h", "v1_l", "q_l_per_h", "v2_l")
            )
        )
        ref = reference_solution(subject, infusions, windows, times)
        np.testing.assert_allclose(run.cmax_ng_per_ml[i], ref["cmax"], rtol=1e-4)
        np.testing.assert_allclose(run.ctrough_ng_per_ml[i], ref["trough"], rtol=1e-4)
        np.testing.assert_allclose(run.auc_ng_h_per_ml[i], ref["auc"], rtol=1e-4)
        np.testing.assert_allclose(run.cumulative_auc_ng_h_per_ml[i], ref["cumulative"], rtol=1e-4)
        assert run.conc_ng_per_ml is not None
        np.testing.assert_allclose(run.conc_ng_per_ml[i], ref["conc"], rtol=1e-4)


def test_agrees_with_solve_ivp_for_infusions_at_odd_times_and_lengths() -> None:
    infusions = [Infusion(0.0, 0.75, 1.4), Infusion(170.5, 2.0, 0.9), Infusion(340.25, 1.0, 0.9)]
    windows = [CycleWindow(1, 0.0, 600.0)]
    p = garrett_typical(bsa_m2=2.5, blasts_pct=0.0001)
    run = simulate_exposure(
        SubjectArrays.from_typical(p), infusions, windows, times_h=np.array([0.75, 172.5, 599.0])
    )
    ref = reference_solution(p, infusions, windows, [0.75, 172.5, 599.0])
    np.testing.assert_allclose(run.conc_ng_per_ml[0], ref["conc"], rtol=1e-4)  # type: ignore[index]
    np.testing.assert_allclose(run.cmax_ng_per_ml[0], ref["cmax"], rtol=1e-4)


def _closed_form_ng_per_ml(p: TypicalParameters, infusion: Infusion, t: np.ndarray) -> np.ndarray:
    """Two-compartment infusion with constant clearance (Gibaldi & Perrier), independent check."""
    k10, k12, k21 = p.cl1_l_per_h / p.v1_l, p.q_l_per_h / p.v1_l, p.q_l_per_h / p.v2_l
    s = k10 + k12 + k21
    alpha = 0.5 * (s + np.sqrt(s * s - 4 * k10 * k21))
    beta = 0.5 * (s - np.sqrt(s * s - 4 * k10 * k21))
    rate, tin = infusion.rate_mg_per_h, infusion.duration_h

    def during(tt: np.ndarray) -> np.ndarray:
        a = (alpha - k21) / (alpha * (alpha - beta)) * (1 - np.exp(-alpha * tt))
        b = (k21 - beta) / (beta * (alpha - beta)) * (1 - np.exp(-beta * tt))
        inside: np.ndarray = rate / p.v1_l * (a + b)
        return inside

    after_a = (alpha - k21) / (alpha * (alpha - beta)) * (1 - np.exp(-alpha * tin))
    after_b = (k21 - beta) / (beta * (alpha - beta)) * (1 - np.exp(-beta * tin))
    late = (
        rate / p.v1_l * (after_a * np.exp(-alpha * (t - tin)) + after_b * np.exp(-beta * (t - tin)))
    )
    conc: np.ndarray = np.where(t <= tin, during(np.minimum(t, tin)), late) * 1000
    return conc


def test_with_cl2_zero_matches_the_closed_form_two_compartment_solution() -> None:
    p = TypicalParameters(0.0333, 0.0, 0.0047, 6.7, 0.0405, 5.1)
    infusion = Infusion(0.0, 1.0, 1.472)
    times = np.array([0.25, 1.0, 2.0, 24.0, 168.0, 500.0, 2000.0])
    run = simulate_exposure(
        SubjectArrays.from_typical(p), [infusion], [CycleWindow(1, 0.0, 2000.0)], times_h=times
    )
    assert run.conc_ng_per_ml is not None
    np.testing.assert_allclose(
        run.conc_ng_per_ml[0], _closed_form_ng_per_ml(p, infusion, times), rtol=1e-6
    )


def test_with_constant_clearance_the_total_auc_is_dose_over_clearance() -> None:
    p = TypicalParameters(0.0333, 0.0, 0.0047, 6.7, 0.0405, 5.1)
    run = simulate_exposure(
        SubjectArrays.from_typical(p), [Infusion(0.0, 1.0, 1.0)], [CycleWindow(1, 0.0, 40_000.0)]
    )
    assert run.cumulative_auc_ng_h_per_ml[0] == pytest.approx(1.0 / 0.0333 * 1000, rel=1e-6)


def test_chunking_does_not_change_a_subject_beyond_the_tolerance() -> None:
    infusions, windows = regimen(cycles=2)
    model = load_pk_model("garrett-2019")
    etas = draw_random_effects(model.omega, 60, rng=np.random.default_rng(3))
    whole = simulate_chunk(garrett_typical(), model.iiv_parameters, etas, infusions, windows)
    parts = [
        simulate_chunk(garrett_typical(), model.iiv_parameters, etas[lo:hi], infusions, windows)
        for lo, hi in split(60, 25)
    ]
    np.testing.assert_allclose(
        np.concatenate([r.auc_ng_h_per_ml for r in parts]), whole.auc_ng_h_per_ml, rtol=1e-5
    )


def test_the_same_seed_draws_the_same_random_effects() -> None:
    omega = load_pk_model("wu-2024").omega
    a = draw_random_effects(omega, 100, rng=np.random.default_rng(11))
    b = draw_random_effects(omega, 100, rng=np.random.default_rng(11))
    assert np.array_equal(a, b)
    big = draw_random_effects(omega, 40_000, rng=np.random.default_rng(5))
    np.testing.assert_allclose(np.cov(big.T), omega, atol=0.01)


@pytest.mark.parametrize(
    ("build", "field"),
    [
        (lambda: Infusion(-1.0, 1.0, 1.0), "start_h"),
        (lambda: Infusion(0.0, 0.0, 1.0), "duration_min"),
        (lambda: Infusion(0.0, 1.0, float("nan")), "dose_mg"),
        (
            lambda: simulate_exposure(
                SubjectArrays.from_typical(garrett_typical()), [], [CycleWindow(1, 0, 10)]
            ),
            "doses",
        ),
        (
            lambda: simulate_exposure(
                SubjectArrays.from_typical(garrett_typical()),
                [Infusion(0, 1, 1)],
                [CycleWindow(1, 0, 10), CycleWindow(2, 12, 20)],
            ),
            "cycles",
        ),
        (
            lambda: draw_random_effects([[1.0, 2.0], [2.0, 1.0]], 3, rng=np.random.default_rng(1)),
            "omega",
        ),
        (lambda: draw_random_effects([[1.0]], 0, rng=np.random.default_rng(1)), "population"),
    ],
)
def test_bad_input_names_the_field(build, field: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidInput) as info:
        build()
    assert info.value.field == field


def test_a_long_washout_never_reads_below_zero() -> None:
    # found by tests/pk/test_properties.py: with a large time-varying clearance the integrator's
    # round-off left -1.2e-11 ng/mL at the end of the cycle
    p = TypicalParameters(0.1875, 1.0, 0.0625, 1.0, 0.125, 1.0)
    run = simulate_exposure(
        SubjectArrays.from_typical(p),
        [Infusion(0.0, 0.5, 1.0)],
        [CycleWindow(1, 0.0, 504.0)],
        times_h=np.linspace(0.0, 504.0, 97),
    )
    assert run.conc_ng_per_ml is not None
    assert np.all(run.conc_ng_per_ml >= 0) and np.all(run.ctrough_ng_per_ml >= 0)
    assert run.conc_ng_per_ml[0, 1] > 10  # the infusion itself is not clipped
