"""View builders: call the services and shape plain values for the templates and PDFs.

No SQL and no clinical logic here: decisions come from ``records.show_decision`` (which also
records them as shown; the Today list reads the stored decisions of
``services.decisions.day_decisions``), calendars from the planner service, preparation numbers from
``services.dosing.dose_json``; this module only arranges them for display.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, tzinfo
from typing import TYPE_CHECKING, Any, Final

from inoplan import DISCLAIMER
from inoplan.domain.course import correction_targets, document_links
from inoplan.errors import CdsError, InvalidInput, NoDoseToPrepare
from inoplan.services.auth import Principal, can, event_action
from inoplan.services.common import document_of

if TYPE_CHECKING:
    from inoplan.services.common import CourseDocumentJson
    from inoplan.services.render import PlanJson
    from inoplan.services.render_decision import ShownDecisionJson

__all__ = [
    "BADGE_TEXT",
    "STATUS_TEXT",
    "CourseView",
    "course_view",
    "today_view",
    "worksheet_view",
]

#: How each decision status reads on screen (docs/decision.md statuses).
STATUS_TEXT: Final[Mapping[str, str]] = {
    "give": "Give today",
    "hold": "Hold",
    "cannot_decide": "Cannot decide: data needed",
    "wait": "No dose today",
    "complete": "Course complete",
    "discontinue": "Discontinue",
}
#: The web pages' badges say what to do, in words (not colour alone).
BADGE_TEXT: Final[Mapping[str, str]] = {
    **STATUS_TEXT,
    "hold": "Hold: do not give",
    "discontinue": "Discontinue: stop treatment",
}
NEEDS_ACTION: Final = ("give", "hold", "cannot_decide")
#: Statuses that stay in the default list until a prescriber acknowledges them.
ACKNOWLEDGE: Final = ("discontinue",)
#: Order of the Today list after "critical first": the most dangerous status first.
STATUS_ORDER: Final = (
    "error",
    "discontinue",
    "hold",
    "cannot_decide",
    "give",
    "wait",
    "complete",
)
#: Audit records shown on the course page (newest first); the API lists them all.
AUDIT_ROWS: Final = 100
SEVERITY_ORDER: Final = ("critical", "warning", "info")

Uow = Callable[..., Any]


def _policy_kwargs(policy: Any) -> dict[str, Any]:
    return {} if policy is None else {"policy": policy}


# -- today ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TodayRow:
    course_id: int
    patient_id: str
    status: str
    status_text: str
    reason: str
    next_dose: Mapping[str, Any] | None
    critical: int
    warnings: int
    error: str = ""
    acknowledged: bool = False
    critical_codes: tuple[str, ...] = ()
    rules: tuple[str, ...] = ()
    #: the worklist (services.workflow): the patient's name, the due dose's state, what the
    #: course waits for as (key, words, action)
    patient_name: str = ""
    day_state: str = ""
    waits: tuple[str, str, str] | None = None
    #: why the stored decision was not trusted (DECISION_ROW_TAMPERED), "" when it was
    tampered: str = ""
    #: the due dose's booked time (services.appointments), ``moved`` when the plan moved it
    appointment: Any = None

    @property
    def booked_time(self) -> str:
        """The booked time (HH:MM) when it is on the due dose's planned date, else "~" (after
        every time, for sorting)."""
        booked = self.appointment
        return "~" if booked is None or booked.moved else str(booked.time)

    @property
    def needs_acknowledgement(self) -> bool:
        return self.status in ACKNOWLEDGE and not self.acknowledged

    @property
    def urgent(self) -> bool:
        """Shown first: a critical alert, an unacknowledged stop, or an error."""
        return self.critical > 0 or self.needs_acknowledgement or self.status == "error"


#: Rows per page of the Today list (critical items first across pages).
TODAY_PAGE_SIZE: Final = 100


def today_view(
    database: Uow,
    principal: Principal,
    on: date,
    *,
    show: str = "action",
    patient: str = "",
    role: str = "",
    policy: Any = None,
    page: int = 1,
    per_page: int | None = None,
    clinic: tzinfo = UTC,
    today: date | None = None,
) -> dict[str, Any]:
    """Every course's decision for ``on``, read from the stored decisions, filtered for the list.
    ``today``: the clinic's date (a day far from it is computed, not stored).

    The decisions come from ``services.decisions.day_decisions``: one query when every stored
    decision is current; stale ones (a new day, a new course version, new knowledge or policy)
    are recomputed and stored in one transaction, never shown as they were. Opening a course
    records its decision as shown to the person (the list itself records nothing per course).

    Each row also says what the course waits for (labs, release, verification, preparation,
    administration: :func:`worklist`); ``role`` keeps the rows that role can act on, and every
    urgent row (critical items stay in every filter). ``clinic`` is the clinic's time zone:
    booked times (``services.appointments``) show on its clock.

    The default list ("action") holds the courses due, held or needing data, and every course
    whose decision is to discontinue until a prescriber has acknowledged it. Critical items
    come first (a critical alert, an unacknowledged stop, an error), then by status, then by
    the due dose's booked time (unbooked last).

    The sorted list is shown ``per_page`` (:data:`TODAY_PAGE_SIZE`) rows at a time (``page``
    from 1; past the last page: the last page). Critical items sort first, so page 1 holds every
    one of them unless there are more than a page's worth: ``urgent_later`` then counts those
    on later pages, and every page says how many critical items the whole list holds
    (``urgent_total``).
    """
    from inoplan.services.decisions import day_decisions

    day = day_decisions(database, on, patient=patient, today=today, **_policy_kwargs(policy))
    rows = [
        TodayRow(
            course_id=d.course_id,
            patient_id=d.patient_id,
            status=d.status,
            status_text="Error" if d.status == "error" else BADGE_TEXT.get(d.status, d.status),
            reason=d.reason,
            next_dose=d.next_dose,
            critical=d.critical,
            warnings=d.warnings,
            error=d.error,
            acknowledged=d.acknowledged,
            critical_codes=d.critical_codes,
            rules=d.reason_rules,
            patient_name=d.patient_name,
            tampered=d.tampered,
        )
        for d in day.rows
    ]
    rows = worklist(database, rows, clinic, on)
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.status] = counts.get(row.status, 0) + 1
    if show == "action":
        shown = [r for r in rows if r.status in (*NEEDS_ACTION, "error") or r.needs_acknowledgement]
    elif show == "all":
        shown = rows
    else:
        shown = [r for r in rows if r.status == show]
    if role in WORKLIST_ROLES:
        shown = [r for r in shown if r.urgent or (r.waits is not None and can(role, r.waits[2]))]
    order = {s: i for i, s in enumerate(STATUS_ORDER)}
    shown.sort(
        key=lambda r: (
            not r.urgent,
            order.get(r.status, 99),
            r.booked_time,
            r.acknowledged,
            r.patient_id,
            r.course_id,
        )
    )
    per_page = max(1, TODAY_PAGE_SIZE if per_page is None else per_page)
    pages = max(1, -(-len(shown) // per_page))
    page = min(max(1, page), pages)
    first = (page - 1) * per_page
    urgent = [i for i, r in enumerate(shown) if r.urgent]  # a prefix: urgent rows sort first
    return {
        "rows": shown[first : first + per_page],
        "shown_total": len(shown),
        "first": first + 1,
        "page": page,
        "pages": pages,
        "urgent_total": len(urgent),
        "urgent_earlier": sum(1 for i in urgent if i < first),
        "urgent_later": sum(1 for i in urgent if i >= first + per_page),
        "page_links": page_links(page, pages),
        "counts": counts,
        "total": len(rows),
        "on": on,
        "show": show,
        "patient": patient,
        "role": role if role in WORKLIST_ROLES else "",
    }


def page_links(page: int, pages: int) -> list[tuple[int, str, bool]]:
    """The page navigation as (page number, words, is the current page): previous, the pages
    (all up to 9, else the first, the last and two either side of the current one), next.

    >>> [w for _, w, _ in page_links(2, 3)]
    ['Previous page', 'Page 1', 'Page 2', 'Page 3', 'Next page']
    >>> [n for n, _, _ in page_links(10, 20)]
    [9, 1, 8, 9, 10, 11, 12, 20, 11]
    """
    if pages <= 1:
        return []
    if pages <= 9:
        numbers = list(range(1, pages + 1))
    else:
        numbers = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    links = [(page - 1, "Previous page", False)] if page > 1 else []
    links += [(n, f"Page {n}", n == page) for n in numbers]
    if page < pages:
        links.append((page + 1, "Next page", False))
    return links


#: The Today list's "for" filter: the roles that act on a course's next step.
WORKLIST_ROLES: Final = ("prescriber", "pharmacist", "nurse")


def worklist(
    database: Uow, rows: list[TodayRow], clinic: tzinfo = UTC, on: date | None = None
) -> list[TodayRow]:
    """The rows with the due dose's state, its booked time and what the course waits for
    (``services.workflow.waits_for``): one query for the states and one for the bookings of
    every listed course (the patient's name came with the row, from the Today list's one
    query). A booking is checked against the date the decision plans the due dose for."""
    import dataclasses

    from inoplan.services.appointments import booked_for
    from inoplan.services.workflow import day_states, waits_for

    ids = [r.course_id for r in rows]
    states = day_states(database, ids)
    planned: dict[int, dict[tuple[int, int], date]] = {}
    for row in rows:
        due = row.next_dose or {}
        if due.get("cycle") and due.get("scheduled"):
            when = due["scheduled"]
            planned[row.course_id] = {
                (int(due["cycle"]), int(due["day"])): when
                if isinstance(when, date)
                else date.fromisoformat(str(when))
            }
    bookings = booked_for(database, ids, planned, clinic, on)
    out = []
    for row in rows:
        due = row.next_dose or {}
        key = (int(due.get("cycle") or 0), int(due.get("day") or 0))
        day = states.get(row.course_id, {}).get(key)
        decision = {
            "status": row.status,
            "next_dose": row.next_dose,
            "reasons": [{"rule": rule} for rule in row.rules],
        }
        out.append(
            dataclasses.replace(
                row,
                day_state=day.state if day is not None else ("ordered" if due else ""),
                waits=waits_for(decision, day),
                appointment=bookings.get(row.course_id, {}).get(key) if due else None,
            )
        )
    return out


# -- course page -----------------------------------------------------------------------------


@dataclass(slots=True)
class CourseView:
    course_id: int
    version: int
    on: date
    document: CourseDocumentJson
    decision: ShownDecisionJson
    plan: PlanJson
    cycles: list[dict[str, Any]]
    charts: list[Any]
    alerts: list[tuple[str, list[dict[str, Any]]]]
    events: list[dict[str, Any]]
    audit: list[Any] | None
    forms: list[Any]
    prefill: dict[str, dict[str, str]] = field(default_factory=dict)
    correctable: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    label_revision: str = ""
    stale: bool = False
    #: ids of the entries this user may withdraw as entered in error
    voidable: frozenset[str] = frozenset()
    override_form: Any = None
    #: the decision is to discontinue and no prescriber has acknowledged it yet
    needs_acknowledgement: bool = False
    acknowledgement: Any = None
    critical: int = 0
    #: cycles x days with each dose's state and lab parameters (services.workflow.roadmap)
    roadmap: dict[str, Any] = field(default_factory=dict)
    #: the treatment-day step forms this role may submit, by step
    step_forms: dict[str, Any] = field(default_factory=dict)


def _timeline(plan: Mapping[str, Any]) -> list[dict[str, Any]]:
    cycles = []
    for cycle in plan.get("cycles", []):
        doses = [d for d in plan.get("doses", []) if d["cycle"] == cycle["cycle"]]
        cycles.append({**cycle, "doses": doses})
    return cycles


def _alerts_by_severity(decision: Mapping[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    alerts = decision.get("alerts") or []
    grouped = []
    for severity in SEVERITY_ORDER:
        chosen = [a for a in alerts if a.get("severity") == severity]
        if chosen:
            grouped.append((severity, chosen))
    other = [a for a in alerts if a.get("severity") not in SEVERITY_ORDER]
    if other:
        grouped.append(("other", other))
    return grouped


def prefill(
    forms: list[Any], on: date, decision: Mapping[str, Any], policy: Any = None
) -> dict[str, dict[str, str]]:
    """Suggested values for empty forms: the page's date; for an administration, the dose due;
    for laboratory results the site's units and reference ranges (site policy ``[labs]``).

    Only a suggestion the user sees and confirms; the dose given is whatever is submitted (a
    deviation from the calculated dose raises the engine's DOSE_DEVIATION alert).
    """
    values = {spec.event_type: {"date": on.isoformat()} for spec in forms}
    values["override"] = {"date": on.isoformat()}
    if "labs" in values:
        from inoplan.web.forms import lab_defaults

        values["labs"].update(lab_defaults(policy))
    due = decision.get("next_dose")
    suggested = (
        {"cycle": str(due["cycle"]), "day": str(due["day"])}
        | ({"dose_mg": f"{due['dose_mg']:g}"} if due.get("dose_mg") is not None else {})
        if due
        else {}
    )
    if "dose_change" in values and due:
        values["dose_change"].update({"cycle": str(due["cycle"]), "day": str(due["day"])})
    if "reschedule" in values and due:
        values["reschedule"].update(
            {"cycle": str(due["cycle"]), "day": str(due["day"]), "to": str(due["scheduled"])}
        )
    if "administration" in values and decision.get("status") == "give":
        values["administration"].update(suggested)
    values["override"].update(suggested)  # the prescriber sees and confirms every value
    return values


def _may_record(principal: Principal, event: Mapping[str, Any]) -> bool:
    from inoplan.services.guards import required_action

    try:
        return can(principal.role, required_action(event))
    except (CdsError, KeyError):
        return False


def _correctable(
    events: list[dict[str, Any]], principal: Principal
) -> dict[str, list[tuple[str, str]]]:
    """Entries that a correction may replace: those with an id, not already corrected or
    withdrawn, that this user's role may record (a correction needs the target's permission)."""
    from inoplan.web.filters import event_summary

    out: dict[str, list[tuple[str, str]]] = {}
    for event in events:
        if event.get("type") == "void" or not _may_record(principal, event):
            continue
        if event.get("id") and not event.get("_superseded"):
            text = f"{event['date']}: {event_summary(event)}"
            out.setdefault(str(event["type"]), []).append((str(event["id"]), text[:90]))
    return out


def _voidable(events: list[dict[str, Any]], principal: Principal) -> frozenset[str]:
    """Entries this user may withdraw as entered in error: an id, still counting, not itself a
    withdrawal, and a role that may record the entry (``event.void`` and the target's action)."""
    if not can(principal.role, "event.void"):
        return frozenset()
    return frozenset(
        str(e["id"])
        for e in events
        if e.get("id")
        and e.get("type") != "void"
        and not e.get("_superseded")
        and _may_withdraw(principal, e)
    )


def _may_withdraw(principal: Principal, event: Mapping[str, Any]) -> bool:
    """A recorded dose is withdrawn by a prescriber only (review H2/H3: ``dose.override``)."""
    from inoplan.services.guards import withdrawn_dose_facts

    if withdrawn_dose_facts({"type": "void"}, event):
        return can(principal.role, "dose.override")
    return _may_record(principal, event)


def allowed_forms(principal: Principal) -> list[Any]:
    """The event forms this role may submit (the API's permission matrix).

    No role is offered a plain administration form (review H2): a dose is recorded by the
    treatment-day workflow's give step; a dose given outside it is a prescriber's override,
    with its own form on the course page (:func:`override_form`).
    """
    from inoplan.web.forms import FORMS

    return [
        spec
        for kind, spec in FORMS.items()
        if kind != "administration" and can(principal.role, event_action(kind))
    ]


def override_form(principal: Principal) -> Any:
    """The "dose given outside the treatment-day workflow" form, for roles with
    ``dose.override``."""
    from inoplan.web.forms import OVERRIDE_FORM

    return OVERRIDE_FORM if can(principal.role, "dose.override") else None


def course_view(
    database: Uow,
    principal: Principal,
    course_id: int,
    on: date,
    *,
    policy: Any = None,
    clinic: tzinfo = UTC,
) -> CourseView:
    """Everything the course page shows, from the services (the decision is recorded as shown).
    ``clinic``: the clinic's time zone (booked times show on its clock)."""
    from inoplan.knowledge.loader import load_label
    from inoplan.services.courses import load_course, plan_course_as_of
    from inoplan.services.records import (
        acknowledgements,
        course_audit,
        course_document,
        is_acknowledged,
        show_decision,
    )
    from inoplan.web.plots import charts

    decision = show_decision(
        database, course_id, on, actor=principal.username, **_policy_kwargs(policy)
    )
    stored = course_document(database, course_id)
    version = stored["version"]
    document = document_of(stored)
    course = load_course(document)  # parsed once for the plan and the plots
    # the timeline is the engine's plan as of the page's date: the decision's schedule
    plan = plan_course_as_of(course, on, **_policy_kwargs(policy))
    label = load_label(course.label)
    given = [date.fromisoformat(d["given_on"]) for d in plan["doses"] if d["given_on"]]
    audit = None
    if can(principal.role, "audit.read"):  # the newest rows (one more tells if older ones exist)
        audit = course_audit(database, course_id, limit=AUDIT_ROWS + 1)
    events = sorted(
        ({**e, "_position": i} for i, e in enumerate(document.get("events", []))),
        key=lambda e: (str(e.get("date")), e["_position"]),
        reverse=True,
    )
    forms = allowed_forms(principal)
    # the one rule (a withdrawn correction puts the entry it corrected back in force)
    links = document_links(document.get("events", []))
    replaced = correction_targets(links)
    voided = {target for target, i in replaced.items() if links[i].type == "void"}
    superseded = set(replaced) - voided
    for event in events:
        event["_voided"] = event.get("id") in voided
        event["_superseded"] = event.get("id") in superseded or event["_voided"]
    acknowledgement = acknowledgements(database, [course_id]).get(course_id)
    stopping = str(decision.get("status")) in ACKNOWLEDGE
    return CourseView(
        course_id=course_id,
        version=int(decision.get("course_version", version)),
        on=on,
        document=document,
        decision=decision,
        plan=plan,
        cycles=_timeline(plan),
        charts=charts(course, label, today=on, given=given),
        alerts=_alerts_by_severity(decision),
        events=events,
        audit=audit,
        forms=forms,
        prefill=prefill(forms, on, decision, policy),
        correctable=_correctable(events, principal),
        label_revision=label.id,
        stale=int(decision.get("course_version", version)) != version,
        voidable=_voidable(events, principal),
        override_form=override_form(principal),
        needs_acknowledgement=stopping and not is_acknowledged(decision, acknowledgement),
        acknowledgement=acknowledgement if stopping else None,
        critical=sum(1 for a in decision.get("alerts") or [] if a.get("severity") == "critical"),
        roadmap=roadmap(
            database,
            course_id,
            on,
            clinic=clinic,
            decision=decision,
            plan=plan,
            document=document,
            policy=policy,
        ),
        step_forms=step_forms(principal),
    )


#: The step that moves a dose on from each state (services.workflow.STEPS).
NEXT_STEP: Final[Mapping[str, str]] = {
    "ordered": "release",
    "released": "verify",
    "verified": "prepare",
    "prepared": "give",
}
#: How each state reads on screen, with its icon (never colour alone).
STATE_TEXT: Final[Mapping[str, tuple[str, str]]] = {
    "ordered": ("○", "Ordered"),
    "released": ("◔", "Released"),
    "verified": ("◑", "Verified"),
    "prepared": ("◕", "Prepared"),
    "given": ("●", "Given"),
}
PARAMETER_TEXT: Final[Mapping[str, tuple[str, str]]] = {
    "met": ("✓", "met"),
    "not_met": ("✗", "not met"),
    "missing": ("?", "missing"),
    "not_a_criterion": ("–", "not a criterion today"),
}


def step_forms(principal: Principal) -> dict[str, Any]:
    """The treatment-day step forms this role may submit (the permission matrix)."""
    from inoplan.services.workflow import STEPS
    from inoplan.web.forms import STEP_FORMS

    return {
        name: spec for name, spec in STEP_FORMS.items() if can(principal.role, STEPS[name].action)
    }


def roadmap(
    database: Uow, course_id: int, on: date, *, clinic: tzinfo = UTC, **kwargs: Any
) -> dict[str, Any]:
    """The roadmap (``services.workflow.roadmap``) with each day's booked time
    (``services.appointments``; ``booking``, ``moved`` when the plan no longer gives the dose
    on the booked date)."""
    from inoplan.services.appointments import booked_for
    from inoplan.services.workflow import roadmap as build

    # the service's RoadmapJson, extended here with the bookings of each day
    result: dict[str, Any] = dict(build(database, course_id, on, **kwargs))
    planned: dict[tuple[int, int], date] = {}
    for cycle in result.get("cycles") or []:
        for day in cycle.get("days") or []:
            when = day.get("scheduled")
            if when and day.get("state") != "given" and not day.get("given_on"):
                planned[(int(day["cycle"]), int(day["day"]))] = (
                    when if isinstance(when, date) else date.fromisoformat(str(when))
                )
    bookings = booked_for(database, [course_id], {course_id: planned}, clinic, on).get(
        course_id, {}
    )
    for cycle in result.get("cycles") or []:
        for day in cycle.get("days") or []:
            key = (int(day["cycle"]), int(day["day"]))
            day["booking"] = bookings.get(key)
            day["bookable"] = key in planned and (planned[key] >= on or key[1] == 1)
            if key in planned:  # a late day 1 is booked from today on
                day["booking_date"] = max(planned[key], on).isoformat()
    return result


#: The course page's concentration plot shows the typical curve and a p5-p95 band from a small
#: seeded virtual population (reproducible; the band's size and seed are printed on the plot).
PLOT_POPULATION = 200
PLOT_SEED = 2019


def exposure_svg(database: Uow, course_id: int, *, policy: Any = None) -> str:
    """The PK engineer's concentration plot for the course (drawn on its own request).

    Raises ``LookupError`` with the reason when the exposure service cannot draw this course
    (no dose yet, covariates outside the model, or the service is not installed).
    """
    from inoplan.services.records import export_document

    try:
        from inoplan.services import exposure, exposure_plot
    except ImportError as exc:  # pragma: no cover - the service is optional
        raise LookupError("the exposure service is not installed") from exc
    document = export_document(database, course_id)
    try:
        result = exposure.exposure_json(
            document,
            population=PLOT_POPULATION,
            seed=PLOT_SEED,
            series=True,
            **_policy_kwargs(policy),
        )
        return str(exposure_plot.exposure_svg(result))
    except InvalidInput as exc:
        raise LookupError(str(exc)) from None


# -- worksheet and handout -----------------------------------------------------------------


#: Decision statuses for which the worksheet prints no preparation numbers, only why.
NO_PREPARATION: Final = ("hold", "discontinue", "complete")


def _why(decision: Mapping[str, Any]) -> str:
    """The reasons that decided the status, with their citations (one line)."""
    status = decision.get("status")
    deciding = [r for r in decision.get("reasons") or [] if r.get("verdict") == status]
    return "; ".join(f"{r.get('message', '')} ({r.get('citation', '')})" for r in deciding[:3])


def worksheet_view(
    database: Uow,
    principal: Principal,
    course_id: int,
    on: date,
    *,
    prepared_at: Any = None,
    policy: Any = None,
) -> dict[str, Any]:
    """The decision's next dose and its preparation (``dose_json`` for the same inputs).

    The dose in mg and the BSA that ``dose_json`` computes must equal the decision's; if they
    ever differ the worksheet is refused rather than printed with two different numbers.
    """
    from inoplan.services.courses import plan_document
    from inoplan.services.dosing import dose_json
    from inoplan.services.records import course_document, show_decision

    decision = show_decision(
        database, course_id, on, actor=principal.username, **_policy_kwargs(policy)
    )
    next_dose = decision.get("next_dose")
    status = str(decision.get("status"))
    if not next_dose:
        why = _why(decision)
        raise NoDoseToPrepare(
            f"no dose to prepare: the decision for {on.isoformat()} is "
            f"{STATUS_TEXT.get(status, status)}" + (f": {why}" if why else "")
        )
    document = document_of(course_document(database, course_id))
    plan = plan_document(document, on, **_policy_kwargs(policy))
    body = {
        k: plan.get(k)
        for k in ("height_cm", "weight_kg", "height_date", "weight_date", "bsa_m2", "bsa_formula")
    }
    base = {
        "course_id": course_id,
        "on": on,
        "patient": document["patient"],
        "plan": document["plan"],
        "decision": decision,
        "status_text": STATUS_TEXT.get(status, status),
        "next_dose": next_dose,
        "body": body,
        "label_revision": plan.get("label_revision"),
        "disclaimer": DISCLAIMER,
        # lot and expiry of the product: from the dose's preparation record (treatment-day
        # states); before it is prepared the worksheet prints labelled fields to fill in
        "product": _product(database, course_id, next_dose),
    }
    limited = next_dose.get("limited_from_mg_per_m2") is not None
    if status in NO_PREPARATION or limited:
        # a held or stopped dose (or one the cycle maximum does not allow): no numbers, why
        why = _why(decision) or next(
            (
                f"{r['message']} ({r['citation']})"
                for r in decision.get("reasons") or []
                if r.get("rule") == "limits.cycle-allowance"
            ),
            "",
        )
        return {**base, "preparation": None, "no_preparation_reason": why}
    if plan.get("height_cm") is None or plan.get("weight_kg") is None:
        raise InvalidInput("vitals", "no height and weight on record: record vitals first")
    label = str(document.get("label", "us"))
    preparation = dose_json(
        height_cm=plan["height_cm"],
        weight_kg=plan["weight_kg"],
        mg_per_m2=next_dose["dose_mg_per_m2"],
        vial=document.get("plan", {}).get("vial"),
        formula=str(plan.get("bsa_formula", "mosteller")),
        prepared_at=prepared_at,
        label=label,
        **_policy_kwargs(policy),
    )
    for key in ("dose_mg", "bsa_m2"):
        if next_dose.get(key) is not None and preparation[key] != next_dose[key]:
            raise InvalidInput(
                key,
                f"the preparation calculation ({preparation[key]}) differs from the decision "
                f"({next_dose[key]}); not printed - check the latest vitals",
            )
    return {**base, "preparation": preparation, "no_preparation_reason": None}


def _product(database: Uow, course_id: int, dose: Mapping[str, Any]) -> dict[str, Any] | None:
    """The preparation record of this dose (lot, expiry, who prepared and checked), if any."""
    from inoplan.services.workflow import day_states

    key = (int(dose.get("cycle") or 0), int(dose.get("day") or 0))
    day = day_states(database, [course_id])[course_id].get(key)
    prepared = (day.steps.get("prepared") if day is not None else None) or {}
    if not prepared:
        return None
    return {
        "lot": prepared.get("lot"),
        "expiry": prepared.get("expiry"),
        "prepared_at": prepared.get("prepared_at"),
        "prepared_by": prepared.get("by"),
        "checked_by": prepared.get("second_signer"),
    }


def handout_view(
    database: Uow, principal: Principal, course_id: int, on: date, *, policy: Any = None
) -> dict[str, Any]:
    """Appointments still to come, key dates and the patient's recorded medicines."""
    from inoplan.knowledge.loader import load_label
    from inoplan.services.courses import load_course, plan_document
    from inoplan.services.records import course_document, show_decision

    decision = show_decision(
        database, course_id, on, actor=principal.username, **_policy_kwargs(policy)
    )
    document = document_of(course_document(database, course_id))
    plan = plan_document(document, on, **_policy_kwargs(policy))  # as of the handout's date
    course = load_course(document)
    label = load_label(course.label)
    medicines: dict[str, str] = {}
    for event in document.get("events", []):
        if event.get("type") == "medication":
            medicines[str(event["name"]).lower()] = event["action"]
    # the engine's plan as of the date: a held dose says so, nothing after a stop
    appointments = [d for d in plan["doses"] if d["status"] in ("planned", "held")]
    return {
        "course_id": course_id,
        "on": on,
        "patient": document["patient"],
        "decision": decision,
        "appointments": appointments,
        "key_dates": decision.get("key_dates") or {},
        "medicines": sorted(name for name, action in medicines.items() if action == "start"),
        "observation_hours": label.threshold("observation_hours").number,
        "window_days": label.regimen.day_window_days,
        "infusion_minutes": label.regimen.infusion_minutes,
        "contraception_female_months": label.threshold("contraception_female_months").number,
        "contraception_male_months": label.threshold("contraception_male_months").number,
        "no_breastfeeding_months": label.threshold("no_breastfeeding_months").number,
        "vod_watch_days": label.threshold("vod_watch_days_after_last_dose").number,
        "weight_gain_percent": label.threshold("vod_weight_gain_percent").number,
        "label": label,
        "disclaimer": DISCLAIMER,
        "clinic": getattr(policy, "clinic", None),
    }
