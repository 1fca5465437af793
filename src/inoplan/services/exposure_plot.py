"""The exposure plot: ``exposure_json``'s result -> SVG (matplotlib).

Drawing only: it reads the JSON result of the use case (``services.exposure.exposure_json``),
never a course. The only services module that imports matplotlib (contract ``plot-home``); the
web UI's own charts live in ``web.plots``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from inoplan import DISCLAIMER
from inoplan.domain.pk.schedule import hours
from inoplan.errors import InvalidInput

__all__ = ["exposure_svg"]


def exposure_svg(result: Mapping[str, Any]) -> str:
    """An SVG plot of ``exposure_json``'s result: typical curve, population band, doses, holds.

    Needs ``series`` in the result (always there without a population; with a population, run
    with ``series=True`` to get the p5-p95 band as well).
    """
    import io

    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    series = result.get("series")
    if not series:
        raise InvalidInput("series", "the plot needs the concentration curve: run with series")
    figure = Figure(figsize=(9, 4.2))
    axes = figure.add_subplot(1, 1, 1)
    to_days = 1.0 / 24.0
    band = (result.get("population") or {}).get("series")
    if band:
        days = [t * to_days for t in band["time_h"]]
        axes.fill_between(
            days,
            band["p5_ng_per_ml"],
            band["p95_ng_per_ml"],
            color="#9ecae1",
            alpha=0.6,
            label="population p5-p95",
        )
        axes.plot(
            days,
            band["p50_ng_per_ml"],
            color="#3182bd",
            linewidth=0.8,
            linestyle="--",
            label="population median",
        )
    axes.plot(
        [t * to_days for t in series["time_h"]],
        series["conc_ng_per_ml"],
        color="#08306b",
        linewidth=1.2,
        label="typical patient",
    )
    for dose in result.get("doses", []):
        color = "#2ca25f" if dose["status"] == "given" else "#fdae6b"
        axes.axvline(dose["start_h"] * to_days, color=color, linewidth=0.6, alpha=0.8)
    origin = datetime.fromisoformat(result["doses"][0]["start"]) if result.get("doses") else None
    for hold in result.get("holds", []):
        if origin is None:
            break
        moment = datetime.combine(date.fromisoformat(hold["scheduled"]), origin.time())
        axes.axvline(hours(moment, origin) * to_days, color="#de2d26", linewidth=0.8, linestyle=":")
    axes.plot([], [], color="#2ca25f", label="dose given")
    axes.plot([], [], color="#fdae6b", label="dose planned")
    if result.get("holds"):
        axes.plot([], [], color="#de2d26", linestyle=":", label="held / omitted")
    axes.set_xlabel("days since the first dose")
    axes.set_ylabel("inotuzumab ozogamicin (ng/mL)")
    axes.set_ylim(bottom=0)
    axes.set_title(
        f"{result['model']}: predicted exposure (information, not a dosing rule)", fontsize=9
    )
    axes.legend(fontsize=7, loc="upper left")
    figure.text(0.01, 0.01, DISCLAIMER, fontsize=6)
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    return buffer.getvalue()
