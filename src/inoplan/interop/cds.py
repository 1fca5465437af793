"""CDS Hooks 2.0 services: discovery, request parsing, prefetch completion, cards.

Pure apart from the injected ``fetch`` (FHIR reads for what prefetch lacks) and ``decide``
(the decision engine). The HTTP adapter (``inoplan.api.cds_hooks``) only authenticates, calls
:func:`handle_call` and renders.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field

from inoplan.errors import InvalidInput
from inoplan.interop import codes as k
from inoplan.interop.cards import CardOptions, OrderedDose, decision_cards, error_card
from inoplan.interop.fhir_in import (
    bundle_to_document,
    codings,
    cycle_day_of,
    is_inotuzumab,
    resources_of,
)

__all__ = [
    "PREFETCH",
    "SERVICES",
    "CdsRequest",
    "CdsSettings",
    "Feedback",
    "PreconditionFailed",
    "discovery",
    "handle_call",
    "ordered_dose",
]

_P = "{{context.patientId}}"


def _obs(*codes: str, count: int = 5) -> str:
    joined = ",".join(f"{k.LOINC}|{c}" for c in codes)
    return f"Observation?patient={_P}&code={joined}&_sort=-date&_count={count}"


#: Prefetch templates (relative FHIR searches; tokens per CDS Hooks 2.0 section "Prefetch").
PREFETCH: dict[str, str] = {
    "patient": f"Patient/{_P}",
    "weight": _obs(*k.WEIGHT, count=1),
    "height": _obs(*k.HEIGHT, count=1),
    "anc": _obs(*k.ANALYTE_LOINC["anc"]),
    "platelets": _obs(*k.ANALYTE_LOINC["platelets"]),
    "bilirubin": _obs(*k.ANALYTE_LOINC["bilirubin"]),
    "ast": _obs(*k.ANALYTE_LOINC["ast"]),
    "alt": _obs(*k.ANALYTE_LOINC["alt"]),
    "blasts": _obs(*k.ANALYTE_LOINC["peripheral_blasts"], count=1),
    "potassium": _obs(*k.ANALYTE_LOINC["potassium"], count=1),
    "magnesium": _obs(*k.ANALYTE_LOINC["magnesium"], count=1),
    "qtc": _obs(*k.QTC, count=1),
    "pregnancy": _obs(*k.PREGNANCY_TEST, count=1),
    "administrations": (
        f"MedicationAdministration?patient={_P}"
        f"&code={k.RXNORM}|{k.RXNORM_INGREDIENT},{k.ATC}|L01FB01&_count=50"
    ),
    "medicationRequests": f"MedicationRequest?patient={_P}&status=active",
    "medicationStatements": f"MedicationStatement?patient={_P}&status=active",
    "allergies": f"AllergyIntolerance?patient={_P}",
    "conditions": f"Condition?patient={_P}",
}
#: Without these the engine cannot work: 412 when neither prefetched nor fetchable.
REQUIRED_ORDER = (
    "patient",
    "weight",
    "height",
    "administrations",
    "anc",
    "platelets",
    "bilirubin",
    "ast",
    "alt",
    "conditions",
)
REQUIRED_VIEW = ("patient", "weight", "height", "administrations")


@dataclass(frozen=True)
class Service:
    id: str
    hook: str
    title: str
    description: str
    required: tuple[str, ...]
    usage: str = ""

    def definition(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "hook": self.hook,
            "title": self.title,
            "description": self.description,
            "id": self.id,
            "prefetch": dict(PREFETCH),
        }
        if self.usage:
            entry["usageRequirements"] = self.usage
        return entry


_USAGE = (
    "Needs prefetch, or fhirServer with a fhirAuthorization token that can read Patient, "
    "Observation, MedicationAdministration, MedicationRequest, MedicationStatement, "
    "AllergyIntolerance and Condition."
)
SERVICES: dict[str, Service] = {
    s.id: s
    for s in (
        Service(
            "inoplan-order-select",
            "order-select",
            "Inotuzumab ozogamicin dose and cycle check",
            "Checks a selected inotuzumab ozogamicin (BESPONSA) order against the label: BSA dose, "
            "cycle position, hold and stop rules.",
            REQUIRED_ORDER,
            _USAGE,
        ),
        Service(
            "inoplan-order-sign",
            "order-sign",
            "Inotuzumab ozogamicin safety check before signing",
            "Before an inotuzumab ozogamicin order is signed: dose against BSA and cycle, blood "
            "counts, liver tests, VOD, QT co-medication and pregnancy checks, with label "
            "citations.",
            REQUIRED_ORDER,
            _USAGE,
        ),
        Service(
            "inoplan-patient-view",
            "patient-view",
            "Inotuzumab ozogamicin course summary",
            "Where the patient is in the inotuzumab ozogamicin course and what is due next "
            "(the only hook Oracle Health supports).",
            REQUIRED_VIEW,
            _USAGE,
        ),
    )
}


def discovery() -> dict[str, Any]:
    return {"services": [s.definition() for s in SERVICES.values()]}


# -- request models (tolerant: extra fields allowed, optional ones may be missing) ----------------


class _Loose(BaseModel):
    model_config = ConfigDict(extra="allow")


class FhirAuthorization(_Loose):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None
    patient: str | None = None


class CdsRequest(_Loose):
    hook: str
    hookInstance: str
    fhirServer: str | None = None
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any] = Field(default_factory=dict)
    prefetch: dict[str, Any] | None = None

    def patient_id(self) -> str | None:
        """The FHIR id of the patient in context (``123`` or ``Patient/123``), None when absent.

        Anything else (a URL, a path, a query, spaces, control characters) raises InvalidInput:
        the id goes into FHIR queries and must never change their path or parameters."""
        pid = self.context.get("patientId")
        if pid is None or (isinstance(pid, str) and not pid.strip()):
            return None
        return fhir_id(pid, "context.patientId", prefix="Patient/")


class OverrideReason(_Loose):
    reason: dict[str, Any] | None = None
    userComment: str | None = None


class FeedbackEntry(_Loose):
    card: str
    outcome: Literal["accepted", "overridden"]
    acceptedSuggestions: list[dict[str, Any]] | None = None
    overrideReason: OverrideReason | None = None
    outcomeTimestamp: str


class Feedback(_Loose):
    feedback: list[FeedbackEntry]


# -- handling -------------------------------------------------------------------------------------


class PreconditionFailed(Exception):
    """Required prefetch data is missing and cannot be fetched (HTTP 412)."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(", ".join(missing))
        self.missing = missing


@dataclass
class CdsSettings:
    label: str = "us"
    #: dose mismatch tolerance as a fraction; None = the label file's dose_deviation_percent (5 %)
    tolerance: Decimal | None = None
    public_url: str | None = None  # for links to the course page
    course_link: Callable[[str], str | None] | None = None  # patient id -> course page URL


Fetch = Callable[[str], Any]  # relative FHIR URL -> JSON (resource or Bundle); raises on failure
Decide = Callable[[dict[str, Any], date], dict[str, Any]]

#: FHIR R4 ``id``: letters, digits, "-" and ".", 1 to 64 characters.
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def fhir_id(value: object, field: str, *, prefix: str = "") -> str:
    """A FHIR id (optionally written ``Prefix/id``), or InvalidInput naming ``field``."""
    text = value.strip() if isinstance(value, str) else ""
    if prefix and text.startswith(prefix):
        text = text[len(prefix) :]
    if not _FHIR_ID.fullmatch(text) or text in (".", ".."):
        raise InvalidInput(field, "must be a FHIR id (letters, digits, '-' and '.', 1-64)")
    return text


def _render(template: str, context: Mapping[str, Any], patient_id: str) -> str:
    """Fill a prefetch template; every value is a checked FHIR id and is percent-encoded."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if name == "context.patientId":
            return quote(fhir_id(patient_id, name), safe="")
        if name.startswith("context."):
            raw = context.get(name.split(".", 1)[1])
            if raw is None:
                return ""
            kind = str(raw).split("/", 1)[0] + "/" if "/" in str(raw) else ""
            return quote(fhir_id(raw, name, prefix=kind), safe="")
        return ""

    return re.sub(r"\{\{([^}]+)\}\}", value, template)


def gather(
    service: Service, request: CdsRequest, fetch: Fetch | None
) -> tuple[dict[str, Any], list[str]]:
    """Prefetch values by key, fetching what is absent; returns (data, keys still missing)."""
    prefetch = dict(request.prefetch or {})
    patient_id = request.patient_id() or ""
    data: dict[str, Any] = {}
    missing: list[str] = []
    if fetch is not None and patient_id and hasattr(fetch, "start"):
        for key, template in PREFETCH.items():  # start every read at once
            if key not in prefetch:
                fetch.start(_render(template, request.context, patient_id))
    for key, template in PREFETCH.items():
        if key in prefetch:
            data[key] = prefetch[key]  # None = queried, nothing found
            continue
        if fetch is not None and patient_id:
            try:
                data[key] = fetch(_render(template, request.context, patient_id))
                continue
            except Exception:  # timeouts, HTTP errors: the key stays missing
                pass
        missing.append(key)
    return data, missing


def ordered_dose(resource: Mapping[str, Any]) -> OrderedDose:
    """mg/m2 and mg from a MedicationRequest's doseAndRate (typed by code, any system)."""
    per_m2: Decimal | None = None
    mg: Decimal | None = None
    for instruction in resource.get("dosageInstruction") or ():
        for entry in (instruction or {}).get("doseAndRate") or ():
            quantity = (entry or {}).get("doseQuantity")
            if not isinstance(quantity, Mapping) or quantity.get("value") is None:
                continue
            kind = {str(c.get("code")) for c in codings((entry or {}).get("type"))}
            unit = str(quantity.get("code") or quantity.get("unit") or "").replace(" ", "").lower()
            try:
                value = Decimal(str(quantity["value"]))
            except InvalidOperation:
                continue
            if unit in ("mg/m2", "mg/m^2", "mg/m²", "mg/(m2)"):
                if per_m2 is None or "ordered" in kind:
                    per_m2 = value
            elif unit in ("mg", "ug", "mcg"):
                value = value / 1000 if unit != "mg" else value
                if mg is None or kind & {"calculated", "admin-amount"}:
                    mg = value
    return OrderedDose(mg_per_m2=per_m2, mg=mg, resource=dict(resource))


def _order_date(resource: Mapping[str, Any]) -> date | None:
    for instruction in resource.get("dosageInstruction") or ():
        timing = (instruction or {}).get("timing") or {}
        for when in timing.get("event") or ():
            if isinstance(when, str) and len(when) >= 10:
                return _iso(when)
        bounds = (timing.get("repeat") or {}).get("boundsPeriod") or {}
        if isinstance(bounds.get("start"), str):
            return _iso(bounds["start"])
    return None


def _iso(text: str) -> date | None:
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


@dataclass
class CallResult:
    cards: list[dict[str, Any]]
    patient_id: str | None = None
    status: str | None = None  # the decision status, for the audit trail
    notes: list[str] = field(default_factory=list)


def handle_call(
    service_id: str,
    request: CdsRequest,
    *,
    today: date,
    decide: Decide,
    fetch: Fetch | None = None,
    settings: CdsSettings | None = None,
) -> CallResult:
    """Answer one CDS Hooks call with cards (raises PreconditionFailed for a 412)."""
    settings = settings or CdsSettings()
    service = SERVICES[service_id]
    patient_id = request.patient_id()
    link = None
    if patient_id and settings.course_link is not None:
        link = settings.course_link(patient_id)
    options = CardOptions(link_url=link, hook=service.hook)

    order_resource: dict[str, Any] | None = None
    if service.hook in ("order-select", "order-sign"):
        order_resource = _inotuzumab_order(request)
        if order_resource is None:
            return CallResult(cards=[], patient_id=patient_id)  # not an inotuzumab order
    if patient_id is None:
        raise PreconditionFailed(["context.patientId"])

    data, missing = gather(service, request, fetch)
    required_missing = [key for key in missing if key in service.required]
    if required_missing:
        raise PreconditionFailed(required_missing)
    if order_resource is None and not any(
        r.get("resourceType") == "MedicationAdministration" and is_inotuzumab(r)
        for r in resources_of(data.get("administrations"))
    ):
        # patient-view fires on every chart: no inotuzumab course on record, nothing to say
        return CallResult(cards=[], patient_id=patient_id)
    on = (_order_date(order_resource) if order_resource else None) or today
    try:
        imported = bundle_to_document(
            *data.values(), patient_id=patient_id, label=settings.label, start_date=on
        )
        options.notes = [
            *imported.notes,
            *(f"not available from the EHR: {key}" for key in missing),
        ]
        options.sources = _used_sources(imported.sources)
        if order_resource is not None:
            position = cycle_day_of(order_resource)
            if position:
                options.notes.append(f"order placed for cycle {position[0]} day {position[1]}")
        decision = decide(imported.document, on)
    except InvalidInput as exc:
        card = error_card(
            f"Cannot check this inotuzumab order: {exc.field} unusable",
            f"**Cannot decide**: the EHR data could not be used. `{exc.field}`: {exc.message}",
            options,
        )
        return CallResult(cards=[card], patient_id=patient_id, status="cannot_decide")
    order = ordered_dose(order_resource) if order_resource is not None else None
    _label_limits(options, decision, settings)
    cards = decision_cards(decision, order, options)
    return CallResult(
        cards=cards, patient_id=patient_id, status=str(decision.get("status")), notes=options.notes
    )


def _label_limits(options: CardOptions, decision: Mapping[str, Any], settings: CdsSettings) -> None:
    """The hard limit and the mismatch tolerance come from the label file, never from code."""
    from inoplan.knowledge.loader import load_label

    label = load_label(str(decision.get("label_revision") or settings.label))
    options.max_mg_per_m2 = label.limits.max_mg_per_m2_per_dose
    if settings.tolerance is not None:
        options.tolerance = settings.tolerance
    elif "dose_deviation_percent" in label.thresholds:
        options.tolerance = label.threshold("dose_deviation_percent").number / 100


def _used_sources(sources: Mapping[str, str]) -> dict[str, str]:
    """Keep the latest source per input name (``anc@2026-12-01`` -> ``anc``)."""
    latest: dict[str, tuple[str, str]] = {}
    for key, where in sources.items():
        name, _, when = key.partition("@")
        if name not in latest or when > latest[name][0]:
            latest[name] = (when, where)
    return {name: where for name, (_, where) in latest.items()}


def _inotuzumab_order(request: CdsRequest) -> dict[str, Any] | None:
    draft = request.context.get("draftOrders")
    resources = resources_of(draft)
    by_ref = {f"{r.get('resourceType')}/{r.get('id')}": r for r in resources if r.get("id")}
    selections = request.context.get("selections")
    if not isinstance(selections, list):
        selections = []
    for r in resources:
        if r.get("resourceType") != "MedicationRequest" or not is_inotuzumab(r, by_ref):
            continue
        selected = f"MedicationRequest/{r.get('id')}" in selections or r.get("id") in selections
        if request.hook == "order-select" and selections and not selected:
            continue
        return r
    return None
