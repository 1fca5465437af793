"""Contradictory records: two different values of one measurement on one day. Pure.

Neither value may be preferred (never guess): when two effective events of the same day give
different values for the same thing and neither corrects the other (``supersedes``), the engine
cannot decide until one is corrected or withdrawn (``void``). Checked: each lab analyte (counts
taken under transfusion compared only with each other), height, weight, QTcF, a pregnancy test
result, a response status, and the grade of one coded toxicity term.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from inoplan.domain.course import (
    EcgEvent,
    Event,
    LabsEvent,
    LabValue,
    PregnancyTestEvent,
    ResponseEvent,
    VitalsEvent,
)
from inoplan.domain.engine.context import Context

__all__ = ["Contradiction", "check_contradictions", "contradictions"]


@dataclass(frozen=True, slots=True)
class Contradiction:
    on: date
    what: str  # e.g. "anc", "weight_kg", "toxicity nausea grade"
    values: tuple[tuple[str, Any, str], ...]  # (shown value, comparable value, event reference)

    def inputs(self) -> dict[str, Any]:
        return {
            "date": self.on,
            "measurement": self.what,
            "values": [{"value": shown, "event": ref} for shown, _, ref in self.values],
        }


def _ref(event: Event) -> str:
    """How a message names an event: its id, else its position in the document."""
    return f"id {event.id!r}" if event.id else f"events[{event.index}]"


def _number(value: Decimal) -> Decimal:
    return value.normalize()


def _text(value: Decimal) -> str:
    """``Decimal("70.0")`` -> ``"70"`` (never ``"7E+1"``)."""
    return format(value.normalize(), "f")


def _observations(ctx: Context) -> Iterator[tuple[date, str, Any, Event, Any]]:
    """(day, what, comparable value, event, source) of every measurement; ``_shown`` words the
    source, only for the few measurements that disagree."""
    for event in ctx.course.events:
        if isinstance(event, LabsEvent):
            for analyte, value in event.values.items():
                what = f"{analyte} (transfused)" if value.transfused else analyte
                yield event.date, what, value.value, event, value
        elif isinstance(event, VitalsEvent):
            if event.height_cm is not None:
                yield event.date, "height_cm", event.height_cm, event, " cm"
            if event.weight_kg is not None:
                yield event.date, "weight_kg", event.weight_kg, event, " kg"
        elif isinstance(event, EcgEvent):
            yield event.date, "qtcf_ms", event.qtcf_ms, event, " ms"
        elif isinstance(event, PregnancyTestEvent):
            yield event.date, "pregnancy_test", event.result, event, None
        elif isinstance(event, ResponseEvent):
            yield event.date, "response", event.status, event, None
    for entry in ctx.toxicities:
        shown = f"grade {entry.grade} ({entry.event.term!r})"
        yield entry.date, f"toxicity {entry.name!r} grade", entry.grade, entry.event, shown


def _shown(value: Any, source: Any) -> tuple[str, Any]:
    """(shown value, comparable value) of one observation."""
    if isinstance(source, LabValue):
        return f"{_text(source.reported_value)} {source.reported_unit}".strip(), _number(value)
    if isinstance(value, Decimal):  # height, weight, QTcF: ``source`` is the unit
        number = _number(value)
        return f"{_text(number)}{source}", number
    if isinstance(source, str):  # a toxicity grade, worded beforehand
        return source, value
    return value, value  # a pregnancy test result, a response status


def contradictions(ctx: Context) -> list[Contradiction]:
    seen: dict[tuple[date, str], list[tuple[Any, Event, Any]]] = {}
    for day, what, value, event, source in _observations(ctx):
        seen.setdefault((day, what), []).append((value, event, source))
    out = []
    for (day, what), values in seen.items():
        # Decimals compare (and hash) by value, so 2.40 and 2.4 are one value here as after
        # normalising
        if len(values) > 1 and len({v for v, _, _ in values}) > 1:
            rows = []
            for value, event, source in values:
                shown, comparable = _shown(value, source)
                rows.append((shown, comparable, _ref(event)))
            out.append(Contradiction(day, what, tuple(rows)))
    return sorted(out, key=lambda c: (c.on, c.what))


def check_contradictions(ctx: Context, *, ongoing: bool) -> None:
    """Cannot decide while two different same-day values stand uncorrected (any status but
    discontinue/complete, which do not depend on them)."""
    for found in contradictions(ctx):
        values = " and ".join(f"{shown} ({ref})" for shown, _, ref in found.values)
        ctx.reason(
            "data.contradictory-values",
            "inoplan-policy",
            f"Two different values of {found.what} on {found.on.isoformat()}: {values}; neither "
            "corrects the other. Correct one (an event with 'supersedes' and a reason) or "
            "withdraw it ('void', entered in error).",
            found.inputs(),
            verdict="cannot_decide" if ongoing else None,
        )
        ctx.alert(
            "CONTRADICTORY_DATA",
            f"{found.what} on {found.on.isoformat()}: {values}.",
            found.inputs(),
        )
