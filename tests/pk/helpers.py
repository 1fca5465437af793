"""Shared builders for the PK tests: the docs/pk-model.md scenario A and an independent solver."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
from scipy.integrate import solve_ivp

from inoplan.domain.pk.model import TypicalParameters
from inoplan.domain.pk.simulate import CycleWindow, Infusion
from inoplan.knowledge.pk import load_pk_model

#: docs/pk-model.md section 5.1 scenario A: 0.8/0.5/0.5 mg/m2 on days 1/8/15, 1-h infusions,
#: cycle 1 of 21 days then 28-day cycles, BSA 1.84 m2, typical adult ALL, blasts 5.25 %.
SCENARIO_BSA_M2 = 1.84
SCENARIO_DOSES_MG_PER_M2 = ((1, 0.8), (8, 0.5), (15, 0.5))


def garrett_typical(bsa_m2: float = SCENARIO_BSA_M2, blasts_pct: float = 5.25) -> TypicalParameters:
    model = load_pk_model("garrett-2019")
    return model.typical_parameters({"bsa_m2": bsa_m2, "peripheral_blasts_pct": blasts_pct})


def regimen(
    cycles: int = 6,
    *,
    bsa_m2: float = SCENARIO_BSA_M2,
    skip: Sequence[tuple[int, int]] = (),
    scale: dict[tuple[int, int], float] | None = None,
    delay_days: dict[int, int] | None = None,
) -> tuple[list[Infusion], list[CycleWindow]]:
    """Scenario A, optionally with omitted doses, reduced doses and delayed cycles."""
    scale = scale or {}
    delay_days = delay_days or {}
    infusions: list[Infusion] = []
    windows: list[CycleWindow] = []
    start_day = 0
    for cycle in range(1, cycles + 1):
        start_day += delay_days.get(cycle, 0)
        if windows:
            windows[-1] = CycleWindow(windows[-1].cycle, windows[-1].start_h, start_day * 24.0)
        length = 21 if cycle == 1 else 28
        for day, mg_per_m2 in SCENARIO_DOSES_MG_PER_M2:
            if (cycle, day) in skip:
                continue
            amount = mg_per_m2 * bsa_m2 * scale.get((cycle, day), 1.0)
            infusions.append(Infusion((start_day + day - 1) * 24.0, 1.0, amount))
        windows.append(CycleWindow(cycle, start_day * 24.0, (start_day + length) * 24.0))
        start_day += length
    return infusions, windows


def reference_solution(
    p: TypicalParameters,
    infusions: Sequence[Infusion],
    windows: Sequence[CycleWindow],
    times_h: Sequence[float] | np.ndarray = (),
    rtol: float = 1e-10,
) -> dict[str, np.ndarray]:
    """One subject with SciPy's solve_ivp (DOP853, rtol 1e-10), segment by segment.

    Written independently of inoplan's integrator: concentration in ng/mL; Cmax from a
    0.05-h grid of the dense output plus every segment end.
    """
    end = windows[-1].end_h
    points = sorted(
        {
            0.0,
            end,
            *(i.start_h for i in infusions),
            *(i.end_h for i in infusions),
            *(w.start_h for w in windows),
            *(w.end_h for w in windows),
        }
    )

    def rhs(t: float, y: np.ndarray, rate: float) -> list[float]:
        cl = p.cl1_l_per_h + p.cl2_l_per_h * np.exp(-p.kdes_per_h * t)
        c1, c2 = y[0] / p.v1_l, y[1] / p.v2_l
        return [rate - cl * c1 - p.q_l_per_h * (c1 - c2), p.q_l_per_h * (c1 - c2), c1]

    y = np.zeros(3)
    samples_t: list[float] = [0.0]
    samples_c: list[float] = [0.0]
    at_points = {0.0: y.copy()}
    dense = []
    for a, b in itertools.pairwise(points):
        rate = sum(i.amount_mg / i.duration_h for i in infusions if i.start_h <= a and i.end_h >= b)
        sol = solve_ivp(
            rhs, (a, b), y, method="DOP853", rtol=rtol, atol=1e-14, args=(rate,), dense_output=True
        )
        grid = np.arange(a, b, 0.05)[1:]
        samples_t.extend(grid)
        samples_c.extend(sol.sol(grid)[0] / p.v1_l * 1000)
        y = sol.y[:, -1]
        samples_t.append(b)
        samples_c.append(y[0] / p.v1_l * 1000)
        at_points[b] = y.copy()
        dense.append((a, b, sol.sol))
    st = np.array(samples_t)
    sc = np.array(samples_c)
    cmax, trough, auc = [], [], []
    for w in windows:
        inside = (st >= w.start_h) & (st <= w.end_h)
        cmax.append(sc[inside].max())
        trough.append(at_points[w.end_h][0] / p.v1_l * 1000)
        auc.append((at_points[w.end_h][2] - at_points[w.start_h][2]) * 1000)
    conc = []
    for t in times_h:
        for a, b, s in dense:
            if a <= t <= b:
                conc.append(s(t)[0] / p.v1_l * 1000)
                break
    return {
        "cmax": np.array(cmax),
        "trough": np.array(trough),
        "auc": np.array(auc),
        "cumulative": np.array(y[2] * 1000),
        "conc": np.array(conc),
    }
