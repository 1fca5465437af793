"""Body measurements and body surface area (BSA). Pure: no I/O, clock or randomness.

Five published formulas; Mosteller is the default. The formula is a site or prescriber
choice and is recorded with every dose. Plausibility limits catch unit slips (a height of
1.7 "cm" is a height in metres, not a patient); they are not eligibility criteria.

References
----------
- Mosteller RD. N Engl J Med 1987;317:1098: BSA = sqrt(height_cm x weight_kg / 3600).
- Du Bois D, Du Bois EF. Arch Intern Med 1916;17:863: 0.007184 x W^0.425 x H^0.725.
- Haycock GB et al. J Pediatr 1978;93:62: 0.024265 x W^0.5378 x H^0.3964.
- Gehan EA, George SL. Cancer Chemother Rep 1970;54:225: 0.0235 x W^0.51456 x H^0.42246.
- Boyd E. The growth of the surface area of the human body, 1935:
  0.0003207 x H^0.3 x W_g^(0.7285 - 0.0188 x log10 W_g), weight in grams.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Final

from inoplan.errors import ImplausibleMeasurement, InvalidInput

__all__ = [
    "BSA_FORMULA_REFERENCES",
    "HEIGHT_CM_RANGE",
    "WEIGHT_KG_RANGE",
    "Body",
    "BsaFormula",
    "bsa_m2",
    "bsa_m2_unrounded",
]

#: Physical plausibility (a unit-slip guard, not an eligibility rule). A 1-year-old is
#: rarely under 60 cm; adults over 250 cm or 350 kg are outside any dosing experience.
HEIGHT_CM_RANGE: Final = (Decimal(40), Decimal(250))
WEIGHT_KG_RANGE: Final = (Decimal(3), Decimal(350))
#: Body mass index outside this range means height and weight do not belong together
#: (for example a weight in pounds typed as kilograms, or a height in inches as cm).
BMI_RANGE: Final = (Decimal(7), Decimal(100))
BSA_STEP_M2: Final = Decimal("0.01")


class BsaFormula(StrEnum):
    """A published body-surface-area formula."""

    MOSTELLER = "mosteller"
    DUBOIS = "dubois"
    HAYCOCK = "haycock"
    GEHAN_GEORGE = "gehan-george"
    BOYD = "boyd"


BSA_FORMULA_REFERENCES: Final[dict[BsaFormula, str]] = {
    BsaFormula.MOSTELLER: "Mosteller, N Engl J Med 1987;317:1098",
    BsaFormula.DUBOIS: "Du Bois & Du Bois, Arch Intern Med 1916;17:863",
    BsaFormula.HAYCOCK: "Haycock et al., J Pediatr 1978;93:62",
    BsaFormula.GEHAN_GEORGE: "Gehan & George, Cancer Chemother Rep 1970;54:225",
    BsaFormula.BOYD: "Boyd, The Growth of the Surface Area of the Human Body, 1935",
}


def parse_formula(name: object, *, field: str = "bsa_formula") -> BsaFormula:
    """Read a formula name; ``du-bois``/``du_bois`` are accepted for DuBois.

    >>> parse_formula("Mosteller")
    <BsaFormula.MOSTELLER: 'mosteller'>
    """
    if isinstance(name, BsaFormula):
        return name
    if isinstance(name, str):
        key = name.strip().lower().replace("_", "-")
        key = {"du-bois": "dubois", "gehan": "gehan-george"}.get(key, key)
        try:
            return BsaFormula(key)
        except ValueError:
            pass
    raise InvalidInput(
        field, f"unknown BSA formula {name!r}; one of {', '.join(f.value for f in BsaFormula)}"
    )


@dataclass(frozen=True, slots=True)
class Body:
    """Height and weight as measured, in centimetres and kilograms, checked for plausibility."""

    height_cm: Decimal
    weight_kg: Decimal

    def __post_init__(self) -> None:
        _require_between("height_cm", self.height_cm, HEIGHT_CM_RANGE, "cm")
        _require_between("weight_kg", self.weight_kg, WEIGHT_KG_RANGE, "kg")
        bmi = self.weight_kg / (self.height_cm / 100) ** 2
        if not BMI_RANGE[0] <= bmi <= BMI_RANGE[1]:
            raise InvalidInput(
                "weight_kg",
                f"{self.weight_kg} kg at {self.height_cm} cm gives a body mass index of "
                f"{bmi:.0f} kg/m2, outside {BMI_RANGE[0]}-{BMI_RANGE[1]}; check both units",
            )


def bsa_m2_unrounded(body: Body, formula: BsaFormula = BsaFormula.MOSTELLER) -> float:
    """Body surface area in m2 by ``formula``, unrounded.

    >>> round(bsa_m2_unrounded(Body(Decimal(170), Decimal(70))), 4)
    1.8181
    """
    h = float(body.height_cm)
    w = float(body.weight_kg)
    match formula:
        case BsaFormula.MOSTELLER:
            return math.sqrt(h * w / 3600)
        case BsaFormula.DUBOIS:
            return float(0.007184 * w**0.425 * h**0.725)
        case BsaFormula.HAYCOCK:
            return float(0.024265 * w**0.5378 * h**0.3964)
        case BsaFormula.GEHAN_GEORGE:
            return float(0.0235 * w**0.51456 * h**0.42246)
        case BsaFormula.BOYD:
            grams = w * 1000
            return float(0.0003207 * h**0.3 * grams ** (0.7285 - 0.0188 * math.log10(grams)))
    raise InvalidInput("bsa_formula", f"unknown BSA formula {formula!r}")  # pragma: no cover


def bsa_m2(
    body: Body, formula: BsaFormula = BsaFormula.MOSTELLER, *, step: Decimal = BSA_STEP_M2
) -> Decimal:
    """Body surface area rounded half-up to ``step`` (0.01 m2), as used for dosing.

    Parameters
    ----------
    body
        Validated height (cm) and weight (kg).
    formula
        Published BSA formula; stored with every dose.
    step
        Rounding step of the dosing policy (docs/cli.md: 0.01 m2).

    Examples
    --------
    >>> bsa_m2(Body(Decimal(182), Decimal(88)))
    Decimal('2.11')
    >>> bsa_m2(Body(Decimal(103), Decimal("16.5")))
    Decimal('0.69')
    """
    if formula is BsaFormula.MOSTELLER:
        # Exact decimal square root: a BSA of exactly x.xx5 (111 cm, 27.75 kg -> 0.925) must
        # round half-up, which a binary float (0.92499999...) would not.
        value = (body.height_cm * body.weight_kg / 3600).sqrt()
    else:
        value = Decimal(repr(bsa_m2_unrounded(body, formula)))
    return value.quantize(step, rounding=ROUND_HALF_UP)


def _require_between(name: str, value: Decimal, limits: tuple[Decimal, Decimal], unit: str) -> None:
    low, high = limits
    if not value.is_finite() or not low <= value <= high:
        raise ImplausibleMeasurement(name, value, low, high, unit)
