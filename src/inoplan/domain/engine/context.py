"""The rule context: label look-ups, lab helpers, the reasons/alerts/verdicts collected. Pure."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from inoplan.domain.course import Course, LabsEvent, LabValue, plan_in_force
from inoplan.domain.engine.terms import CodedToxicity, code_toxicities
from inoplan.domain.engine.values import Alert, Reason, Verdict
from inoplan.domain.label import Citation, Label
from inoplan.domain.policy import SitePolicy
from inoplan.domain.vocabulary import Vocabulary

__all__ = ["Context", "LabReading", "upto"]


def upto(course: Course, on: date) -> Course:
    """The course as known on ``on``: events dated later do not exist yet.

    Planned transplants are plans, not results, so a planned HSCT dated later stays visible.
    """
    kept = tuple(
        e
        for e in course.events
        if e.date <= on or (e.type == "hsct" and getattr(e, "planned", False))
    )
    return dataclasses.replace(course, events=kept, plan=plan_in_force(course, on))


@dataclasses.dataclass(frozen=True, slots=True)
class LabReading:
    value: LabValue
    on: date

    def inputs(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "value": self.value.value,
            "unit": self.value.unit,
            "date": self.on,
        }
        if self.value.uln is not None:
            out["uln"] = self.value.uln
            out["x_uln"] = (self.value.value / self.value.uln).quantize(Decimal("0.01"))
        if self.value.transfused:
            out["transfused"] = True
        return out


def _contradicted(labs: tuple[LabsEvent, ...]) -> frozenset[tuple[date, str, bool]]:
    """(day, analyte, transfused) with two different values that day (``consistency``)."""
    first: dict[tuple[date, str, bool], Decimal] = {}
    found = []
    for event in labs:
        for analyte, value in event.values.items():
            key = (event.date, analyte, value.transfused)
            known = first.setdefault(key, value.value)
            # Decimals compare by value (2.40 == 2.4), as their normalised forms would
            if known is not value.value and known != value.value:
                found.append(key)
    return frozenset(found)


class Context:
    """Everything a rule needs, and what the rules found."""

    def __init__(self, course: Course, label: Label, on: date, policy: SitePolicy) -> None:
        self.course = course
        self.label = label
        self.on = on
        self.policy = policy
        self.reasons: list[Reason] = []
        self.alerts: list[Alert] = []
        self.verdicts: list[Verdict] = []
        self.notes: list[str] = []
        self._labs = tuple(course.of_type(LabsEvent))
        self._readings: dict[tuple[str, bool], list[LabReading]] = {}
        self.contradicted_labs = _contradicted(self._labs)
        self._toxicities: tuple[CodedToxicity, ...] | None = None

    # -- coded terms -------------------------------------------------------------------
    @property
    def vocabulary(self) -> Vocabulary:
        return self.label.vocabulary()

    @property
    def toxicities(self) -> tuple[CodedToxicity, ...]:
        """The recorded toxicities, coded (an event naming two terms gives two entries)."""
        if self._toxicities is None:
            has_any = any(e.type == "toxicity" for e in self.course.events)
            self._toxicities = code_toxicities(self.course, self.vocabulary) if has_any else ()
        return self._toxicities

    # -- knowledge ---------------------------------------------------------------------
    def number(self, key: str) -> Decimal:
        return self.label.threshold(key).number

    def has_threshold(self, key: str) -> bool:
        return key in self.label.thresholds

    def cite(self, key: str) -> Citation:
        """A citation by threshold key, rule-text key, or section anchor (in that order)."""
        if key in self.label.thresholds:
            return self.label.thresholds[key].citation
        if key in self.label.rules:
            return self.label.rules[key].citation
        return self.label.cite(key)

    def interpretation(self, key: str) -> str | None:
        if key in self.label.thresholds:
            return self.label.thresholds[key].interpretation
        if key in self.label.rules:
            return self.label.rules[key].interpretation
        return None

    @property
    def lab_max_age_days(self) -> int:
        if self.policy.lab_max_age_days is not None:
            return self.policy.lab_max_age_days
        return int(self.number("lab_max_age_days"))

    @property
    def weight_max_age_days(self) -> int:
        if self.policy.weight_max_age_days is not None:
            return self.policy.weight_max_age_days
        return int(self.number("weight_max_age_days"))

    # -- output ------------------------------------------------------------------------
    def reason(
        self,
        rule: str,
        cite: str | Citation | tuple[str | Citation, ...],
        message: str,
        inputs: Mapping[str, Any] | None = None,
        *,
        interpretation: str | None = None,
        verdict: str | None = None,
    ) -> Reason:
        cites = cite if isinstance(cite, tuple) else (cite,)
        citations = [c if isinstance(c, Citation) else self.cite(c) for c in cites]
        text = "; ".join(dict.fromkeys(c.text for c in citations))
        confidence = ", ".join(dict.fromkeys(c.confidence for c in citations))
        reason = Reason(
            rule=rule,
            citation=text,
            message=message,
            inputs=dict(inputs or {}),
            interpretation=interpretation,
            confidence=confidence,
            verdict=verdict,
        )
        self.reasons.append(reason)
        if verdict is not None:
            self.verdicts.append(Verdict(verdict, reason))
        return reason

    def alert(
        self,
        code: str,
        detail: str | None = None,
        inputs: Mapping[str, Any] | None = None,
        *,
        severity: str | None = None,
    ) -> None:
        text = self.label.alert(code)
        message = text.message if not detail else f"{text.message} {detail}"
        for existing in self.alerts:
            if existing.code == code and existing.message == message:
                return
        self.alerts.append(
            Alert(
                severity=severity or text.severity,
                code=code,
                message=message,
                citation=text.citation.text,
                inputs=dict(inputs or {}),
            )
        )

    # -- labs --------------------------------------------------------------------------
    def readings(self, analyte: str, *, usable: bool = True) -> list[LabReading]:
        """Every result of one analyte in date order; ``usable`` drops transfused platelets."""
        cached = self._readings.get((analyte, usable))
        if cached is not None:
            return cached
        out: list[LabReading] = []
        self._readings[(analyte, usable)] = out
        for event in self._labs:
            value = event.values.get(analyte)
            if value is None or (usable and value.transfused):
                continue
            if (event.date, analyte, value.transfused) in self.contradicted_labs:
                continue  # two different values that day: neither is used (never guess)
            out.append(LabReading(value, event.date))
        return out

    def latest(
        self, analyte: str, *, until: date, since: date | None = None, usable: bool = True
    ) -> LabReading | None:
        found = None
        for reading in self.readings(analyte, usable=usable):
            if reading.on > until:
                break
            if since is None or reading.on >= since:
                found = reading
        return found

    def fresh(self, analyte: str, *, usable: bool = True) -> LabReading | None:
        """The latest result dated on ``on`` or up to the freshness limit before it."""
        since = self.on - timedelta(days=self.lab_max_age_days)
        return self.latest(analyte, until=self.on, since=since, usable=usable)

    def lab_events(self) -> tuple[LabsEvent, ...]:
        return self._labs
