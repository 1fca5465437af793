"""QT-prolonging medicines: the list as domain values and the matcher. Pure.

The list itself lives in ``knowledge/qt_drugs.toml`` (public-domain US labels) and is read by
``inoplan.knowledge.qt``; a site may add names through ``SitePolicy.extra_qt_drugs`` (which
also switches on an unconfirmed candidate of the list by its name).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

__all__ = ["QtDrug", "QtDrugList", "QtMatch", "normalise_name"]


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
        name = normalise_name(medication)
        if any(_contains(name, normalise_name(x)) for x in self.excludes):
            return False
        return any(_contains(name, n) for n in self.names())


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
