"""The doses an exposure simulation runs: a course and its plan -> infusions and cycle windows.

Part of the PK simulation (``domain.pk``): the given doses (as recorded: time, duration, mg) and
the doses the plan still expects, in time order, turned into the integrator's infusions and
cycle windows in hours from the start of the first infusion (local clock time). Pure; NumPy (and
the integrator's module) only inside the functions, so importing this stays light. The use case
(``services.exposure``) chooses the plan and the model, runs the simulation and renders JSON.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final

from inoplan.domain.course import AdministrationEvent, Course
from inoplan.errors import InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    from inoplan.domain.label import Label
    from inoplan.domain.pk.simulate import CycleWindow, Infusion
    from inoplan.domain.planner import TreatmentPlan

__all__ = [
    "DEFAULT_DURATION_MIN",
    "DEFAULT_TIME",
    "DoseForExposure",
    "cycle_windows",
    "doses_for_exposure",
    "hours",
    "infusions_of",
    "time_grid",
]


def _administration_default(name: str) -> Any:
    """docs/course-document.md defaults of an administration (``time``, ``duration_min``)."""
    return next(f.default for f in fields(AdministrationEvent) if f.name == name)


DEFAULT_TIME: Final[time] = _administration_default("time")
DEFAULT_DURATION_MIN: Final[int] = _administration_default("duration_min")


@dataclass(frozen=True, slots=True)
class DoseForExposure:
    """One dose to simulate: given (as recorded) or planned (as the plan expects)."""

    cycle: int
    day: int
    start: datetime
    duration_min: int
    dose_mg: Decimal
    status: str  # given | planned
    provisional: bool = False


def doses_for_exposure(
    course: Course, plan: TreatmentPlan | None
) -> tuple[list[DoseForExposure], list[dict[str, Any]], list[dict[str, Any]]]:
    """Given and planned doses in time order; held/omitted doses; planned doses without mg."""
    doses = [
        DoseForExposure(
            cycle=a.cycle,
            day=a.day,
            start=datetime.combine(a.date, a.time),
            duration_min=a.duration_min,
            dose_mg=a.dose_mg,
            status="given",
        )
        for a in course.administrations()
    ]
    given = {(d.cycle, d.day) for d in doses}
    holds: list[dict[str, Any]] = []
    not_simulated: list[dict[str, Any]] = []
    for planned in plan.doses if plan is not None else ():
        if (planned.cycle, planned.day) in given or planned.status == "given":
            continue
        if planned.status in {"held", "omitted"}:
            holds.append(
                {
                    "cycle": planned.cycle,
                    "day": planned.day,
                    "scheduled": planned.scheduled.isoformat(),
                    "status": planned.status,
                }
            )
            continue
        if planned.dose_mg is None:
            not_simulated.append(
                {
                    "cycle": planned.cycle,
                    "day": planned.day,
                    "scheduled": planned.scheduled.isoformat(),
                    "reason": "no dose in mg: need a height and weight for the BSA",
                }
            )
            continue
        doses.append(
            DoseForExposure(
                cycle=planned.cycle,
                day=planned.day,
                start=datetime.combine(
                    planned.scheduled, getattr(planned, "time", None) or DEFAULT_TIME
                ),
                duration_min=getattr(planned, "duration_min", None) or DEFAULT_DURATION_MIN,
                dose_mg=planned.dose_mg,
                status="planned",
                provisional=bool(planned.provisional),
            )
        )
    doses.sort(key=lambda d: (d.start, d.cycle, d.day))
    return doses, holds, not_simulated


def hours(moment: datetime, origin: datetime) -> float:
    """Hours from ``origin`` to ``moment``."""
    return (moment - origin) / timedelta(hours=1)


def infusions_of(doses: Sequence[DoseForExposure], origin: datetime) -> list[Infusion]:
    """The integrator's infusions (hours from ``origin``, mg actually given or planned)."""
    from inoplan.domain.pk.simulate import Infusion  # NumPy: loaded when a simulation runs

    return [Infusion(hours(d.start, origin), d.duration_min / 60, float(d.dose_mg)) for d in doses]


def cycle_windows(
    doses: Sequence[DoseForExposure],
    origin: datetime,
    course: Course,
    label: Label,
    plan: TreatmentPlan | None,
) -> list[CycleWindow]:
    """One window per cycle: from its day-1 infusion to the next cycle's (the last cycle: its
    planned length, at least to the end of its last infusion)."""
    from inoplan.domain.pk.simulate import CycleWindow

    starts: dict[int, datetime] = {}
    for cycle in sorted({d.cycle for d in doses}):
        in_cycle = [d for d in doses if d.cycle == cycle]
        day1 = [d for d in in_cycle if d.day == 1]
        starts[cycle] = (day1 or sorted(in_cycle, key=lambda d: d.start))[0].start
    cycles = sorted(starts)
    for before, after in itertools.pairwise(cycles):
        if starts[after] <= starts[before]:
            raise InvalidInput(
                "events",
                f"cycle {after} starts ({starts[after]:%Y-%m-%d}) before cycle {before} "
                f"({starts[before]:%Y-%m-%d}); cycles must follow each other",
            )
    last = cycles[-1]
    lengths = {c.cycle: c.length_days for c in plan.cycles} if plan is not None else {}
    length_days = lengths.get(
        last, course.plan.cycle1_days if last == 1 else label.regimen.later_cycle_days
    )
    end = starts[last] + timedelta(days=length_days)
    last_infusion_end = max(d.start + timedelta(minutes=d.duration_min) for d in doses)
    end = max(end, last_infusion_end)
    bounds = [starts[c] for c in cycles] + [end]
    windows = [
        CycleWindow(c, hours(bounds[i], origin), hours(bounds[i + 1], origin))
        for i, c in enumerate(cycles)
    ]
    if windows[0].start_h != 0.0:
        raise InvalidInput(
            "events",
            f"a dose of cycle {doses[0].cycle} comes before the start of cycle {cycles[0]}",
        )
    return windows


def time_grid(infusions: Sequence[Infusion], windows: Sequence[CycleWindow], step_h: float) -> Any:
    import numpy as np

    end_h = windows[-1].end_h
    regular = np.arange(0.0, end_h, step_h)
    extra = (
        [i.end_h for i in infusions] + [i.start_h for i in infusions] + [w.end_h for w in windows]
    )
    return np.unique(np.concatenate([regular, np.array(extra)]).clip(0.0, end_h))
