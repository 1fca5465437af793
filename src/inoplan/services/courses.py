"""Use cases on a whole course document: validate, plan, decide. Pure apart from the loader.

One schedule: ``plan_document`` lays the plan out of the decision engine's course state as of a
date (``domain.engine.plan``), so that the plan's next dose is always the decision's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from inoplan.document import parse_course
from inoplan.domain.course import Course
from inoplan.domain.planner import TreatmentPlan
from inoplan.domain.policy import SitePolicy
from inoplan.knowledge.loader import load_label
from inoplan.services.render import PlanJson, plan_to_json

if TYPE_CHECKING:  # the decision's renderer loads the engine: only when deciding
    from inoplan.services.render_decision import DecisionJson

__all__ = [
    "decide_course",
    "decide_document",
    "load_course",
    "plan_and_decide",
    "plan_course_as_of",
    "plan_document",
    "plan_for",
    "today",
]


def today() -> date:
    """The local calendar day, for adapters that were given no date (the clinic's "today")."""
    return date.today()  # noqa: DTZ011 (the local calendar day is wanted)


def load_course(document: Mapping[str, Any]) -> Course:
    """Validate a course document (raises InvalidInput naming the field)."""
    return parse_course(document)


def plan_course_as_of(course: Course, on: date, *, policy: SitePolicy = SitePolicy()) -> PlanJson:
    """The plan of a validated course as of ``on`` (docs/cli.md, ``inoplan plan``), as JSON."""
    from inoplan.domain.engine.plan import plan_as_of
    from inoplan.domain.planner import plan_course
    from inoplan.knowledge.qt import load_qt_drugs

    label = load_label(course.label)
    plan_course(course, label, policy=policy)  # the whole record must be plannable (or 4xx)
    result = plan_as_of(course, label, on, policy=policy, qt_drugs=load_qt_drugs())
    return plan_to_json(
        result.plan,
        label_id=course.label,
        patient_id=course.patient.id,
        as_of=on,
        decision=result.decision,
    )


def plan_and_decide(
    course: Course, on: date, *, policy: SitePolicy = SitePolicy()
) -> tuple[PlanJson, DecisionJson]:
    """``plan_course_as_of`` and ``decide_course`` for the same ``on``, from one evaluation
    (the plan is laid out of the decision's own state): both JSON answers, as the endpoints
    give them."""
    from inoplan.domain.engine.plan import plan_as_of
    from inoplan.domain.planner import plan_course
    from inoplan.knowledge.qt import load_qt_drugs
    from inoplan.services.render_decision import decision_to_json

    label = load_label(course.label)
    plan_course(course, label, policy=policy)  # the whole record must be plannable (or 4xx)
    result = plan_as_of(course, label, on, policy=policy, qt_drugs=load_qt_drugs())
    plan = plan_to_json(
        result.plan,
        label_id=course.label,
        patient_id=course.patient.id,
        as_of=on,
        decision=result.decision,
    )
    return plan, decision_to_json(result.decision, label=label)


def plan_for(course: Course, on: date, *, policy: SitePolicy = SitePolicy()) -> TreatmentPlan:
    """The plan of a validated course as of ``on`` (domain values)."""
    from inoplan.domain.engine.plan import plan_as_of
    from inoplan.knowledge.qt import load_qt_drugs

    label = load_label(course.label)
    return plan_as_of(course, label, on, policy=policy, qt_drugs=load_qt_drugs()).plan


def plan_document(
    document: Mapping[str, Any], on: date, *, policy: SitePolicy = SitePolicy()
) -> PlanJson:
    """``inoplan plan`` as JSON (docs/cli.md): the plan as of ``on``.

    ``on`` is the date the plan is as of (what is known by then, and the decision of that day):
    every adapter passes the date it decides for (no hidden "today" here).
    """
    return plan_course_as_of(load_course(document), on, policy=policy)


def decide_course(course: Course, on: date, *, policy: SitePolicy = SitePolicy()) -> DecisionJson:
    """The decision for ``on`` (docs/decision.md) for a validated course."""
    from inoplan.domain.engine import evaluate
    from inoplan.knowledge.qt import load_qt_drugs
    from inoplan.services.render_decision import decision_to_json

    label = load_label(course.label)
    decision = evaluate(course, label, on, policy=policy, qt_drugs=load_qt_drugs())
    return decision_to_json(decision, label=label)


def decide_document(
    document: Mapping[str, Any], on: date, *, policy: SitePolicy = SitePolicy()
) -> DecisionJson:
    """``inoplan evaluate`` as JSON (docs/decision.md)."""
    return decide_course(load_course(document), on, policy=policy)
