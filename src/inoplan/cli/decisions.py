"""``inoplan decisions``: the stored decisions the Today list reads (``services.decisions``)."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

import typer

app = typer.Typer(
    help="Stored decisions: recompute the stale ones for a day in one transaction.",
    no_args_is_help=True,
)


@app.command()
def refresh(
    on: Annotated[
        str | None,
        typer.Option("--on", help="The day (YYYY-MM-DD; default: today in the clinic's zone)."),
    ] = None,
    keep_days: Annotated[
        int,
        typer.Option("--keep-days", min=0, max=3650, help="Delete stored days older than this."),
    ] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Print the counts as JSON.")] = False,
) -> None:
    """Recompute every course's decision for a day whose stored one is missing or stale (a new
    day, a new release or knowledge revision, another site policy), in one transaction, so the
    first Today list of the day reads them; then delete stored days older than --keep-days."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from inoplan.bootstrap import get_database
    from inoplan.cli.options import State, parse_date
    from inoplan.services.decisions import day_decisions, prune_decisions
    from inoplan.sitepolicy import load_site_policy

    database = get_database()
    try:
        day: date = (
            parse_date(on, "--on")
            if on
            else datetime.now(ZoneInfo(database.settings.clinic_timezone)).date()
        )
        policy = load_site_policy(State.site_policy or database.settings.site_policy)
        result = day_decisions(database, day, policy=policy)
        pruned = prune_decisions(database, day, keep_days=keep_days)
    finally:
        database.dispose()
    counts = {
        "on": day.isoformat(),
        "courses": len(result.rows),
        "fresh": result.fresh,
        "recomputed": result.recomputed,
        "errors": result.errors,
        "tampered": result.tampered,
        "pruned": pruned,
    }
    if as_json:
        typer.echo(json.dumps(counts))
    else:
        typer.echo(
            f"{day.isoformat()}: {counts['courses']} courses, {result.fresh} current, "
            f"{result.recomputed} recomputed, {result.errors} cannot be decided; "
            f"{pruned} stored decisions of older days deleted"
        )
    if result.tampered:
        typer.echo(
            f"{result.tampered} stored decisions failed their MAC (DECISION_ROW_TAMPERED: "
            "altered outside inoplan); run `inoplan audit verify`",
            err=True,
        )
    if result.errors or result.tampered:
        raise typer.Exit(1)
