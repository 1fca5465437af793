"""``inoplan audit verify``: check the audit trail's hash chain."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Audit trail.", no_args_is_help=True)


@app.command()
def verify(
    json_output: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
) -> None:
    """Walk the hash chain; exit 1 naming the first broken record if any was altered or removed."""
    import json

    from inoplan.bootstrap import get_database
    from inoplan.services.audit import verify_chain

    database = get_database()
    report = verify_chain(database)
    database.dispose()
    if json_output:
        typer.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "checked": report.checked,
                    "first_broken_seq": report.first_broken_seq,
                    "problem": report.problem,
                }
            )
        )
    if report.ok:
        if not json_output:
            typer.echo(report.message())
        return
    typer.echo(report.message(), err=True)
    raise typer.Exit(1)
