"""``inoplan pk``: predicted exposure for the doses given and planned (docs/exposure.md).

Imports only Typer and the standard library at import time; NumPy, Dask and matplotlib load
inside the command, so ``inoplan --help`` stays light.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

__all__ = ["pk"]


def pk(
    course: Annotated[Path, typer.Argument(help="Course document (YAML or JSON).")],
    population: Annotated[
        int | None,
        typer.Option(
            "--population",
            help="Virtual subjects with the patient's covariates and the model's variability.",
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Random seed (reported; drawn when omitted).")
    ] = None,
    series: Annotated[
        bool, typer.Option("--series", help="With --population: also the curves.")
    ] = False,
    json_output: Annotated[
        bool, typer.Option("--json", help="Machine-readable JSON on stdout.")
    ] = False,
    plot: Annotated[
        Path | None,
        typer.Option("--plot", help="Also write the concentration plot as SVG to FILE.svg."),
    ] = None,
    dask: Annotated[
        str | None,
        typer.Option(
            "--dask", help="Dask scheduler ADDRESS for population runs (tcp://host:8786)."
        ),
    ] = None,
) -> None:
    """Predicted inotuzumab ozogamicin exposure (population PK): information, not a dosing rule."""
    from inoplan.cli.options import site_policy
    from inoplan.document import read_document
    from inoplan.services.exposure import exposure_json
    from inoplan.services.exposure_plot import exposure_svg

    result = exposure_json(
        read_document(course),
        population=population,
        seed=seed,
        series=series or (plot is not None and population is not None),
        dask_address=dask,
        policy=site_policy(),
    )
    if plot is not None:  # only after the simulation succeeded: nothing is written on bad input
        plot.write_text(exposure_svg(result), encoding="utf-8")
    if json_output:
        typer.echo(json.dumps(result, ensure_ascii=False))
    else:
        _render(result)


def _render(result: Mapping[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    def figure(value: Any, unit_digits: int) -> str:
        if isinstance(value, dict):
            return (
                f"{value['mean']:,.{unit_digits}f} ({value['p5']:,.{unit_digits}f}-"
                f"{value['p95']:,.{unit_digits}f})"
            )
        return f"{value:,.{unit_digits}f}"

    population = result.get("population")
    suffix = " - mean (p5-p95)" if population else " - typical patient"
    table = Table(title=f"{result['model']}{suffix}")
    for column in ("cycle", "from", "to", "Cmax ng/mL", "end-of-cycle ng/mL", "AUC ng*h/mL"):
        table.add_column(column)
    for c in result["cycles"]:
        table.add_row(
            str(c["cycle"]),
            c["start"][:10],
            c["end"][:10],
            figure(c["cmax_ng_per_ml"], 1),
            figure(c["ctrough_ng_per_ml"], 2),
            figure(c["auc_ng_h_per_ml"], 0),
        )
    console = Console()
    console.print(table)
    console.print(f"Cumulative AUC: {figure(result['cumulative_auc_ng_h_per_ml'], 0)} ng*h/mL")
    for name, c in result["covariates"].items():
        console.print(f"[dim]{name} = {c['value']:g} {c['unit']}: {c['origin']}[/dim]")
    if population:
        console.print(
            f"[dim]population: {population['n']} subjects, seed {population['seed']}, "
            f"{population['executor']}[/dim]"
        )
    for note in result["notes"]:
        console.print(f"[dim]- {note}[/dim]")
    console.print(f"[bold]{result['exposure_target']}[/bold]")
    console.print(f"[bold]{result['disclaimer']}[/bold]")
