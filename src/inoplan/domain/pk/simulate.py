"""Concentration-time of inotuzumab ozogamicin for many subjects at once. Pure (NumPy only).

The models are two-compartment with a clearance that decays with time since the first dose::

    CL(t)  = CL1 + CL2 * exp(-kdes * t)
    dA1/dt = R(t) - CL(t)/V1 * A1 - Q * (A1/V1 - A2/V2)
    dA2/dt =                        Q * (A1/V1 - A2/V2)
    dAUC/dt = A1/V1

The system is linear but time-varying, so there is no closed form per dosing interval and
single-infusion profiles cannot be superposed. It is integrated with the embedded Runge-Kutta
method of Dormand and Prince of order 8 (DOP853) over arrays of subjects: every arithmetic
operation acts on all subjects at once, the step size is shared and controlled by the worst
subject's error estimate, and the area under the curve is an extra state. Steps never cross a
breakpoint (infusion start or stop, cycle boundary), so the input rate is constant within a step.
Population runs keep only per-cycle summaries; curves are computed on request by re-integrating
one step from the last accepted point before each output time (the same local accuracy as the
accepted steps).

Units: amounts in mg, volumes in L, time in hours; concentrations are reported in ng/mL
(mg/L x 1000) and AUC in ng*h/mL.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from inoplan.domain.pk import _dop853 as tableau
from inoplan.domain.pk.model import TypicalParameters
from inoplan.errors import InvalidInput

__all__ = [
    "NG_PER_ML_PER_MG_PER_L",
    "CycleWindow",
    "Exposure",
    "Infusion",
    "SubjectArrays",
    "simulate_exposure",
]

FloatArray = npt.NDArray[np.float64]

#: 1 mg/L = 1000 ng/mL (a unit conversion, not a model number).
NG_PER_ML_PER_MG_PER_L = 1000.0
_SAFETY = 0.9
_MIN_FACTOR = 0.2
_MAX_FACTOR = 10.0
_ORDER_EXPONENT = -1.0 / 8.0  # error ~ h^8 for the 8th-order pair (5th/3rd-order estimators)
_N = tableau.N_STAGES
_A = [np.ascontiguousarray(tableau.A[s, :s]) for s in range(_N)]
_B = np.ascontiguousarray(tableau.B)
_C = tableau.C[:_N]
_E53 = np.ascontiguousarray(np.stack([tableau.E5[:_N], tableau.E3[:_N]]))


@dataclass(frozen=True, slots=True)
class Infusion:
    """One infusion: start (hours since the first dose), duration (hours), amount (mg)."""

    start_h: float
    duration_h: float
    amount_mg: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start_h) and self.start_h >= 0):
            raise InvalidInput(
                "start_h", f"an infusion must start at or after 0 h, not {self.start_h}"
            )
        if not (math.isfinite(self.duration_h) and self.duration_h > 0):
            raise InvalidInput(
                "duration_min", f"an infusion must last longer than 0 h, not {self.duration_h}"
            )
        if not (math.isfinite(self.amount_mg) and self.amount_mg >= 0):
            raise InvalidInput(
                "dose_mg", f"an infusion amount must be 0 mg or more, not {self.amount_mg}"
            )

    @property
    def end_h(self) -> float:
        return self.start_h + self.duration_h

    @property
    def rate_mg_per_h(self) -> float:
        return self.amount_mg / self.duration_h


@dataclass(frozen=True, slots=True)
class CycleWindow:
    """A cycle for the summaries: from its day 1 to the next cycle's day 1 (hours)."""

    cycle: int
    start_h: float
    end_h: float


@dataclass(frozen=True, slots=True)
class SubjectArrays:
    """Structural parameters of ``n`` subjects, one array of shape ``(n,)`` per parameter."""

    cl1_l_per_h: FloatArray
    cl2_l_per_h: FloatArray
    kdes_per_h: FloatArray
    v1_l: FloatArray
    q_l_per_h: FloatArray
    v2_l: FloatArray

    @classmethod
    def from_typical(cls, params: TypicalParameters, n: int = 1) -> SubjectArrays:
        """``n`` identical subjects with the typical parameters."""
        return cls(**{k: np.full(n, v, dtype=np.float64) for k, v in params.as_dict().items()})

    @property
    def n(self) -> int:
        return int(self.cl1_l_per_h.shape[0])

    def __post_init__(self) -> None:
        for name in ("cl1_l_per_h", "cl2_l_per_h", "kdes_per_h", "v1_l", "q_l_per_h", "v2_l"):
            values = getattr(self, name)
            if values.ndim != 1 or values.shape != self.cl1_l_per_h.shape:
                raise InvalidInput(name, "every parameter needs one value per subject")
            if not np.all(np.isfinite(values)) or np.any(values < 0):
                raise InvalidInput(name, "parameters must be finite and not negative")
        if np.any(self.v1_l <= 0) or np.any(self.v2_l <= 0):
            raise InvalidInput("v1_l", "volumes must be positive")


@dataclass(frozen=True, slots=True)
class Exposure:
    """Per-subject results; arrays have one row per subject."""

    cycles: tuple[int, ...]
    cmax_ng_per_ml: FloatArray  # (n, cycles)
    ctrough_ng_per_ml: FloatArray  # (n, cycles): concentration at the cycle's end
    auc_ng_h_per_ml: FloatArray  # (n, cycles)
    cumulative_auc_ng_h_per_ml: FloatArray  # (n,): from the first dose to the end
    end_h: float
    times_h: FloatArray | None  # (T,) when curves were asked for
    conc_ng_per_ml: FloatArray | None  # (n, T)
    steps: int
    rejected_steps: int


class _Rates:
    """Per-subject rate constants shaped to broadcast against a state of shape (3, *shape)."""

    __slots__ = ("cl1_per_v1", "cl2_per_v1", "inv_v1", "k12", "k21", "kdes")

    def __init__(self, p: SubjectArrays, trailing: int = 0) -> None:
        shape = (-1,) + (1,) * trailing
        inv_v1 = 1.0 / p.v1_l
        self.inv_v1 = inv_v1.reshape(shape)
        self.cl1_per_v1 = (p.cl1_l_per_h * inv_v1).reshape(shape)
        self.cl2_per_v1 = (p.cl2_l_per_h * inv_v1).reshape(shape)
        self.kdes = p.kdes_per_h.reshape(shape)
        self.k12 = (p.q_l_per_h * inv_v1).reshape(shape)
        self.k21 = (p.q_l_per_h / p.v2_l).reshape(shape)

    def elimination(self, t: float | FloatArray) -> FloatArray:
        """``(CL(t) + Q) / V1``: the rate constant out of the central compartment at ``t``."""
        return (self.cl1_per_v1 + self.k12) + self.cl2_per_v1 * np.exp(-self.kdes * t)

    def rhs(
        self, y: FloatArray, rate: float | FloatArray, k_out: FloatArray, out: FloatArray
    ) -> None:
        """Derivatives into ``out`` (3, ...) from the amounts ``y[0]``, ``y[1]``.

        ``k_out`` is :meth:`elimination` at the evaluation time; the AUC state is never read.
        """
        back = self.k21 * y[1]
        np.subtract(rate, k_out * y[0], out=out[0])
        out[0] += back
        np.multiply(self.k12, y[0], out=out[1])
        out[1] -= back
        np.multiply(self.inv_v1, y[0], out=out[2])


def _stages(
    rates: _Rates,
    t: float | FloatArray,
    y: FloatArray,
    h: float | FloatArray,
    rate: float | FloatArray,
    k0: FloatArray,
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """One DOP853 step: the new state, the stage derivatives (stage axis first) and the
    elimination rate constant at the step's end (the last stage has c = 1).

    The right-hand side does not depend on the AUC state, so the intermediate stages are formed
    for the two amounts only.
    """
    k = np.empty((_N, *y.shape))
    k[0] = k0
    flat = k.reshape(_N, -1)
    amounts = y[:2]
    size = amounts.size
    stage_t = t + np.multiply.outer(_C, h)
    scalar_h = np.ndim(h) == 0
    k_out = rates.elimination(stage_t[:, None] if scalar_h else stage_t[:, None, :])
    for s in range(1, _N):
        if scalar_h:
            stage = amounts + ((h * _A[s]) @ flat[:s, :size]).reshape(amounts.shape)
        else:
            stage = amounts + h * (_A[s] @ flat[:s, :size]).reshape(amounts.shape)
        rates.rhs(stage, rate, k_out[s], k[s])
    y_new = y + h * (_B @ flat).reshape(y.shape)
    return y_new, k, k_out[-1]


def _error_norms(
    k: FloatArray, h: float, y: FloatArray, y_new: FloatArray, rtol: float, atol: FloatArray
) -> FloatArray:
    """Per-subject RMS error norm of the step (DOP853's combined 5th/3rd-order estimate)."""
    flat = k.reshape(_N, -1)
    scale = np.maximum(np.abs(y), np.abs(y_new))
    scale *= rtol
    scale += atol
    errors = (_E53 @ flat).reshape(2, *y.shape)
    errors /= scale
    errors *= errors
    e5, e3 = errors.sum(axis=1)
    denom = e5 + 0.01 * e3
    with np.errstate(invalid="ignore", divide="ignore"):
        norm = np.where(denom > 0, abs(h) * e5 / np.sqrt(denom * y.shape[0]), 0.0)
    return norm


def _breakpoints(
    infusions: Sequence[Infusion], windows: Sequence[CycleWindow], end_h: float
) -> list[float]:
    points = {0.0, end_h}
    for infusion in infusions:
        points.update((infusion.start_h, infusion.end_h))
    for window in windows:
        points.update((window.start_h, window.end_h))
    return sorted(p for p in points if 0.0 <= p <= end_h)


def _check_windows(windows: Sequence[CycleWindow], end_h: float) -> None:
    if not windows:
        raise InvalidInput("cycles", "at least one cycle is needed for the summaries")
    for before, after in itertools.pairwise(windows):
        if after.start_h != before.end_h:
            raise InvalidInput(
                "cycles", f"cycle {after.cycle} must start where cycle {before.cycle} ends"
            )
    for window in windows:
        if not 0.0 <= window.start_h < window.end_h <= end_h:
            raise InvalidInput(
                "cycles", f"cycle {window.cycle} runs from {window.start_h} h to {window.end_h} h"
            )


def simulate_exposure(
    params: SubjectArrays,
    infusions: Sequence[Infusion],
    windows: Sequence[CycleWindow],
    *,
    times_h: FloatArray | None = None,
    rtol: float = 1e-8,
    dense_chunk_elements: int = 200_000,
) -> Exposure:
    """Integrate all subjects from the first dose (t = 0) to the last cycle's end.

    Parameters
    ----------
    params
        One value per subject for each structural parameter.
    infusions
        Doses as given or planned; overlapping infusions add their rates.
    windows
        Contiguous cycles; the simulation ends at the last window's end.
    times_h
        Output times for the curves (non-decreasing, within the simulation); ``None`` keeps only
        the per-cycle summaries.
    rtol
        Relative tolerance of the step-size control (the absolute tolerance is ``rtol`` times
        10^-6 of the largest dose, so control is effectively relative).

    Returns
    -------
    Exposure
        Per subject and cycle: Cmax (the largest concentration at any breakpoint or accepted
        step; infusion ends are breakpoints), the concentration at the cycle's end, and the AUC
        over the cycle; the cumulative AUC; and the curves when asked for.

    Examples
    --------
    >>> from inoplan.domain.pk.model import TypicalParameters
    >>> p = SubjectArrays.from_typical(TypicalParameters(0.0333, 0.369, 0.00472, 6.7, 0.0405, 5.1))
    >>> result = simulate_exposure(p, [Infusion(0.0, 1.0, 1.472)], [CycleWindow(1, 0.0, 504.0)])
    >>> round(float(result.cmax_ng_per_ml[0, 0]), 1)
    212.6
    """
    if not infusions:
        raise InvalidInput("doses", "no infusion to simulate")
    if not 0 < rtol < 1e-2:
        raise InvalidInput("rtol", f"relative tolerance {rtol} is outside (0, 0.01)")
    windows = sorted(windows, key=lambda w: w.start_h)
    end_h = windows[-1].end_h if windows else 0.0
    _check_windows(windows, end_h)
    if times_h is not None:
        times_h = np.asarray(times_h, dtype=np.float64)
        if (
            times_h.ndim != 1
            or np.any(np.diff(times_h) < 0)
            or (times_h.size and (times_h[0] < 0 or times_h[-1] > end_h))
        ):
            raise InvalidInput(
                "times_h", "output times must be non-decreasing and within the simulation"
            )

    n = params.n
    rates = _Rates(params)
    scale_mg = max(i.amount_mg for i in infusions) or 1.0
    atol = np.full((3, 1), rtol * 1e-6 * scale_mg)
    points = _breakpoints(infusions, windows, end_h)
    n_cycles = len(windows)
    cmax = np.zeros((n, n_cycles))
    trough = np.zeros((n, n_cycles))
    auc = np.zeros((n, n_cycles))
    starts = {w.start_h: i for i, w in enumerate(windows)}
    ends = {w.end_h: i for i, w in enumerate(windows)}

    y = np.zeros((3, n))
    running_max = np.zeros(n)
    auc_at_start = np.zeros(n)
    current: int | None = None
    h_free = 1.0
    steps = rejected = 0
    keep = times_h is not None
    knot_t: list[float] = []
    knot_y: list[FloatArray] = []
    knot_rate: list[float] = []

    def boundary(t: float) -> None:
        nonlocal current, running_max, auc_at_start
        c = y[0] * rates.inv_v1 * NG_PER_ML_PER_MG_PER_L
        if t in ends and current == ends[t]:
            cmax[:, current] = running_max
            trough[:, current] = c
            auc[:, current] = (y[2] - auc_at_start) * NG_PER_ML_PER_MG_PER_L
            current = None
        if t in starts:
            current = starts[t]
            running_max = c.copy()
            auc_at_start = y[2].copy()

    for a, b in itertools.pairwise(points):
        boundary(a)
        rate = sum(i.rate_mg_per_h for i in infusions if i.start_h <= a and i.end_h >= b)
        t = a
        k0 = np.empty_like(y)
        rates.rhs(y, rate, rates.elimination(t), k0)
        while t < b:
            remaining = b - t
            truncated = h_free >= remaining * (1 - 1e-12)
            h = remaining if truncated else h_free
            y_new, k, k_out_end = _stages(rates, t, y, h, rate, k0)
            err = float(np.max(_error_norms(k, h, y, y_new, rtol, atol))) if n else 0.0
            if err <= 1.0:
                factor = (
                    _MAX_FACTOR if err == 0 else min(_MAX_FACTOR, _SAFETY * err**_ORDER_EXPONENT)
                )
                if keep:
                    knot_t.append(t)
                    knot_y.append(y)
                    knot_rate.append(rate)
                t = b if truncated else t + h
                y = y_new
                k0 = np.empty_like(y)
                rates.rhs(y, rate, k_out_end, k0)
                if current is not None:
                    np.maximum(
                        running_max, y[0] * rates.inv_v1 * NG_PER_ML_PER_MG_PER_L, out=running_max
                    )
                h_free = max(h_free, h * factor) if truncated else h * factor
                steps += 1
            else:
                h_free = h * max(_MIN_FACTOR, _SAFETY * err**_ORDER_EXPONENT)
                rejected += 1
                if h_free < 1e-9:
                    raise ArithmeticError(
                        "step size underflow in the PK integrator"
                    )  # pragma: no cover
    boundary(end_h)
    if keep:
        knot_t.append(end_h)
        knot_y.append(y)
        knot_rate.append(0.0)

    conc = None
    if times_h is not None:
        conc = _dense(
            params, times_h, np.array(knot_t), knot_y, np.array(knot_rate), dense_chunk_elements
        )
        # After a long washout the integrator's round-off can leave a concentration a few
        # 1e-12 ng/mL below zero; a concentration is never negative.
        np.maximum(conc, 0.0, out=conc)
    np.maximum(trough, 0.0, out=trough)
    return Exposure(
        cycles=tuple(w.cycle for w in windows),
        cmax_ng_per_ml=cmax,
        ctrough_ng_per_ml=trough,
        auc_ng_h_per_ml=auc,
        cumulative_auc_ng_h_per_ml=y[2] * NG_PER_ML_PER_MG_PER_L,
        end_h=end_h,
        times_h=times_h,
        conc_ng_per_ml=conc,
        steps=steps,
        rejected_steps=rejected,
    )


def _dense(
    params: SubjectArrays,
    times_h: FloatArray,
    knot_t: FloatArray,
    knot_y: list[FloatArray],
    knot_rate: FloatArray,
    chunk_elements: int,
) -> FloatArray:
    """Concentrations at ``times_h``: one step from the last accepted point before each time."""
    n = params.n
    out = np.empty((n, times_h.size))
    index = np.clip(np.searchsorted(knot_t, times_h, side="right") - 1, 0, len(knot_t) - 1)
    states = np.stack(knot_y)  # (knots, 3, n)
    rates = _Rates(params, trailing=1)
    per_chunk = max(1, chunk_elements // max(n, 1))
    for lo in range(0, times_h.size, per_chunk):
        hi = min(times_h.size, lo + per_chunk)
        idx = index[lo:hi]
        t0 = knot_t[idx]
        h = times_h[lo:hi] - t0
        rate = knot_rate[idx]
        y0 = np.moveaxis(states[idx], 0, -1)  # (3, n, chunk)
        k0 = np.empty_like(y0)
        rates.rhs(y0, rate, rates.elimination(t0), k0)
        y1, _, _ = _stages(rates, t0, y0, h, rate, k0)
        out[:, lo:hi] = y1[0] * rates.inv_v1 * NG_PER_ML_PER_MG_PER_L
    return out
