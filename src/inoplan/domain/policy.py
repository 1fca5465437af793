"""Site policy: choices the label leaves to the site, stated and stored with every result.

Defaults reproduce docs/cli.md (BSA to 0.01 m2, dose to 0.01 mg, half-up) and take
unconfirmed label values from the knowledge file; a site may override them in a TOML file
(see ``inoplan.sitepolicy``). Pure.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import Final

from inoplan.errors import InvalidInput

__all__ = [
    "DEFAULT_LAB_REFERENCES",
    "ROUNDING_MODES",
    "ClinicContacts",
    "Contact",
    "LabReference",
    "RoundingPolicy",
    "SitePolicy",
]

ROUNDING_MODES: Final = {"half-up": ROUND_HALF_UP, "down": ROUND_DOWN}


@dataclass(frozen=True, slots=True)
class RoundingPolicy:
    """How BSA and doses are rounded. ``down`` never rounds a dose up (a documented option)."""

    bsa_step_m2: Decimal = Decimal("0.01")
    dose_step_mg: Decimal = Decimal("0.01")
    mode: str = "half-up"

    def __post_init__(self) -> None:
        if self.mode not in ROUNDING_MODES:
            raise InvalidInput("rounding.mode", f"one of {', '.join(ROUNDING_MODES)}")
        for name, step in (("bsa_step_m2", self.bsa_step_m2), ("dose_step_mg", self.dose_step_mg)):
            if not step > 0 or step > 1:
                raise InvalidInput(f"rounding.{name}", "must be a step between 0 and 1")

    @property
    def description(self) -> str:
        # BSA is always rounded half-up (domain.body.bsa_m2, docs/cli.md); the mode
        # applies to the dose only, and the description must say what was actually done.
        return (
            f"BSA rounded half-up to {self.bsa_step_m2} m2; "
            f"dose rounded {self.mode} to {self.dose_step_mg} mg"
        )

    def round_dose(self, value: Decimal) -> Decimal:
        return value.quantize(self.dose_step_mg, rounding=ROUNDING_MODES[self.mode])

    def round_bsa(self, value: Decimal) -> Decimal:
        return value.quantize(self.bsa_step_m2, rounding=ROUNDING_MODES[self.mode])


@dataclass(frozen=True, slots=True)
class Contact:
    """A named person the patient may call (the handout lists them)."""

    name: str
    role: str = ""
    phone: str = ""


@dataclass(frozen=True, slots=True)
class ClinicContacts:
    """The clinic's phone numbers and named contacts for the patient handout (site policy
    ``[clinic]``). Empty when the site configured none: the handout then says to ask."""

    name: str = ""
    phone_day: str = ""
    phone_out_of_hours: str = ""
    contacts: tuple[Contact, ...] = ()

    @property
    def configured(self) -> bool:
        return bool(self.phone_day or self.phone_out_of_hours or self.contacts)


@dataclass(frozen=True, slots=True)
class LabReference:
    """The site laboratory's unit and reference range for one analyte (site policy ``[labs]``).

    Not a label fact: the label's liver thresholds are multiples of *the laboratory's* upper
    limit of normal, which differs between laboratories. The web's laboratory form offers these
    values prefilled; each result is stored with the unit and ULN actually submitted.
    """

    analyte: str
    unit: str  # as the course document writes it (UCUM-like: 10*9/L, umol/L, U/L)
    uln: Decimal | None = None


#: Defaults when a site configured none: common adult reference limits (total bilirubin
#: 1.2 mg/dL, AST 40 U/L, ALT 41 U/L) and counts in 10*9/L. Configurable per site
#: (``[labs.<analyte>]`` in the site policy file); a site must set its own laboratory's values.
DEFAULT_LAB_REFERENCES: Final = (
    LabReference("anc", "10*9/L"),
    LabReference("platelets", "10*9/L"),
    LabReference("bilirubin", "mg/dL", Decimal("1.2")),
    LabReference("ast", "U/L", Decimal(40)),
    LabReference("alt", "U/L", Decimal(41)),
    LabReference("peripheral_blasts", "10*9/L"),
    LabReference("wbc", "10*9/L"),
    LabReference("potassium", "mmol/L"),
    LabReference("magnesium", "mmol/L"),
)


@dataclass(frozen=True, slots=True)
class SitePolicy:
    """Everything a site may configure. ``None`` means: use the label file's value."""

    rounding: RoundingPolicy = RoundingPolicy()
    final_concentration_min_mg_per_ml: Decimal | None = None
    final_concentration_max_mg_per_ml: Decimal | None = None
    lab_max_age_days: int | None = None
    weight_max_age_days: int | None = None
    extra_qt_drugs: tuple[str, ...] = ()
    source: str = "inoplan defaults"
    #: who the patient calls (printouts only; no decision depends on it)
    clinic: ClinicContacts = ClinicContacts()
    #: the laboratory's units and reference ranges (prefilled on the web's laboratory form)
    lab_references: tuple[LabReference, ...] = DEFAULT_LAB_REFERENCES

    def lab_reference(self, analyte: str) -> LabReference | None:
        """The site's unit and reference range for ``analyte`` (None when none is set)."""
        return next((r for r in self.lab_references if r.analyte == analyte), None)
