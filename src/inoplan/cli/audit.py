"""``inoplan audit verify`` and ``inoplan audit head``: check the audit trail, export its head."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="Audit trail.", no_args_is_help=True)


@app.command()
def verify(
    json_output: Annotated[bool, typer.Option("--json", help="JSON on stdout.")] = False,
    expect: Annotated[
        str | None,
        typer.Option(
            "--expect",
            metavar="CHAIN_SEQ:HASH",
            help="An anchor head exported earlier by `inoplan audit head` (its `expect`): it "
            "must still be in the anchor chain, unchanged.",
        ),
    ] = None,
) -> None:
    """Walk every keyed hash chain and check every course and stored event against its audit
    records; exit 1 naming the first problem if anything was altered, inserted or removed."""
    import json

    from inoplan.bootstrap import get_database
    from inoplan.services.audit import parse_expect, verify_chain

    try:
        expected = parse_expect(expect) if expect is not None else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--expect") from None
    database = get_database()
    try:
        report = verify_chain(database, expect=expected)
    finally:
        database.dispose()
    if json_output:
        typer.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "checked": report.checked,
                    "first_broken_seq": report.first_broken_seq,
                    "problem": report.problem,
                    "problems": list(report.problems),
                    "keyed": report.keyed,
                    "legacy": report.legacy,
                    "legacy_anchored": report.legacy_anchored,
                    "chains": report.chains,
                    "courses": report.courses,
                    "events": report.events,
                    "decision_rows": report.decision_rows,
                    "unanchored_chains": report.unanchored,
                }
            )
        )
    if report.ok:
        if not json_output:
            typer.echo(report.message())
        return
    typer.echo(report.message(), err=True)
    for problem in report.problems[1:]:
        typer.echo(f"  also: {problem}", err=True)
    raise typer.Exit(1)


@app.command()
def head() -> None:
    """Anchor every chain that grew, then print the anchor head (JSON) to keep outside the
    database (a log server, a ticket, a printout); `audit verify --expect` checks it later."""
    import json

    from inoplan.bootstrap import get_database
    from inoplan.services.audit import anchor

    database = get_database()
    try:
        found = anchor(database, actor="cli:audit-head")
    finally:
        database.dispose()
    typer.echo(json.dumps(found.as_dict()))
