"""Virtual populations: inter-individual variability and summary statistics. Pure (NumPy only).

Random effects are log-normal, ``P_i = P_typical * exp(eta_i)`` with ``eta ~ N(0, omega)`` and the
published omega block (variances and covariances). Randomness comes in as a
``numpy.random.Generator``; all random effects are drawn up front, so splitting the subjects
into chunks (in-process or on a Dask cluster) cannot change any subject's parameters.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from inoplan.domain.pk.model import PARAMETER_NAMES, TypicalParameters
from inoplan.domain.pk.simulate import (
    CycleWindow,
    Exposure,
    Infusion,
    SubjectArrays,
    simulate_exposure,
)
from inoplan.errors import InvalidInput

__all__ = [
    "PERCENTILES",
    "Summary",
    "draw_random_effects",
    "individual_parameters",
    "simulate_chunk",
    "split",
    "summarise",
]

FloatArray = npt.NDArray[np.float64]
#: The percentiles reported for a population (with the mean).
PERCENTILES = (5.0, 50.0, 95.0)


def draw_random_effects(
    omega: Sequence[Sequence[float]], n: int, *, rng: np.random.Generator
) -> FloatArray:
    """Draw ``n`` vectors of random effects from ``N(0, omega)``; shape ``(n, k)``.

    Examples
    --------
    >>> etas = draw_random_effects([[0.04, 0.0], [0.0, 0.09]], 20000, rng=np.random.default_rng(1))
    >>> [round(float(s), 2) for s in etas.std(axis=0)]
    [0.2, 0.3]
    """
    matrix = np.asarray(omega, dtype=np.float64)
    if n < 1:
        raise InvalidInput("population", f"a population needs at least 1 subject, not {n}")
    try:
        lower = np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        raise InvalidInput(
            "omega", "the variance-covariance matrix is not positive definite"
        ) from None
    return rng.standard_normal((n, matrix.shape[0])) @ lower.T


def individual_parameters(
    typical: TypicalParameters, iiv_parameters: Sequence[str], etas: FloatArray
) -> SubjectArrays:
    """Each subject's parameters: the typical value times ``exp(eta)`` for the IIV parameters."""
    values = typical.as_dict()
    columns = {name: np.full(etas.shape[0], values[name]) for name in PARAMETER_NAMES}
    for j, name in enumerate(iiv_parameters):
        columns[name] = values[name] * np.exp(etas[:, j])
    return SubjectArrays(**columns)


def split(n: int, chunk_size: int) -> list[tuple[int, int]]:
    """Deterministic chunk boundaries ``[(lo, hi), ...]`` covering ``range(n)``.

    >>> split(10, 4)
    [(0, 4), (4, 8), (8, 10)]
    """
    if chunk_size < 1:
        raise InvalidInput("chunk_size", f"chunks need at least 1 subject, not {chunk_size}")
    return [(lo, min(n, lo + chunk_size)) for lo in range(0, n, chunk_size)]


def simulate_chunk(
    typical: TypicalParameters,
    iiv_parameters: Sequence[str],
    etas: FloatArray,
    infusions: Sequence[Infusion],
    windows: Sequence[CycleWindow],
    times_h: FloatArray | None = None,
    rtol: float = 1e-7,
) -> Exposure:
    """Simulate one chunk of subjects (a top-level function, so Dask can ship it)."""
    params = individual_parameters(typical, iiv_parameters, etas)
    return simulate_exposure(params, infusions, windows, times_h=times_h, rtol=rtol)


@dataclass(frozen=True, slots=True)
class Summary:
    """Mean and percentiles over subjects (axis 0)."""

    mean: FloatArray
    p5: FloatArray
    p50: FloatArray
    p95: FloatArray


def summarise(values: FloatArray) -> Summary:
    """Mean, 5th, 50th and 95th percentiles over the first axis (linear interpolation).

    >>> s = summarise(np.arange(101.0))
    >>> float(s.mean), float(s.p5), float(s.p50), float(s.p95)
    (50.0, 5.0, 50.0, 95.0)
    """
    p5, p50, p95 = np.percentile(values, PERCENTILES, axis=0)
    return Summary(values.mean(axis=0), p5, p50, p95)
