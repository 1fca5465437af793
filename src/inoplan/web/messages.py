"""Plain words for everything a clinician reads on the web pages: one translation table.

The services name fields by their JSON path (``events[8].bilirubin.uln``, ``event.dose_mg``),
units in UCUM (``10*9/L``), dosing schedules by id (``later-after-cr``), permissions by action
(``event.toxicity``) and entries by their id (``labs-3f2a9c1d``). Those are right for the API
and the logs, and wrong on a screen. This module is the one place that turns them into words:

- :func:`field_label`: a field path -> "Total bilirubin upper limit of normal (laboratory
  results of Tue 01 Dec 2026)";
- :func:`plain`: a service message -> the same message in words (field paths, units, schedule
  ids, entry ids, permission ids, pydantic's phrases rewritten; nothing else changed);
- :func:`unit_text`, :func:`schedule_text`, :func:`alert_title`, :func:`event_words`,
  :func:`describe_event`, :func:`inputs_text`: the pieces the templates show.

The tests (``tests/web/test_messages.py``) hold the table complete: every field of the course
document models, every alert code and dosing schedule of every label file, every permission,
every unit the unit tables accept, and every message the forms can get back from the services.
Pure (no I/O except reading the shipped label files through the knowledge loader).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any, Final

__all__ = [
    "ACTION_WORDS",
    "ALERT_TITLES",
    "AUDIT_WORDS",
    "DOSE_STATUS_WORDS",
    "EVENT_WORDS",
    "FIELD_WORDS",
    "HL7_FIELD_WORDS",
    "HL7_SEGMENT_WORDS",
    "INPUT_WORDS",
    "alert_title",
    "audit_words",
    "describe_event",
    "error_items",
    "event_words",
    "field_label",
    "hl7_place",
    "inputs_text",
    "plain",
    "schedule_text",
    "unit_text",
]

#: HL7 v2 segments and fields the result feed names in its problems (for the sender's ERR
#: segments), as the "Results to review" page says them to a clinician.
HL7_SEGMENT_WORDS: Final[Mapping[str, str]] = {
    "MSH": "message header",
    "PID": "patient",
    "PV1": "visit",
    "ORC": "order",
    "OBR": "order",
    "OBX": "result",
    "NTE": "note",
}
HL7_FIELD_WORDS: Final[Mapping[str, str]] = {
    "MSH-1": "field separator",
    "MSH-2": "separator characters",
    "MSH-4": "sending laboratory",
    "MSH-9": "message type",
    "MSH-10": "message number",
    "MSH-11": "processing mode",
    "MSH-12": "HL7 version",
    "MSH-18": "character set",
    "PID-3": "medical record number",
    "PID-5": "patient name",
    "PID-7": "birth date",
    "PID-8": "sex",
    "OBR-2": "order number (ward)",
    "OBR-3": "order number (laboratory)",
    "OBR-4": "test ordered",
    "OBR-7": "sample time",
    "OBR-25": "order status",
    "OBX-2": "value type",
    "OBX-3": "test code",
    "OBX-5": "value",
    "OBX-6": "unit",
    "OBX-7": "reference range",
    "OBX-8": "abnormal flag",
    "OBX-11": "result status",
    "OBX-14": "time of the observation",
}
#: the feed's own phrases where the field's name is followed by its wire name
_HL7_PHRASES: Final = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"\bMSH-1 field separator\b", "the field separator"),
        (r"\bMSH-2 encoding characters\b", "the separator characters"),
        (r"\bMSH-10 message control id\b", "the message number"),
        (r"\bcontrol id \(MSH-10\)", "message number"),
        (r"\bMSH-11 processing id\b", "the processing mode"),
        (r"\bMSH-12 version\b", "the HL7 version"),
        (r"\bMSH-18 character set\b", "the character set"),
        (r"\bPID-3 names no\b", "the patient's identifiers hold no"),
        (r"\bPID-7 birth date\b", "the birth date"),
        (r"\s*\(PID-7/PID-8\)", ""),
        (
            r"neither a filler \(OBR-3\) nor a placer \(OBR-2\) order number",
            "neither the laboratory's nor the ward's order number",
        ),
        (r"\bOBX-3 codes\b", "the test codes"),
        (r"\bOBX-11 result status\b", "the result status"),
        (r"\bOBX-7 reference range\b", "the reference range"),
        (r"\bOBX-2 value type\b", "the value type"),
        (r"\b(MSH|PID|OBR|OBX)-(?=\d+ (?:is|repeats|as)\b)", r"the \1-"),
        (r"\bno PID segment\b", "no patient section"),
    )
)
_HL7_SEGMENTS = "|".join(HL7_SEGMENT_WORDS)
_HL7_FIELD: Final = re.compile(rf"\b({_HL7_SEGMENTS})-(\d+)\b")
_HL7_PLACE: Final = re.compile(rf"^({_HL7_SEGMENTS})\[(\d+)\](?:\.(\d+))?$")
_HL7_SEGMENT: Final = re.compile(rf"\b({_HL7_SEGMENTS})\b(?![-\[])")


def _hl7_field(segment: str, number: str) -> str:
    return HL7_FIELD_WORDS.get(
        f"{segment}-{number}", f"{HL7_SEGMENT_WORDS[segment]} field {number}"
    )


def hl7_place(where: object) -> str:
    """Where in an HL7 message a problem is, in words.

    >>> hl7_place("OBX[2].7"), hl7_place("PID-3"), hl7_place("MSH"), hl7_place("OBR[1]")
    ('result 2, reference range', 'medical record number', 'message header', 'order 1')
    """
    text = str(where or "")
    match = _HL7_PLACE.match(text)
    if match:
        segment, count, number = match.groups()
        place = f"{HL7_SEGMENT_WORDS[segment]} {count}"
        return f"{place}, {_hl7_field(segment, number)}" if number else place
    return plain(text)


#: Each kind of entry, as the pages name it.
EVENT_WORDS: Final[Mapping[str, str]] = {
    "vitals": "vitals",
    "labs": "laboratory results",
    "administration": "dose given",
    "toxicity": "toxicity",
    "response": "response assessment",
    "medication": "other medicine",
    "ecg": "ECG",
    "pregnancy_test": "pregnancy test",
    "hsct": "transplant",
    "discontinuation": "discontinuation",
    "plan_change": "plan change",
    "reschedule": "moved treatment day",
    "dose_change": "dose change",
    "void": "withdrawal of an entry made in error",
    "acknowledgement": "acknowledgement of the decision to discontinue",
}

#: Lab analytes (the course document's names) in words.
ANALYTE_WORDS: Final[Mapping[str, str]] = {
    "anc": "ANC (neutrophils)",
    "platelets": "platelets",
    "bilirubin": "total bilirubin",
    "ast": "AST",
    "alt": "ALT",
    "peripheral_blasts": "peripheral blasts",
    "wbc": "white cells (WBC)",
    "potassium": "potassium",
    "magnesium": "magnesium",
}

#: Every field name of the course document (docs/course-document.md) in words. Names that mean
#: different things in different places are keyed ``"<place>.<name>"`` (see ``_word``).
FIELD_WORDS: Final[Mapping[str, str]] = {
    # the document
    "document": "the course record",
    "label": "label (US or EU)",
    "patient": "patient",
    "plan": "plan",
    "events": "entries",
    "event": "this entry",
    # patient
    "patient.id": "record number (MRN)",
    "patient.name": "patient's name",
    "birth_date": "birth date",
    "sex": "sex",
    "reproductive_potential": "can become pregnant or father a child",
    "breastfeeding": "breastfeeding",
    "allergies": "allergies",
    "history": "history",
    "liver_disease": "liver disease",
    "prior_vod": "earlier VOD",
    "prior_hsct": "earlier stem cell transplant",
    "gilbert_syndrome": "Gilbert's syndrome",
    "salvage_line": "salvage treatment line",
    # plan
    "start_date": "start date (cycle 1 day 1)",
    "hsct_intended": "transplant intended",
    "cycle1_days": "length of cycle 1",
    "vial": "vial",
    "bsa_formula": "BSA formula",
    # every entry
    "date": "date",
    "id": "entry number",
    "supersedes": "entry it corrects",
    "reason": "reason",
    "type": "kind of entry",
    # vitals
    "height_cm": "height",
    "weight_kg": "weight",
    "hepatomegaly": "hepatomegaly",
    "ascites": "ascites",
    # labs
    **ANALYTE_WORDS,
    "value": "value",
    "unit": "unit",
    "uln": "upper limit of normal",
    "lln": "lower limit of normal",
    "transfused": "taken under platelet transfusion",
    "peripheral_blasts_pct": "peripheral blasts (%)",
    "marrow_blasts_pct": "marrow blasts (%)",
    # administration
    "cycle": "cycle",
    "day": "day",
    "dose_mg": "dose",
    "time": "infusion start",
    "duration_min": "infusion duration",
    "override_reason": "reason for the override",
    # toxicity
    "term": "CTCAE term",
    "grade": "CTCAE grade",
    "related": "related to inotuzumab ozogamicin",
    # response
    "status": "response",
    "mrd_negative": "MRD negative",
    "disease_stable_or_improved": "disease stable or improved",
    "cytopenia_due_to_disease": "cytopenia due to disease",
    # medication, pregnancy test, ECG, transplant
    "name": "medicine",
    "action": "started or stopped",
    "result": "result",
    "qtcf_ms": "QTcF",
    "conditioning": "conditioning agents",
    "planned": "planned",
    # moved treatment day
    "to": "new date",
    "dose_mg_per_m2": "dose (mg/m²)",
    # web-only fields
    "correction_reason": "reason for the correction",
    "version": "course version",
    "on": "date",
    "prepared_at": "reconstitution time",
    "vitals": "vitals",
    # treatment-day steps (web.forms.STEP_FORMS)
    "lot": "vial lot number",
    "expiry": "vial expiry date",
    "second_signer": "second signer",
    "second_signer_password": "second signer's password",
    "started_at": "start of the infusion",
    "ended_at": "end of the infusion",
    "observation_end": "end of the observation",
    "premedication": "premedication",
    "premedication_reason": "why premedication was not given in full",
    "premedication_corticosteroid": "premedication: corticosteroid",
    "premedication_antipyretic": "premedication: antipyretic",
    "premedication_antihistamine": "premedication: antihistamine",
    "observation_min": "observed after the infusion",
    "observation_reason": "why the observation was shorter",
    "reactions": "reactions",
    "note": "note",
}

#: Permission actions (``services.auth.PERMISSIONS``) as what the person tried to do.
ACTION_WORDS: Final[Mapping[str, str]] = {
    "course.read": "read courses",
    "course.create": "start a course",
    "course.acknowledge": "acknowledge a decision to discontinue",
    "decision.confirm": "confirm a decision",
    "dose.override": "record a dose given against the decision",
    "dose.verify": "verify a dose",
    "dose.release": "release a dose",
    "dose.prepare": "record a preparation",
    "dose.give": "record an administration",
    "dose.cosign_prepare": "sign a preparation as the second checker",
    "dose.cosign_give": "sign an administration as the second checker",
    "dose.withdraw": "return a dose to ordered",
    "day.schedule": "book a treatment day's time",
    "audit.read": "read the audit trail",
    "audit.verify": "check the audit trail",
    "user.manage": "manage users",
    "event.void": "withdraw an entry made in error",
    **{f"event.{kind}": f"record {words}" for kind, words in EVENT_WORDS.items()},
}

#: Audit trail actions (``services.audit``) as what happened.
AUDIT_WORDS: Final[Mapping[str, str]] = {
    "appointment.book": "treatment day booked",
    "appointment.cancel": "booking cancelled",
    "audit.anchor": "audit chains anchored",
    "auth.login": "logged in",
    "auth.login_failed": "failed login",
    "auth.logout": "logged out",
    "cds.feedback": "feedback from the EHR",
    "course.create": "course started",
    "course.acknowledge": "decision to discontinue acknowledged",
    "decision.confirm": "decision confirmed",
    "decision.show": "decision shown",
    "dose.verify": "dose verified",
    "dose.release": "dose released",
    "dose.prepare": "preparation signed (with a second signer)",
    "dose.give": "administration signed (with a second signer)",
    "dose.withdraw": "dose returned to ordered",
    "auth.second_signer_failed": "second signer's password refused",
    "result.duplicate": "laboratory message received twice",
    "user.add": "user added",
    "user.password": "password changed",
    "user.unlock": "user unlocked",
    **{f"event.{kind}": f"{words} recorded" for kind, words in EVENT_WORDS.items()},
}


def audit_words(action: object) -> str:
    """An audit action in words (``event.labs`` -> ``laboratory results recorded``)."""
    text = str(action)
    if text in AUDIT_WORDS:
        return AUDIT_WORDS[text]
    if text.startswith("result."):
        return f"laboratory message {text.removeprefix('result.').replace('_', ' ')}"
    return text.replace(".", " ").replace("_", " ")


#: The statuses of a dose in the plan (docs/cli.md) in words.
DOSE_STATUS_WORDS: Final[Mapping[str, str]] = {
    "given": "given",
    "planned": "planned",
    "held": "on hold",
    "omitted": "omitted (will not be given)",
}

#: Alert codes of the label files and the engine, as a short title beside the alert's message.
ALERT_TITLES: Final[Mapping[str, str]] = {
    "AGE": "Age outside the label's population",
    "ALLERGY": "Allergy to the drug or an ingredient",
    "ALLERGY_CROSS_REACTIVITY": "Possible cross-reacting allergy",
    "ALLERGY_UNCLEAR": "Allergy not clearly identified",
    "CD22_TEST": "CD22 test",
    "CONSIDER_DISCONTINUATION": "Consider stopping treatment",
    "CONTRACEPTION": "Contraception",
    "CONTRADICTORY_DATA": "Contradictory data",
    "CONTRAINDICATION": "Contraindication",
    "CYCLE_TOTAL_ABOVE_MAX": "Cycle total above the maximum",
    "CYTOREDUCTION": "Cytoreduction first",
    "DECISION_ROW_TAMPERED": "Stored decision altered outside inoplan (recomputed)",
    "DELAY_OVER_LIMIT": "Planned delay too long",
    "DISCONTINUED": "Treatment stopped",
    "DOSE_ABOVE_MAX": "Dose above the maximum",
    "DOSE_AFTER_STOP": "Dose recorded after the stop",
    "DOSE_CORRECTED": "Recorded dose corrected",
    "DOSE_DEVIATION": "Dose differs from the calculated dose",
    "DOSE_INTERVAL_SHORT": "Doses too close together",
    "DOSE_LIMIT_HOLD": "Dose held at the cycle maximum",
    "DOSE_OVERRIDE": "Dose given against the decision",
    "DOSE_WITHDRAWN": "Recorded dose withdrawn",
    "ELECTROLYTES": "Electrolytes",
    "HSCT_BILIRUBIN": "Bilirubin before transplant",
    "HSCT_CONDITIONING": "Transplant conditioning",
    "LACTATION": "Breastfeeding",
    "MAX_CYCLES": "Maximum number of cycles",
    "MEDICATION_STOP_UNMATCHED": "Stopped medicine not recognised",
    "MISSING_DATA": "Data missing",
    "NO_RESPONSE": "No response",
    "OBSERVATION": "Observation after the infusion",
    "OBSERVATION_SHORT": "Observation after the infusion cut short",
    "PREGNANCY_TEST": "Pregnancy test",
    "PREMEDICATION": "Premedication",
    "PREMEDICATION_NOT_GIVEN": "Premedication not given in full",
    "QT_DRUG": "Medicine that prolongs the QT interval",
    "QT_ECG": "ECG for the QT interval",
    "QT_PROLONGED": "QT interval prolonged",
    "SEVERE_LIVER_TOXICITY": "Severe liver toxicity",
    "STALE_LABS": "Laboratory results too old",
    "STALE_WEIGHT": "Weight too old",
    "TERM_NOT_CODED": "Toxicity term not recognised",
    "THIRD_CYCLE_OPTION": "Third cycle option",
    "TUMOUR_BURDEN": "Tumour burden",
    "VOD_CONFIRMED": "VOD confirmed",
    "VOD_RISK": "Risk of VOD",
    "VOD_SUSPECTED": "VOD suspected",
    "WORKFLOW_DOSE_MISSING": "Given in the workflow, dose no longer recorded",
}

#: Keys of a decision's ``inputs`` (what a rule used) in words; units are said with the value.
INPUT_WORDS: Final[Mapping[str, str]] = {
    **{k: v for k, v in FIELD_WORDS.items() if "." not in k},
    "age_years": "age (years)",
    "as_of": "as of",
    "ast_alt_limit_x_uln": "AST/ALT limit (× ULN)",
    "baseline": "baseline",
    "baseline_anc": "baseline ANC (× 10⁹/L)",
    "baseline_dates": "baseline dates",
    "baseline_platelets": "baseline platelets (× 10⁹/L)",
    "bilirubin_limit_x_uln": "bilirubin limit (× ULN)",
    "bilirubin_mg_per_dl": "total bilirubin (mg/dL)",
    "bsa_m2": "BSA (m²)",
    "category": "category",
    "code": "code",
    "coded_as": "coded as",
    "conditions": "conditions",
    "counted_under": "counted under",
    "criteria": "criteria",
    "criteria_met": "criteria met",
    "cycle_cap": "maximum number of cycles",
    "cycles": "cycles",
    "days": "days",
    "days_apart": "days apart",
    "days_late": "days late",
    "days_low": "days low",
    "days_since_last_dose": "days since the last dose",
    "deviation_percent": "deviation (%)",
    "did_you_mean": "did you mean",
    "discontinue_grade": "grade that stops treatment",
    "dose_mg_per_m2": "dose (mg/m²)",
    "doses": "doses",
    "earliest": "earliest",
    "expected_mg": "calculated dose (mg)",
    "factor": "factor",
    "first": "first",
    "first_dose_on": "first dose on",
    "first_low": "first low value",
    "from_cycle": "from cycle",
    "given_on": "given on",
    "graded_against": "graded against",
    "hemolysis": "hemolysis",
    "hsct_date": "transplant date",
    "in_remission": "in remission (CR/CRi)",
    "ingredient": "ingredient",
    "interruption_days": "interruption (days)",
    "interruption_end": "interruption ended",
    "interruption_start": "interruption started",
    "judgement": "clinician's judgement",
    "lab_max_age_days": "oldest accepted laboratory result (days)",
    "label_section": "label section",
    "last_dose_on": "last dose on",
    "latest": "latest",
    "latest_low": "latest low value",
    "latest_response": "latest response",
    "limit": "limit",
    "limit_days": "limit (days)",
    "limit_percent": "limit (%)",
    "limit_x_uln": "limit (× ULN)",
    "max_dose_mg": "maximum dose (mg)",
    "max_mg_per_m2_per_cycle": "maximum per cycle (mg/m²)",
    "max_mg_per_m2_per_dose": "maximum per dose (mg/m²)",
    "measurement": "measurement",
    "medication": "medicine",
    "mg_per_m2_given": "given (mg/m²)",
    "min_days_between_doses": "minimum days between doses",
    "missing": "missing",
    "needed": "needed",
    "note": "note",
    "omitted": "omitted",
    "options_mg_per_m2": "options (mg/m²)",
    "platelets_recovery": "platelet recovery (× 10⁹/L)",
    "pretreatment_grade": "grade before treatment",
    "previous_dose": "previous dose",
    "ratio": "ratio (× ULN)",
    "recorded_in_cycle_mg_per_m2": "recorded in the cycle (mg/m²)",
    "regimen": "dosing schedule",
    "remaining_mg": "remaining (mg)",
    "remaining_mg_per_m2": "remaining (mg/m²)",
    "responses": "responses",
    "scheduled": "scheduled",
    "scheduled_mg_per_m2": "scheduled (mg/m²)",
    "second": "second",
    "since": "since",
    "source": "source",
    "stale": "too old",
    "substance": "substance",
    "substances": "substances",
    "tag": "label part",
    "term_source": "term from",
    "tolerance_mg_per_m2": "tolerance (mg/m²)",
    "total_mg_per_m2_given": "total given (mg/m²)",
    "values": "values",
    "vod_recorded": "VOD recorded",
    "weight_date": "weight measured on",
    "weight_gain_percent": "weight gain (%)",
    "cycle1_days": "length of cycle 1 (days)",
    "height_cm": "height (cm)",
    "weight_kg": "weight (kg)",
    "dose_mg": "dose (mg)",
    "qtcf_ms": "QTcF (ms)",
    "duration_min": "infusion duration (min)",
    "related_to": "related to",
}

#: Input keys that are internal references, never shown (the rule id is kept as an attribute).
_HIDDEN_INPUTS: Final = frozenset({"rule", "event", "events"})

_UNITS: Final[Mapping[str, str]] = {
    "10*9/L": "× 10⁹/L",
    "10^9/L": "× 10⁹/L",
    "x10*9/L": "× 10⁹/L",
    "10*3/uL": "× 10³/µL",
    "10^3/uL": "× 10³/µL",
    "K/uL": "× 10³/µL",
    "cells/uL": "cells/µL",
    "/uL": "/µL",
    "cells/mm3": "cells/mm³",
    "/mm3": "/mm³",
    "umol/L": "µmol/L",
    "m2": "m²",
    "mg/m2": "mg/m²",
}
_UNIT_RE: Final = re.compile(
    r"(?<![\w*^/])("
    + "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True))
    + r")(?![\w*^])"
)


def unit_text(unit: object) -> str:
    """A unit as clinicians write it: ``10*9/L`` -> ``× 10⁹/L``, ``umol/L`` -> ``µmol/L``.

    >>> unit_text("10*9/L"), unit_text("umol/L"), unit_text("U/L")
    ('× 10⁹/L', 'µmol/L', 'U/L')
    """
    text = str(unit).strip()
    return _UNITS.get(text.replace("µ", "u").replace("μ", "u"), text)


def event_words(kind: object) -> str:
    """``pregnancy_test`` -> ``pregnancy test``; ``labs`` -> ``laboratory results``."""
    return EVENT_WORDS.get(str(kind), str(kind).replace("_", " "))


def _day(value: object) -> str:
    from inoplan.web.formats import day

    return day(value)


def describe_event(event: Mapping[str, Any]) -> str:
    """One entry of the record in words: "laboratory results of Tue 01 Dec 2026"."""
    text = f"{event_words(event.get('type'))} of {_day(event.get('date'))}"
    if event.get("type") == "administration" and event.get("cycle"):
        text += f" (cycle {event.get('cycle')} day {event.get('day')})"
    return text


@functools.cache
def _schedules() -> dict[str, str]:
    from inoplan.knowledge.loader import available_versions, load_label

    out: dict[str, str] = {}
    for revision in available_versions():
        for schedule in load_label(revision).regimen.schedules.values():
            out.setdefault(schedule.id, schedule.applies_to)
    return out


def schedule_text(schedule_id: object) -> str:
    """A dosing schedule id of the label file in the label file's own words (``applies_to``).

    >>> schedule_text("later-after-cr")
    'cycles 2 and later, patient has achieved CR or CRi'
    """
    return _schedules().get(str(schedule_id), str(schedule_id).replace("-", " "))


def alert_title(code: object) -> str:
    """An alert code as a short title (``VOD_RISK`` -> ``Risk of VOD``)."""
    text = str(code)
    return ALERT_TITLES.get(text, text.replace("_", " ").capitalize())


# -- field paths -----------------------------------------------------------------------------

_SEGMENT: Final = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)")


def _word(name: str, place: str) -> str:
    return FIELD_WORDS.get(f"{place}.{name}") or FIELD_WORDS.get(name) or name.replace("_", " ")


def field_label(path: str, events: Sequence[Mapping[str, Any]] | None = None) -> str:
    """A service field path in words ("" for the form as a whole).

    >>> field_label("event.bilirubin.uln")
    'total bilirubin upper limit of normal'
    >>> field_label("events[0].weight_kg", [{"type": "vitals", "date": "2026-12-01"}])
    'weight (vitals of Tue 01 Dec 2026)'
    >>> field_label("patient.birth_date")
    'birth date'
    """
    parts = [p for p in path.split(".") if p]
    words: list[str] = []
    where = ""
    place = ""
    for part in parts:
        match = _SEGMENT.fullmatch(part)
        if match is None:
            words.append(part.replace("_", " "))
            continue
        name, index = match.groups()
        if name == "events" and index:
            position = int(index.strip("[]").split("][")[0])
            if events is not None and 0 <= position < len(events):
                where = describe_event(events[position])
            else:
                where = "an earlier entry"
            place = "event"
            continue
        if name in ("event", "document", "site_policy") and not words:
            place = name
            continue
        if name in ("patient", "plan", "history") and not words:
            place = name
            if name != "history":
                continue
        if name == "value" and words and words[-1] in ANALYTE_WORDS.values():
            continue  # "ANC value" reads as "ANC"
        words.append(_word(name, place))
        if index:
            words[-1] += f" (item {int(index.strip('[]').split('][')[0]) + 1})"
    text = " ".join(words)
    if where:
        return f"{text} ({where})" if text else where
    return text


# -- messages --------------------------------------------------------------------------------

#: pydantic's phrases (``parse_course``) and the services' own internal words -> plain words.
_PHRASES: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"^Value error, ", ""),
        (r"^Assertion failed, ", ""),
        (r"\bField required\b", "required"),
        (r"\bExtra inputs are not permitted\b", "not a field of this form"),
        (r"String should have at most (\d+) characters?", r"use at most \1 characters"),
        (r"String should have at least 1 character", "required"),
        (r"String should have at least (\d+) characters", r"enter at least \1 characters"),
        (r"List should have at most (\d+) items?[^;]*", r"give at most \1"),
        (r"String should match pattern '[^']*'", "is not in the expected form"),
        (r"Input should be greater than or equal to (\S+)", r"enter \1 or more"),
        (r"Input should be greater than (\S+)", r"enter more than \1"),
        (r"Input should be less than or equal to (\S+)", r"enter \1 or less"),
        (r"Input should be less than (\S+)", r"enter less than \1"),
        (r"Input should be a valid boolean[^;]*", "choose yes or no"),
        (r"Input should be a valid integer[^;]*", "enter a whole number"),
        (r"Input should be a valid number[^;]*", "enter a number"),
        (r"Input should be a valid date[^;]*", "enter a date as YYYY-MM-DD"),
        (r"Input should be a valid (string|list|dictionary)[^;]*", "is not in the expected form"),
        (r"Input should be a finite number", "enter a number"),
        (r"Input should be ((?:'[^']*'(?:, | or )?)+)", r"choose one of \1"),
        (r"Input should be (?:a valid )?([\w ]+)", r"is not in the expected form (\1)"),
        # the services' words for the API, said for the web page
        (
            r"no event with id '[^']*' to correct",
            "the entry it corrects is not on this course's record",
        ),
        (r"duplicate event id '[^']*'", "this entry number is already used on this course"),
        (r"an event cannot supersede itself", "an entry cannot correct itself"),
        (r"a correction must give its reason", "a correction needs its reason"),
        (r"\s*\(override_reason\)", ""),
        (r"\s*\((uln|lln)\)", ""),
        (r"correct one with 'supersedes'", "correct one of them (“Correct an earlier entry”)"),
        (
            r"record a 'void' \(entered in error\) to withdraw it",
            "withdraw it as entered in error",
        ),
        (r"\(the course would not be decidable\)", "(with it, the course could not be decided)"),
        (r"could not be planned or decided \([A-Za-z]+\)", "could not be planned or decided"),
        (
            r"course \d+ is at version \d+, not \d+; reload it and apply your change again",
            "someone else saved a change to this course first; check the course as it is now "
            "and enter your change again",
        ),
        (
            r"course version is missing; reload the page",
            "page was out of date; reload it and enter your change again",
        ),
    )
)
_ROLE_ACTION: Final = re.compile(r"role '(\w+)' may not perform '([\w.]+)'")
_KIND_ENTRY: Final = re.compile(r"\b(an?|the) ([a-z_]+) entry\b")
_QUOTED: Final = re.compile(r"'([A-Za-z][\w.-]*)'")
_PATH: Final = re.compile(r"\b(?:events\[\d+\]|event|patient|plan)(?:\.[A-Za-z_]\w*(?:\[\d+\])?)*")
_SNAKE: Final = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")
_SCHEDULE: Final = re.compile(r"\b(cycle-1|later-after-cr|later-no-cr)\b")


def plain(message: object, events: Sequence[Mapping[str, Any]] | None = None) -> str:
    """A service message in the words of the pages (idempotent; ``events`` name entries).

    >>> plain("vitals need height_cm, weight_kg or both")
    'vitals need height, weight or both'
    >>> plain("unknown unit 'x'; accepted: 10*9/L, /uL")
    "unknown unit 'x'; accepted: × 10⁹/L, /µL"
    >>> plain("Input should be 'CR', 'CRi' or 'PR'")
    'choose one of CR, CRi or PR'
    """
    if not events:  # the same reasons recur on every row of a list: translate each once
        return _plain_text(str(message))
    return _plain(str(message), events)


@functools.lru_cache(maxsize=4096)
def _plain_text(text: str) -> str:
    """:func:`plain` without events (a pure function of the text, so it is kept per process)."""
    return _plain(text, None)


def _plain(text: str, events: Sequence[Mapping[str, Any]] | None) -> str:
    for pattern, replacement in _HL7_PHRASES:
        text = pattern.sub(replacement, text)
    text = _HL7_FIELD.sub(lambda m: _hl7_field(m.group(1), m.group(2)), text)  # "PID-3"
    text = _HL7_SEGMENT.sub(lambda m: HL7_SEGMENT_WORDS[m.group(1)], text)  # "no PID segment"
    for pattern, replacement in _PHRASES:
        text = pattern.sub(replacement, text)
    text = re.sub(r"choose one of ((?:'[^']*'(?:, | or )?)+)", _unquote, text)
    text = _ROLE_ACTION.sub(_role_action, text)
    text = _KIND_ENTRY.sub(lambda m: f"{m.group(1)} {event_words(m.group(2))} entry", text)
    ids = {str(e["id"]): describe_event(e) for e in events or () if e.get("id")}
    if ids:
        text = _QUOTED.sub(lambda m: ids.get(m.group(1), m.group(0)), text)
        text = re.sub(
            r"(?<![\w-])("
            + "|".join(re.escape(i) for i in sorted(ids, key=len, reverse=True))
            + r")(?![\w-])",
            lambda m: ids[m.group(1)],
            text,
        )
    text = _QUOTED.sub(_quoted_field, text)
    text = _PATH.sub(lambda m: _path_words(m.group(0), events), text)
    text = _SCHEDULE.sub(lambda m: f"“{schedule_text(m.group(1))}”", text)
    text = _SNAKE.sub(lambda m: _snake_words(m.group(0)), text)
    text = _UNIT_RE.sub(lambda m: unit_text(m.group(1)), text)
    return text


def _unquote(match: re.Match[str]) -> str:
    return "choose one of " + match.group(1).replace("'", "")


def _role_action(match: re.Match[str]) -> str:
    role, action = match.groups()
    return f"your role ({role}) may not {ACTION_WORDS.get(action, action.replace('.', ' '))}"


def _quoted_field(match: re.Match[str]) -> str:
    name = match.group(1)
    if (name in FIELD_WORDS and "_" in name) or name in ("supersedes", "transfused", "uln"):
        return f"“{FIELD_WORDS[name]}”"
    return match.group(0)


def _path_words(path: str, events: Sequence[Mapping[str, Any]] | None) -> str:
    if "." not in path and "[" not in path:
        return path  # the plain words "event", "patient", "plan"
    return field_label(path, events)


def _snake_words(token: str) -> str:
    if token in FIELD_WORDS:
        return FIELD_WORDS[token]
    if token in INPUT_WORDS:
        return INPUT_WORDS[token]
    if token in EVENT_WORDS:
        return EVENT_WORDS[token]
    return token.replace("_", " ")


# -- decision inputs -------------------------------------------------------------------------


def _value_text(value: Any, events: Sequence[Mapping[str, Any]] | None) -> str:
    from inoplan.web.formats import num

    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "none"
    if isinstance(value, float):
        return num(value)
    if isinstance(value, Mapping):
        if "value" in value and ("unit" in value or "date" in value):
            text = f"{_value_text(value.get('value'), events)} {unit_text(value.get('unit', ''))}"
            if value.get("date"):
                text += f" on {_day(value['date'])}"
            return text.strip()
        if "cycle" in value and "day" in value:
            text = f"cycle {value['cycle']} day {value['day']}"
            if value.get("given_on"):
                text += f" given {_day(value['given_on'])}"
            return text
        return ", ".join(
            f"{_input_key(k)} {_value_text(v, events)}"
            for k, v in value.items()
            if k not in _HIDDEN_INPUTS
        )
    if isinstance(value, list | tuple):
        return ", ".join(_value_text(v, events) for v in value) or "none"
    if isinstance(value, date):
        return _day(value)
    text = str(value)
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
        return _day(text)
    if text.startswith(("http://", "https://")):
        return text
    return plain(text, events)


def _input_key(key: str) -> str:
    return INPUT_WORDS.get(key) or EVENT_WORDS.get(key) or key.replace("_", " ")


def inputs_text(inputs: object, events: Sequence[Mapping[str, Any]] | None = None) -> str:
    """A rule's inputs as "name = value" pairs in words (units, dates and entries included).

    >>> inputs_text({"anc": {"value": 0.9, "unit": "10*9/L", "date": "2026-12-07"},
    ...              "regimen": "cycle-1", "rule": "hematologic.delay"})
    'ANC (neutrophils) = 0.9 × 10⁹/L on Mon 07 Dec 2026; dosing schedule = cycle 1 (all patients)'
    """
    if not isinstance(inputs, Mapping) or not inputs:
        return ""
    parts = []
    for key, value in inputs.items():
        if key in _HIDDEN_INPUTS:
            continue
        shown = schedule_text(value) if key == "regimen" else _value_text(value, events)
        parts.append(f"{_input_key(str(key))} = {shown}")
    return "; ".join(parts)


# -- the error summary -----------------------------------------------------------------------


def error_items(
    errors: Mapping[str, str],
    fields: Iterable[Any],
    form_type: str,
    *,
    form_id: str = "",
    events: Sequence[Mapping[str, Any]] | None = None,
) -> list[tuple[str, str]]:
    """The error summary's links: ``(href, text)`` per field in error, in the form's order.

    ``fields`` are the form's ``Field`` specs (``name``, ``label``, ``html_id``); the link goes
    to the input ``#<form_type>-<html_id>`` that the ``field`` macro writes. An error of the
    form as a whole (key ``""``) links to ``#<form_id>`` (the form), or has no link target.
    """
    specs = {spec.name: spec for spec in fields}
    order = {name: i for i, name in enumerate(specs)}
    out: list[tuple[str, str]] = []
    for name in sorted(errors, key=lambda n: (n != "", order.get(n, len(order)))):
        message = plain(errors[name], events)
        spec = specs.get(name)
        if spec is not None:
            label = str(spec.label)
            out.append((f"#{form_type}-{spec.html_id}", f"{label}: {message}"))
        elif name:
            anchor = f"#{form_type}-f-{name.replace('.', '-').replace('_', '-')}"
            out.append((anchor, f"{field_label(name, events).capitalize()}: {message}"))
        else:
            out.append((f"#{form_id}" if form_id else "#main", _sentence(message)))
    return out


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] if text else text
