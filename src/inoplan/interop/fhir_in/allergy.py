"""AllergyIntolerance -> ``patient.allergies`` (active, not refuted, not "no known allergy")."""

from __future__ import annotations

from inoplan.interop import codes as k
from inoplan.interop.fhir_in.common import Context, codings, label_of

__all__ = ["INACTIVE", "REFUTED", "allergies"]

INACTIVE = frozenset({"inactive", "resolved", "remission"})
REFUTED = frozenset({"refuted", "entered-in-error"})


def allergies(ctx: Context) -> list[str]:
    found: list[str] = []
    for a in ctx.of("AllergyIntolerance"):
        clinical = {c.get("code") for c in codings(a.get("clinicalStatus"))}
        verification = {c.get("code") for c in codings(a.get("verificationStatus"))}
        if clinical & INACTIVE or verification & REFUTED:
            continue
        if any(c.get("code") in k.NO_KNOWN_ALLERGY for c in codings(a.get("code"))):
            continue
        name = label_of(a.get("code"))
        if name and name not in found:
            found.append(name[:200])
    return found
