"""Appointments: the clinic's booked time for a treatment day (the Today worklist's clock).

A dose's *date* is the engine's (the plan as of today: the label's calendar, the prescriber's
moves, a day 1 delayed for recovery); an appointment only adds the *time* the patient is booked
for on that date, so there is still one schedule. Booking is refused for a day that is not
planned any more (given, omitted, past the course's end) or on another date than the plan's
(to move a day, a prescriber records a ``reschedule`` with a reason first). When the plan moves
after a booking (a reschedule, a hold, a late day 1), the stored time no longer matches the
planned date: :func:`booked_for` reports it as ``moved`` and the worklist says so instead of
showing a stale time.

Each change is a compare-and-set on the booking's ``version`` written in one transaction with
its audit record in the course's chain (``appointment.book`` / ``appointment.cancel``), so any
number of workers agree and nothing is half-saved. Who may book: ``day.schedule``
(docs/permissions.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from typing import Any

from inoplan.errors import Conflict, Forbidden, InvalidInput, NotFound
from inoplan.services.common import to_json_value
from inoplan.services.ports import UowFactory

__all__ = [
    "Appointment",
    "Booked",
    "book",
    "booked_for",
    "booking_window",
    "cancel",
]

#: A note on a booking (chair, room) is short.
NOTE_MAX = 200


@dataclass(frozen=True, slots=True)
class Appointment:
    """One stored booking (``starts_at`` is aware, UTC as stored)."""

    course_id: int
    cycle: int
    day: int
    starts_at: datetime
    note: str | None
    version: int
    updated_at: datetime
    updated_by: str


@dataclass(frozen=True, slots=True)
class Booked:
    """A booking as the worklist shows it: the local time on the clinic's clock and whether
    it is still on the date the engine plans the dose for (``planned``: that date)."""

    cycle: int
    day: int
    starts_at: datetime  # on the clinic's clock
    note: str | None
    planned: date | None
    version: int
    #: the last date the booking may be on (``None``: open, a late day 1)
    latest: date | None = None

    @property
    def moved(self) -> bool:
        """The plan moved the dose to another date after it was booked."""
        if self.planned is None:
            return True
        booked = self.starts_at.date()
        return booked < self.planned or (self.latest is not None and booked > self.latest)

    @property
    def time(self) -> str:
        return f"{self.starts_at:%H:%M}"

    def as_json(self) -> dict[str, Any]:
        return {
            "cycle": self.cycle,
            "day": self.day,
            "starts_at": self.starts_at.isoformat(timespec="minutes"),
            "time": self.time,
            "note": self.note,
            "planned": None if self.planned is None else self.planned.isoformat(),
            "moved": self.moved,
            "version": self.version,
        }


def _check(role: str | None) -> None:
    from inoplan.services.auth import can

    if role is not None and not can(role, "day.schedule"):
        raise Forbidden(role, "day.schedule")


def _day(cycle: int, day: int) -> None:
    if not 1 <= cycle <= 6:
        raise InvalidInput("cycle", "a cycle number from 1 to 6")
    if day not in (1, 8, 15):
        raise InvalidInput("day", "a treatment day: 1, 8 or 15")


def booking_window(day: int, scheduled: date, today: date) -> tuple[date, date | None]:
    """The dates a dose may be booked on: its planned date; for a day 1 already late (planned
    before today), today: the engine starts a late cycle on the day its day 1 is given (US PI
    2.3: day 1 may be delayed for recovery, never brought forward). A later date is a further
    delay, which a prescriber records as a reschedule (with its reason, and the engine's
    Table 4 warnings for a long interruption) before the day is booked on it."""
    if day == 1 and scheduled < today:
        return today, today
    return scheduled, scheduled


def _planned_date(
    uow_factory: UowFactory, course_id: int, cycle: int, day: int, on: date, policy: Any
) -> date:
    """The date the engine plans (cycle, day) for, as of ``on`` (raises when it is not a dose
    still to give)."""
    from inoplan.services.courses import plan_document
    from inoplan.services.records import course_document

    stored = course_document(uow_factory, course_id)  # NotFound for an unknown course
    document = {k: v for k, v in stored.items() if k not in ("id", "version")}
    kwargs = {} if policy is None else {"policy": policy}
    plan = plan_document(document, on, **kwargs)
    dose = next(
        (d for d in plan["doses"] if (d["cycle"], d["day"]) == (cycle, day)),
        None,
    )
    what = f"cycle {cycle} day {day}"
    if dose is None or dose["status"] not in ("planned", "held"):
        state = "not in the plan" if dose is None else str(dose["status"])
        raise InvalidInput(
            "starts_at",
            f"{what} is {state} as of {on.isoformat()}: only a dose still to give is booked",
        )
    planned = dose["scheduled"]
    return planned if isinstance(planned, date) else date.fromisoformat(str(planned))


def _note(note: str | None) -> str | None:
    from inoplan.document.models import check_patient_id

    text = (note or "").strip()
    if len(text) > NOTE_MAX:
        raise InvalidInput("note", f"at most {NOTE_MAX} characters")
    if text:
        try:  # printable characters only, as for identifiers and names
            check_patient_id(text)
        except ValueError as exc:
            raise InvalidInput("note", f"one line of text: {exc}") from None
    return text or None


def book(
    uow_factory: UowFactory,
    course_id: int,
    cycle: int,
    day: int,
    starts_at: datetime,
    *,
    actor: str,
    role: str | None,
    now: datetime,
    note: str | None = None,
    expected_version: int | None = None,
    policy: Any = None,
) -> Booked:
    """Book (or re-book) ``cycle``/``day`` at ``starts_at`` (aware; the clinic's clock).

    Refused (``InvalidInput`` on ``starts_at``): a naive time, a day that is not a dose still to
    give, a date other than the plan's, a day already past. ``Conflict`` when someone else
    changed the booking meanwhile (``expected_version`` given and stale, or a race).
    """
    from inoplan.services.audit import append_audit

    _check(role)
    _day(cycle, day)
    if starts_at.tzinfo is None:
        raise InvalidInput("starts_at", "a time with its time zone (the clinic's clock)")
    from inoplan.document.plausibility import check_date

    check_date(starts_at.date(), "starts_at")  # 1900-2099: no overflow on the clinic's clock
    clinic: tzinfo = now.tzinfo or UTC
    local = starts_at.astimezone(clinic)
    today = now.astimezone(clinic).date()
    if local.date() < today:
        raise InvalidInput(
            "starts_at", f"{local:%Y-%m-%d} is before today ({today.isoformat()}): not booked"
        )
    scheduled = _planned_date(uow_factory, course_id, cycle, day, today, policy)
    earliest, latest = booking_window(day, scheduled, today)
    if local.date() < earliest or (latest is not None and local.date() > latest):
        where = (
            f"is planned on {scheduled.isoformat()}"
            if earliest == scheduled
            else f"is late (planned on {scheduled.isoformat()}): it is booked for today "
            f"({today.isoformat()})"
        )
        raise InvalidInput(
            "starts_at",
            f"cycle {cycle} day {day} {where}, not {local:%Y-%m-%d}: book a time on that "
            "date, or a prescriber moves the day first (a reschedule with its reason)",
        )
    text = _note(note)
    with uow_factory(write=True) as uow:
        row: Appointment | None = uow.appointments.get(course_id, cycle, day)
        current = 0 if row is None else row.version
        if expected_version is not None and expected_version != current:
            raise _changed(cycle, day)
        won = uow.appointments.put(
            course_id=course_id,
            cycle=cycle,
            day=day,
            expected_version=current,
            starts_at=local.astimezone(UTC),
            note=text,
            at=now.astimezone(UTC),
            by=actor,
        )
        if not won:
            raise _changed(cycle, day)
        append_audit(
            uow,
            actor=actor,
            action="appointment.book",
            entity="appointment",
            entity_id=f"{course_id}:{cycle}:{day}",
            course_id=course_id,
            before=None if row is None else _audited(row),
            after=to_json_value(
                {
                    "cycle": cycle,
                    "day": day,
                    "starts_at": local.astimezone(UTC).isoformat(timespec="minutes"),
                    "note": text,
                    "version": current + 1,
                }
            ),
            at=now.astimezone(UTC),
        )
        uow.commit()
    return Booked(cycle, day, local, text, earliest, current + 1, latest)


def _changed(cycle: int, day: int) -> Conflict:
    return Conflict(
        f"the booking of cycle {cycle} day {day} was changed by someone else meanwhile; "
        "nothing was saved: reload the page"
    )


def _audited(row: Appointment) -> dict[str, Any]:
    return {
        "starts_at": row.starts_at.astimezone(UTC).isoformat(timespec="minutes"),
        "note": row.note,
        "version": row.version,
    }


def cancel(
    uow_factory: UowFactory,
    course_id: int,
    cycle: int,
    day: int,
    *,
    actor: str,
    role: str | None,
    now: datetime,
) -> None:
    """Remove a booking (``NotFound`` when there is none); audited like a booking."""
    from inoplan.services.audit import append_audit

    _check(role)
    _day(cycle, day)
    with uow_factory(write=True) as uow:
        row: Appointment | None = uow.appointments.get(course_id, cycle, day)
        if row is None:
            raise NotFound(f"course {course_id} has no booking for cycle {cycle} day {day}")
        if not uow.appointments.delete(
            course_id=course_id, cycle=cycle, day=day, expected_version=row.version
        ):
            raise _changed(cycle, day)
        append_audit(
            uow,
            actor=actor,
            action="appointment.cancel",
            entity="appointment",
            entity_id=f"{course_id}:{cycle}:{day}",
            course_id=course_id,
            before=_audited(row),
            after=None,
            at=now.astimezone(UTC),
        )
        uow.commit()


def booked_for(
    uow_factory: UowFactory,
    course_ids: Sequence[int],
    planned: Mapping[int, Mapping[tuple[int, int], date]],
    clinic: tzinfo,
    today: date | None = None,
) -> dict[int, dict[tuple[int, int], Booked]]:
    """The bookings of these courses (one query), each with the date the plan now gives its
    dose (``planned``: course id -> (cycle, day) -> date, from the caller's decisions or
    plans; a day missing there is no longer planned, so its booking shows as moved).
    ``today`` (the clinic's date) opens the window of a late day 1 (:func:`booking_window`)."""
    out: dict[int, dict[tuple[int, int], Booked]] = {i: {} for i in course_ids}
    if not course_ids:
        return out
    with uow_factory() as uow:
        rows: list[Appointment] = uow.appointments.for_courses(list(course_ids))
    for row in rows:
        key = (row.cycle, row.day)
        scheduled = planned.get(row.course_id, {}).get(key)
        earliest: date | None = scheduled
        latest: date | None = scheduled
        if scheduled is not None and today is not None:
            earliest, latest = booking_window(row.day, scheduled, today)
        out.setdefault(row.course_id, {})[key] = Booked(
            row.cycle,
            row.day,
            row.starts_at.astimezone(clinic),
            row.note,
            earliest,
            row.version,
            latest,
        )
    return out
