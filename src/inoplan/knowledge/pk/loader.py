"""Read the shipped population PK models (``knowledge/pk/<id>.toml``) into domain values.

Standard library only (``tomllib``), checked by hand, cached (models are immutable). I/O: reads
package data files only.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Mapping
from importlib import resources
from typing import Any

from inoplan.domain.pk.model import (
    EFFECT_KINDS,
    PARAMETER_NAMES,
    SOURCE_TAGS,
    CovariateEffect,
    CovariateRange,
    LeanBodyMass,
    ModelParameter,
    PkModel,
    SourcedValue,
)
from inoplan.errors import InvalidInput, KnowledgeBaseError

__all__ = ["available_models", "load_pk_model", "select_model"]


def _files() -> Any:
    return resources.files("inoplan.knowledge.pk")


@functools.cache
def available_models() -> tuple[str, ...]:
    """Ids of the shipped models (file names without ``.toml``)."""
    return tuple(
        sorted(e.name[: -len(".toml")] for e in _files().iterdir() if e.name.endswith(".toml"))
    )


@functools.cache
def load_pk_model(model_id: str) -> PkModel:
    """Load one model by id (``garrett-2019``, ``wu-2024``).

    Raises
    ------
    KnowledgeBaseError
        When the id is unknown or the file is malformed (a release bug).
    """
    if model_id not in available_models():
        raise KnowledgeBaseError(
            f"no PK model {model_id!r}; available: {', '.join(available_models())}"
        )
    raw = tomllib.loads((_files() / f"{model_id}.toml").read_text(encoding="utf-8"))
    try:
        return _build(model_id, raw)
    except (KeyError, TypeError, ValueError) as exc:
        raise KnowledgeBaseError(f"PK model {model_id}: malformed ({exc!r})") from None


def select_model(age_years: int) -> PkModel:
    """The model that applies to a patient of this age at the first dose.

    Raises
    ------
    InvalidInput
        ``patient.birth_date`` when no shipped model covers the age.
    """
    for model_id in available_models():
        model = load_pk_model(model_id)
        if model.applies_to_age(age_years):
            return model
    ranges = "; ".join(
        f"{m.name}: {m.age_years_min} to under {m.age_years_below} years"
        for m in map(load_pk_model, available_models())
    )
    raise InvalidInput(
        "patient.birth_date",
        f"age {age_years} years at the first dose is outside every PK model ({ranges}); "
        "cannot predict exposure",
    )


def _sourced(table: Mapping[str, Any], key: str = "value", unit: str = "") -> SourcedValue:
    tag = str(table["source_tag"])
    if tag not in SOURCE_TAGS:
        raise ValueError(f"source_tag {tag!r}")
    return SourcedValue(float(table[key]), str(table.get("unit", unit)), tag, str(table["source"]))


def _effect(raw: Mapping[str, Any]) -> CovariateEffect:
    kind = str(raw["kind"])
    if kind not in EFFECT_KINDS:
        raise ValueError(f"effect kind {kind!r}")
    reference = raw.get("reference")
    if kind in {"power", "linear"} and reference is None:
        raise ValueError(f"{kind} effect on {raw['covariate']} needs a reference")
    tag = str(raw["source_tag"])
    if tag not in SOURCE_TAGS:
        raise ValueError(f"source_tag {tag!r}")
    return CovariateEffect(
        kind=kind,
        covariate=str(raw["covariate"]),
        coefficient=float(raw["coefficient"]),
        reference=None if reference is None else float(reference),
        only_when=raw.get("only_when"),
        source_tag=tag,
        source=str(raw["source"]),
    )


def _build(model_id: str, raw: Mapping[str, Any]) -> PkModel:
    meta = raw["model"]
    if meta["id"] != model_id:
        raise ValueError(f"model.id {meta['id']!r} does not match the file name")
    parameters = {
        p["name"]: ModelParameter(
            name=p["name"],
            description=p["description"],
            typical=_sourced(p),
            effects=tuple(_effect(e) for e in p.get("effects", [])),
        )
        for p in raw["parameter"]
    }
    if set(parameters) != set(PARAMETER_NAMES):
        raise ValueError(f"parameters {sorted(parameters)}; expected {sorted(PARAMETER_NAMES)}")
    covariates = {
        c["name"]: CovariateRange(
            name=c["name"],
            description=c["description"],
            unit=c["unit"],
            minimum=float(c["minimum"]),
            maximum=float(c["maximum"]),
            reference=float(c["reference"]),
            source_tag=c["source_tag"],
            source=c["source"],
            floor=float(c["floor"]) if "floor" in c else None,
            floor_source=c.get("floor_source", ""),
        )
        for c in raw["covariate"]
    }
    fixed = {k: float(v) for k, v in raw["fixed_covariates"].items()}
    used = {e.covariate for p in parameters.values() for e in p.effects}
    used |= {e.only_when for p in parameters.values() for e in p.effects if e.only_when}
    unknown = used - set(covariates) - set(fixed)
    if unknown:
        raise ValueError(f"effects use covariates without a range: {sorted(unknown)}")
    variability = raw["variability"]
    names = tuple(variability["parameters"])
    omega = tuple(tuple(float(x) for x in row) for row in variability["omega"])
    if any(len(row) != len(names) for row in omega) or len(omega) != len(names):
        raise ValueError("omega must be square with one row per IIV parameter")
    if any(omega[i][j] != omega[j][i] for i in range(len(names)) for j in range(len(names))):
        raise ValueError("omega must be symmetric")
    if not set(names) <= set(PARAMETER_NAMES):
        raise ValueError(f"IIV on unknown parameters {names}")
    lbm_raw = raw.get("lean_body_mass")
    lbm = None
    if lbm_raw is not None:
        lbm = LeanBodyMass(
            adult_age_years=int(lbm_raw["adult_age_years"]),
            boer_male={k: float(v) for k, v in lbm_raw["boer_male"].items()},
            boer_female={k: float(v) for k, v in lbm_raw["boer_female"].items()},
            peters={k: float(v) for k, v in lbm_raw["peters"].items()},
            source_tag=lbm_raw["source_tag"],
            source=lbm_raw["source"],
        )
    if meta["confirmation"] not in SOURCE_TAGS:
        raise ValueError(f"model.confirmation {meta['confirmation']!r}")
    selection = raw["selection"]
    return PkModel(
        id=model_id,
        name=meta["name"],
        citation=meta["citation"],
        population=meta["population"],
        structure=meta["structure"],
        confirmation=meta["confirmation"],
        confirmation_text=meta["confirmation_text"],
        sources=tuple(meta["sources"]),
        age_years_min=int(selection["age_years_min"]),
        age_years_below=int(selection["age_years_below"]),
        selection_source=selection["source"],
        parameters=parameters,
        fixed_covariates=fixed,
        fixed_covariates_source=dict(raw.get("fixed_covariates_source", {})),
        iiv_parameters=names,
        omega=omega,
        omega_source=f"[{variability['source_tag']}] {variability['source']}",
        residual_log_sd=_sourced(raw["residual"], "log_sd", "log"),
        covariates=covariates,
        reported_half_life_days=_sourced(raw["half_life"], "terminal_days", "days"),
        lean_body_mass=lbm,
    )
