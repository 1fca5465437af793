"""Decision (docs/decision.md) + the ordered dose -> CDS Hooks cards. Pure.

Indicator: ``critical`` for discontinue, a contraindication (a critical alert) or an order above
a hard limit; ``warning`` for hold, a dose mismatch, cannot-decide, an order for a day with no dose
due; ``info`` otherwise. Every card's detail lists the reasons with their label citations and
the inputs used, and ends with the disclaimer; ``source`` names the label revision and section.
"""

from __future__ import annotations

import itertools
import os
import secrets
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from inoplan import DISCLAIMER, __version__
from inoplan.interop import codes as k

__all__ = [
    "OVERRIDE_REASONS",
    "CardOptions",
    "OrderedDose",
    "decision_cards",
    "error_card",
    "shorten",
]

SUMMARY_MAX = 139  # CDS Hooks: "fewer than 140 characters"

OVERRIDE_REASONS: tuple[dict[str, str], ...] = (
    {
        "system": k.CS + "override-reason",
        "code": "clinical-judgement",
        "display": "Clinical judgement: benefit outweighs the risk",
    },
    {
        "system": k.CS + "override-reason",
        "code": "local-protocol",
        "display": "Dose or schedule set by a local protocol",
    },
    {
        "system": k.CS + "override-reason",
        "code": "data-outdated",
        "display": "EHR data shown here is outdated or wrong",
    },
    {
        "system": k.CS + "override-reason",
        "code": "already-addressed",
        "display": "Already addressed with the treating team",
    },
)


@dataclass(frozen=True)
class OrderedDose:
    """What the draft order asks for; either figure may be missing."""

    mg_per_m2: Decimal | None = None
    mg: Decimal | None = None
    resource: Mapping[str, Any] | None = None  # the draft MedicationRequest


@dataclass
class CardOptions:
    # The CDS service fills both from the label file (limits, dose_deviation_percent); the
    # defaults here only serve direct callers and equal the US label's values.
    tolerance: Decimal = Decimal("0.05")  # dose mismatch above this fraction -> warning
    max_mg_per_m2: Decimal = Decimal("0.8")  # the label's per-dose hard limit
    link_url: str | None = None  # the course page
    source_url: str | None = None
    notes: Sequence[str] = ()  # mapping notes (what was inferred or dropped)
    sources: Mapping[str, str] = field(default_factory=dict)  # input -> FHIR resource
    hook: str = "order-sign"
    new_uuid: Callable[[], str] = lambda: card_id()
    #: the detail text shared by a decision's cards: (decision, notes, sources, text)
    _shared: tuple[Any, Any, Any, str] | None = field(default=None, repr=False, compare=False)


_ids_lock = threading.Lock()
_ids: tuple[int, str, itertools.count[int]] | None = None  # (pid, random prefix, counter)


def card_id() -> str:
    """A unique card id, shaped as an RFC 4122 version-4 UUID.

    Each process draws 74 random bits once (``secrets``; again after a fork) and numbers its
    cards with a 48-bit counter in the last group: ids never repeat within a process, and two
    processes (workers, other machines) can only collide if their random prefixes are equal
    (chance about n**2 / 2**75 for n processes: 3e-11 for a million). Several times cheaper
    than ``uuid.uuid4()`` (no system call, no UUID object per card); CDS Hooks asks only that
    the id be unique.
    """
    global _ids
    state = _ids
    pid = os.getpid()
    if state is None or state[0] != pid:
        with _ids_lock:
            state = _ids
            if state is None or state[0] != pid:
                r = secrets.randbits(74)  # 48 + 12 + 2 + 12 bits around version/variant
                high, mid = r >> 26, (r >> 14) & 0xFFF
                prefix = (
                    f"{high >> 16:08x}-{high & 0xFFFF:04x}-4{mid:03x}-"
                    f"{8 | ((r >> 12) & 0x3):x}{r & 0xFFF:03x}-"
                )
                state = _ids = (pid, prefix, itertools.count())
    return f"{state[1]}{next(state[2]) & 0xFFFFFFFFFFFF:012x}"


def shorten(text: str, limit: int = SUMMARY_MAX) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, Mapping):
        if "value" in value:  # a lab input: value unit (x ULN, date)
            text = f"{_fmt(value['value'])} {value.get('unit', '')}".strip()
            extra = [f"{_fmt(value['x_uln'])} x ULN"] if value.get("x_uln") is not None else []
            extra += [str(value["date"])] if value.get("date") else []
            return text + (f" ({', '.join(extra)})" if extra else "")
        return ", ".join(f"{key} {_fmt(v)}" for key, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value)
    return str(value)


def _position(dose: Mapping[str, Any] | None) -> str:
    if not dose:
        return ""
    return f"C{dose.get('cycle')}D{dose.get('day')}"


def _md(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _detail(
    decision: Mapping[str, Any], options: CardOptions, lead: str, extra: Sequence[str] = ()
) -> str:
    lines = [lead, ""] if lead else []
    lines += list(extra)
    shared = options._shared
    if (
        shared is None
        or shared[0] is not decision
        or shared[1] is not options.notes
        or shared[2] is not options.sources
    ):  # built once per decision: every card of it lists the same reasons, data and notes
        shared = options._shared = (
            decision,
            options.notes,
            options.sources,
            _shared_detail(decision, options),
        )
    return "\n".join([*lines, shared[3]])


def _shared_detail(decision: Mapping[str, Any], options: CardOptions) -> str:
    lines: list[str] = []
    reasons = decision.get("reasons") or []
    if reasons:
        lines += ["**Reasons**", "", "| Rule | Finding | Source | Inputs |", "|---|---|---|---|"]
        for r in reasons:
            inputs = ", ".join(f"{key} = {_fmt(v)}" for key, v in (r.get("inputs") or {}).items())
            message = _md(r.get("message", ""))
            if r.get("interpretation"):
                message += f" *(interpretation: {_md(r['interpretation'])})*"
            lines.append(
                f"| `{r.get('rule', '')}` | {message} | {_md(r.get('citation', ''))} "
                f"| {_md(inputs)} |"
            )
        lines.append("")
    alerts = decision.get("alerts") or []
    if alerts:
        lines += ["**Alerts**", ""]
        for a in alerts:
            lines.append(
                f"- **{a.get('severity')}** `{a.get('code')}`: {a.get('message')} "
                f"({a.get('citation')})"
            )
        lines.append("")
    dose = decision.get("next_dose")
    if dose:
        facts = ", ".join(
            f"{key} = {_fmt(dose[key])}"
            for key in ("cycle", "day", "scheduled", "dose_mg_per_m2", "bsa_m2", "dose_mg")
            if dose.get(key) is not None
        )
        lines += [f"**Next dose**: {facts}", ""]
    if options.sources:
        lines += ["**Data used**", ""]
        lines += [f"- {name}: {where}" for name, where in sorted(options.sources.items())]
        lines.append("")
    if options.notes:
        lines += ["**How the EHR data was read**", ""]
        lines += [f"- {note}" for note in options.notes]
        lines.append("")
    lines += [
        f"Label revision {decision.get('label_revision', '?')}; "
        f"inoplan {decision.get('engine_version', __version__)}.",
        "",
        f"*{DISCLAIMER}*",
    ]
    return "\n".join(lines)


def _source(
    decision: Mapping[str, Any], options: CardOptions, topic: str, display: str
) -> dict[str, Any]:
    citation = next(
        (r.get("citation") for r in decision.get("reasons") or () if r.get("citation")), None
    ) or next((a.get("citation") for a in decision.get("alerts") or () if a.get("citation")), None)
    revision = decision.get("label_revision", "?")
    label = f"inoplan: BESPONSA label {revision}" + (f", {citation}" if citation else "")
    source: dict[str, Any] = {
        "label": label,
        "topic": {"system": k.CS + "card-topic", "code": topic, "display": display},
    }
    if options.source_url:
        source["url"] = options.source_url
    return source


def _card(
    summary: str,
    indicator: str,
    detail: str,
    source: dict[str, Any],
    options: CardOptions,
) -> dict[str, Any]:
    card: dict[str, Any] = {
        "uuid": options.new_uuid(),
        "summary": shorten(summary),
        "indicator": indicator,
        "detail": detail,
        "source": source,
    }
    if indicator != "info":
        card["overrideReasons"] = [dict(r) for r in OVERRIDE_REASONS]
    if options.link_url:
        card["links"] = [
            {"label": "Open the course in inoplan", "url": options.link_url, "type": "absolute"}
        ]
    return card


def _first_message(decision: Mapping[str, Any]) -> str:
    """The reason behind the status: the one whose verdict is the status, else the first."""
    reasons = decision.get("reasons") or []
    for r in reasons:
        if r.get("verdict") == decision.get("status"):
            return str(r.get("message", ""))
    return str(reasons[0].get("message", "")) if reasons else ""


def _q(value: Decimal, places: str = "0.01") -> Decimal:
    return value.quantize(Decimal(places), rounding=ROUND_HALF_UP)


def decision_cards(
    decision: Mapping[str, Any], order: OrderedDose | None, options: CardOptions
) -> list[dict[str, Any]]:
    """The cards for one decision and (for order hooks) the dose the order asks for."""
    options._shared = None  # the shared detail lives for this call only (notes may change)
    status = decision.get("status")
    dose = decision.get("next_dose") or None
    where = _position(dose)
    cards: list[dict[str, Any]] = []
    ordering = order is not None

    # 1. An order above the label's hard limit: always critical, whatever else is found.
    if (
        order is not None
        and order.mg_per_m2 is not None
        and order.mg_per_m2 > options.max_mg_per_m2
    ):
        detail = _detail(
            decision,
            options,
            f"The order asks for **{order.mg_per_m2} mg/m2**; the label's maximum single dose is "
            f"{options.max_mg_per_m2} mg/m2.",
        )
        cards.append(
            _card(
                f"Order {order.mg_per_m2} mg/m2 exceeds the {options.max_mg_per_m2} mg/m2 "
                "per-dose maximum",
                "critical",
                detail,
                _source(decision, options, "hard-limit", "Hard dose limit"),
                options,
            )
        )

    # 2. The decision itself.
    if status == "discontinue":
        message = _first_message(decision)
        cards.append(
            _card(
                f"Stop inotuzumab ozogamicin: {message}",
                "critical",
                _detail(decision, options, "**Treatment must stop permanently** per the label."),
                _source(decision, options, "discontinue", "Discontinue"),
                options,
            )
        )
    elif status == "hold":
        cards.append(
            _card(
                f"Hold {where}: {_first_message(decision)}",
                "warning",
                _detail(
                    decision,
                    options,
                    f"**Interrupt the dose {where}** until the criteria below recover.",
                ),
                _source(decision, options, "hold", "Hold dose"),
                options,
            )
        )
    elif status == "cannot_decide":
        cards.append(
            _card(
                f"Cannot check this dose: {_first_message(decision)}",
                "warning",
                _detail(
                    decision, options, "**No recommendation**: required data is missing or stale."
                ),
                _source(decision, options, "cannot-decide", "Cannot decide"),
                options,
            )
        )
    elif status == "complete":
        cards.append(
            _card(
                "Inotuzumab ozogamicin course complete: no further dose planned",
                "warning" if ordering else "info",
                _detail(decision, options, "The planned number of cycles is done."),
                _source(decision, options, "complete", "Course complete"),
                options,
            )
        )
    elif status == "wait":
        when = (dose or {}).get("scheduled") or (dose or {}).get("earliest")
        cards.append(
            _card(
                f"No inotuzumab dose due on {decision.get('as_of')}; next {where} on {when}",
                "warning" if ordering else "info",
                _detail(
                    decision, options, f"Next dose {where} from {(dose or {}).get('earliest')}."
                ),
                _source(decision, options, "schedule", "Schedule"),
                options,
            )
        )
    elif status == "give" and dose:
        mg = dose.get("dose_mg")
        cards.append(
            _card(
                f"{where}: {_fmt(dose.get('dose_mg_per_m2'))} mg/m2 x BSA "
                f"{_fmt(dose.get('bsa_m2'))} m2"
                f" = {_fmt(mg)} mg; label checks passed",
                "info",
                _detail(
                    decision, options, f"Dose {where} may be given on {decision.get('as_of')}."
                ),
                _source(decision, options, "dose-check", "Dose check"),
                options,
            )
        )

    # 3. Dose mismatch, with a suggestion to use the calculated dose.
    if order is not None and status == "give" and dose and dose.get("dose_mg") is not None:
        mismatch = _mismatch_card(decision, dose, order, options)
        if mismatch is not None:
            cards.append(mismatch)

    # 4. Critical and warning alerts as cards of their own (info alerts stay in the detail).
    for alert in decision.get("alerts") or ():
        severity = alert.get("severity")
        if severity not in ("critical", "warning"):
            continue
        if status in ("cannot_decide",) and alert.get("code") in ("MISSING_DATA", "STALE_LABS"):
            continue  # already the main card
        detail = _detail(
            {**decision, "alerts": [alert], "reasons": []},
            options,
            f"**{alert.get('code')}**: {alert.get('message')} ({alert.get('citation')})",
        )
        cards.append(
            _card(
                str(alert.get("message", alert.get("code"))),
                str(severity),
                detail,
                _source(
                    {**decision, "reasons": [], "alerts": [alert]},
                    options,
                    str(alert.get("code", "alert")).lower(),
                    str(alert.get("code")),
                ),
                options,
            )
        )
    return cards


def _mismatch_card(
    decision: Mapping[str, Any], dose: Mapping[str, Any], order: OrderedDose, options: CardOptions
) -> dict[str, Any] | None:
    calc_mg = Decimal(str(dose["dose_mg"]))
    calc_m2 = (
        Decimal(str(dose.get("dose_mg_per_m2"))) if dose.get("dose_mg_per_m2") is not None else None
    )
    bsa = Decimal(str(dose["bsa_m2"])) if dose.get("bsa_m2") is not None else None
    deviation: Decimal | None = None
    asked = ""
    if order.mg is not None and calc_mg > 0:
        deviation = (order.mg - calc_mg) / calc_mg
        asked = f"{order.mg} mg"
    elif order.mg_per_m2 is not None and calc_m2:
        deviation = (order.mg_per_m2 - calc_m2) / calc_m2
        asked = f"{order.mg_per_m2} mg/m2"
    if deviation is None or abs(deviation) <= options.tolerance:
        return None
    pct = _q(deviation * 100, "0.1")
    where = _position(dose)
    lead = (
        f"The order asks for **{asked}**; the label dose for {where} is "
        f"{_fmt(dose.get('dose_mg_per_m2'))} mg/m2 x {bsa} m2 = **{calc_mg} mg** "
        f"({'+' if pct > 0 else ''}{pct} %, tolerance {_q(options.tolerance * 100, '0.1')} %)."
    )
    card = _card(
        f"Ordered {asked} differs {'+' if pct > 0 else ''}{pct} % from the label dose "
        f"{calc_mg} mg ({where})",
        "warning",
        _detail(decision, options, lead),
        _source(decision, options, "dose-mismatch", "Dose mismatch"),
        options,
    )
    if order.resource is not None and order.resource.get("id"):
        card["selectionBehavior"] = "at-most-one"
        card["suggestions"] = [
            {
                "label": f"Use the calculated dose {calc_mg} mg "
                f"({_fmt(dose.get('dose_mg_per_m2'))} mg/m2)",
                "uuid": options.new_uuid(),
                "isRecommended": True,
                "actions": [
                    {
                        "type": "update",
                        "description": f"Set the dose to {_fmt(dose.get('dose_mg_per_m2'))} mg/m2 "
                        f"= {calc_mg} mg (BSA {bsa} m2)",
                        "resource": corrected_order(order.resource, dose),
                    }
                ],
            }
        ]
    return card


def corrected_order(resource: Mapping[str, Any], dose: Mapping[str, Any]) -> dict[str, Any]:
    """The whole draft MedicationRequest with the ordered mg/m2 and calculated mg doses."""
    updated = dict(resource)
    per_m2 = dose.get("dose_mg_per_m2")
    mg = dose.get("dose_mg")
    dose_and_rate = [
        {
            "type": {"coding": [{"system": k.DOSE_RATE_TYPE, "code": "ordered"}]},
            "doseQuantity": {"value": per_m2, "unit": "mg/m2", "system": k.UCUM, "code": "mg/m2"},
        },
        {
            "type": {"coding": [{"system": k.DOSE_RATE_TYPE, "code": "calculated"}]},
            "doseQuantity": {"value": mg, "unit": "mg", "system": k.UCUM, "code": "mg"},
        },
    ]
    instructions = [dict(d) for d in resource.get("dosageInstruction") or [{}]]
    first = dict(instructions[0]) if instructions else {}
    first["doseAndRate"] = dose_and_rate
    first["text"] = (
        f"{per_m2} mg/m2 ({mg} mg, BSA {dose.get('bsa_m2')} m2) IV over 1 hour, "
        f"cycle {dose.get('cycle')} day {dose.get('day')}"
    )
    updated["dosageInstruction"] = [first, *instructions[1:]]
    return updated


def error_card(summary: str, detail: str, options: CardOptions) -> dict[str, Any]:
    """A cannot-decide warning when the EHR data cannot be read (names the field)."""
    return _card(
        summary,
        "warning",
        "\n".join([detail, "", f"*{DISCLAIMER}*"]),
        {
            "label": f"inoplan {__version__}",
            "topic": {
                "system": k.CS + "card-topic",
                "code": "cannot-decide",
                "display": "Cannot decide",
            },
        },
        options,
    )
