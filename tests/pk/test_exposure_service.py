"""services.exposure: course document -> docs/exposure.md JSON."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from inoplan import DISCLAIMER
from inoplan.errors import InvalidInput
from inoplan.services.exposure import NO_EXPOSURE_TARGET, exposure_json
from inoplan.services.exposure_plot import exposure_svg

from .courses import START, adult_course, child_course

TABLE_CMAX = [212.6, 236.4, 265.8, 285.3, 289.9, 290.9]
TABLE_AUC = [16_966, 64_787, 90_170, 97_509, 99_105, 99_432]


def test_six_given_cycles_reproduce_the_reference_table() -> None:
    result: dict[str, Any] = dict(exposure_json(adult_course()))  # the typical patient's shape
    assert [c["cycle"] for c in result["cycles"]] == [1, 2, 3, 4, 5, 6]
    for c, cmax, auc in zip(result["cycles"], TABLE_CMAX, TABLE_AUC, strict=True):
        # the course gives mg rounded to 0.01 (1.47 mg for 1.472): within 1 %
        assert c["cmax_ng_per_ml"] == pytest.approx(cmax, rel=0.01)
        assert c["auc_ng_h_per_ml"] == pytest.approx(auc, rel=0.01)
        assert isinstance(c["ctrough_ng_per_ml"], float)
    total = sum(c["auc_ng_h_per_ml"] for c in result["cycles"])
    assert result["cumulative_auc_ng_h_per_ml"] == pytest.approx(total, abs=1)
    assert result["cycles"][0]["start_h"] == 0 and result["cycles"][0]["end_h"] == 504
    assert result["cycles"][-1]["end_h"] == (21 + 5 * 28) * 24


def test_the_output_follows_the_contract_and_is_honest() -> None:
    result = exposure_json(adult_course(cycles=2, given_cycles=2))
    assert {"model", "cycles", "cumulative_auc_ng_h_per_ml", "series"} <= set(result)
    assert "Garrett" in result["model"]
    details = result["model_details"]
    assert details["confirmation"] == "T" and "[T]" in details["confirmation_text"]
    assert "2019" in details["citation"]
    assert details["parameters"]["cl1_l_per_h"]["value_for_patient"] == pytest.approx(
        0.0333, abs=5e-5
    )
    assert result["exposure_target"] == NO_EXPOSURE_TARGET
    assert "no exposure target" in result["exposure_target"]
    assert result["disclaimer"] == DISCLAIMER
    series = result["series"]
    assert len(series["time_h"]) == len(series["conc_ng_per_ml"]) > 100
    assert series["time_h"] == sorted(series["time_h"])
    assert min(series["conc_ng_per_ml"]) >= 0
    assert 12.1 <= result["terminal_half_life_days"] <= 12.3


def test_missing_blasts_use_the_reference_value_and_say_so() -> None:
    result = exposure_json(adult_course(cycles=1, given_cycles=1))
    blasts = result["covariates"]["peripheral_blasts_pct"]
    assert blasts["defaulted"] is True and blasts["value"] == 5.25
    assert any("reference value 5.25" in note for note in result["notes"])


def test_the_last_blast_value_before_the_first_dose_is_used() -> None:
    course = adult_course(
        cycles=1,
        given_cycles=1,
        blasts=[(date(2026, 12, 20), 30.0), (START, 12.0), (date(2027, 1, 5), 80.0)],
    )
    blasts = exposure_json(course)["covariates"]["peripheral_blasts_pct"]
    assert blasts["value"] == 12.0 and blasts["defaulted"] is False
    assert START.isoformat() in blasts["origin"]


def test_zero_blasts_are_raised_to_the_floor_and_said() -> None:
    course = adult_course(cycles=1, given_cycles=1, blasts=[(START, 0.0)])
    result = exposure_json(course)
    blasts = result["covariates"]["peripheral_blasts_pct"]
    assert blasts["floored"] is True and blasts["value"] == 0.0001
    assert any("floor" in note for note in result["notes"])


def test_an_omitted_dose_is_listed_and_lowers_the_cycle_exposure() -> None:
    full: dict[str, Any] = dict(exposure_json(adult_course(given_cycles=1)))
    omitted: dict[str, Any] = dict(exposure_json(adult_course(given_cycles=1, skip=((1, 8),))))
    assert omitted["holds"] == [
        {"cycle": 1, "day": 8, "scheduled": "2027-01-11", "status": "omitted"}
    ]
    assert omitted["cycles"][0]["auc_ng_h_per_ml"] < full["cycles"][0]["auc_ng_h_per_ml"]
    assert "2027-01-11" not in [d["start"][:10] for d in omitted["doses"]]


def test_planned_doses_are_simulated_and_marked() -> None:
    result = exposure_json(adult_course(given_cycles=1))
    statuses = [(d["cycle"], d["status"]) for d in result["doses"]]
    assert statuses[:3] == [(1, "given")] * 3
    assert {s for c, s in statuses if c > 1} == {"planned"}
    assert len(result["cycles"]) == 6
    assert any("planned dose" in note for note in result["notes"])


def test_a_child_gets_the_pediatric_model() -> None:
    result = exposure_json(child_course())
    assert "Wu 2024" in result["model"]
    assert result["covariates"]["lbm_kg"]["value"] == pytest.approx(14.33, abs=0.01)
    assert "Peters" in result["covariates"]["lbm_kg"]["origin"]
    assert result["covariates"]["peripheral_blasts_10e9_per_l"]["value"] == 0.8


def test_a_child_without_blasts_uses_the_wu_reference_and_says_so() -> None:
    result = exposure_json(child_course(blasts_10e9_per_l=None))
    assert result["covariates"]["peripheral_blasts_10e9_per_l"]["defaulted"] is True
    assert result["covariates"]["peripheral_blasts_10e9_per_l"]["value"] == 0.352


def test_an_infant_is_refused_naming_the_birth_date() -> None:
    with pytest.raises(InvalidInput) as info:
        exposure_json(child_course(birth_date="2026-09-01"))
    assert info.value.field == "patient.birth_date"


def test_an_adult_below_the_model_bsa_range_is_refused() -> None:
    with pytest.raises(InvalidInput) as info:
        exposure_json(adult_course(cycles=1, given_cycles=1, height_cm=140, weight_kg=30))
    assert info.value.field == "bsa_m2"
    assert "1.13-2.81" in info.value.message


def test_no_height_and_weight_is_a_clear_refusal() -> None:
    course = adult_course(cycles=1, given_cycles=1)
    course["events"] = [e for e in course["events"] if e["type"] != "vitals"]
    with pytest.raises(InvalidInput) as info:
        exposure_json(course)
    assert info.value.field == "events" and "height_cm and weight_kg" in info.value.message


def test_nothing_to_simulate_is_a_clear_refusal() -> None:
    course = adult_course(given_cycles=0)
    course["events"] = []
    with pytest.raises(InvalidInput, match="nothing to simulate"):
        exposure_json(course)


def test_an_invalid_document_names_the_field() -> None:
    course = adult_course(cycles=1, given_cycles=1)
    course["events"][1]["dose_mg"] = "lots"
    with pytest.raises(InvalidInput) as info:
        exposure_json(course)
    assert "events[1]" in info.value.field


def test_population_figures_are_summaries_and_series_only_on_request() -> None:
    course = adult_course(cycles=2, given_cycles=2)
    result: dict[str, Any] = dict(exposure_json(course, population=300, seed=5))
    first = result["cycles"][0]
    for key in ("cmax_ng_per_ml", "ctrough_ng_per_ml", "auc_ng_h_per_ml"):
        figure = first[key]
        assert set(figure) >= {"mean", "p5", "p50", "p95"}
        assert figure["p5"] < figure["p50"] < figure["p95"]
    assert set(result["cumulative_auc_ng_h_per_ml"]) >= {"mean", "p5", "p50", "p95"}
    assert "series" not in result
    assert result["population"]["n"] == 300 and result["population"]["seed"] == 5
    with_series = exposure_json(course, population=300, seed=5, series=True)
    assert with_series["cycles"] == result["cycles"]
    band = with_series["population"]["series"]
    assert all(lo <= hi for lo, hi in zip(band["p5_ng_per_ml"], band["p95_ng_per_ml"], strict=True))
    assert "series" in with_series
    assert band["subjects"] == 300


def test_the_population_band_uses_at_most_the_first_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    from inoplan.services import exposure

    monkeypatch.setattr(exposure, "BAND_MAX_SUBJECTS", 100)
    course = adult_course(cycles=1, given_cycles=1)
    result = exposure_json(course, population=250, seed=2, series=True, chunk_size=60)
    assert result["population"]["series"]["subjects"] == 120  # chunks starting at 0 and 60
    assert result["population"]["n"] == 250


def test_the_same_seed_gives_the_same_result_and_another_seed_differs() -> None:
    course = adult_course(cycles=1, given_cycles=1)
    a = exposure_json(course, population=200, seed=1)
    assert exposure_json(course, population=200, seed=1)["cycles"] == a["cycles"]
    assert exposure_json(course, population=200, seed=2)["cycles"] != a["cycles"]
    drawn = exposure_json(course, population=10)
    assert isinstance(drawn["population"]["seed"], int)


def test_dask_local_cluster_gives_the_same_percentiles_as_in_process() -> None:
    from distributed import LocalCluster

    course = adult_course(cycles=2, given_cycles=1)
    local = exposure_json(course, population=400, seed=7, chunk_size=150)
    with LocalCluster(  # type: ignore[no-untyped-call]
        n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
    ) as cluster:
        remote = exposure_json(
            course, population=400, seed=7, chunk_size=150, dask_address=cluster.scheduler_address
        )
    assert remote["population"]["chunks"] == 3
    assert remote["population"]["executor"].startswith("dask")
    assert remote["cycles"] == local["cycles"]
    assert remote["cumulative_auc_ng_h_per_ml"] == local["cumulative_auc_ng_h_per_ml"]


def test_an_unreachable_scheduler_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from inoplan.services import exposure

    monkeypatch.setattr(exposure, "DASK_CONNECT_TIMEOUT", "0.5s")
    with pytest.raises(InvalidInput) as info:
        exposure_json(
            adult_course(cycles=1, given_cycles=1),
            population=10,
            seed=1,
            dask_address="tcp://127.0.0.1:9",
        )
    assert info.value.field == "dask"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"population": 0}, "population"),
        ({"population": 10**7}, "population"),
        ({"seed": 3}, "seed"),
        ({"population": 5, "seed": -1}, "seed"),
        ({"dask_address": "tcp://x:1"}, "dask"),
    ],
)
def test_bad_options_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidInput) as info:
        exposure_json(adult_course(cycles=1, given_cycles=1), **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_the_svg_plot_shows_curve_band_doses_and_holds() -> None:
    result = exposure_json(
        adult_course(given_cycles=1, skip=((1, 8),)), population=100, seed=3, series=True
    )
    svg = exposure_svg(result)
    assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "typical patient" in svg and "population p5-p95" in svg and "held / omitted" in svg
    assert "qualified clinician" in svg


def test_the_plot_needs_a_series() -> None:
    result = exposure_json(adult_course(cycles=1, given_cycles=1), population=20, seed=3)
    with pytest.raises(InvalidInput, match="series"):
        exposure_svg(result)
