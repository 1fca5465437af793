"""Condition and Procedure -> toxicity and HSCT events, or the history flags (prior VOD/HSCT)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from inoplan.interop import codes as k
from inoplan.interop.fhir_in.allergy import INACTIVE, REFUTED
from inoplan.interop.fhir_in.common import (
    Context,
    codings,
    effective,
    event_id,
    extensions,
    has_code,
    ref,
    text_of,
    to_date,
    with_id,
)

__all__ = ["conditions", "is_hsct", "is_vod"]


def is_vod(concept: Any) -> bool:
    """SNOMED or ICD-10 VOD, or a toxicity code or a text that the one vocabulary codes as VOD
    (its ``vod`` category: "hepatic VOD", "SOS", "sinusoidal obstruction syndrome" ...)."""
    from inoplan.knowledge.vocabulary import load_vocabulary

    if has_code(concept, k.SNOMED, (k.SNOMED_VOD,)) or has_code(concept, k.ICD10CM, (k.ICD10_VOD,)):
        return True
    vocabulary = load_vocabulary()
    for coding in codings(concept):
        if coding.get("system") == k.CS + "toxicity" and vocabulary.is_category(
            str(coding.get("code") or ""), "vod"
        ):
            return True
    return any(t.category == "vod" for t in vocabulary.named_in(text_of(concept)))


def is_hsct(concept: Any) -> bool:
    if has_code(concept, k.SNOMED, (k.SNOMED_HSCT,)):
        return True
    text = text_of(concept).lower()
    return any(re.search(rf"(^|[^a-z]){re.escape(w)}([^a-z]|$)", text) for w in k.HSCT_TEXT)


def _severity_grade(condition: Mapping[str, Any]) -> int | None:
    ext = extensions(condition)
    if isinstance(ext.get("grade"), int):
        return int(ext["grade"])
    for c in codings(condition.get("severity")):
        if c.get("system") == k.SNOMED and c.get("code") in k.SEVERITY_GRADE:
            return k.SEVERITY_GRADE[str(c["code"])]
    text = text_of(condition.get("severity")).lower()
    for word, grade in (("severe", 3), ("moderate", 2), ("mild", 1)):
        if word in text:
            return grade
    return None


def conditions(ctx: Context, start: str, history: dict[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for c in ctx.of("Condition"):
        where = ref(c)
        verification = {x.get("code") for x in codings(c.get("verificationStatus"))}
        if verification & REFUTED:
            continue
        concept = c.get("code")
        ext = extensions(c)
        onset_period = c.get("onsetPeriod") if isinstance(c.get("onsetPeriod"), dict) else None
        onset = (
            to_date(c.get("onsetDateTime"))
            or to_date(onset_period.get("start") if onset_period else None)
            or to_date(c.get("recordedDate"))
        )
        term = next(
            (str(x.get("code")) for x in codings(concept) if x.get("system") == k.CS + "toxicity"),
            None,
        )
        if term is not None and onset is not None and isinstance(ext.get("grade"), int):
            event = {
                "date": onset.isoformat(),
                "type": "toxicity",
                "term": term,
                "grade": ext["grade"],
            }
            if isinstance(ext.get("related"), bool):
                event["related"] = ext["related"]
            events.append(with_id(event, event_id(c)))
            continue
        if is_vod(concept):
            clinical = {x.get("code") for x in codings(c.get("clinicalStatus"))}
            if onset is None or onset.isoformat() < start or clinical & INACTIVE:
                history["prior_vod"] = True
                ctx.notes.append(f"{where}: VOD before the course or resolved -> history.prior_vod")
                ctx.sources["prior_vod"] = where
                continue
            grade = _severity_grade(c)
            if grade is None:
                grade = 3
                ctx.notes.append(f"{where}: VOD severity not recorded; counted as grade 3")
            events.append(
                {"date": onset.isoformat(), "type": "toxicity", "term": "vod", "grade": grade}
            )
            ctx.sources[f"vod@{onset.isoformat()}"] = where
        elif is_hsct(concept):
            history["prior_hsct"] = True
            ctx.sources["prior_hsct"] = where
    events += _procedures(ctx, start, history)
    return events


def _procedures(ctx: Context, start: str, history: dict[str, Any]) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for p in ctx.of("Procedure"):
        concept = p.get("code")
        ours = has_code(concept, k.CS + "procedure", ("hsct",))
        if not (ours or is_hsct(concept)):
            continue
        if p.get("status") in ("entered-in-error", "not-done"):
            continue
        when = to_date(effective(p))
        planned = p.get("status") in ("preparation", "in-progress", "on-hold")
        if ours and when is not None:
            conditioning = extensions(p).get("conditioning") or []
            event = {
                "date": when.isoformat(),
                "type": "hsct",
                "planned": planned,
                "conditioning": list(conditioning)
                if isinstance(conditioning, list)
                else [conditioning],
            }
            events.append(with_id(event, event_id(p)))
        elif when is None or when.isoformat() < start:
            history["prior_hsct"] = True
            ctx.sources["prior_hsct"] = ref(p)
        else:
            events.append(
                {"date": when.isoformat(), "type": "hsct", "planned": planned, "conditioning": []}
            )
    return events
