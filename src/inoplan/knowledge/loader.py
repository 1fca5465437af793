"""Find, read and check shipped label revisions; hand back frozen domain types.

Reads TOML with the standard library (``parse_float=Decimal``, so 0.8 stays 0.8) and checks
the structure by hand rather than with pydantic: this module sits on the command line's start-up
path, where pydantic's import alone would cost more than the whole command. I/O: reads package
data files only.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from inoplan.domain.label import (
    AlertText,
    Citation,
    Contraindication,
    CycleCaps,
    DoseLimits,
    Label,
    Preparation,
    Regimen,
    RuleText,
    Schedule,
    ScheduledDose,
    Section,
    Storage,
    Threshold,
    Vial,
    render_citation,
)
from inoplan.errors import MalformedLabelData, UnknownLabelVersion

if TYPE_CHECKING:
    from inoplan.domain.vocabulary import Vocabulary

__all__ = ["CONFIDENCE_TAGS", "available_versions", "load_label", "read_raw", "resolve_label_id"]

CONFIDENCE_TAGS = frozenset({"C", "C-old", "C-sec", "UNCONFIRMED", "POLICY"})
SEVERITIES = frozenset({"critical", "warning", "info"})
_TOP_LEVEL = frozenset(
    {
        "schema",
        "label",
        "section",
        "regimen",
        "limits",
        "cycle_caps",
        "threshold",
        "preparation",
        "vial",
        "storage",
        "alert",
        "excipients",
        "contraindication",
        "rule",
    }
)


def _labels_dir() -> Path:
    # The package's own folder (importlib.resources would cost ~20 ms of start-up, mostly its
    # zip-file support, for a package that is always installed as plain files).
    return Path(__file__).with_name("labels")


@functools.cache
def available_versions() -> tuple[str, ...]:
    """Names of the shipped label revisions, oldest first within a region."""
    return tuple(sorted(e.name for e in _labels_dir().iterdir() if e.is_dir()))


def resolve_label_id(name: str) -> str:
    """``us``/``eu`` -> the newest revision of that label; a revision id is returned as is.

    >>> resolve_label_id("us")
    'us-2024-03'
    """
    versions = available_versions()
    if name in versions:
        return name
    region = [v for v in versions if v.split("-", 1)[0] == name]
    if not region:
        raise UnknownLabelVersion(name, ("us", "eu", *versions))
    return region[-1]


def read_raw(version: str) -> dict[str, Any]:
    """The label file as parsed TOML (Decimals for floats), for integrity checks."""
    if version not in available_versions():
        raise UnknownLabelVersion(version, available_versions())
    import tomllib  # here, not at import: a prebuilt label needs no TOML reader

    text = (_labels_dir() / version / "label.toml").read_text(encoding="utf-8")
    try:
        return tomllib.loads(text, parse_float=Decimal)
    except tomllib.TOMLDecodeError as exc:
        raise MalformedLabelData(version, str(exc)) from exc


@functools.cache  # safe: Label is immutable
def load_label(name: str) -> Label:
    """Load one label revision (``us``, ``eu`` or a revision id such as ``us-2024-03``).

    Raises
    ------
    UnknownLabelVersion
        If no such revision is shipped.
    MalformedLabelData
        If the file does not have the expected structure (a release bug).
    """
    from inoplan.knowledge.prebuilt import prebuilt, source_files

    version = resolve_label_id(name)
    files = (
        _labels_dir() / version / "label.toml",
        *source_files("knowledge/loader.py", "domain/label.py"),
    )
    return prebuilt(f"label-{version}", files, lambda: _Reader(version, read_raw(version)).label())


def _vocabulary() -> Vocabulary:
    """The shared vocabulary, read on first use (kept off the start-up path)."""
    from inoplan.knowledge.vocabulary import load_vocabulary

    return load_vocabulary()


class _Reader:
    """Typed access to the raw TOML with errors that name the offending key."""

    def __init__(self, version: str, raw: Mapping[str, Any]) -> None:
        self.version = version
        self.raw = raw
        self.sections: dict[str, Section] = {}
        self.prefix = ""

    # -- primitives -------------------------------------------------------------------
    def _fail(self, path: str, problem: str) -> MalformedLabelData:
        return MalformedLabelData(self.version, f"{path}: {problem}")

    def table(self, data: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
        value = data.get(key)
        if not isinstance(value, Mapping):
            raise self._fail(f"{path}.{key}".strip("."), "missing table")
        return value

    def text(self, data: Mapping[str, Any], key: str, path: str, default: str | None = None) -> str:
        value = data.get(key, default)
        if not isinstance(value, str) or not value:
            raise self._fail(f"{path}.{key}", "missing text")
        return value

    def number(self, data: Mapping[str, Any], key: str, path: str) -> Decimal:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise self._fail(f"{path}.{key}", "missing number")
        return Decimal(value)

    def integer(self, data: Mapping[str, Any], key: str, path: str) -> int:
        value = data.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._fail(f"{path}.{key}", "missing integer")
        return value

    def ints(self, data: Mapping[str, Any], key: str, path: str) -> tuple[int, ...]:
        value = data.get(key)
        if not isinstance(value, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value
        ):
            raise self._fail(f"{path}.{key}", "missing list of integers")
        return tuple(value)

    def texts(self, data: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self._fail(f"{path}.{key}", "expected a list of texts")
        return tuple(value)

    def citation(
        self, data: Mapping[str, Any], path: str, key: str = "cite", conf_key: str = "confidence"
    ) -> Citation:
        anchor = self.text(data, key, path)
        confidence = self.text(data, conf_key, path, default="C")
        if confidence not in CONFIDENCE_TAGS:
            raise self._fail(f"{path}.{conf_key}", f"unknown confidence tag {confidence!r}")
        section = self.sections.get(anchor)
        if section is None:
            raise self._fail(f"{path}.{key}", f"cites unknown section {anchor!r}")
        return render_citation(self.prefix, section, confidence)

    # -- whole label ------------------------------------------------------------------
    def label(self) -> Label:
        raw = self.raw
        if raw.get("schema") != 1:
            raise self._fail("schema", "expected schema = 1")
        unknown = set(raw) - _TOP_LEVEL
        if unknown:
            raise self._fail(sorted(unknown)[0], "unknown top-level table")
        meta = self.table(raw, "label", "")
        if self.text(meta, "id", "label") != self.version:
            raise self._fail("label.id", f"does not match its folder {self.version!r}")
        self.prefix = self.text(meta, "citation_prefix", "label")
        for anchor, sec in self.table(raw, "section", "").items():
            path = f"section.{anchor}"
            self.sections[anchor] = Section(
                anchor=anchor,
                number=self.text(sec, "number", path),
                heading=self.text(sec, "heading", path),
                table=sec.get("table"),
                external=bool(sec.get("external", False)),
            )
        return Label(
            id=self.version,
            region=self.text(meta, "region", "label"),
            name=self.text(meta, "name", "label"),
            citation_prefix=self.prefix,
            revision_date=self.text(meta, "revision_date", "label"),
            min_age_years=self.number(meta, "min_age_years", "label"),
            min_age_citation=self.citation(meta, "label", "min_age_cite", "min_age_confidence"),
            contraindications=self.texts(meta, "contraindications", "label"),
            sections=dict(self.sections),
            regimen=self.regimen(),
            limits=self.limits(),
            caps=self.caps(),
            thresholds=self.thresholds(),
            preparation=self.preparation(),
            vials=self.vials(),
            storage=self.storage(),
            alerts=self.alerts(),
            excipients=self.texts(self.table(raw, "excipients", ""), "substances", "excipients"),
            excipients_citation=self.citation(self.table(raw, "excipients", ""), "excipients"),
            contraindication_details=self.contraindications(),
            rules=self.rules(),
            vocabulary_source=_vocabulary,
        )

    def rules(self) -> dict[str, RuleText]:
        """``[rule.*]``: texts and term lists of the decision engine (issue 3)."""
        result: dict[str, RuleText] = {}
        for key, row in self.raw.get("rule", {}).items():
            path = f"rule.{key}"
            result[key] = RuleText(
                id=key,
                text=self.text(row, "text", path),
                citation=self.citation(row, path),
                terms=self.texts(row, "terms", path),
                interpretation=row.get("interpretation"),
            )
        return result

    def contraindications(self) -> dict[str, Contraindication]:
        codes = self.texts(self.table(self.raw, "label", ""), "contraindications", "label")
        details = self.raw.get("contraindication", {})
        result: dict[str, Contraindication] = {}
        for code in codes:
            path = f"contraindication.{code}"
            if code not in details:
                raise self._fail(path, "listed in label.contraindications but not described")
            row = details[code]
            result[code] = Contraindication(
                code=code,
                text=self.text(row, "text", path),
                citation=self.citation(row, path),
                interpretation=row.get("interpretation"),
            )
        extra = set(details) - set(codes)
        if extra:
            raise self._fail(f"contraindication.{sorted(extra)[0]}", "not listed in label")
        return result

    def regimen(self) -> Regimen:
        reg = self.table(self.raw, "regimen", "")
        schedules: dict[str, Schedule] = {}
        for i, row in enumerate(reg.get("schedule", [])):
            path = f"regimen.schedule[{i}]"
            sid = self.text(row, "id", path)
            if sid in schedules:
                raise self._fail(f"{path}.id", f"duplicate schedule id {sid!r}")
            doses = tuple(
                ScheduledDose(
                    day=self.integer(d, "day", f"{path}.doses[{j}]"),
                    mg_per_m2=self.number(d, "mg_per_m2", f"{path}.doses[{j}]"),
                )
                for j, d in enumerate(row.get("doses", []))
            )
            schedules[sid] = Schedule(sid, self.text(row, "applies_to", path), doses)
        for needed in ("cycle-1", "later-after-cr", "later-no-cr"):
            if needed not in schedules:
                raise self._fail("regimen.schedule", f"missing schedule {needed!r}")
        return Regimen(
            dose_days=self.ints(reg, "dose_days", "regimen"),
            cycle1_days=self.integer(reg, "cycle1_days", "regimen"),
            cycle1_days_allowed=self.ints(reg, "cycle1_days_allowed", "regimen"),
            cycle1_extension_note=self.text(reg, "cycle1_extension_note", "regimen"),
            later_cycle_days=self.integer(reg, "later_cycle_days", "regimen"),
            day_window_days=self.integer(reg, "day_window_days", "regimen"),
            min_days_between_doses=self.integer(reg, "min_days_between_doses", "regimen"),
            infusion_minutes=self.integer(reg, "infusion_minutes", "regimen"),
            remission_statuses=self.texts(reg, "remission_statuses", "regimen"),
            remission_interpretation=self.text(reg, "remission_interpretation", "regimen"),
            schedules=schedules,
            citation=self.citation(reg, "regimen"),
        )

    def limits(self) -> DoseLimits:
        lim = self.table(self.raw, "limits", "")
        return DoseLimits(
            max_mg_per_m2_per_dose=self.number(lim, "max_mg_per_m2_per_dose", "limits"),
            max_mg_per_m2_per_cycle=self.number(lim, "max_mg_per_m2_per_cycle", "limits"),
            interpretation=self.text(lim, "interpretation", "limits"),
            citation=self.citation(lim, "limits"),
        )

    def caps(self) -> CycleCaps:
        caps = self.table(self.raw, "cycle_caps", "")
        return CycleCaps(
            hsct_intended=self.integer(caps, "hsct_intended", "cycle_caps"),
            hsct_third_cycle_option=bool(caps.get("hsct_third_cycle_option", False)),
            no_hsct=self.integer(caps, "no_hsct", "cycle_caps"),
            no_response_stop_after_cycles=self.integer(
                caps, "no_response_stop_after_cycles", "cycle_caps"
            ),
            hsct_undecided_interpretation=self.text(
                caps, "hsct_undecided_interpretation", "cycle_caps"
            ),
            citation=self.citation(caps, "cycle_caps"),
        )

    def thresholds(self) -> dict[str, Threshold]:
        result: dict[str, Threshold] = {}
        for key, row in self.table(self.raw, "threshold", "").items():
            path = f"threshold.{key}"
            raw_value = row.get("value")
            value: Decimal | tuple[Decimal, ...]
            if isinstance(raw_value, list):
                value = tuple(Decimal(v) for v in raw_value)
            else:
                value = self.number(row, "value", path)
            result[key] = Threshold(
                id=key,
                value=value,
                unit=self.text(row, "unit", path),
                citation=self.citation(row, path),
                note=row.get("note"),
                interpretation=row.get("interpretation"),
            )
        return result

    def preparation(self) -> Preparation:
        p = self.table(self.raw, "preparation", "")
        path = "preparation"
        return Preparation(
            reconstitution_diluent=self.text(p, "reconstitution_diluent", path),
            reconstituted_mg_per_ml=self.number(p, "reconstituted_mg_per_ml", path),
            diluent=self.text(p, "diluent", path),
            standard_final_volume_ml=self.number(p, "standard_final_volume_ml", path),
            infusion_minutes=self.integer(p, "infusion_minutes", path),
            infusion_temperature=self.text(p, "infusion_temperature", path),
            handling=self.text(p, "handling", path),
            bag_materials=self.text(p, "bag_materials", path),
            filter_note=self.text(p, "filter_note", path),
            final_concentration_min_mg_per_ml=self.number(
                p, "final_concentration_min_mg_per_ml", path
            ),
            final_concentration_max_mg_per_ml=self.number(
                p, "final_concentration_max_mg_per_ml", path
            ),
            final_concentration_citation=self.citation(
                p, path, "final_concentration_cite", "final_concentration_confidence"
            ),
            final_concentration_note=self.text(p, "final_concentration_note", path),
            syringe_pathway_note=self.text(p, "syringe_pathway_note", path),
            reconstitution_to_dilution_max_hours=self.number(
                p, "reconstitution_to_dilution_max_hours", path
            ),
            reconstitution_to_end_of_infusion_max_hours=self.number(
                p, "reconstitution_to_end_of_infusion_max_hours", path
            ),
            timing_citation=self.citation(p, path, "timing_cite", "timing_confidence"),
            observation_note=self.text(p, "observation_note", path),
            citation=self.citation(p, path),
        )

    def vials(self) -> dict[str, Vial]:
        result: dict[str, Vial] = {}
        for key, v in self.table(self.raw, "vial", "").items():
            path = f"vial.{key}"
            result[key] = Vial(
                id=key,
                name=self.text(v, "name", path),
                nominal_mg=self.number(v, "nominal_mg", path),
                deliverable_mg=self.number(v, "deliverable_mg", path),
                reconstitution_ml=self.number(v, "reconstitution_ml", path),
                deliverable_ml=self.number(v, "deliverable_ml", path),
                citation=self.citation(v, path),
                note=v.get("note"),
            )
        return result

    def storage(self) -> Storage:
        s = self.table(self.raw, "storage", "")
        parts = ("unopened", "reconstituted", "diluted")
        confidence = {k: self.text(s, f"{k}_confidence", "storage") for k in parts}
        for k, tag in confidence.items():
            if tag not in CONFIDENCE_TAGS:
                raise self._fail(f"storage.{k}_confidence", f"unknown tag {tag!r}")
        return Storage(
            unopened=self.text(s, "unopened", "storage"),
            reconstituted=self.text(s, "reconstituted", "storage"),
            diluted=self.text(s, "diluted", "storage"),
            confidence=confidence,
            citation=self.citation(s, "storage", conf_key="unopened_confidence"),
        )

    def alerts(self) -> dict[str, AlertText]:
        result: dict[str, AlertText] = {}
        for code, a in self.table(self.raw, "alert", "").items():
            path = f"alert.{code}"
            severity = self.text(a, "severity", path)
            if severity not in SEVERITIES:
                raise self._fail(f"{path}.severity", f"unknown severity {severity!r}")
            result[code] = AlertText(
                code=code,
                severity=severity,
                message=self.text(a, "message", path),
                citation=self.citation(a, path),
            )
        return result
