"""Population PK models as typed values, and their covariate equations. Pure (stdlib only).

A model (Garrett 2019 for adults, Wu 2024 for children) is data loaded from
``knowledge/pk/<id>.toml``: every parameter carries its value, unit and source tag
(``P`` primary source, ``T`` secondary transcription, ``U`` unconfirmed or an inoplan choice).
The covariate equations are built from a small set of effect kinds:

- ``power``: ``(x / reference) ** coefficient``
- ``linear``: ``1 + coefficient * (x - reference)``
- ``fractional``: ``1 + coefficient * x`` (x is an indicator, 0 or 1)

An effect with ``only_when`` applies only when that indicator covariate is 1. Covariates outside
the model's validity range are refused (``InvalidInput``), never extrapolated.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from inoplan.errors import InvalidInput

__all__ = [
    "PARAMETER_NAMES",
    "CovariateEffect",
    "CovariateRange",
    "CovariateValue",
    "LeanBodyMass",
    "ModelParameter",
    "PkModel",
    "SourcedValue",
    "TypicalParameters",
    "terminal_half_life_h",
]

#: The structural parameters every model must define (units in the names).
PARAMETER_NAMES: Final = ("cl1_l_per_h", "cl2_l_per_h", "kdes_per_h", "v1_l", "q_l_per_h", "v2_l")
EFFECT_KINDS: Final = frozenset({"power", "linear", "fractional"})
SOURCE_TAGS: Final = frozenset({"P", "T", "U"})


@dataclass(frozen=True, slots=True)
class SourcedValue:
    """A number with its unit, confirmation level and source reference."""

    value: float
    unit: str
    source_tag: str  # P | T | U
    source: str


@dataclass(frozen=True, slots=True)
class CovariateEffect:
    kind: str  # power | linear | fractional
    covariate: str
    coefficient: float
    reference: float | None
    only_when: str | None
    source_tag: str
    source: str

    def factor(self, covariates: Mapping[str, float]) -> float:
        """The multiplicative factor of this effect for one set of covariates."""
        if self.only_when is not None and covariates[self.only_when] != 1:
            return 1.0
        x = covariates[self.covariate]
        if self.kind == "power":
            assert self.reference is not None  # checked by the loader
            return float((x / self.reference) ** self.coefficient)
        if self.kind == "linear":
            assert self.reference is not None
            return 1.0 + self.coefficient * (x - self.reference)
        return 1.0 + self.coefficient * x


@dataclass(frozen=True, slots=True)
class ModelParameter:
    name: str  # e.g. cl1_l_per_h
    description: str
    typical: SourcedValue
    effects: tuple[CovariateEffect, ...] = ()

    def value_for(self, covariates: Mapping[str, float]) -> float:
        value = self.typical.value
        for effect in self.effects:
            value *= effect.factor(covariates)
        return value


@dataclass(frozen=True, slots=True)
class CovariateRange:
    """Where the model may be used for one covariate, and the floor for a power term at zero."""

    name: str
    description: str
    unit: str
    minimum: float
    maximum: float
    reference: float
    source_tag: str
    source: str
    floor: float | None = None
    floor_source: str = ""


@dataclass(frozen=True, slots=True)
class LeanBodyMass:
    """Boer (adults) and Peters (children) lean body mass equations, W in kg and H in cm."""

    adult_age_years: int
    boer_male: Mapping[str, float]
    boer_female: Mapping[str, float]
    peters: Mapping[str, float]
    source_tag: str
    source: str

    def lbm_kg(self, *, weight_kg: float, height_cm: float, sex: str, age_years: int) -> float:
        """Lean body mass in kg.

        >>> lbm = LeanBodyMass(18, {"weight": 0.407, "height": 0.267, "intercept": -19.2},
        ...     {"weight": 0.252, "height": 0.473, "intercept": -48.3},
        ...     {"factor": 3.8, "coefficient": 0.0215, "weight_exponent": 0.6469,
        ...      "height_exponent": 0.7236}, "U", "")
        >>> round(lbm.lbm_kg(weight_kg=16.5, height_cm=103, sex="female", age_years=4), 2)
        14.33
        """
        if age_years < self.adult_age_years:
            p = self.peters
            return float(
                p["factor"]
                * p["coefficient"]
                * weight_kg ** p["weight_exponent"]
                * height_cm ** p["height_exponent"]
            )
        boer = self.boer_male if sex == "male" else self.boer_female
        return float(boer["weight"] * weight_kg + boer["height"] * height_cm + boer["intercept"])


@dataclass(frozen=True, slots=True)
class CovariateValue:
    """A covariate as used, with where it came from (shown in the output)."""

    name: str
    value: float
    unit: str
    origin: str  # e.g. "vitals 2026-11-28" or "model reference value: none recorded"
    defaulted: bool = False
    floored: bool = False


@dataclass(frozen=True, slots=True)
class TypicalParameters:
    """One subject's structural parameters (typical values for its covariates)."""

    cl1_l_per_h: float
    cl2_l_per_h: float
    kdes_per_h: float
    v1_l: float
    q_l_per_h: float
    v2_l: float

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in PARAMETER_NAMES}


@dataclass(frozen=True, slots=True)
class PkModel:
    """A published population PK model of inotuzumab ozogamicin."""

    id: str
    name: str
    citation: str
    population: str
    structure: str
    confirmation: str  # P | T | U: the weakest level of its parameter values
    confirmation_text: str
    sources: tuple[str, ...]
    age_years_min: int
    age_years_below: int
    selection_source: str
    parameters: Mapping[str, ModelParameter]
    fixed_covariates: Mapping[str, float]
    fixed_covariates_source: Mapping[str, str]
    iiv_parameters: tuple[str, ...]
    omega: tuple[tuple[float, ...], ...]
    omega_source: str
    residual_log_sd: SourcedValue
    covariates: Mapping[str, CovariateRange]
    reported_half_life_days: SourcedValue
    lean_body_mass: LeanBodyMass | None = None
    extra: Mapping[str, object] = field(default_factory=dict)

    def applies_to_age(self, age_years: int) -> bool:
        return self.age_years_min <= age_years < self.age_years_below

    def prepare_covariate(self, name: str, value: float, *, field: str) -> tuple[float, bool]:
        """Check one covariate against the model's range; raise it to the floor if below.

        Returns the value to use and whether the floor was applied.

        Raises
        ------
        InvalidInput
            Naming ``field`` when the value lies outside the range the model was fitted to.
        """
        spec = self.covariates[name]
        if not math.isfinite(value) or not spec.minimum <= value <= spec.maximum:
            raise InvalidInput(
                field,
                f"{name} {value:g} {spec.unit} is outside the {self.name}'s range "
                f"{spec.minimum:g}-{spec.maximum:g} {spec.unit} ({spec.source}); "
                "cannot predict exposure",
            )
        if spec.floor is not None and value < spec.floor:
            return spec.floor, True
        return value, False

    def typical_parameters(self, covariates: Mapping[str, float]) -> TypicalParameters:
        """The typical subject's parameters for these covariates (fixed covariates added).

        Raises
        ------
        InvalidInput
            When a covariate is missing or a parameter comes out non-positive (for example
            Garrett's V1 below BSA 0.55 m2).
        """
        values = dict(self.fixed_covariates)
        values.update(covariates)
        missing = [name for name in self.covariates if name not in values]
        if missing:
            raise InvalidInput(missing[0], f"the {self.name} needs {missing[0]}")
        result = {}
        for name in PARAMETER_NAMES:
            value = self.parameters[name].value_for(values)
            if not math.isfinite(value) or value <= 0:
                raise InvalidInput(
                    name, f"the {self.name} gives {name} = {value:g} for these covariates"
                )
            result[name] = value
        return TypicalParameters(**result)


def terminal_half_life_h(params: TypicalParameters) -> float:
    """Terminal (beta) half-life once the time-dependent clearance has vanished (CL = CL1).

    >>> p = TypicalParameters(0.033283, 0.369, 0.004718, 6.70, 0.0405, 5.10)
    >>> round(terminal_half_life_h(p) / 24, 2)
    12.13
    """
    k10 = params.cl1_l_per_h / params.v1_l
    k12 = params.q_l_per_h / params.v1_l
    k21 = params.q_l_per_h / params.v2_l
    total = k10 + k12 + k21
    beta = 0.5 * (total - math.sqrt(total * total - 4 * k10 * k21))
    return math.log(2) / beta
