"""Invariants of the integrator (Hypothesis): non-negativity, linearity, holds lower exposure."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inoplan.domain.pk.model import TypicalParameters
from inoplan.domain.pk.simulate import (
    CycleWindow,
    Exposure,
    Infusion,
    SubjectArrays,
    simulate_exposure,
)

FAST = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

parameters = st.builds(
    TypicalParameters,
    cl1_l_per_h=st.floats(0.005, 0.2),
    cl2_l_per_h=st.floats(0.0, 2.0),
    kdes_per_h=st.floats(0.0005, 0.1),
    v1_l=st.floats(1.0, 20.0),
    q_l_per_h=st.floats(0.005, 0.2),
    v2_l=st.floats(1.0, 20.0),
)


@st.composite
def histories(draw: st.DrawFn) -> tuple[list[Infusion], list[CycleWindow]]:
    """1-3 cycles; each dose day given, omitted or reduced; infusions of 0.5-3 h."""
    infusions: list[Infusion] = []
    windows: list[CycleWindow] = []
    start = 0.0
    for cycle in range(1, draw(st.integers(1, 3)) + 1):
        length_h = draw(st.sampled_from([21.0, 28.0, 35.0])) * 24
        for day in (1, 8, 15):
            if day > 1 and not draw(st.booleans()):
                continue
            amount = draw(st.floats(0.1, 2.0))
            duration = draw(st.sampled_from([0.5, 1.0, 3.0]))
            infusions.append(
                Infusion(start + (day - 1) * 24 + draw(st.floats(0, 6)), duration, amount)
            )
        windows.append(CycleWindow(cycle, start, start + length_h))
        start += length_h
    return infusions, windows


def _curve(p: TypicalParameters, infusions: list[Infusion], windows: list[CycleWindow]) -> Exposure:
    times = np.linspace(0.0, windows[-1].end_h, 97)
    return simulate_exposure(SubjectArrays.from_typical(p), infusions, windows, times_h=times)


@FAST
@given(parameters, histories())
def test_concentrations_and_auc_are_never_negative(
    p: TypicalParameters, history: tuple[list[Infusion], list[CycleWindow]]
) -> None:
    run = _curve(p, *history)
    assert run.conc_ng_per_ml is not None
    assert np.all(run.conc_ng_per_ml >= 0)
    assert np.all(run.cmax_ng_per_ml > 0)
    assert np.all(run.ctrough_ng_per_ml >= 0)
    assert np.all(run.auc_ng_h_per_ml > 0)


@FAST
@given(parameters, histories(), st.floats(0.1, 10.0))
def test_with_constant_clearance_exposure_is_linear_in_dose(
    p: TypicalParameters, history: tuple[list[Infusion], list[CycleWindow]], factor: float
) -> None:
    p = TypicalParameters(p.cl1_l_per_h, 0.0, p.kdes_per_h, p.v1_l, p.q_l_per_h, p.v2_l)
    infusions, windows = history
    base = _curve(p, infusions, windows)
    scaled = _curve(
        p, [Infusion(i.start_h, i.duration_h, i.amount_mg * factor) for i in infusions], windows
    )
    np.testing.assert_allclose(scaled.auc_ng_h_per_ml, factor * base.auc_ng_h_per_ml, rtol=1e-5)
    np.testing.assert_allclose(scaled.cmax_ng_per_ml, factor * base.cmax_ng_per_ml, rtol=1e-5)
    assert base.conc_ng_per_ml is not None and scaled.conc_ng_per_ml is not None
    np.testing.assert_allclose(
        scaled.conc_ng_per_ml, factor * base.conc_ng_per_ml, rtol=1e-5, atol=1e-9
    )


@FAST
@given(parameters, histories())
def test_with_constant_clearance_doses_superpose(
    p: TypicalParameters, history: tuple[list[Infusion], list[CycleWindow]]
) -> None:
    p = TypicalParameters(p.cl1_l_per_h, 0.0, p.kdes_per_h, p.v1_l, p.q_l_per_h, p.v2_l)
    infusions, windows = history
    whole = _curve(p, infusions, windows)
    first = _curve(p, infusions[:1], windows)
    rest = _curve(p, [Infusion(0.0, 1.0, 0.0), *infusions[1:]], windows)
    assert (
        whole.conc_ng_per_ml is not None
        and first.conc_ng_per_ml is not None
        and rest.conc_ng_per_ml is not None
    )
    np.testing.assert_allclose(
        whole.conc_ng_per_ml, first.conc_ng_per_ml + rest.conc_ng_per_ml, rtol=1e-5, atol=1e-6
    )


@FAST
@given(parameters, st.floats(0.2, 2.0), st.floats(0.2, 2.0), st.floats(0.2, 2.0))
def test_holding_a_dose_lowers_the_next_peak(
    p: TypicalParameters, first_mg: float, held_mg: float, next_mg: float
) -> None:
    """Days 1, 8, 15 (hours 0, 168, 336); holding day 8 lowers the peak after day 15."""
    windows = [CycleWindow(1, 0.0, 504.0)]
    doses = [
        Infusion(0.0, 1.0, first_mg),
        Infusion(168.0, 1.0, held_mg),
        Infusion(336.0, 1.0, next_mg),
    ]
    times = np.array([337.0])
    full = simulate_exposure(SubjectArrays.from_typical(p), doses, windows, times_h=times)
    held = simulate_exposure(
        SubjectArrays.from_typical(p), [doses[0], doses[2]], windows, times_h=times
    )
    assert full.conc_ng_per_ml is not None and held.conc_ng_per_ml is not None
    assert held.conc_ng_per_ml[0, 0] < full.conc_ng_per_ml[0, 0]
    assert held.auc_ng_h_per_ml[0, 0] < full.auc_ng_h_per_ml[0, 0]
