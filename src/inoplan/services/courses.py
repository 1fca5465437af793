"""Use cases on a whole course document: validate, plan, decide. Pure apart from the loader."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from inoplan.document import parse_course
from inoplan.domain.course import Course
from inoplan.domain.planner import TreatmentPlan, plan_course
from inoplan.domain.policy import SitePolicy
from inoplan.knowledge.loader import load_label
from inoplan.services.render import plan_to_json

__all__ = ["decide_course", "decide_document", "load_course", "plan_document", "plan_for"]


def load_course(document: Mapping[str, Any]) -> Course:
    """Validate a course document (raises InvalidInput naming the field)."""
    return parse_course(document)


def plan_for(course: Course, *, policy: SitePolicy = SitePolicy()) -> TreatmentPlan:
    return plan_course(course, load_label(course.label), policy=policy)


def plan_document(
    document: Mapping[str, Any], *, policy: SitePolicy = SitePolicy()
) -> dict[str, Any]:
    """``inoplan plan`` as JSON (docs/cli.md)."""
    course = load_course(document)
    plan = plan_for(course, policy=policy)
    return plan_to_json(plan, label_id=course.label, patient_id=course.patient.id)


def decide_course(course: Course, on: date, *, policy: SitePolicy = SitePolicy()) -> dict[str, Any]:
    """The decision for ``on`` (docs/decision.md) for a validated course."""
    from inoplan.domain.engine import evaluate
    from inoplan.knowledge.qt import load_qt_drugs
    from inoplan.services.render_decision import decision_to_json

    label = load_label(course.label)
    decision = evaluate(course, label, on, policy=policy, qt_drugs=load_qt_drugs())
    return decision_to_json(decision, label=label)


def decide_document(
    document: Mapping[str, Any], on: date, *, policy: SitePolicy = SitePolicy()
) -> dict[str, Any]:
    """``inoplan evaluate`` as JSON (docs/decision.md)."""
    return decide_course(load_course(document), on, policy=policy)
