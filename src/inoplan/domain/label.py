"""The label as typed, immutable data: sections, regimen, limits, thresholds, alerts.

Instances are built by ``inoplan.knowledge.loader`` from the versioned TOML files; the domain
never reads files. Numbers are ``Decimal`` so that 0.8 stays exactly 0.8. Pure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from inoplan.errors import KnowledgeBaseError

if TYPE_CHECKING:
    from inoplan.domain.vocabulary import Vocabulary

__all__ = [
    "AlertText",
    "Citation",
    "Contraindication",
    "CycleCaps",
    "DoseLimits",
    "Label",
    "Preparation",
    "Regimen",
    "RuleText",
    "Schedule",
    "ScheduledDose",
    "Section",
    "Storage",
    "Threshold",
    "Vial",
    "render_citation",
]


@dataclass(frozen=True, slots=True)
class Section:
    """One section (or table) of a label revision, or a named external source."""

    anchor: str
    number: str
    heading: str
    table: str | None = None
    external: bool = False


@dataclass(frozen=True, slots=True)
class Citation:
    """Where a fact comes from: a section anchor, rendered for one label revision."""

    anchor: str
    text: str  # e.g. "US PI 2.3, Table 2"
    confidence: str  # C, C-old, C-sec, UNCONFIRMED, POLICY

    def __str__(self) -> str:
        return self.text


def render_citation(prefix: str, section: Section, confidence: str) -> Citation:
    """Print a section as the label revision numbers it ("US PI 2.3, Table 2").

    >>> render_citation("US PI", Section("x", "2.3", "Dose Modifications", "Table 2"), "C").text
    'US PI 2.3, Table 2'
    >>> render_citation("US PI", Section("y", "Boxed Warning", "Hepatotoxicity"), "C").text
    'US PI, Boxed Warning'
    """
    if section.external:
        return Citation(section.anchor, section.number, confidence)
    wordy = " " in section.number or section.number.isalpha()
    text = f"{prefix}{', ' if wordy else ' '}{section.number}"
    if section.table:
        text += f", {section.table}"
    return Citation(section.anchor, text, confidence)


@dataclass(frozen=True, slots=True)
class ScheduledDose:
    day: int
    mg_per_m2: Decimal


@dataclass(frozen=True, slots=True)
class Schedule:
    """One row of Table 1: the doses of a cycle for one kind of patient."""

    id: str
    applies_to: str
    doses: tuple[ScheduledDose, ...]

    def mg_per_m2_on(self, day: int) -> Decimal:
        for dose in self.doses:
            if dose.day == day:
                return dose.mg_per_m2
        raise KeyError(day)

    @property
    def total_mg_per_m2(self) -> Decimal:
        return sum((d.mg_per_m2 for d in self.doses), Decimal(0))


@dataclass(frozen=True, slots=True)
class Regimen:
    dose_days: tuple[int, ...]
    cycle1_days: int
    cycle1_days_allowed: tuple[int, ...]
    cycle1_extension_note: str
    later_cycle_days: int
    day_window_days: int
    min_days_between_doses: int
    infusion_minutes: int
    remission_statuses: tuple[str, ...]
    remission_interpretation: str
    schedules: Mapping[str, Schedule]
    citation: Citation


@dataclass(frozen=True, slots=True)
class DoseLimits:
    max_mg_per_m2_per_dose: Decimal
    max_mg_per_m2_per_cycle: Decimal
    interpretation: str
    citation: Citation


@dataclass(frozen=True, slots=True)
class CycleCaps:
    hsct_intended: int
    hsct_third_cycle_option: bool
    no_hsct: int
    no_response_stop_after_cycles: int
    hsct_undecided_interpretation: str
    citation: Citation


@dataclass(frozen=True, slots=True)
class Threshold:
    """A number the rules compare against, with its unit and citation."""

    id: str
    value: Decimal | tuple[Decimal, ...]
    unit: str
    citation: Citation
    note: str | None = None
    interpretation: str | None = None

    @property
    def number(self) -> Decimal:
        if isinstance(self.value, tuple):
            raise KnowledgeBaseError(f"threshold {self.id} is a list, not a number")
        return self.value


@dataclass(frozen=True, slots=True)
class Vial:
    id: str
    name: str
    nominal_mg: Decimal
    deliverable_mg: Decimal
    reconstitution_ml: Decimal
    deliverable_ml: Decimal
    citation: Citation
    note: str | None = None


@dataclass(frozen=True, slots=True)
class Preparation:
    reconstitution_diluent: str
    reconstituted_mg_per_ml: Decimal
    diluent: str
    standard_final_volume_ml: Decimal
    infusion_minutes: int
    infusion_temperature: str
    handling: str
    bag_materials: str
    filter_note: str
    final_concentration_min_mg_per_ml: Decimal
    final_concentration_max_mg_per_ml: Decimal
    final_concentration_citation: Citation
    final_concentration_note: str
    syringe_pathway_note: str
    reconstitution_to_dilution_max_hours: Decimal
    reconstitution_to_end_of_infusion_max_hours: Decimal
    timing_citation: Citation
    observation_note: str
    citation: Citation


@dataclass(frozen=True, slots=True)
class Storage:
    unopened: str
    reconstituted: str
    diluted: str
    confidence: Mapping[str, str]
    citation: Citation


@dataclass(frozen=True, slots=True)
class AlertText:
    code: str
    severity: str  # critical | warning | info
    message: str
    citation: Citation


@dataclass(frozen=True, slots=True)
class Contraindication:
    """A contraindication of the label (the US label has none)."""

    code: str
    text: str
    citation: Citation
    interpretation: str | None = None


@dataclass(frozen=True, slots=True)
class RuleText:
    """Text the decision engine shows with a rule: a term list and/or an interpretation."""

    id: str
    text: str
    citation: Citation
    terms: tuple[str, ...] = ()
    interpretation: str | None = None


@dataclass(frozen=True, slots=True)
class Label:
    """One label revision, ready for the engine."""

    id: str  # e.g. "us-2024-03"
    region: str  # "us" | "eu"
    name: str
    citation_prefix: str  # "US PI"
    revision_date: str
    min_age_years: Decimal
    min_age_citation: Citation
    contraindications: tuple[str, ...]
    sections: Mapping[str, Section]
    regimen: Regimen
    limits: DoseLimits
    caps: CycleCaps
    thresholds: Mapping[str, Threshold]
    preparation: Preparation
    vials: Mapping[str, Vial]
    storage: Storage
    alerts: Mapping[str, AlertText]
    excipients: tuple[str, ...]
    excipients_citation: Citation
    contraindication_details: Mapping[str, Contraindication] = field(default_factory=dict)
    rules: Mapping[str, RuleText] = field(default_factory=dict)  # [rule.*] tables
    # The coded terms (knowledge/terms/), supplied by the knowledge loader and read on first
    # use only: the command line's start-up path (``inoplan dose``) never needs them.
    vocabulary_source: Callable[[], Vocabulary] | None = field(
        default=None, repr=False, compare=False
    )

    def vocabulary(self) -> Vocabulary:
        """The toxicity terms and allergens the rules code recorded texts with."""
        if self.vocabulary_source is None:
            raise KnowledgeBaseError(f"{self.id}: no vocabulary was supplied with this label")
        return self.vocabulary_source()

    def cite(self, anchor: str, confidence: str = "C") -> Citation:
        """Render a section anchor as this revision prints it ("US PI 2.3, Table 2")."""
        section = self.sections.get(anchor)
        if section is None:
            raise KnowledgeBaseError(f"{self.id}: no section {anchor!r}")
        return render_citation(self.citation_prefix, section, confidence)

    def threshold(self, key: str) -> Threshold:
        try:
            return self.thresholds[key]
        except KeyError:
            raise KnowledgeBaseError(f"{self.id}: no threshold {key!r}") from None

    def rule(self, key: str) -> RuleText:
        try:
            return self.rules[key]
        except KeyError:
            raise KnowledgeBaseError(f"{self.id}: no rule text {key!r}") from None

    def alert(self, code: str) -> AlertText:
        try:
            return self.alerts[code]
        except KeyError:
            raise KnowledgeBaseError(f"{self.id}: no alert text for {code!r}") from None

    def schedule_for(self, cycle: int, *, in_remission: bool) -> Schedule:
        """Table 1: cycle 1 for everyone; later cycles by response."""
        if cycle == 1:
            return self.regimen.schedules["cycle-1"]
        return self.regimen.schedules["later-after-cr" if in_remission else "later-no-cr"]

    def cycle_cap(self, hsct_intended: bool | None) -> int:
        return self.caps.hsct_intended if hsct_intended else self.caps.no_hsct
