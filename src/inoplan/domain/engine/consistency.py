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


def _observations(ctx: Context) -> Iterator[tuple[date, str, str, Any, str]]:
    """(day, what, shown value, comparable value, event reference) of every measurement."""
    for event in ctx.course.events:
        ref = _ref(event)
        if isinstance(event, LabsEvent):
            for analyte, value in event.values.items():
                what = f"{analyte} (transfused)" if value.transfused else analyte
                shown = f"{_text(value.reported_value)} {value.reported_unit}".strip()
                yield event.date, what, shown, _number(value.value), ref
        elif isinstance(event, VitalsEvent):
            if event.height_cm is not None:
                h = _number(event.height_cm)
                yield event.date, "height_cm", f"{_text(h)} cm", h, ref
            if event.weight_kg is not None:
                w = _number(event.weight_kg)
                yield event.date, "weight_kg", f"{_text(w)} kg", w, ref
        elif isinstance(event, EcgEvent):
            q = _number(event.qtcf_ms)
            yield event.date, "qtcf_ms", f"{_text(q)} ms", q, ref
        elif isinstance(event, PregnancyTestEvent):
            yield event.date, "pregnancy_test", event.result, event.result, ref
        elif isinstance(event, ResponseEvent):
            yield event.date, "response", event.status, event.status, ref
    for entry in ctx.toxicities:
        yield (
            entry.date,
            f"toxicity {entry.name!r} grade",
            f"grade {entry.grade} ({entry.event.term!r})",
            entry.grade,
            _ref(entry.event),
        )


def contradictions(ctx: Context) -> list[Contradiction]:
    seen: dict[tuple[date, str], list[tuple[str, Any, str]]] = {}
    for day, what, shown, value, ref in _observations(ctx):
        seen.setdefault((day, what), []).append((shown, value, ref))
    out = []
    for (day, what), values in seen.items():
        if len({v for _, v, _ in values}) > 1:
            out.append(Contradiction(day, what, tuple(values)))
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
