"""Recorded toxicities coded with the vocabulary (``domain.vocabulary``). Pure.

Every toxicity event becomes one ``CodedToxicity`` per term it names; an event whose text names
no known term becomes one uncoded entry, counted by its grade under the label's "any other
non-hematologic toxicity" row (never ignored). A later event updates the same code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from inoplan.domain.course import Course, ToxicityEvent
from inoplan.domain.vocabulary import Coding, Term, Vocabulary

__all__ = [
    "CodedToxicity",
    "code_toxicities",
    "latest_by_code",
    "pretreatment_grades",
]


@dataclass(frozen=True, slots=True)
class CodedToxicity:
    event: ToxicityEvent
    term: Term | None  # None: the text was not recognised
    coding: Coding

    @property
    def code(self) -> str:
        return self.term.code if self.term is not None else self.coding.uncoded_code

    @property
    def category(self) -> str:
        """The engine's category; an unrecognised term is 'other' (Table 3's last row)."""
        return self.term.category if self.term is not None else "other"

    @property
    def name(self) -> str:
        return self.term.name if self.term is not None else self.event.term

    @property
    def grade(self) -> int:
        return self.event.grade

    @property
    def date(self) -> date:
        return self.event.date

    @property
    def recognised(self) -> bool:
        return self.term is not None

    def inputs(self) -> dict[str, object]:
        out: dict[str, object] = {
            "term": self.event.term,
            "grade": self.event.grade,
            "date": self.event.date,
        }
        if self.term is not None:
            out["code"] = self.term.code
            out["coded_as"] = self.term.name
            out["term_source"] = self.term.source
        else:
            out["coded_as"] = None
        if self.event.id:
            out["event_id"] = self.event.id
        return out


def code_toxicities(course: Course, vocabulary: Vocabulary) -> tuple[CodedToxicity, ...]:
    """The course's effective toxicity events, coded, in date order."""
    out: list[CodedToxicity] = []
    for event in course.of_type(ToxicityEvent):
        coding = vocabulary.code(event.term)
        if coding.terms:
            out.extend(CodedToxicity(event, term, coding) for term in coding.terms)
        else:
            out.append(CodedToxicity(event, None, coding))
    return tuple(out)


def latest_by_code(coded: Iterable[CodedToxicity]) -> dict[str, CodedToxicity]:
    """Each coded term with its latest grade (a later event updates the same term)."""
    latest: dict[str, CodedToxicity] = {}
    for entry in coded:
        latest[entry.code] = entry
    return latest


def pretreatment_grades(
    coded: Sequence[CodedToxicity], first_dose_on: date | None
) -> dict[str, int]:
    """The latest grade of each code recorded before the first dose."""
    grades: dict[str, int] = {}
    for entry in coded:
        if first_dose_on is None or entry.date < first_dose_on:
            grades[entry.code] = entry.grade
    return grades
