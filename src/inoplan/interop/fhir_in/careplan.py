"""CarePlan (inoplan's own) -> the course document's ``plan`` block; else the first dose's date.
inoplan's change Tasks -> ``plan_change``, ``reschedule`` and ``dose_change`` events."""

from __future__ import annotations

from typing import Any

from inoplan.errors import InvalidInput
from inoplan.interop import codes as k
from inoplan.interop.fhir_in.common import (
    Context,
    codings,
    event_id,
    extensions,
    ref,
    to_date,
    with_id,
)

__all__ = ["changes", "plan"]

#: The fields each change event takes from its Task's ``input`` (as ``fhir_out`` writes them).
_INPUTS = {
    "plan_change": ("hsct_intended", "cycle1_days", "bsa_formula"),
    "reschedule": ("cycle", "day", "to"),
    "dose_change": ("cycle", "day", "dose_mg_per_m2"),
}


def plan(ctx: Context, administrations: list[dict[str, Any]]) -> dict[str, Any]:
    """The plan; sets ``ctx.label`` from inoplan's CarePlan when it names one."""
    out: dict[str, Any] = {}
    label = ctx.label
    for care_plan in ctx.of("CarePlan"):
        ext = extensions(care_plan)
        if "bsa_formula" not in ext and "vial" not in ext and "label" not in ext:
            continue  # not one of ours
        start = to_date((care_plan.get("period") or {}).get("start"))
        if start is not None:
            out["start_date"] = start.isoformat()
        for name in ("hsct_intended", "cycle1_days", "vial", "bsa_formula"):
            if name in ext:
                out[name] = ext[name]
        label = str(ext.get("label") or label)
        break
    if "start_date" not in out:
        first = min((a["date"] for a in administrations), default=None)
        start_text = first or (ctx.start_date.isoformat() if ctx.start_date else None)
        if start_text is None:
            raise InvalidInput(
                "plan.start_date",
                "no inotuzumab administration and no planned start: need the start date",
            )
        out["start_date"] = start_text
    out.setdefault("bsa_formula", "mosteller")
    ctx.label = label
    return out


def changes(ctx: Context) -> list[dict[str, Any]]:
    """inoplan's completed change Tasks (code ``https://inoplan.org/fhir/CodeSystem/event``) as
    the plan-editing events they were exported from; other Tasks are not ours and are skipped."""
    out: list[dict[str, Any]] = []
    for task in ctx.of("Task"):
        kind = next(
            (
                str(c.get("code"))
                for c in codings(task.get("code"))
                if c.get("system") == k.CS + "event" and c.get("code") in _INPUTS
            ),
            None,
        )
        if kind is None:
            continue
        where = ref(task)
        if task.get("status") != "completed":
            ctx.notes.append(f"{where} skipped: status {task.get('status')!r}")
            continue
        day = to_date(task.get("authoredOn"))
        if day is None:
            raise InvalidInput(f"{where}.authoredOn", "a change of the plan needs its date")
        reason = (task.get("reasonCode") or {}).get("text")
        if not isinstance(reason, str) or not reason.strip():
            raise InvalidInput(f"{where}.reasonCode.text", "a change of the plan needs its reason")
        event: dict[str, Any] = {"date": day.isoformat(), "type": kind, "reason": reason}
        for part in task.get("input") or ():
            if not isinstance(part, dict):
                continue
            name = next(
                (
                    str(c.get("code"))
                    for c in codings(part.get("type"))
                    if c.get("system") == k.CS + "change-input"
                ),
                None,
            )
            if name not in _INPUTS[kind]:
                continue
            value = next((v for key, v in part.items() if key.startswith("value")), None)
            if value is not None:
                event[name] = value
        ctx.sources[f"{kind}@{day.isoformat()}"] = f"{where} ({day.isoformat()})"
        out.append(with_id(event, event_id(task)))
    return out
