"""Laboratory results that arrive by themselves (HL7 v2, FHIR) and the course events they make.

Pure: no I/O, no clock. The interop layer reads a message into an :class:`InboundMessage` (the
results with their units already in the course document's spelling, and every problem found);
the results service matches the patient and the course, then asks :func:`plan_events` which
events to append. Event ids are derived from the message, so a correction or a cancellation
finds the result it replaces without any lookup table:

- a result's chain starts at ``<channel>-<digest(sender, order, observation date, kind)>``;
- every later revision (final after preliminary, corrected, cancelled) is
  ``<base>-<digest(message control id, order)>`` and supersedes the chain's current head.

Sending the same message twice derives the same ids, so the second copy adds nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final

__all__ = [
    "ANALYTES",
    "LAB_ANALYTES",
    "PERCENT_ANALYTES",
    "VALUE_STATUSES",
    "VOID_STATUSES",
    "InboundMessage",
    "LabResult",
    "LocalCode",
    "PatientResults",
    "PlannedEvents",
    "Problem",
    "ResultsPolicy",
    "base_event_id",
    "flag_contradiction",
    "plan_events",
]

#: Course document lab analytes a result can fill (docs/course-document.md, ``labs`` events).
LAB_ANALYTES: Final = (
    "anc",
    "platelets",
    "wbc",
    "bilirubin",
    "ast",
    "alt",
    "peripheral_blasts",
    "potassium",
    "magnesium",
)
#: Percentages kept as plain numbers in a ``labs`` event.
PERCENT_ANALYTES: Final = ("peripheral_blasts_pct", "marrow_blasts_pct")
#: Everything a result may map to (``pregnancy_test`` makes a ``pregnancy_test`` event).
ANALYTES: Final = (*LAB_ANALYTES, *PERCENT_ANALYTES, "pregnancy_test")
#: Analytes whose decision rules need the upper limit of normal (a multiple of it).
NEEDS_ULN: Final = frozenset({"bilirubin", "ast", "alt"})

#: Result statuses (HL7 table 0085 words) that carry a value.
VALUE_STATUSES: Final = frozenset({"preliminary", "final", "corrected"})
#: Result statuses that withdraw an earlier result: X cannot be obtained/cancelled, D deleted,
#: W posted in error (wrong patient or test).
VOID_STATUSES: Final = frozenset({"cancelled", "deleted", "wrong"})

_STATUS_TEXT: Final = {
    "preliminary": "Preliminary laboratory result",
    "final": "Final laboratory result",
    "corrected": "Corrected laboratory result",
    "cancelled": "Result cancelled by the laboratory",
    "deleted": "Result deleted by the laboratory",
    "wrong": "Result withdrawn by the laboratory as sent in error (wrong patient or test)",
}
PRELIMINARY_MARK: Final = "(preliminary)"


@dataclass(frozen=True, slots=True)
class Problem:
    """Why a message cannot be applied as it is: a code, a sentence without patient data."""

    code: str
    message: str
    where: str = ""

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "where": self.where}


@dataclass(frozen=True, slots=True)
class LabResult:
    """One result, its unit already the course document's, its status as an HL7 0085 word."""

    analyte: str  # ANALYTES, or "*" for "the whole order" (an order cancelled without results)
    status: str  # VALUE_STATUSES | VOID_STATUSES
    observed: date
    order: str  # the laboratory's order number, unique per sender (filler, else placer)
    code: str  # the code as sent ("LN|1975-2", "99LAB|TBIL"), for display
    source: str  # where in the message ("OBX[4]", "Observation/abc")
    value: Decimal | None = None
    unit: str | None = None
    uln: Decimal | None = None
    lln: Decimal | None = None
    flag: str = ""  # abnormal flag as sent (H, L, N, HH, LL, A...)
    result: str | None = None  # pregnancy_test: "positive" | "negative"

    @property
    def kind(self) -> str:
        return "pregnancy_test" if self.analyte == "pregnancy_test" else "labs"

    def to_json(self) -> dict[str, Any]:
        return {
            "analyte": self.analyte,
            "status": self.status,
            "observed": self.observed.isoformat(),
            "order": self.order,
            "code": self.code,
            "source": self.source,
            "value": None if self.value is None else str(self.value),
            "unit": self.unit,
            "uln": None if self.uln is None else str(self.uln),
            "lln": None if self.lln is None else str(self.lln),
            "flag": self.flag,
            "result": self.result,
        }

    def document_value(self) -> Any:
        """The value as a ``labs`` event holds it (a LabValue mapping, or a bare percentage)."""
        assert self.value is not None
        if self.analyte in PERCENT_ANALYTES:
            return _number(self.value)
        out: dict[str, Any] = {"value": _number(self.value), "unit": self.unit}
        if self.uln is not None:
            out["uln"] = _number(self.uln)
        if self.lln is not None:
            out["lln"] = _number(self.lln)
        return out


@dataclass(frozen=True, slots=True)
class PatientResults:
    """The results of one patient in a message, with what identifies the patient."""

    identifiers: tuple[str, ...]  # medical record numbers (PID-3 as the site policy selects)
    birth_date: date | None = None
    sex: str | None = None  # "female" | "male" | None when not sent or not F/M
    results: tuple[LabResult, ...] = ()
    ignored: tuple[str, ...] = ()  # codes received but not used by inoplan (display only)

    def to_json(self) -> dict[str, Any]:
        return {
            "identifiers": list(self.identifiers),
            "birth_date": None if self.birth_date is None else self.birth_date.isoformat(),
            "sex": self.sex,
            "results": [r.to_json() for r in self.results],
            "ignored": list(self.ignored),
        }


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A message read off the wire: who sent it, its id, its results and its problems."""

    channel: str  # "hl7" | "fhir"
    sender: str  # HL7: MSH-4 sending facility; FHIR: the server's base URL
    control_id: str  # HL7: MSH-10; FHIR: Observation/<id>/_history/<version>
    raw: str  # the message as received (stored for review; never logged)
    content_sha256: str
    kind: str = ""  # "ORU^R01", "Observation"
    version: str = ""  # "2.5.1", "R4"
    sender_application: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    patients: tuple[PatientResults, ...] = ()
    problems: tuple[Problem, ...] = ()
    #: refused outright (not a results message, unsupported version, unreadable header): AR
    rejected: bool = False

    @property
    def results(self) -> tuple[LabResult, ...]:
        return tuple(r for p in self.patients for r in p.results)


@dataclass(frozen=True, slots=True)
class LocalCode:
    """A site's own laboratory code (site policy ``[[results.local_code]]``)."""

    system: str  # the coding system as sent (HL7 OBX-3.3, FHIR Coding.system)
    code: str
    analyte: str  # ANALYTES, or "ignore" for a code the site knows inoplan does not use


@dataclass(frozen=True, slots=True)
class ResultsPolicy:
    """How a site's result feed is read (site policy ``[results]``)."""

    local_codes: tuple[LocalCode, ...] = ()
    #: PID-3 identifier type codes (CX.5) that name the medical record number
    identifier_types: tuple[str, ...] = ("MR",)
    #: when set, only identifiers assigned by this authority (CX.4) are used
    assigning_authority: str | None = None
    #: HL7 MSH-11 processing ids accepted (P = production; T and D messages are refused)
    processing_ids: tuple[str, ...] = ("P",)
    #: FHIR: the identifier system of the medical record number (``fhir pull``)
    identifier_system: str | None = None

    def local_analyte(self, system: str, code: str) -> str | None:
        for entry in self.local_codes:
            if entry.code == code and entry.system.casefold() == system.casefold():
                return entry.analyte
        return None


HIGH_FLAGS: Final = frozenset({"H", "HH", ">", "HU"})
LOW_FLAGS: Final = frozenset({"L", "LL", "<", "LU"})


def flag_contradiction(
    flag: str, value: Decimal, low: Decimal | None, high: Decimal | None
) -> str | None:
    """Why an abnormal flag (HL7 OBX-8, FHIR interpretation) contradicts the range, or None.

    >>> flag_contradiction("H", Decimal("0.9"), Decimal("0.3"), Decimal("1.2"))
    'the result is flagged high (H) but it is below the upper limit 1.2'
    """
    if flag in HIGH_FLAGS and high is not None and value < high:
        return f"the result is flagged high ({flag}) but it is below the upper limit {high}"
    if flag in LOW_FLAGS and low is not None and value > low:
        return f"the result is flagged low ({flag}) but it is above the lower limit {low}"
    if flag == "N" and ((high is not None and value > high) or (low is not None and value < low)):
        return "the result is flagged normal (N) but it is outside the reference range"
    return None


# -- the events a set of results makes ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlannedEvents:
    """What to append to one course, and what was noticed doing it."""

    events: tuple[dict[str, Any], ...] = ()
    notes: tuple[str, ...] = ()
    problems: tuple[Problem, ...] = ()
    already_applied: tuple[str, ...] = ()  # event ids already in the course (a resend)


def _digest(*parts: str, length: int) -> str:
    import base64  # lazy: hashlib loads OpenSSL (start-up time of the CLI)
    import hashlib

    text = "\x1f".join(parts).encode("utf-8")
    return base64.b32encode(hashlib.sha256(text).digest()).decode("ascii").lower()[:length]


def base_event_id(channel: str, sender: str, order: str, observed: date, kind: str) -> str:
    """The id of the first event of a result chain (deterministic; at most 64 characters).

    >>> base_event_id("hl7", "LAB", "F:123", date(2027, 3, 1), "labs")
    'hl7-nvk6cnmwgfuuxub5'
    """
    return f"{channel}-{_digest(sender, order, observed.isoformat(), kind, length=16)}"


def _revision_id(base: str, control_id: str, order: str) -> str:
    return f"{base}-{_digest(control_id, order, length=8)}"


def _number(value: Decimal) -> int | float:
    rounded = value.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP).normalize()
    if rounded == rounded.to_integral_value():
        return int(rounded)
    return float(rounded)


_LAB_KEYS: Final = frozenset((*LAB_ANALYTES, *PERCENT_ANALYTES))


def _head(events: Sequence[Mapping[str, Any]], base: str) -> Mapping[str, Any] | None:
    """The chain's current event: the base event, followed along ``supersedes``."""
    by_id = {str(e["id"]): e for e in events if e.get("id")}
    if base not in by_id:
        return None
    successor = {str(e["supersedes"]): e for e in events if e.get("supersedes")}
    current = by_id[base]
    seen = {base}
    while str(current.get("id")) in successor:
        current = successor[str(current["id"])]
        if str(current.get("id")) in seen:  # pragma: no cover - a cycle cannot validate
            break
        seen.add(str(current.get("id")))
    return current


def _made_by(events: Sequence[Mapping[str, Any]], base: str, control_id: str) -> bool:
    """Whether the chain's first event was recorded from the message ``control_id``."""
    marker = f"message {control_id[:100]}, order "
    return any(e.get("id") == base and marker in str(e.get("reason") or "") for e in events)


def _reason(status: str, *, sender: str, channel: str, control_id: str, order: str) -> str:
    via = "HL7 v2 ORU^R01" if channel == "hl7" else "FHIR"
    text = (
        f"{_STATUS_TEXT[status]} ({sender[:100]}, {via}, message {control_id[:100]}, "
        f"order {order[:100]})"
    )
    if status == "preliminary":
        text += " " + PRELIMINARY_MARK
    return text[:500]


def plan_events(
    events: Sequence[Mapping[str, Any]],
    results: Sequence[LabResult],
    *,
    channel: str,
    sender: str,
    control_id: str,
) -> PlannedEvents:
    """The events that record ``results`` in a course whose events are ``events``.

    One event per laboratory order, observation date and kind (``labs`` or
    ``pregnancy_test``). A later message about the same order merges into the chain's current
    event: values it carries replace those of the same analyte, values it cancels are removed,
    the rest are kept; the new event supersedes the old one with a reason. When nothing is left
    the chain is closed by a ``void`` event. A correction or a cancellation of a result that is
    not on record is a problem (never applied as if it were new), except a cancellation with
    nothing to cancel, which is only noted.
    """
    groups: dict[tuple[str, date, str], list[LabResult]] = {}
    for r in results:
        groups.setdefault((r.order, r.observed, r.kind), []).append(r)
    existing = {str(e["id"]) for e in events if e.get("id")}
    out: list[dict[str, Any]] = []
    notes: list[str] = []
    problems: list[Problem] = []
    done: list[str] = []
    for (order, observed, kind), group in groups.items():
        base = base_event_id(channel, sender, order, observed, kind)
        head = _head(events, base)
        revision = _revision_id(base, control_id, order)
        new_id = base if head is None else revision
        if revision in existing or _made_by(events, base, control_id):
            done.append(revision if revision in existing else base)
            continue  # this message was applied before (a resend): nothing again
        statuses = {r.status for r in group}
        status = _group_status(statuses)
        where = ", ".join(r.source for r in group)
        if head is not None and head.get("type") == "void":
            problems.append(
                Problem(
                    "order_cancelled",
                    f"order {order} of {observed.isoformat()} was cancelled earlier; a new "
                    "result for it is not applied automatically",
                    where,
                )
            )
            continue
        if head is None and statuses & {"corrected"}:
            problems.append(
                Problem(
                    "correction_target_missing",
                    f"a corrected result for order {order} of {observed.isoformat()} arrived, "
                    "but the result it corrects is not on record",
                    where,
                )
            )
            continue
        head_prelim = head is not None and PRELIMINARY_MARK in str(head.get("reason") or "")
        only_preliminary = status == "preliminary" and not statuses & {"corrected", "final"}
        if head is not None and not head_prelim and only_preliminary:
            notes.append(
                f"{where}: a preliminary result after the final one for order {order} "
                "is not applied"
            )
            continue
        reason = _reason(status, sender=sender, channel=channel, control_id=control_id, order=order)
        if kind == "labs":
            values = {k: v for k, v in (head or {}).items() if k in _LAB_KEYS}
            before = dict(values)
            for r in group:
                if r.status in VOID_STATUSES:
                    if r.analyte == "*":
                        values.clear()
                    else:
                        values.pop(r.analyte, None)
                else:
                    values[r.analyte] = r.document_value()
            if head is None and not values:
                notes.append(f"{where}: nothing on record to cancel for order {order}")
                continue
            if head is not None and values == before and (status == "preliminary") == head_prelim:
                done.append(str(head.get("id")))
                notes.append(f"{where}: the same result is already recorded")
                continue
            if not values:
                assert head is not None
                out.append(_void(new_id, head, reason))
                continue
            event: dict[str, Any] = {"id": new_id, "date": observed.isoformat(), "type": "labs"}
            event.update(values)
        else:
            [latest] = group[-1:]
            if latest.status in VOID_STATUSES:
                if head is None:
                    notes.append(f"{where}: nothing on record to cancel for order {order}")
                    continue
                out.append(_void(new_id, head, reason))
                continue
            same = head is not None and head.get("result") == latest.result
            if same and (latest.status == "preliminary") == head_prelim:
                done.append(str(head.get("id")) if head else new_id)
                notes.append(f"{where}: the same result is already recorded")
                continue
            event = {
                "id": new_id,
                "date": observed.isoformat(),
                "type": "pregnancy_test",
                "result": latest.result,
            }
        event["reason"] = reason
        if head is not None:
            event["supersedes"] = str(head["id"])
        out.append(event)
    return PlannedEvents(
        events=tuple(out), notes=tuple(notes), problems=tuple(problems), already_applied=tuple(done)
    )


def _group_status(statuses: set[str]) -> str:
    """One word for the reason: a withdrawal when everything is withdrawn, else the value's."""
    if statuses <= VOID_STATUSES:
        return next(s for s in ("wrong", "deleted", "cancelled") if s in statuses)
    for status in ("corrected", "preliminary"):
        if status in statuses:
            return status
    return "final"


def _void(new_id: str, head: Mapping[str, Any], reason: str) -> dict[str, Any]:
    return {
        "id": new_id,
        "date": str(head["date"]),
        "type": "void",
        "supersedes": str(head["id"]),
        "reason": reason,
    }
