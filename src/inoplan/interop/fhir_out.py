"""Course document (+ its plan and decision) -> a FHIR R4 ``collection`` Bundle. Pure.

Resources written:

- Patient (inoplan extensions for what FHIR has no element for: reproductive potential,
  breastfeeding, history), AllergyIntolerance per allergy;
- a PlanDefinition for the course's regimen: one action per cycle with its length
  (``timingDuration``) and one sub-action per dose day carrying the core extension
  ``timing-daysOfCycle``, whose parent action's timing defines the cycle (the extension's
  definition; its R4 contexts are ``PlanDefinition.action`` and ``RequestGroup.action``);
- CarePlan for the course (period.start = cycle 1 day 1; plan settings as extensions) whose
  activity points at a RequestGroup (``instantiatesCanonical`` the PlanDefinition) with one
  action per cycle (``timingPeriod``) and one sub-action per dose (``timingDateTime``) pointing
  at its MedicationRequest;
- MedicationRequest per planned dose (``intent: plan``: decision support, not an order) with
  ``doseAndRate`` typed ``ordered`` (mg/m2) and ``calculated`` (mg);
- MedicationAdministration per dose given (mCODE CancerRelatedMedicationAdministration, with its
  performer and the reason: the course's cancer Condition, mCODE primary cancer condition);
  Observations (LOINC, UCUM codes only) for vitals, labs (``interpretation`` H/L/N from the
  limits, ``referenceRange``), ECG and pregnancy tests (coded result); MedicationStatement,
  Condition, Procedure for the other events; a completed Task (``task-code`` ``change``) per
  change of the plan (``plan_change``, ``reschedule``, ``dose_change``), focused on the day's
  MedicationRequest (or the CarePlan), with its date, reason and the fields it sets;
- the decision as a GuidanceResponse whose ``outputParameters`` (a contained Parameters) carry
  the status, the next dose and every reason's and alert's code, citation and inputs as data,
  and a DetectedIssue per critical or warning alert naming what it ``implicated``.

``inoplan.interop.fhir_in.bundle_to_document`` reads all of it back (round trip).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, Final
from zoneinfo import ZoneInfo

from inoplan import DISCLAIMER, __version__
from inoplan.domain.course import correction_targets, document_links
from inoplan.errors import InvalidInput
from inoplan.interop import codes as k
from inoplan.interop.ucum import document_unit_to_ucum

if TYPE_CHECKING:
    from inoplan.domain.vocabulary import Vocabulary

__all__ = [
    "MCODE_MEDICATION_ADMINISTRATION",
    "MCODE_PRIMARY_CANCER",
    "export_bundle",
    "validate_bundle",
]

MCODE: Final = "http://hl7.org/fhir/us/mcode/StructureDefinition/"
MCODE_PRIMARY_CANCER: Final = MCODE + "mcode-primary-cancer-condition"
MCODE_MEDICATION_ADMINISTRATION: Final = MCODE + "mcode-cancer-related-medication-administration"
MCODE_NORMALIZATION_BASIS: Final = MCODE + "mcode-normalization-basis"
DATA_ABSENT: Final = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"

_NS = uuid.UUID("6f0f4b7e-2d0e-4c53-9a52-6b1f1c1e9a10")
_VITALS = {
    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
    "code": "vital-signs",
    "display": "Vital Signs",
}
_LAB = {
    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
    "code": "laboratory",
    "display": "Laboratory",
}


def _id(*parts: Any) -> str:
    """A deterministic FHIR id (``[A-Za-z0-9-.]{1,64}``)."""
    raw = "-".join(str(p) for p in parts)
    clean = re.sub(r"[^A-Za-z0-9.-]", "-", raw)
    if len(clean) <= 64:
        return clean
    return str(uuid.uuid5(_NS, raw))


def _ext(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"url": k.EXT + name, "valueBoolean": value}
    if isinstance(value, int):
        return {"url": k.EXT + name, "valueInteger": value}
    return {"url": k.EXT + name, "valueString": str(value)}


def _event_identifier(event: Mapping[str, Any]) -> list[dict[str, Any]]:
    if event.get("id"):
        return [{"system": k.EVENT_ID_SYSTEM, "value": str(event["id"])}]
    return []


def _drug() -> dict[str, Any]:
    return {"coding": [dict(c) for c in k.DRUG_CODING], "text": "inotuzumab ozogamicin (BESPONSA)"}


_OTHER_UCUM = {"kg", "cm", "mg", "mg/m2", "m2", "ms", "%", "d"}


def _quantity(value: Any, unit: str) -> dict[str, Any]:
    """A Quantity with its UCUM code (only UCUM on the wire; ``unit`` keeps the text as given)."""
    quantity: dict[str, Any] = {"value": value, "unit": unit}
    code = unit if unit in _OTHER_UCUM else document_unit_to_ucum(unit)
    if code is not None:
        quantity["system"] = k.UCUM
        quantity["code"] = code
    return quantity


_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
_INTERPRETATION_TEXT = {"H": "High", "L": "Low", "N": "Normal"}


def _interpretation(lab: Mapping[str, Any]) -> str | None:
    """H, L or N from the value and the limits given with it (same unit); None without limits."""
    value, uln, lln = lab.get("value"), lab.get("uln"), lab.get("lln")
    if value is None or (uln is None and lln is None):
        return None
    if uln is not None and value > uln:
        return "H"
    if lln is not None and value < lln:
        return "L"
    return "N"


def _parameter_value(name: str, value: Any) -> dict[str, Any] | None:
    """One Parameters.parameter for a JSON value (objects and lists become parts)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return {"name": name, "valueBoolean": value}
    if isinstance(value, int):
        return {"name": name, "valueInteger": value}
    if isinstance(value, float):
        return {"name": name, "valueDecimal": value}
    if isinstance(value, Mapping):
        parts = [p for key, v in value.items() if (p := _parameter_value(str(key), v))]
        return {"name": name, "part": parts} if parts else None
    if isinstance(value, list | tuple):
        parts = [p for v in value if (p := _parameter_value("item", v))]
        return {"name": name, "part": parts} if parts else None
    return {"name": name, "valueString": str(value)}


class _Builder:
    def __init__(
        self, document: Mapping[str, Any], tz: str, performers: Mapping[str, str] | None = None
    ) -> None:
        self.doc = document
        self.entries: list[dict[str, Any]] = []
        self.pid = _id(document["patient"]["id"])
        self.subject = {"reference": f"Patient/{self.pid}"}
        self.zone = ZoneInfo(tz)
        self.counter = 0
        self.performers = dict(performers or {})
        self.requests: dict[tuple[int, int], dict[str, Any]] = {}
        #: analyte (and other input names) -> the newest Observation written for it
        self.latest: dict[str, tuple[str, dict[str, str]]] = {}
        self.medications: dict[str, dict[str, str]] = {}
        self.stopped_on: dict[int, date] = {}
        self.cancer: dict[str, str] | None = None

    def add(self, resource: dict[str, Any]) -> dict[str, Any]:
        resource.setdefault("id", _id(resource["resourceType"].lower(), len(self.entries)))
        self.entries.append(
            {
                "fullUrl": "urn:uuid:"
                + str(uuid.uuid5(_NS, f"{self.pid}/{resource['resourceType']}/{resource['id']}")),
                "resource": resource,
            }
        )
        return resource

    def ref(self, resource: Mapping[str, Any]) -> dict[str, str]:
        return {"reference": f"{resource['resourceType']}/{resource['id']}"}

    def _track(self, name: str, day: str, resource: Mapping[str, Any]) -> None:
        """Remember the newest resource written for an input name (DetectedIssue.implicated)."""
        if name not in self.latest or self.latest[name][0] <= day:
            self.latest[name] = (day, self.ref(resource))

    def instant(self, day: str, clock: str, plus_minutes: int = 0) -> str:
        hours, minutes = (int(x) for x in clock.split(":"))
        local = datetime.combine(date.fromisoformat(day), time(hours, minutes), self.zone)
        return (local + timedelta(minutes=plus_minutes)).isoformat(timespec="seconds")

    # -- resources ---------------------------------------------------------------------------

    def patient(self) -> None:
        p = self.doc["patient"]
        ext = []
        for name in ("reproductive_potential", "breastfeeding"):
            if p.get(name) is not None:
                ext.append(_ext(name, p[name]))
        for name, value in (p.get("history") or {}).items():
            if value is not None:
                ext.append(_ext(name, value))
        resource: dict[str, Any] = {
            "resourceType": "Patient",
            "id": self.pid,
            "identifier": [{"system": k.INOPLAN + "/patient-id", "value": str(p["id"])}],
            "gender": p["sex"],
            "birthDate": str(p["birth_date"]),
        }
        if ext:
            resource["extension"] = ext
        self.add(resource)
        for i, allergy in enumerate(p.get("allergies") or ()):
            self.add(
                {
                    "resourceType": "AllergyIntolerance",
                    "id": _id("allergy", i),
                    "clinicalStatus": {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                "code": "active",
                            }
                        ]
                    },
                    "code": {"text": allergy},
                    "patient": self.subject,
                }
            )

    def care_plan(
        self, plan: Mapping[str, Any] | None, decision: Mapping[str, Any] | None, course_id: Any
    ) -> None:
        doc_plan = self.doc["plan"]
        ext = [_ext("label", self.doc.get("label", "us"))]
        for name in ("hsct_intended", "cycle1_days", "vial", "bsa_formula"):
            if doc_plan.get(name) is not None:
                ext.append(_ext(name, doc_plan[name]))
        status = "active"
        if decision is not None and decision.get("status") == "discontinue":
            status = "revoked"
        elif decision is not None and decision.get("status") == "complete":
            status = "completed"
        requests: dict[tuple[int, int], dict[str, Any]] = {}
        cycles: dict[int, list[dict[str, Any]]] = {}
        for dose in (plan or {}).get("doses") or ():
            request = self.medication_request(dose)
            requests[(dose["cycle"], dose["day"])] = request
            cycles.setdefault(int(dose["cycle"]), []).append(
                {
                    "title": f"Cycle {dose['cycle']} day {dose['day']}",
                    "timingDateTime": str(dose["scheduled"]),
                    "resource": self.ref(request),
                }
            )
        self.requests = requests
        activity = []
        if cycles:
            lengths = {
                int(c["cycle"]): c for c in (plan or {}).get("cycles") or () if c.get("cycle")
            }
            definition = self.plan_definition(plan or {}, cycles, lengths)
            group_actions = []
            for cycle, actions in sorted(cycles.items()):
                action: dict[str, Any] = {"title": f"Cycle {cycle}", "action": actions}
                info = lengths.get(cycle)
                if info and info.get("start") and info.get("length_days"):
                    start = date.fromisoformat(str(info["start"]))
                    end = start + timedelta(days=int(info["length_days"]) - 1)
                    action["timingPeriod"] = {"start": start.isoformat(), "end": end.isoformat()}
                group_actions.append(action)
            group = self.add(
                {
                    "resourceType": "RequestGroup",
                    "id": "cycles",
                    "instantiatesCanonical": [definition["url"]],
                    "status": "active"
                    if status == "active"
                    else ("revoked" if status == "revoked" else "completed"),
                    "intent": "plan",
                    "subject": self.subject,
                    "action": group_actions,
                }
            )
            activity.append({"reference": self.ref(group)})
        care_plan: dict[str, Any] = {
            "resourceType": "CarePlan",
            "id": "course",
            "status": status,
            "intent": "plan",
            "title": "Inotuzumab ozogamicin (BESPONSA) course",
            "subject": self.subject,
            "period": {"start": str(doc_plan["start_date"])},
            "extension": ext,
        }
        if course_id is not None:
            care_plan["identifier"] = [{"system": k.COURSE_ID_SYSTEM, "value": str(course_id)}]
        if activity:
            care_plan["activity"] = activity
        self.add(care_plan)

    def plan_definition(
        self,
        plan: Mapping[str, Any],
        cycles: Mapping[int, list[dict[str, Any]]],
        lengths: Mapping[int, Mapping[str, Any]],
    ) -> dict[str, Any]:
        """The course's regimen as a protocol: cycles with their length, days of each cycle.

        ``timing-daysOfCycle`` sits on each day's action; the cycle it counts in is its parent
        action, whose ``timingDuration`` gives the cycle length (the extension's definition).
        """
        actions = []
        for cycle in sorted(cycles):
            days = sorted(
                {int(d["day"]) for d in plan.get("doses") or () if int(d["cycle"]) == cycle}
            )
            doses = {int(d["day"]): d for d in plan.get("doses") or () if int(d["cycle"]) == cycle}
            action: dict[str, Any] = {
                "title": f"Cycle {cycle}",
                "action": [
                    {
                        "title": f"Day {day}: inotuzumab ozogamicin "
                        f"{doses[day]['dose_mg_per_m2']} mg/m2 IV over 1 hour",
                        "extension": [
                            {
                                "url": k.DAYS_OF_CYCLE,
                                "extension": [{"url": "day", "valueInteger": day}],
                            }
                        ],
                    }
                    for day in days
                ],
            }
            info = lengths.get(cycle)
            if info and info.get("length_days"):
                action["timingDuration"] = {
                    "value": int(info["length_days"]),
                    "unit": "d",
                    "system": k.UCUM,
                    "code": "d",
                }
            if info and info.get("regimen"):
                action["description"] = f"Regimen {info['regimen']}" + (
                    " (provisional: depends on a response not yet known)"
                    if info.get("provisional")
                    else ""
                )
            actions.append(action)
        return self.add(
            {
                "resourceType": "PlanDefinition",
                "id": "regimen",
                "url": f"{k.INOPLAN}/PlanDefinition/{self.pid}-regimen",
                "status": "active",
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/plan-definition-type",
                            "code": "clinical-protocol",
                        }
                    ]
                },
                "title": "Inotuzumab ozogamicin (BESPONSA) course for this patient",
                "description": DISCLAIMER,
                "action": actions,
            }
        )

    def cancer_condition(self) -> None:
        """The indication the course is given for, as mCODE's primary cancer condition."""
        condition = self.add(
            {
                "resourceType": "Condition",
                "id": "indication",
                "meta": {"profile": [MCODE_PRIMARY_CANCER]},
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": "active",
                        }
                    ]
                },
                "category": [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                                "code": "problem-list-item",
                            }
                        ]
                    }
                ],
                "code": {
                    "coding": [
                        {
                            "system": k.SNOMED,
                            "code": k.SNOMED_B_ALL,
                            "display": "B-cell acute lymphoblastic leukemia (disorder)",
                        }
                    ],
                    "text": "Relapsed or refractory CD22-positive B-cell precursor acute "
                    "lymphoblastic leukaemia (the indication of this inotuzumab ozogamicin course)",
                },
                "subject": self.subject,
                "note": [
                    {
                        "text": "Written because the course exists: inotuzumab ozogamicin is "
                        "given for this indication only. Confirm against the patient's record."
                    }
                ],
            }
        )
        self.cancer = self.ref(condition)

    def medication_request(self, dose: Mapping[str, Any]) -> dict[str, Any]:
        status = {
            "given": "completed",
            "planned": "active",
            "held": "on-hold",
            "omitted": "cancelled",
        }.get(str(dose.get("status")), "active")
        dose_and_rate = [
            {
                "type": {"coding": [{"system": k.DOSE_RATE_TYPE, "code": "ordered"}]},
                "doseQuantity": _quantity(dose["dose_mg_per_m2"], "mg/m2"),
            },
        ]
        if dose.get("dose_mg") is not None:
            dose_and_rate.append(
                {
                    "type": {"coding": [{"system": k.DOSE_RATE_TYPE, "code": "calculated"}]},
                    "doseQuantity": _quantity(dose["dose_mg"], "mg"),
                }
            )
        timing: dict[str, Any] = {"event": [str(dose["scheduled"])]}
        if dose.get("earliest") or dose.get("latest"):
            bounds = {}
            if dose.get("earliest"):
                bounds["start"] = str(dose["earliest"])
            if dose.get("latest"):
                bounds["end"] = str(dose["latest"])
            timing["repeat"] = {"boundsPeriod": bounds}
        text = (
            f"{dose['dose_mg_per_m2']} mg/m2"
            + (f" ({dose['dose_mg']} mg)" if dose.get("dose_mg") is not None else "")
            + f" IV over 1 hour, cycle {dose['cycle']} day {dose['day']}"
        )
        resource: dict[str, Any] = {
            "resourceType": "MedicationRequest",
            "id": _id("dose", f"c{dose['cycle']}d{dose['day']}"),
            "status": status,
            "intent": "plan",
            "medicationCodeableConcept": _drug(),
            "subject": self.subject,
            "groupIdentifier": {"system": k.COURSE_ID_SYSTEM, "value": self.pid},
            "extension": [_ext("cycle", int(dose["cycle"])), _ext("day", int(dose["day"]))]
            + ([_ext("provisional", True)] if dose.get("provisional") else []),
            "dosageInstruction": [
                {
                    "text": text,
                    "timing": timing,
                    "route": {"coding": [dict(k.ROUTE_IV)]},
                    "doseAndRate": dose_and_rate,
                }
            ],
            "note": [{"text": DISCLAIMER}],
        }
        return self.add(resource)

    def events(self) -> None:
        events = list(self.doc.get("events") or ())
        # the one rule: corrected and withdrawn entries are out, a withdrawn correction's
        # target back in (inoplan.domain.course.correction_targets)
        superseded = set(correction_targets(document_links(events)))
        live = [
            (i, e) for i, e in enumerate(events) if e.get("id") is None or e["id"] not in superseded
        ]
        self.stopped_on = _medication_stops(live)
        for i, event in live:  # a corrected event no longer counts (docs/course-document.md)
            handler = getattr(self, "_" + str(event["type"]), None)
            if handler is not None:
                handler(event, i)

    def _observation(
        self,
        event: Mapping[str, Any],
        i: int,
        name: str,
        code: dict[str, Any],
        category: dict[str, Any],
        **value: Any,
    ) -> dict[str, Any]:
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "id": _id("obs", i, name),
            "status": "final",
            "category": [{"coding": [dict(category)]}],
            "code": code,
            "subject": self.subject,
            "effectiveDateTime": str(event["date"]),
            **value,
        }
        identifier = _event_identifier(event)
        if identifier:
            resource["identifier"] = identifier
        return self.add(resource)

    def _vitals(self, event: Mapping[str, Any], i: int) -> None:
        flags = [_ext(n, event[n]) for n in ("hepatomegaly", "ascites") if event.get(n) is not None]
        if event.get("weight_kg") is not None:
            obs = self._observation(
                event,
                i,
                "weight",
                {
                    "coding": [{"system": k.LOINC, "code": "29463-7", "display": "Body weight"}],
                    "text": "Body weight",
                },
                _VITALS,
                valueQuantity=_quantity(event["weight_kg"], "kg"),
            )
            if flags:
                obs["extension"], flags = flags, []
        if event.get("height_cm") is not None:
            obs = self._observation(
                event,
                i,
                "height",
                {
                    "coding": [{"system": k.LOINC, "code": "8302-2", "display": "Body height"}],
                    "text": "Body height",
                },
                _VITALS,
                valueQuantity=_quantity(event["height_cm"], "cm"),
            )
            if flags:
                obs["extension"] = flags

    def _labs(self, event: Mapping[str, Any], i: int) -> None:
        for analyte, codes in k.ANALYTE_LOINC.items():
            lab = event.get(analyte)
            if not isinstance(lab, Mapping):
                continue
            unit = str(lab["unit"])
            loinc = codes[0]
            if analyte == "bilirubin" and unit == "umol/L":
                loinc = "14631-6"
            value: dict[str, Any] = {"valueQuantity": _quantity(lab["value"], unit)}
            bounds: dict[str, Any] = {}
            if lab.get("uln") is not None:
                bounds["high"] = _quantity(lab["uln"], unit)
            if lab.get("lln") is not None:
                bounds["low"] = _quantity(lab["lln"], unit)
            if bounds:
                value["referenceRange"] = [bounds]
            flag = _interpretation(lab)
            if flag is not None:
                value["interpretation"] = [
                    {
                        "coding": [
                            {
                                "system": _INTERPRETATION,
                                "code": flag,
                                "display": _INTERPRETATION_TEXT[flag],
                            }
                        ]
                    }
                ]
            obs = self._observation(
                event,
                i,
                analyte,
                {
                    "coding": [
                        {"system": k.LOINC, "code": loinc, "display": k.ANALYTE_DISPLAY[analyte]}
                    ],
                    "text": analyte,
                },
                _LAB,
                **value,
            )
            self._track(analyte, str(event["date"]), obs)
            if lab.get("transfused"):
                obs["extension"] = [_ext("transfused", True)]
        for name in ("peripheral_blasts_pct", "marrow_blasts_pct"):
            if event.get(name) is not None:
                self._observation(
                    event,
                    i,
                    name,
                    {"coding": [{"system": k.CS + "observation", "code": name}], "text": name},
                    _LAB,
                    valueQuantity=_quantity(event[name], "%"),
                )

    def _ecg(self, event: Mapping[str, Any], i: int) -> None:
        obs = self._observation(
            event,
            i,
            "qtcf",
            {
                "coding": [
                    {"system": k.LOINC, "code": "76634-5"},
                    {"system": k.LOINC, "code": "8636-3"},
                ],
                "text": "QTc (Fridericia)",
            },
            {
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "procedure",
                "display": "Procedure",
            },
            valueQuantity=_quantity(event["qtcf_ms"], "ms"),
        )
        self._track("qtcf", str(event["date"]), obs)

    def _pregnancy_test(self, event: Mapping[str, Any], i: int) -> None:
        result = str(event["result"])
        code, display = {
            "positive": (k.SNOMED_POSITIVE, "Positive"),
            "negative": (k.SNOMED_NEGATIVE, "Negative"),
        }[result]
        obs = self._observation(
            event,
            i,
            "pregnancy",
            {
                "coding": [
                    {
                        "system": k.LOINC,
                        "code": "2118-8",
                        "display": "Choriogonadotropin (pregnancy test) [Presence] in Serum or "
                        "Plasma",
                    }
                ],
                "text": "Pregnancy test (hCG)",
            },
            _LAB,
            valueCodeableConcept={
                "coding": [{"system": k.SNOMED, "code": code, "display": display}],
                "text": result,
            },
        )
        self._track("pregnancy", str(event["date"]), obs)

    def _response(self, event: Mapping[str, Any], i: int) -> None:
        obs = self._observation(
            event,
            i,
            "response",
            {
                "coding": [{"system": k.CS + "observation", "code": "response"}],
                "text": "Leukaemia response",
            },
            _LAB,
            valueCodeableConcept={
                "coding": [{"system": k.CS + "response", "code": str(event["status"])}],
                "text": str(event["status"]),
            },
        )
        ext = [
            _ext(n, event[n])
            for n in ("mrd_negative", "disease_stable_or_improved", "cytopenia_due_to_disease")
            if event.get(n) is not None
        ]
        if ext:
            obs["extension"] = ext

    def _discontinuation(self, event: Mapping[str, Any], i: int) -> None:
        self._observation(
            event,
            i,
            "discontinuation",
            {
                "coding": [{"system": k.CS + "observation", "code": "discontinuation"}],
                "text": "Inotuzumab ozogamicin discontinued",
            },
            {
                "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                "code": "therapy",
                "display": "Therapy",
            },
            valueString=str(event["reason"]),
        )

    def _administration(self, event: Mapping[str, Any], i: int) -> None:
        clock = str(event.get("time") or "09:00")
        minutes = int(event.get("duration_min") or 60)
        resource: dict[str, Any] = {
            "resourceType": "MedicationAdministration",
            "id": _id("admin", f"c{event['cycle']}d{event['day']}"),
            "status": "completed",
            "medicationCodeableConcept": _drug(),
            "subject": self.subject,
            "effectivePeriod": {
                "start": self.instant(str(event["date"]), clock),
                "end": self.instant(str(event["date"]), clock, minutes),
            },
            "extension": [_ext("cycle", int(event["cycle"])), _ext("day", int(event["day"]))],
            "dosage": {
                "text": f"{event['dose_mg']} mg IV, cycle {event['cycle']} day {event['day']}",
                "route": {"coding": [dict(k.ROUTE_IV)]},
                "dose": _quantity(event["dose_mg"], "mg"),
            },
        }
        # what the course document records around the dose (docs/course-document.md 6.3)
        if event.get("premedication") is not None:  # [] = none given, said as "none"
            agents = ",".join(str(a) for a in event["premedication"]) or "none"
            resource["extension"].append(_ext("premedication", agents))
        for name in (
            "premedication_reason",
            "observation_min",
            "observation_reason",
            "override_reason",
        ):
            if event.get(name) is not None:
                resource["extension"].append(_ext(name, event[name]))
        resource["meta"] = {"profile": [MCODE_MEDICATION_ADMINISTRATION]}
        resource["extension"].append(
            {
                "url": MCODE_NORMALIZATION_BASIS,
                "valueCodeableConcept": {
                    "coding": [
                        {
                            "system": k.SNOMED,
                            "code": "301898006",
                            "display": "Body surface area (observable entity)",
                        }
                    ]
                },
            }
        )
        who = self.performers.get(str(event.get("id") or "")) or self.performers.get(
            f"c{event['cycle']}d{event['day']}"
        )
        if who:
            actor: dict[str, Any] = {"display": who}
        else:  # not recorded in the course document: said so, not invented
            actor = {"extension": [{"url": DATA_ABSENT, "valueCode": "unknown"}]}
        resource["performer"] = [
            {
                "function": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/med-admin-perform-function",
                            "code": "performer",
                            "display": "Performer",
                        }
                    ]
                },
                "actor": actor,
            }
        ]
        if self.cancer is not None:
            resource["reasonReference"] = [self.cancer]
        request = self.requests.get((event["cycle"], event["day"]))
        if request is not None:
            resource["request"] = self.ref(request)
        identifier = _event_identifier(event)
        if identifier:
            resource["identifier"] = identifier
        self.add(resource)

    def _medication(self, event: Mapping[str, Any], i: int) -> None:
        if event["action"] != "start":
            return  # stops are written on the statement of the start they end
        stop = self.stopped_on.get(i)  # the engine's pairing: brand = generic
        period: dict[str, Any] = {"start": str(event["date"])}
        if stop is not None:
            period["end"] = stop.isoformat()
        resource: dict[str, Any] = {
            "resourceType": "MedicationStatement",
            "id": _id("med", i),
            "status": "stopped" if stop is not None else "active",
            "medicationCodeableConcept": {"text": str(event["name"])},
            "subject": self.subject,
            "effectivePeriod": period,
        }
        identifier = _event_identifier(event)
        if identifier:
            resource["identifier"] = identifier
        self.medications[str(event["name"]).strip().lower()] = self.ref(self.add(resource))

    def _toxicity(self, event: Mapping[str, Any], i: int) -> None:
        coding = [{"system": k.CS + "toxicity", "code": str(event["term"])}]
        if _vocabulary().is_category(str(event["term"]), "vod"):  # "Hepatic VOD", "SOS" too
            coding.append(
                {
                    "system": k.SNOMED,
                    "code": k.SNOMED_VOD,
                    "display": "Veno-occlusive disease of the liver",
                }
            )
        resource: dict[str, Any] = {
            "resourceType": "Condition",
            "id": _id("toxicity", i),
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "resolved" if event["grade"] == 0 else "active",
                    }
                ]
            },
            "code": {"coding": coding, "text": str(event["term"])},
            "subject": self.subject,
            "onsetDateTime": str(event["date"]),
            "extension": [_ext("grade", int(event["grade"]))]
            + ([_ext("related", event["related"])] if event.get("related") is not None else []),
        }
        identifier = _event_identifier(event)
        if identifier:
            resource["identifier"] = identifier
        self.add(resource)

    def _hsct(self, event: Mapping[str, Any], i: int) -> None:
        resource: dict[str, Any] = {
            "resourceType": "Procedure",
            "id": _id("hsct", i),
            "status": "preparation" if event.get("planned") else "completed",
            "code": {
                "coding": [{"system": k.CS + "procedure", "code": "hsct"}],
                "text": "Haematopoietic stem cell transplant",
            },
            "subject": self.subject,
            "performedDateTime": str(event["date"]),
        }
        conditioning = [_ext("conditioning", agent) for agent in event.get("conditioning") or ()]
        if conditioning:
            resource["extension"] = conditioning
        identifier = _event_identifier(event)
        if identifier:
            resource["identifier"] = identifier
        self.add(resource)

    # -- the prescriber's changes to the plan: plan_change, reschedule, dose_change -------------

    def _change(self, event: Mapping[str, Any], i: int, inputs: list[tuple[str, Any]]) -> None:
        """One plan-editing event as a completed Task (core ``task-code`` ``change``: "change
        the focal resource") whose ``focus`` is the MedicationRequest of the day it changes (the
        CarePlan for a plan change, or a day the exported plan does not list), ``authoredOn`` its
        date, ``reasonCode.text`` its reason and ``input`` the fields it sets (inoplan codes, one
        per course-document field). The plan resources above already show the result; the Task
        keeps the change itself (when, why, what) so that import gives the event back."""
        kind = str(event["type"])
        focus: Mapping[str, Any] = {"reference": "CarePlan/course"}
        if "cycle" in event:
            request = self.requests.get((event["cycle"], event["day"]))
            if request is not None:
                focus = self.ref(request)
        parts = []
        for name, value in inputs:
            if value is None:
                continue
            part: dict[str, Any] = {
                "type": {"coding": [{"system": k.CS + "change-input", "code": name}]}
            }
            if isinstance(value, bool):
                part["valueBoolean"] = value
            elif isinstance(value, int):
                part["valueInteger"] = value
            elif isinstance(value, float):
                part["valueDecimal"] = value
            elif name == "to":
                part["valueDate"] = str(value)
            else:
                part["valueString"] = str(value)
            parts.append(part)
        resource: dict[str, Any] = {
            "resourceType": "Task",
            "id": _id("change", i),
            "status": "completed",
            "intent": "plan",
            "code": {
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/CodeSystem/task-code",
                        "code": "change",
                        "display": "Change the focal resource",
                    },
                    {"system": k.CS + "event", "code": kind},
                ],
                "text": _CHANGE_TEXT[kind],
            },
            "description": self._change_text(event),
            "focus": dict(focus),
            "for": self.subject,
            "authoredOn": str(event["date"]),
            "reasonCode": {"text": str(event["reason"])},
            "note": [{"text": DISCLAIMER}],
        }
        if parts:
            resource["input"] = parts
        identifier = _event_identifier(event)
        if identifier:
            resource["identifier"] = identifier
        self.add(resource)

    @staticmethod
    def _change_text(event: Mapping[str, Any]) -> str:
        kind = event["type"]
        if kind == "reschedule":
            what = f"cycle {event['cycle']} day {event['day']} moved to {event['to']}"
        elif kind == "dose_change":
            what = (
                f"cycle {event['cycle']} day {event['day']} lowered to "
                f"{event['dose_mg_per_m2']} mg/m2"
            )
        else:
            what = "plan changed from this date: " + ", ".join(
                f"{name} {event[name]}" for name in _PLAN_FIELDS if event.get(name) is not None
            )
        return f"{what}; reason: {event['reason']}"

    def _plan_change(self, event: Mapping[str, Any], i: int) -> None:
        self._change(event, i, [(name, event.get(name)) for name in _PLAN_FIELDS])

    def _reschedule(self, event: Mapping[str, Any], i: int) -> None:
        self._change(
            event, i, [("cycle", event["cycle"]), ("day", event["day"]), ("to", event["to"])]
        )

    def _dose_change(self, event: Mapping[str, Any], i: int) -> None:
        mg_per_m2 = event["dose_mg_per_m2"]
        self._change(
            event,
            i,
            [
                ("cycle", event["cycle"]),
                ("day", event["day"]),
                ("dose_mg_per_m2", float(mg_per_m2)),
            ],
        )

    # -- the decision ----------------------------------------------------------------------------

    def decision(self, decision: Mapping[str, Any]) -> None:
        status = decision.get("status")
        notes = [{"text": f"Decision: {status}"}]
        dose = decision.get("next_dose")
        if dose:
            notes.append(
                {
                    "text": "Next dose: "
                    + ", ".join(
                        f"{key} {dose[key]}"
                        for key in (
                            "cycle",
                            "day",
                            "scheduled",
                            "dose_mg_per_m2",
                            "bsa_m2",
                            "dose_mg",
                        )
                        if dose.get(key) is not None
                    )
                }
            )
        for r in decision.get("reasons") or ():
            inputs = ", ".join(f"{key}={v}" for key, v in (r.get("inputs") or {}).items())
            text = f"{r.get('rule')}: {r.get('message')} [{r.get('citation')}]"
            if inputs:
                text += f" (inputs: {inputs})"
            if r.get("interpretation"):
                text += f" (interpretation: {r['interpretation']})"
            notes.append({"text": text})
        notes.append({"text": DISCLAIMER})
        guidance: dict[str, Any] = {
            "resourceType": "GuidanceResponse",
            "id": "decision",
            "moduleUri": f"{k.INOPLAN}/engine/{decision.get('engine_version', __version__)}"
            f"/{decision.get('label_revision', '')}",
            "status": "data-required" if status == "cannot_decide" else "success",
            "subject": self.subject,
            "note": notes,
        }
        if decision.get("as_of"):
            guidance["occurrenceDateTime"] = str(decision["as_of"])
        guidance["contained"] = [self.output_parameters(decision)]
        guidance["outputParameters"] = {"reference": "#outputs"}
        issues = []
        for j, alert in enumerate(decision.get("alerts") or ()):
            severity = {"critical": "high", "warning": "moderate"}.get(str(alert.get("severity")))
            if severity is None:
                continue
            issue = self.add(
                {
                    "resourceType": "DetectedIssue",
                    "id": _id("issue", j),
                    "status": "final",
                    "severity": severity,
                    "code": {
                        "coding": [{"system": k.CS + "alert", "code": str(alert.get("code"))}],
                        "text": str(alert.get("code")),
                    },
                    "patient": self.subject,
                    "implicated": self.implicated(alert, decision),
                    "detail": f"{alert.get('message')} ({alert.get('citation')}). {DISCLAIMER}",
                }
            )
            issues.append(self.ref(issue))
        if issues:
            notes.insert(1, {"text": "Alerts: " + ", ".join(i["reference"] for i in issues)})
        self.add(guidance)

    def implicated(
        self, alert: Mapping[str, Any], decision: Mapping[str, Any]
    ) -> list[dict[str, str]]:
        """What an alert is about: the results and co-medication named in its inputs, and the
        next dose's order (the drug the alert is about); the course's plan when there is none."""
        found: list[dict[str, str]] = []
        names = [str(key).lower() for key in (alert.get("inputs") or {})]
        text = f"{alert.get('code')} {alert.get('message')}".lower()
        for name, (_, reference) in sorted(self.latest.items()):
            if any(key == name or key.startswith(name + "_") for key in names):
                found.append(reference)
        for drug, reference in sorted(self.medications.items()):
            if drug and drug in text:
                found.append(reference)
        dose = decision.get("next_dose") or {}
        request = self.requests.get((dose.get("cycle"), dose.get("day")))  # type: ignore[arg-type]
        if request is not None:
            found.append(self.ref(request))
        if not found:
            found.append({"reference": "CarePlan/course"})
        unique: list[dict[str, str]] = []
        for reference in found:
            if reference not in unique:
                unique.append(reference)
        return unique

    def output_parameters(self, decision: Mapping[str, Any]) -> dict[str, Any]:
        """The decision as data (Parameters): status, next dose, reasons, alerts, provenance.

        A reader needs nothing else: every reason carries its rule code, citation, message,
        interpretation and inputs; every alert its code, severity, message and citation.
        """
        parameters: list[dict[str, Any]] = [
            {"name": "status", "valueCode": str(decision.get("status"))},
        ]
        if decision.get("as_of"):
            parameters.append({"name": "asOf", "valueDate": str(decision["as_of"])})
        for name, key in (
            ("label", "label"),
            ("labelRevision", "label_revision"),
            ("engineVersion", "engine_version"),
        ):
            if decision.get(key):
                parameters.append({"name": name, "valueString": str(decision[key])})
        dose = decision.get("next_dose")
        if dose:
            part: list[dict[str, Any]] = [
                {"name": "cycle", "valueInteger": int(dose["cycle"])},
                {"name": "day", "valueInteger": int(dose["day"])},
            ]
            for name, key in (
                ("date", "scheduled"),
                ("earliest", "earliest"),
                ("latest", "latest"),
            ):
                if dose.get(key):
                    part.append({"name": name, "valueDate": str(dose[key])})
            for name, key, unit in (
                ("doseMgPerM2", "dose_mg_per_m2", "mg/m2"),
                ("doseMg", "dose_mg", "mg"),
                ("bsa", "bsa_m2", "m2"),
            ):
                if dose.get(key) is not None:
                    part.append({"name": name, "valueQuantity": _quantity(dose[key], unit)})
            for name, key in (("provisional", "provisional"), ("due", "due")):
                if isinstance(dose.get(key), bool):
                    part.append({"name": name, "valueBoolean": dose[key]})
            if dose.get("regimen"):
                part.append({"name": "regimen", "valueString": str(dose["regimen"])})
            parameters.append({"name": "nextDose", "part": part})
        for r in decision.get("reasons") or ():
            part = [
                {
                    "name": "rule",
                    "valueCoding": {"system": k.CS + "rule", "code": str(r.get("rule"))},
                },
                {"name": "citation", "valueString": str(r.get("citation"))},
                {"name": "message", "valueString": str(r.get("message"))},
            ]
            for name in ("verdict", "confidence", "interpretation"):
                if r.get(name):
                    part.append({"name": name, "valueString": str(r[name])})
            inputs = _parameter_value("inputs", r.get("inputs") or None)
            if inputs is not None:
                part.append(inputs)
            parameters.append({"name": "reason", "part": part})
        for alert in decision.get("alerts") or ():
            part = [
                {
                    "name": "code",
                    "valueCoding": {"system": k.CS + "alert", "code": str(alert.get("code"))},
                },
                {"name": "severity", "valueCode": str(alert.get("severity"))},
                {"name": "message", "valueString": str(alert.get("message"))},
                {"name": "citation", "valueString": str(alert.get("citation"))},
            ]
            inputs = _parameter_value("inputs", alert.get("inputs") or None)
            if inputs is not None:
                part.append(inputs)
            parameters.append({"name": "alert", "part": part})
        parameters.append({"name": "disclaimer", "valueString": DISCLAIMER})
        return {"resourceType": "Parameters", "id": "outputs", "parameter": parameters}


#: The plan settings a ``plan_change`` may set (docs/course-document.md 6.12).
_PLAN_FIELDS: Final = ("hsct_intended", "cycle1_days", "bsa_formula")
_CHANGE_TEXT: Final = {
    "plan_change": "Plan changed by the prescriber",
    "reschedule": "Treatment day moved by the prescriber",
    "dose_change": "Dose lowered by the prescriber",
}


def export_bundle(
    document: Mapping[str, Any],
    *,
    plan: Mapping[str, Any] | None = None,
    decision: Mapping[str, Any] | None = None,
    course_id: Any = None,
    timezone: str = "UTC",
    performers: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """A FHIR R4 ``collection`` Bundle for one course (plan and decision optional).

    ``performers`` names who gave each dose (key: the administration event's id, or
    ``c<cycle>d<day>``), for ``MedicationAdministration.performer``; a dose without one says
    so with the ``data-absent-reason`` extension (the course document does not record it).

    A plan and a decision given together must be of the same date (``as_of``): the CarePlan is
    the plan the decision of that date sees; a mismatch raises ``InvalidInput`` (``on``).
    """
    if plan is not None and decision is not None:
        planned, decided = plan.get("as_of"), decision.get("as_of")
        if planned is not None and decided is not None and str(planned) != str(decided):
            raise InvalidInput(
                "on",
                f"the plan is as of {planned} but the decision is for {decided}; "
                "export both for one date",
            )
    builder = _Builder(document, timezone, performers)
    builder.patient()
    builder.cancer_condition()
    builder.care_plan(plan, decision, course_id if course_id is not None else document.get("id"))
    builder.events()
    if decision is not None:
        builder.decision(decision)
    return {
        "resourceType": "Bundle",
        "id": _id("inoplan-course", builder.pid),
        "meta": {
            "tag": [{"system": k.CS + "tag", "code": "decision-support", "display": DISCLAIMER}]
        },
        "type": "collection",
        "entry": builder.entries,
    }


def validate_bundle(bundle: Mapping[str, Any]) -> None:
    """Validate against the ``fhir.resources`` R4B models (raises pydantic ValidationError)."""
    from fhir.resources.R4B.bundle import Bundle

    Bundle.model_validate(dict(bundle))


def _medication_stops(events: list[tuple[int, Mapping[str, Any]]]) -> dict[int, date]:
    """Position of each medication start -> date of the stop that ended it (the engine's
    ``medication_ledger``, names paired through the QT list: a start of ondansetron ends with a
    stop of Zofran)."""
    from inoplan.domain.course import MedicationEvent
    from inoplan.domain.engine.qt import medication_ledger, medicine_identity
    from inoplan.knowledge.qt import load_qt_drugs

    medications = sorted(
        (
            MedicationEvent(
                date=date.fromisoformat(str(e["date"])),
                id=None,
                index=i,
                supersedes=None,
                reason=None,
                name=str(e.get("name", "")),
                action=str(e.get("action", "")),
            )
            for i, e in events
            if e.get("type") == "medication"
        ),
        key=lambda m: (m.date, m.index),
    )
    ledger = medication_ledger(medications, medicine_identity(load_qt_drugs()))
    return {start: stop.date for start, stop in ledger.stopped_by.items()}


def _vocabulary() -> Vocabulary:
    from inoplan.knowledge.vocabulary import load_vocabulary

    return load_vocabulary()
