"""CarePlan (inoplan's own) -> the course document's ``plan`` block; else the first dose's date."""

from __future__ import annotations

from typing import Any

from inoplan.errors import InvalidInput
from inoplan.interop.fhir_in.common import Context, extensions, to_date

__all__ = ["plan"]


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
