"""``inoplan fhir import|export``: FHIR R4 Bundles <-> course documents (docs/ehr-integration.md).

Imports only Typer at module level; the mapping, the engine and the FHIR models load inside the
commands. Expected problems raise ``InvalidInput`` and ``inoplan.cli.main.main`` turns them into
one line on stderr and exit code 2 (nothing is written to stdout then).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="FHIR R4 import, export and laboratory pull.", no_args_is_help=True)


def _policy() -> Any:
    from inoplan.cli.options import site_policy

    return site_policy()


def _date(text: str | None, field: str) -> Any:
    if text is None:
        return None
    from inoplan.cli.options import parse_date

    return parse_date(text, field)


@app.command("import")
def import_bundle(
    bundle: Annotated[Path, typer.Argument(help="FHIR R4 Bundle (JSON).", show_default=False)],
    json_output: Annotated[bool, typer.Option("--json", help="JSON instead of YAML.")] = False,
    label: Annotated[str, typer.Option(help="Knowledge base when the Bundle names none.")] = "us",
    start_date: Annotated[
        str | None, typer.Option("--start-date", help="Planned cycle 1 day 1 (YYYY-MM-DD).")
    ] = None,
    patient: Annotated[
        str | None, typer.Option(help="Patient id when the Bundle holds several.")
    ] = None,
) -> None:
    """Turn a FHIR Bundle into a course document (units converted, reference ranges as ULN)."""
    from inoplan.document import read_document
    from inoplan.interop.fhir_in import bundle_to_document, validate_import

    data = read_document(bundle, field="BUNDLE")
    if data.get("resourceType") != "Bundle":
        from inoplan.errors import InvalidInput

        raise InvalidInput("BUNDLE", "expected a FHIR Bundle (resourceType: Bundle)")
    result = bundle_to_document(
        data, patient_id=patient, label=label, start_date=_date(start_date, "start-date")
    )
    validate_import(result)  # the document must validate before anything is printed
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    if json_output:
        typer.echo(json.dumps(result.document, ensure_ascii=False))
    else:
        import yaml

        typer.echo(yaml.safe_dump(result.document, sort_keys=False, allow_unicode=True), nl=False)


@app.command("export")
def export_course(
    course: Annotated[
        Path, typer.Argument(help="Course document (YAML or JSON).", show_default=False)
    ],
    json_output: Annotated[bool, typer.Option("--json", help="Compact JSON on one line.")] = False,
    on: Annotated[
        str | None, typer.Option("--on", help="Decision date (YYYY-MM-DD); default today.")
    ] = None,
    timezone: Annotated[
        str, typer.Option(help="Clinic time zone for administration times.")
    ] = "UTC",
) -> None:
    """Write the course, its plan and its decision as a FHIR R4 Bundle (validated, R4B models)."""
    from datetime import date

    from inoplan.document import read_document
    from inoplan.errors import InvalidInput
    from inoplan.interop.fhir_out import export_bundle, validate_bundle
    from inoplan.services.courses import decide_document, plan_document

    document = read_document(course)
    document.pop("expect", None)
    policy = _policy()
    day = _date(on, "on") or date.today()  # noqa: DTZ011 (the local calendar day is wanted)
    plan = plan_document(document, day, policy=policy)  # the engine's plan of the same date
    decision = decide_document(document, day, policy=policy)
    try:
        from zoneinfo import ZoneInfo

        ZoneInfo(timezone)
    except (ValueError, KeyError) as exc:
        raise InvalidInput("timezone", f"unknown time zone {timezone!r}") from exc
    bundle = export_bundle(
        json.loads(json.dumps(document, default=str)),
        plan=plan,
        decision=decision,
        timezone=timezone,
    )
    validate_bundle(bundle)
    typer.echo(json.dumps(bundle, ensure_ascii=False, indent=None if json_output else 2))


@app.command("pull")
def pull(
    base: Annotated[str, typer.Option("--base", help="FHIR server base URL (https).")],
    patient: Annotated[
        list[str] | None,
        typer.Option("--patient", help="Medical record number (repeat); default: every patient."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Only results from this day on (YYYY-MM-DD).")
    ] = None,
    token_file: Annotated[
        Path | None, typer.Option("--token-file", help="File holding the bearer token.")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token-from-environment", envvar="INOPLAN_FHIR_TOKEN", hidden=True, show_default=False
        ),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Read timeout per request (s).")] = 20.0,
    max_pages: Annotated[int, typer.Option("--max-pages", help="Pages per patient at most.")] = 200,
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Pull laboratory Observations from a FHIR server into the stored courses.

    Each Observation is recorded, parked or refused like an HL7 v2 result (docs/ehr-integration.md).
    The bearer token comes from INOPLAN_FHIR_TOKEN or --token-file, never the command line.
    Exit code 0 when every result was recorded, 1 when some were parked (see "Results to
    review"), 2 on a configuration or server error.
    """
    import httpx

    from inoplan.cli.hl7 import _context
    from inoplan.errors import InvalidInput
    from inoplan.inbound import handle_fhir
    from inoplan.interop.fhir_pull import check_base_url, search_observations
    from inoplan.services.records import list_patients

    base_url = check_base_url(base)
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise InvalidInput("token-file", f"cannot read it: {exc.strerror}") from None
        except UnicodeDecodeError as exc:
            raise InvalidInput.not_utf8("token-file", token_file, exc) from None
    ctx = _context()
    identifiers = list(patient or [])
    if not identifiers:
        offset = 0
        while True:
            page = list_patients(ctx.database, offset=offset, limit=200)
            identifiers += [p.external_id for p in page.data if p.course_ids]
            offset += len(page.data)
            if not page.data or offset >= page.count:
                break
    review = False
    day = _date(since, "since")
    with httpx.Client(
        timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)), follow_redirects=False
    ) as client:
        for pulled in search_observations(
            client,
            base_url,
            identifiers,
            policy=ctx.results_policy,
            token=token,
            since=day,
            max_pages=max_pages,
        ):
            outcome = handle_fhir(ctx, pulled, sender=base_url)
            review = review or outcome.state not in ("applied", "ignored", "resolved")
            oid = pulled.observation.get("id")
            if json_output:
                typer.echo(
                    json.dumps(
                        {
                            "observation": oid,
                            "state": outcome.state,
                            "duplicate": outcome.duplicate,
                            "event_ids": list(outcome.event_ids),
                            "problems": [p.to_json() for p in outcome.problems],
                        }
                    )
                )
            else:
                problems = "; ".join(p.code for p in outcome.problems)
                typer.echo(
                    f"Observation/{oid}: {outcome.state}"
                    + (" (already received)" if outcome.duplicate else "")
                    + (f" [{problems}]" if problems else "")
                )
    ctx.database.dispose()
    if review:
        raise typer.Exit(1)
