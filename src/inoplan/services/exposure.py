"""Exposure use case: a course document -> infusions -> PK simulation -> docs/exposure.md JSON.

Three parts (issue 12): the simulation is the domain's (``domain.pk``: ``schedule`` turns the
course and its plan into infusions and cycle windows, ``simulate``/``population`` integrate);
this module is the use case (validate, choose the plan and the model, gather covariates, run,
render JSON); ``services.exposure_runner`` runs a population's chunks in-process or on Dask, and
``services.exposure_plot`` draws the SVG from the JSON result.

The doses simulated are the administrations recorded (at their ``time``, over ``duration_min``,
with the mg actually given) plus the doses the plan still expects (``status: planned`` with a
dose in mg). Time runs in hours from the start of the first infusion (local clock time; the
course document carries no time zone). A cycle runs from the start of its day-1 infusion to the
next cycle's day 1; the last cycle ends after its planned length.

The model is chosen by age at the first dose (Garrett 2019 for adults, Wu 2024 for children,
``knowledge/pk``); covariates outside a model's range are refused, a missing baseline blast value
is replaced by the model's reference value and the output says so. Population runs draw every
random effect up front from the seed, split the subjects into chunks and run them in-process or
on a Dask cluster (``dask_address``); the percentiles are the same either way.

NumPy is imported inside the functions (the CLI stays light); this module imports neither Dask
nor matplotlib.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Final, NotRequired, TypedDict

from inoplan import DISCLAIMER, __version__
from inoplan.document import parse_course
from inoplan.domain.course import Course, LabsEvent, age_years
from inoplan.domain.pk.model import CovariateValue, PkModel, TypicalParameters, terminal_half_life_h
from inoplan.domain.pk.schedule import (
    DEFAULT_TIME,
    DoseForExposure,
    cycle_windows,
    doses_for_exposure,
    infusions_of,
    time_grid,
)
from inoplan.domain.policy import SitePolicy
from inoplan.errors import InvalidInput
from inoplan.knowledge.loader import load_label
from inoplan.knowledge.pk import select_model

if TYPE_CHECKING:  # pragma: no cover
    from inoplan.domain.label import Label
    from inoplan.domain.pk.population import Summary
    from inoplan.domain.planner import TreatmentPlan

__all__ = [
    "MAX_POPULATION",
    "NO_EXPOSURE_TARGET",
    "ExposureJson",
    "exposure_json",
]


# -- the JSON of docs/exposure.md (TypedDicts: the objects as printed, keys in their order) -----


class CovariateJson(TypedDict):
    value: float
    unit: str
    origin: str
    defaulted: bool
    floored: bool


class CovariateEffectJson(TypedDict):
    kind: str
    covariate: str
    coefficient: float
    reference: float | None
    only_when: str | None
    source_tag: str


class ParameterJson(TypedDict):
    value_for_patient: float
    reference_value: float
    unit: str
    source_tag: str
    source: str
    covariate_effects: list[CovariateEffectJson]


class FixedCovariateJson(TypedDict):
    value: float
    why: str


class VariabilityJson(TypedDict):
    parameters: list[str]
    omega: list[list[float]]
    source: str


class ModelJson(TypedDict):
    id: str
    name: str
    citation: str
    population: str
    structure: str
    confirmation: str
    confirmation_text: str
    sources: list[str]
    selection: str
    parameters: dict[str, ParameterJson]
    fixed_covariates: dict[str, FixedCovariateJson]
    inter_individual_variability: VariabilityJson
    reported_terminal_half_life_days: float


class ExposureDoseJson(TypedDict):
    cycle: int
    day: int
    start: str
    start_h: float
    duration_min: int
    dose_mg: float
    status: str
    provisional: bool


class NumericsJson(TypedDict):
    method: str
    typical_rtol: float
    typical_steps: int


class SummaryJson(TypedDict):
    """A population statistic: mean, percentiles and the typical patient's value."""

    mean: float
    p5: float
    p50: float
    p95: float
    typical: float


class TypicalCycleJson(TypedDict):
    """One cycle's exposure of the typical patient."""

    cycle: int
    start: str
    end: str
    start_h: float
    end_h: float
    cmax_ng_per_ml: float
    ctrough_ng_per_ml: float
    auc_ng_h_per_ml: float


class PopulationCycleJson(TypedDict):
    """One cycle's exposure over a population (the typical patient's value in each)."""

    cycle: int
    start: str
    end: str
    start_h: float
    end_h: float
    cmax_ng_per_ml: SummaryJson
    ctrough_ng_per_ml: SummaryJson
    auc_ng_h_per_ml: SummaryJson


class BandJson(TypedDict):
    subjects: int
    time_h: list[float]
    mean_ng_per_ml: list[float]
    p5_ng_per_ml: list[float]
    p50_ng_per_ml: list[float]
    p95_ng_per_ml: list[float]


class PopulationJson(TypedDict):
    n: int
    seed: int
    chunks: int
    chunk_size: int
    executor: str
    variability: str
    statistics: str
    rtol: float
    steps: int
    series: NotRequired[BandJson]


class SeriesJson(TypedDict):
    time_h: list[float]
    conc_ng_per_ml: list[float]


class _ExposureHead(TypedDict):
    model: str
    model_id: str
    model_details: ModelJson
    covariates: dict[str, CovariateJson]
    label_revision: str
    engine_version: str
    time_origin: str
    doses: list[ExposureDoseJson]
    holds: list[dict[str, Any]]  # domain.pk.schedule: cycle, day, scheduled, status
    not_simulated: list[dict[str, Any]]  # domain.pk.schedule: cycle, day, scheduled, reason
    end_h: float
    clearance_l_per_h: float
    terminal_half_life_days: float
    numerics: NumericsJson
    cycles: list[TypicalCycleJson] | list[PopulationCycleJson]
    cumulative_auc_ng_h_per_ml: float | SummaryJson
    population: NotRequired[PopulationJson]
    series: NotRequired[SeriesJson]


class ExposureJson(_ExposureHead):
    """``inoplan pk --json`` (docs/exposure.md); ``population`` only with a population,
    ``series`` with the curves."""

    notes: list[str]
    exposure_target: str
    disclaimer: str


#: The label defines no exposure target (docs/pk-model.md section 7); say so with every result.
NO_EXPOSURE_TARGET: Final = (
    "The label defines no exposure target and no exposure-toxicity threshold for inotuzumab "
    "ozogamicin: these model predictions are information, not a dosing rule."
)
#: Largest virtual population accepted (memory and time bound, not a clinical number).
MAX_POPULATION: Final = 200_000
#: Subjects per chunk of a population run (in-process and on Dask alike, so results agree).
DEFAULT_CHUNK_SIZE: Final = 10_000
#: Relative tolerances of the integrator: the typical patient (one subject, cheap) and the
#: population (the realised error against solve_ivp at rtol 1e-10 is about 1e-8 at 1e-6).
TYPICAL_RTOL: Final = 1e-8
POPULATION_RTOL: Final = 1e-6
#: Resolution of the curves: the typical curve hourly; the population band on <= 1000 points.
SERIES_STEP_H: Final = 1.0
POPULATION_SERIES_POINTS: Final = 1000
#: The population band is computed from the chunks that start below this many subjects
#: (20,000 curves of 1000 points are 160 MB); the output says how many subjects it used.
BAND_MAX_SUBJECTS: Final = 20_000
#: How long to wait for a Dask scheduler before giving up.
DASK_CONNECT_TIMEOUT = "10s"
_METHOD: Final = (
    "Dormand-Prince 8(5,3) embedded Runge-Kutta (DOP853), vectorised over subjects, adaptive "
    "step shared by the subjects of a chunk, AUC as an extra state, breakpoints at every "
    "infusion start and stop and cycle boundary"
)


def exposure_json(
    document: Mapping[str, Any],
    *,
    population: int | None = None,
    seed: int | None = None,
    series: bool = False,
    dask_address: str | None = None,
    policy: SitePolicy | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    rtol: float = POPULATION_RTOL,
    on: date | None = None,
) -> ExposureJson:
    """``inoplan pk`` as JSON (docs/exposure.md).

    Parameters
    ----------
    document
        A course document (docs/course-document.md).
    population
        Number of virtual subjects with the patient's covariates and the model's IIV; ``None``
        for the typical patient only.
    seed
        Seed of the random generator (a fresh one is drawn and reported when ``None``).
    series
        With a population, also return the curves (typical curve and p5/p50/p95 band).
    dask_address
        Scheduler address (``tcp://host:8786``); in-process when ``None``.
    policy
        Site policy (BSA rounding for the covariate and the planned doses).
    chunk_size
        Subjects per chunk; the same seed and chunk size give the same result in-process and
        on Dask.
    rtol
        Relative tolerance of the population integration (the typical patient uses
        ``TYPICAL_RTOL``).
    on
        The date the planned doses are as of (the decision engine's plan of that date: its
        reductions, omissions, holds and stop). Default: today, or the date of the latest
        record when that is later (every recorded dose is known).

    Raises
    ------
    InvalidInput
        Naming the field: invalid document, nothing to simulate, a covariate outside the
        model's range, a missing height/weight, a bad population size or an unreachable
        scheduler.
    """
    import numpy as np

    from inoplan.domain.pk.simulate import SubjectArrays, simulate_exposure

    policy = policy or SitePolicy()
    if population is not None and not 1 <= population <= MAX_POPULATION:
        raise InvalidInput(
            "population", f"must be between 1 and {MAX_POPULATION}, not {population}"
        )
    if seed is not None and seed < 0:
        raise InvalidInput("seed", f"must be 0 or more, not {seed}")
    if population is None and (seed is not None or dask_address is not None):
        field = "seed" if seed is not None else "dask"
        raise InvalidInput(field, "only meaningful with --population")
    course = parse_course(document)
    label = load_label(course.label)
    plan, plan_note = _plan(course, label, policy, on)
    doses, holds, not_simulated = doses_for_exposure(course, plan)
    if not doses:
        raise InvalidInput(
            "events",
            "nothing to simulate: no administration recorded and no planned dose with a dose "
            "in mg (a planned dose needs a height and weight for its BSA)",
        )
    origin = doses[0].start
    infusions = infusions_of(doses, origin)
    windows = cycle_windows(doses, origin, course, label, plan)
    model, covariates = patient_covariates(course, origin.date(), policy)
    typical = model.typical_parameters({c.name: c.value for c in covariates})
    end_h = windows[-1].end_h

    want_series = population is None or series
    times = time_grid(infusions, windows, SERIES_STEP_H) if want_series else None
    typical_run = simulate_exposure(
        SubjectArrays.from_typical(typical), infusions, windows, times_h=times, rtol=TYPICAL_RTOL
    )

    doses_json: list[ExposureDoseJson] = [
        {
            "cycle": d.cycle,
            "day": d.day,
            "start": d.start.isoformat(timespec="minutes"),
            "start_h": _round(i.start_h, 4),
            "duration_min": d.duration_min,
            "dose_mg": float(d.dose_mg),
            "status": d.status,
            "provisional": d.provisional,
        }
        for d, i in zip(doses, infusions, strict=True)
    ]
    typical_cycles: list[TypicalCycleJson] = [
        {
            "cycle": cycle,
            "start": (origin + timedelta(hours=w.start_h)).isoformat(timespec="minutes"),
            "end": (origin + timedelta(hours=w.end_h)).isoformat(timespec="minutes"),
            "start_h": _round(w.start_h, 4),
            "end_h": _round(w.end_h, 4),
            "cmax_ng_per_ml": _round(typical_run.cmax_ng_per_ml[0, j], 3),
            "ctrough_ng_per_ml": _round(typical_run.ctrough_ng_per_ml[0, j], 3),
            "auc_ng_h_per_ml": _round(typical_run.auc_ng_h_per_ml[0, j], 1),
        }
        for j, (cycle, w) in enumerate(zip(typical_run.cycles, windows, strict=True))
    ]
    typical_cumulative = _round(typical_run.cumulative_auc_ng_h_per_ml[0], 1)
    cycles: list[TypicalCycleJson] | list[PopulationCycleJson] = typical_cycles
    cumulative: float | SummaryJson = typical_cumulative
    population_json: PopulationJson | None = None
    if population is not None:
        from inoplan.domain.pk.population import draw_random_effects, split, summarise
        from inoplan.services.exposure_runner import run_chunks

        if seed is None:
            # fresh OS entropy; below 2**53 so that JSON consumers keep it exact
            seed = int(np.random.default_rng().integers(0, 2**53))
        etas = draw_random_effects(model.omega, population, rng=np.random.default_rng(seed))
        band_times = (
            time_grid(infusions, windows, max(SERIES_STEP_H, end_h / POPULATION_SERIES_POINTS))
            if series
            else None
        )
        chunks = split(population, chunk_size)
        runs = run_chunks(
            typical,
            model.iiv_parameters,
            etas,
            chunks,
            infusions,
            windows,
            band_times,
            rtol,
            dask_address,
            band_max_subjects=BAND_MAX_SUBJECTS,
            connect_timeout=DASK_CONNECT_TIMEOUT,
        )
        cmax = summarise(np.concatenate([r.cmax_ng_per_ml for r in runs]))
        trough = summarise(np.concatenate([r.ctrough_ng_per_ml for r in runs]))
        auc = summarise(np.concatenate([r.auc_ng_h_per_ml for r in runs]))
        cumulative_runs = np.concatenate([r.cumulative_auc_ng_h_per_ml for r in runs])
        population_cycles: list[PopulationCycleJson] = [
            {
                "cycle": base["cycle"],
                "start": base["start"],
                "end": base["end"],
                "start_h": base["start_h"],
                "end_h": base["end_h"],
                "cmax_ng_per_ml": _summary(cmax, j, 3, base["cmax_ng_per_ml"]),
                "ctrough_ng_per_ml": _summary(trough, j, 3, base["ctrough_ng_per_ml"]),
                "auc_ng_h_per_ml": _summary(auc, j, 1, base["auc_ng_h_per_ml"]),
            }
            for j, base in enumerate(typical_cycles)
        ]
        cycles = population_cycles
        cumulative = _summary(summarise(cumulative_runs), None, 1, typical_cumulative)
        population_json = {
            "n": population,
            "seed": seed,
            "chunks": len(chunks),
            "chunk_size": chunk_size,
            "executor": f"dask ({dask_address})" if dask_address else "in-process",
            "variability": (
                f"log-normal IIV on {', '.join(model.iiv_parameters)} ({model.omega_source})"
            ),
            "statistics": (
                "mean and 5th/50th/95th percentiles (linear interpolation) over virtual "
                "subjects who share the patient's covariates"
            ),
            "rtol": rtol,
            "steps": sum(r.steps for r in runs),
        }
        if series and band_times is not None:
            curves = np.concatenate(
                [r.conc_ng_per_ml for r in runs if r.conc_ng_per_ml is not None]
            )
            band = summarise(curves)
            population_json["series"] = {
                "subjects": int(curves.shape[0]),
                "time_h": _rounds(band_times, 4),
                "mean_ng_per_ml": _rounds(band.mean, 3),
                "p5_ng_per_ml": _rounds(band.p5, 3),
                "p50_ng_per_ml": _rounds(band.p50, 3),
                "p95_ng_per_ml": _rounds(band.p95, 3),
            }
    result: _ExposureHead = {
        "model": model.name,
        "model_id": model.id,
        "model_details": _model_json(model, typical),
        "covariates": {c.name: _covariate_json(c) for c in covariates},
        "label_revision": label.id,
        "engine_version": __version__,
        "time_origin": (
            "hours since the start of the first infusion, "
            f"{origin.isoformat(timespec='minutes')} (local clock time)"
        ),
        "doses": doses_json,
        "holds": holds,
        "not_simulated": not_simulated,
        "end_h": _round(end_h, 4),
        "clearance_l_per_h": _round(typical.cl1_l_per_h, 5),
        "terminal_half_life_days": _round(terminal_half_life_h(typical) / 24, 2),
        "numerics": {
            "method": _METHOD,
            "typical_rtol": TYPICAL_RTOL,
            "typical_steps": typical_run.steps,
        },
        "cycles": cycles,
        "cumulative_auc_ng_h_per_ml": cumulative,
    }
    if population_json is not None:
        result["population"] = population_json
    if want_series and typical_run.conc_ng_per_ml is not None and times is not None:
        result["series"] = {
            "time_h": _rounds(times, 4),
            "conc_ng_per_ml": _rounds(typical_run.conc_ng_per_ml[0], 3),
        }
    return {
        **result,
        "notes": _notes(model, covariates, doses, holds, not_simulated, plan_note),
        "exposure_target": NO_EXPOSURE_TARGET,
        "disclaimer": DISCLAIMER,
    }


# -- doses ---------------------------------------------------------------------------------


def _plan(
    course: Course, label: Label, policy: SitePolicy, on: date | None
) -> tuple[TreatmentPlan | None, str | None]:
    """The doses still expected: the engine's plan as of ``on`` (one schedule, the decision's)."""
    try:
        from inoplan.domain.engine.plan import plan_as_of
        from inoplan.knowledge.qt import load_qt_drugs
        from inoplan.services.courses import today
    except ImportError:  # pragma: no cover - the planner ships with the package
        return None, "the planner is not available: only recorded administrations are simulated"
    if on is None:
        latest = max((e.date for e in course.events), default=None)
        on = max(today(), latest) if latest is not None else today()
    result = plan_as_of(course, label, on, policy=policy, qt_drugs=load_qt_drugs())
    note = None
    if result.decision.status in ("discontinue", "complete"):
        note = (
            f"No further doses are planned as of {on.isoformat()} (decision: "
            f"{result.decision.status}): only the recorded administrations are simulated."
        )
    return result.plan, note


# -- covariates ----------------------------------------------------------------------------


def patient_covariates(
    course: Course, first_dose_on: date, policy: SitePolicy
) -> tuple[PkModel, list[CovariateValue]]:
    """Pick the model by age at the first dose and gather its baseline covariates.

    Raises
    ------
    InvalidInput
        Age outside every model, no height/weight on or before the first dose, or a covariate
        outside the model's range.
    """
    from inoplan.domain.planner import body_used

    age = age_years(course.patient.birth_date, first_dose_on)
    model = select_model(age)
    body = body_used(course, course.plan.bsa_formula, policy, on=first_dose_on)
    if body.height_cm is None or body.weight_kg is None or body.bsa_m2 is None:
        raise InvalidInput(
            "events",
            f"cannot predict exposure: need a height_cm and weight_kg (vitals) on or before the "
            f"first dose ({first_dose_on.isoformat()}) for the {model.name}'s body-size covariate",
        )
    measured = (
        f"height {body.height_cm} cm ({body.height_on}), "
        f"weight {body.weight_kg} kg ({body.weight_on})"
    )
    covariates = [
        CovariateValue(
            "age_years", float(age), "years", f"age at the first dose ({first_dose_on.isoformat()})"
        )
    ]
    if "bsa_m2" in model.covariates:
        value, floored = model.prepare_covariate("bsa_m2", float(body.bsa_m2), field="bsa_m2")
        covariates.append(
            CovariateValue(
                "bsa_m2",
                value,
                "m2",
                f"{body.formula.value} BSA from {measured}, rounded as for dosing",
                floored=floored,
            )
        )
    if "lbm_kg" in model.covariates:
        assert model.lean_body_mass is not None
        lbm = model.lean_body_mass.lbm_kg(
            weight_kg=float(body.weight_kg),
            height_cm=float(body.height_cm),
            sex=course.patient.sex,
            age_years=age,
        )
        formula = "Peters" if age < model.lean_body_mass.adult_age_years else "Boer"
        value, floored = model.prepare_covariate("lbm_kg", lbm, field="lbm_kg")
        covariates.append(
            CovariateValue("lbm_kg", value, "kg", f"{formula} lean body mass from {measured}")
        )
    if "age_years" in model.covariates:
        model.prepare_covariate("age_years", float(age), field="patient.birth_date")
    for name, lab_field in (
        ("peripheral_blasts_pct", "peripheral_blasts_pct"),
        ("peripheral_blasts_10e9_per_l", "peripheral_blasts"),
    ):
        if name in model.covariates:
            covariates.append(_blasts(course, model, name, lab_field, first_dose_on))
    return model, covariates


def _blasts(
    course: Course, model: PkModel, name: str, lab_field: str, first_dose_on: date
) -> CovariateValue:
    spec = model.covariates[name]
    found: tuple[float, date] | None = None
    for event in course.of_type(LabsEvent):
        if event.date > first_dose_on:
            break
        if lab_field == "peripheral_blasts_pct" and event.peripheral_blasts_pct is not None:
            found = (float(event.peripheral_blasts_pct), event.date)
        elif lab_field != "peripheral_blasts_pct" and lab_field in event.values:
            found = (float(event.values[lab_field].value), event.date)
    if found is None:
        return CovariateValue(
            name,
            spec.reference,
            spec.unit,
            f"model reference value: no {lab_field} recorded on or before the first dose "
            f"({first_dose_on.isoformat()})",
            defaulted=True,
        )
    value, floored = model.prepare_covariate(name, found[0], field=lab_field)
    origin = f"labs {found[1].isoformat()} ({lab_field} {found[0]:g} {spec.unit})"
    if floored:
        origin += f"; raised to the floor {spec.floor:g} {spec.unit} ({spec.floor_source})"
    return CovariateValue(name, value, spec.unit, origin, floored=floored)


# -- rendering helpers ---------------------------------------------------------------------


def _round(value: Any, digits: int) -> float:
    number = float(value)
    if not math.isfinite(number):  # pragma: no cover - the integrator never yields these
        raise ArithmeticError("non-finite exposure value")
    return round(number, digits)


def _rounds(values: Any, digits: int) -> list[float]:
    return [round(float(v), digits) for v in values]


def _summary(stats: Summary, j: int | None, digits: int, typical: float) -> SummaryJson:
    """Mean and percentiles of one statistic (of cycle ``j``; the whole course when None)."""

    def at(values: Any) -> float:
        return _round(values if j is None else values[j], digits)

    return {
        "mean": at(stats.mean),
        "p5": at(stats.p5),
        "p50": at(stats.p50),
        "p95": at(stats.p95),
        "typical": typical,
    }


def _covariate_json(c: CovariateValue) -> CovariateJson:
    return {
        "value": _round(c.value, 6),
        "unit": c.unit,
        "origin": c.origin,
        "defaulted": c.defaulted,
        "floored": c.floored,
    }


def _model_json(model: PkModel, typical: TypicalParameters) -> ModelJson:
    values = typical.as_dict()
    return {
        "id": model.id,
        "name": model.name,
        "citation": model.citation,
        "population": model.population,
        "structure": model.structure,
        "confirmation": model.confirmation,
        "confirmation_text": model.confirmation_text,
        "sources": list(model.sources),
        "selection": (
            f"ages {model.age_years_min} to under {model.age_years_below} years at the first "
            f"dose ({model.selection_source})"
        ),
        "parameters": {
            name: {
                "value_for_patient": _round(values[name], 6),
                "reference_value": p.typical.value,
                "unit": p.typical.unit,
                "source_tag": p.typical.source_tag,
                "source": p.typical.source,
                "covariate_effects": [
                    {
                        "kind": e.kind,
                        "covariate": e.covariate,
                        "coefficient": e.coefficient,
                        "reference": e.reference,
                        "only_when": e.only_when,
                        "source_tag": e.source_tag,
                    }
                    for e in p.effects
                ],
            }
            for name, p in model.parameters.items()
        },
        "fixed_covariates": {
            k: {"value": v, "why": model.fixed_covariates_source.get(k, "")}
            for k, v in model.fixed_covariates.items()
        },
        "inter_individual_variability": {
            "parameters": list(model.iiv_parameters),
            "omega": [list(row) for row in model.omega],
            "source": model.omega_source,
        },
        "reported_terminal_half_life_days": model.reported_half_life_days.value,
    }


def _notes(
    model: PkModel,
    covariates: Sequence[CovariateValue],
    doses: Sequence[DoseForExposure],
    holds: Sequence[Mapping[str, Any]],
    not_simulated: Sequence[Mapping[str, Any]],
    plan_note: str | None,
) -> list[str]:
    notes = [
        f"Model: {model.name} ({model.citation}); parameter confirmation level "
        f"[{model.confirmation}]: {model.confirmation_text}",
        "Covariates are baseline values (on or before the first dose day); the time-dependent "
        "clearance decays from the first dose and keeps decaying through holds and delays.",
    ]
    for c in covariates:
        if c.defaulted:
            notes.append(
                f"{c.name}: {c.origin}; the reference value {c.value:g} {c.unit} was used."
            )
        if c.floored:
            notes.append(f"{c.name}: {c.origin}.")
    planned = [d for d in doses if d.status == "planned"]
    if planned:
        notes.append(
            f"{len(planned)} planned dose(s) are simulated on their scheduled dates at "
            f"{DEFAULT_TIME:%H:%M} unless the plan says otherwise; later cycles that depend on a "
            "response not yet known are provisional."
        )
    if holds:
        notes.append(f"{len(holds)} held or omitted dose(s) are not simulated.")
    if not_simulated:
        notes.append(
            f"{len(not_simulated)} planned dose(s) could not be simulated (no dose in mg)."
        )
    if plan_note:
        notes.append(plan_note)
    return notes
