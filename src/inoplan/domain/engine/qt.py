"""QT-prolonging medicines: the list as domain values and the matcher. Pure.

The list itself lives in ``knowledge/qt_drugs.toml`` (public-domain US labels) and is read by
``inoplan.knowledge.qt``; a site may add names through ``SitePolicy.extra_qt_drugs`` (which
also switches on an unconfirmed candidate of the list by its name).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inoplan.domain.course import MedicationEvent

__all__ = [
    "MedicationLedger",
    "QtDrug",
    "QtDrugList",
    "QtMatch",
    "medication_ledger",
    "medicine_identity",
    "normalise_name",
]


@cache  # pure; otherwise the list's names are folded again on every decision
def normalise_name(name: str) -> str:
    """Lower case, punctuation folded to spaces: ``"Zofran-ODT"`` -> ``"zofran odt"``."""
    return " ".join(re.sub(r"[^a-z0-9]+", " ", name.lower()).split())


def _contains(haystack: str, needle: str) -> bool:
    return bool(needle) and f" {needle} " in f" {haystack} "


@dataclass(frozen=True, slots=True)
class QtDrug:
    key: str  # ingredient key, e.g. "arsenic_trioxide"
    generic: str  # "arsenic trioxide"
    status: str  # confirmed | unconfirmed | contrast | site
    tag: str  # BOXED | W&P | INTERACTION | AR-ONLY | CONTRAST | SITE
    synonyms: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()
    source: str = ""
    where: str = ""
    evidence: str = ""
    note: str | None = None

    def names(self) -> tuple[str, ...]:
        return tuple(normalise_name(n) for n in (self.generic, self.key, *self.synonyms))

    def matches(self, medication: str) -> bool:
        return _matches(self, medication)


_MATCH_MEMO_SIZE = 2**12  # (drug, recorded name) pairs remembered


@lru_cache(maxsize=_MATCH_MEMO_SIZE)  # pure (QtDrug is immutable); decisions ask the same names
def _matches(drug: QtDrug, medication: str) -> bool:
    name = normalise_name(medication)
    if any(_contains(name, normalise_name(x)) for x in drug.excludes):
        return False
    return any(_contains(name, n) for n in drug.names())


@dataclass(frozen=True, slots=True)
class QtMatch:
    medication: str  # as recorded
    drug: QtDrug


@dataclass(frozen=True, slots=True)
class QtDrugList:
    title: str
    citation: str
    drugs: tuple[QtDrug, ...]

    def active(self, site_extra: Iterable[str] = ()) -> tuple[QtDrug, ...]:
        """Confirmed drugs, plus candidates or plain names a site switched on."""
        extra = [normalise_name(n) for n in site_extra]
        chosen = [d for d in self.drugs if d.status == "confirmed"]
        for name in extra:
            known = [d for d in self.drugs if d.status == "unconfirmed" and name in d.names()]
            if known:
                chosen.extend(k for k in known if k not in chosen)
            elif not any(name in d.names() for d in chosen):
                chosen.append(
                    QtDrug(
                        key=name.replace(" ", "_"),
                        generic=name,
                        status="site",
                        tag="SITE",
                        source="site policy (qt.extra_drugs)",
                    )
                )
        return tuple(chosen)

    def identify(self, name: str) -> str:
        """The medicine a recorded name stands for: the list's ingredient key when any entry
        (whatever its status) names it as generic, brand or synonym, else the folded name.

        >>> drugs = QtDrugList("t", "c", (QtDrug("ondansetron", "ondansetron", "confirmed",
        ...     "W&P", synonyms=("Zofran",)),))
        >>> drugs.identify("ZOFRAN 8 mg"), drugs.identify("Ondansetron"), drugs.identify("Reglan")
        ('ondansetron', 'ondansetron', 'reglan')
        """
        drug = next((d for d in self.drugs if d.matches(name)), None)
        return drug.key if drug is not None else normalise_name(name)

    def match(
        self, medications: Iterable[str], site_extra: Iterable[str] = ()
    ) -> tuple[QtMatch, ...]:
        active = self.active(site_extra)
        found: list[QtMatch] = []
        for medication in medications:
            drug = next((d for d in active if d.matches(medication)), None)
            if drug is not None:
                found.append(QtMatch(medication, drug))
        return tuple(found)


def medicine_identity(qt_drugs: QtDrugList | None) -> Callable[[str], str]:
    """How a medication start is matched with its stop: through the QT list's names (brand,
    generic, synonyms, any case or punctuation), else the folded name as recorded."""
    return qt_drugs.identify if qt_drugs is not None else normalise_name


@dataclass(frozen=True, slots=True)
class MedicationLedger:
    """Medication starts and stops paired by the medicine they name (one answer for the engine,
    its state summary and the FHIR export)."""

    taken: tuple[str, ...] = ()  # started and not stopped, as first recorded
    stopped_by: Mapping[int, MedicationEvent] = field(default_factory=dict)  # start index -> stop
    unmatched_stops: tuple[MedicationEvent, ...] = ()  # a stop of no medicine being taken


def medication_ledger(
    events: Iterable[MedicationEvent], identify: Callable[[str], str] = normalise_name
) -> MedicationLedger:
    """Pair each stop with the starts of the same medicine before it (events in date order).

    A stop naming no medicine being taken at its date (an unknown brand, a typo, a second stop)
    neither clears nor keeps anything silently: it is listed in ``unmatched_stops`` for a named
    alert, and whatever was started stays counted as taken.
    """
    active: dict[str, list[MedicationEvent]] = {}
    stopped_by: dict[int, MedicationEvent] = {}
    unmatched: list[MedicationEvent] = []
    for event in events:
        key = identify(event.name)
        if event.action == "start":
            active.setdefault(key, []).append(event)
        elif key in active:
            for start in active.pop(key):
                stopped_by[start.index] = event
        else:
            unmatched.append(event)
    return MedicationLedger(
        taken=tuple(starts[0].name for starts in active.values()),
        stopped_by=stopped_by,
        unmatched_stops=tuple(unmatched),
    )
