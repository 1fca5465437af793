"""``inoplan`` command line: thin commands over the services; expected errors exit 2.

Start-up is benchmarked: this module imports only Typer and the standard library at import time;
every command imports what it needs inside its body. The console script is
:func:`inoplan.cli.entry.main`, which answers plain ``bsa``/``dose``/``evaluate FILE --json``
without importing Typer and hands everything else to :func:`main` here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from inoplan import DISCLAIMER, __version__
from inoplan.cli import options

app = typer.Typer(
    name="inoplan",
    help="Clinical decision support for inotuzumab ozogamicin (BESPONSA). " + DISCLAIMER,
    no_args_is_help=True,
    add_completion=True,  # --install-completion and --show-completion (bash, zsh, fish, pwsh)
    pretty_exceptions_enable=False,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable JSON on stdout.")]


def _policy() -> Any:
    return options.site_policy()


def _print_version(value: bool) -> None:
    # eager: runs while the options are parsed, before Typer asks for a command
    if value:
        typer.echo(f"inoplan {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    site_policy: Annotated[
        Path | None,
        typer.Option(
            "--site-policy",
            envvar="INOPLAN_SITE_POLICY",
            help="TOML file with the site's rounding, concentration and freshness policy.",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Print the version.", callback=_print_version, is_eager=True
        ),
    ] = False,
) -> None:
    """Clinical decision support for inotuzumab ozogamicin. A clinician confirms every decision."""
    if version:
        typer.echo(f"inoplan {__version__}")
        raise typer.Exit()
    options.State.site_policy = site_policy


def _emit(result: Mapping[str, Any], json_output: bool, render: Any) -> None:
    if json_output:
        typer.echo(json.dumps(result, ensure_ascii=False))
    else:
        render(result)


@app.command()
def bsa(
    height_cm: Annotated[float, typer.Option("--height-cm", help="Height in cm.")],
    weight_kg: Annotated[float, typer.Option("--weight-kg", help="Weight in kg.")],
    formula: Annotated[
        str, typer.Option(help="mosteller | dubois | haycock | gehan-george | boyd")
    ] = "mosteller",
    json_output: JsonOption = False,
) -> None:
    """Body surface area (m2, rounded to 0.01) by a published formula."""
    from inoplan.services.dosing import bsa_json

    result = bsa_json(height_cm, weight_kg, formula, policy=_policy())
    _emit(result, json_output, _render_mapping("Body surface area"))


@app.command()
def dose(
    height_cm: Annotated[float, typer.Option("--height-cm", help="Height in cm.")],
    weight_kg: Annotated[float, typer.Option("--weight-kg", help="Weight in kg.")],
    mg_per_m2: Annotated[
        float | None, typer.Option("--mg-per-m2", help="Prescribed dose in mg/m2 (max 0.8).")
    ] = None,
    cycle: Annotated[
        int | None, typer.Option(help="Cycle number (instead of --mg-per-m2).")
    ] = None,
    day: Annotated[int | None, typer.Option(help="Cycle day: 1, 8 or 15.")] = None,
    response: Annotated[
        str | None, typer.Option(help="Response so far for cycles >= 2: CR, CRi, PR or NR.")
    ] = None,
    vial: Annotated[str | None, typer.Option(help="us-0.9mg | eu-1mg (default: label's).")] = None,
    formula: Annotated[str, typer.Option(help="BSA formula.")] = "mosteller",
    prepared_at: Annotated[
        str | None,
        typer.Option("--prepared-at", help="Reconstitution time HH:MM (gives deadlines)."),
    ] = None,
    label: Annotated[str, typer.Option(help="Label: us, eu or a revision id.")] = "us",
    json_output: JsonOption = False,
) -> None:
    """Dose in mg, vials, reconstitution, dilution and infusion for one dose."""
    from inoplan.services.dosing import dose_json

    result = dose_json(
        height_cm=height_cm,
        weight_kg=weight_kg,
        mg_per_m2=mg_per_m2,
        cycle=cycle,
        day=day,
        response=response,
        vial=vial,
        formula=formula,
        prepared_at=_parse_time(prepared_at, "prepared_at") if prepared_at else None,
        label=label,
        policy=_policy(),
    )
    _emit(result, json_output, _render_dose)


@app.command()
def plan(
    course: Annotated[Path, typer.Argument(help="Course document (YAML or JSON).")],
    ics: Annotated[
        Path | None, typer.Option("--ics", help="Also write the appointments as iCalendar.")
    ] = None,
    on: Annotated[
        str | None,
        typer.Option("--on", help="The date the plan is as of (YYYY-MM-DD); default today."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """The calendar of cycles and doses as of a date, as the decision of that date sees it."""
    from inoplan.document import read_document
    from inoplan.services.courses import plan_document, today

    day = _parse_date(on, "on") if on is not None else today()
    result = plan_document(read_document(course), day, policy=_policy())
    if ics is not None:  # only after the document validated: nothing is written on bad input
        from datetime import UTC

        from inoplan.ical import calendar_key, plan_to_ics

        document = read_document(course)
        secret = _calendar_secret()
        calendar = plan_to_ics(  # UIDs stable only with INOPLAN_SECRET_KEY (docs/cli.md)
            result,
            generated_at=datetime.now(UTC),
            uid_key=calendar_key(secret) if secret else None,
            course_ref=f"{document['patient']['id']}|{document['plan']['start_date']}",
            sequence=len(document.get("events") or []),
        )
        try:
            ics.write_bytes(calendar)
        except OSError as exc:  # a path that cannot be written is an input error, not a crash
            from inoplan.errors import InvalidInput

            raise InvalidInput("ics", f"cannot write {str(ics)!r}: {exc.strerror}") from None
    _emit(result, json_output, _render_plan)


def _calendar_secret() -> str | None:
    """``INOPLAN_SECRET_KEY`` when set (keeps calendar UIDs stable across exports), else None."""
    from inoplan.config import get_settings

    try:
        settings = get_settings()
    except Exception:  # an unusable service setting must not stop a file export
        return None
    return None if settings.secret_is_ephemeral else settings.secret


_EVALUATE_HELP = (
    "The decision for a date: give, hold, wait, cannot decide, complete or discontinue.\n\n"
    "COURSE may be a folder: each *.yaml, *.yml and *.json file in it is evaluated, one JSON "
    'line per file on stdout; a file that cannot be evaluated gives a line with "error" naming '
    "the field, and the batch goes on.\n\n"
    "Exit codes: 0 every course was evaluated (whatever the decisions, hold and cannot decide "
    "included); 1 a folder in which at least one file could not be evaluated (the others were); "
    "2 invalid input (a course document that does not validate, a bad --on date, a folder with "
    "no course documents)."
)


@app.command(help=_EVALUATE_HELP)
def evaluate(
    course: Annotated[Path, typer.Argument(help="Course document, or a folder of them (batch).")],
    on: Annotated[str, typer.Option("--on", help="The date to decide for (YYYY-MM-DD).")],
    json_output: JsonOption = False,
) -> None:
    """The decision for a date: give, hold, wait, cannot decide, complete or discontinue."""
    day = _parse_date(on, "on")
    if course.is_dir():
        from inoplan.cli.evaluate import run_batch

        raise typer.Exit(run_batch(course, day, policy=_policy()))
    from inoplan.document import read_document
    from inoplan.services.courses import decide_document

    result = decide_document(read_document(course), day, policy=_policy())
    if json_output:
        typer.echo(json.dumps(result, ensure_ascii=False))
    else:
        from inoplan.cli.evaluate import print_decision

        print_decision(result)


# -- records and service (issue 4): sub-apps import their heavy libraries inside commands ----
from inoplan.cli import audit as _audit_cli  # noqa: E402
from inoplan.cli import db as _db_cli  # noqa: E402
from inoplan.cli import user as _user_cli  # noqa: E402
from inoplan.cli.serve import serve as _serve  # noqa: E402

app.add_typer(_db_cli.app, name="db")
app.add_typer(_user_cli.app, name="user")
app.add_typer(_audit_cli.app, name="audit")

from inoplan.cli import decisions as _decisions_cli  # noqa: E402  (issue 15: stored decisions)

app.add_typer(_decisions_cli.app, name="decisions")
app.command("serve")(_serve)
from inoplan.cli.pk import pk as _pk  # noqa: E402  (issue 7: exposure)

app.command("pk")(_pk)
from inoplan.cli.fhir import app as _fhir_cli  # noqa: E402  (issue 6: FHIR import/export)

app.add_typer(_fhir_cli, name="fhir")

from inoplan.cli.hl7 import app as _hl7_cli  # noqa: E402  (issue 16: HL7 v2 results)

app.add_typer(_hl7_cli, name="hl7")


# -- rendering (Rich, imported lazily) ---------------------------------------------------


def _console() -> Any:
    from rich.console import Console

    return Console()


def _render_mapping(title: str) -> Any:
    def render(result: dict[str, Any]) -> None:
        from rich.table import Table

        table = Table(title=title, show_header=False)
        for key, value in result.items():
            table.add_row(key, str(value))
        _console().print(table)

    return render


def _render_dose(result: dict[str, Any]) -> None:
    from rich.table import Table

    table = Table(title="Inotuzumab ozogamicin - one dose", show_header=False)
    rows = [
        (
            "BSA",
            f"{result['bsa_m2']} m2 ({result['bsa_formula']}; "
            f"{result['height_cm']} cm, {result['weight_kg']} kg)",
        ),
        ("Dose", f"{result['dose_mg_per_m2']} mg/m2 = {result['dose_mg']} mg"),
        ("Vials", f"{result['vials']} x {result['vial_name']}"),
        (
            "Reconstitute",
            f"each vial with {result['reconstitution_ml_per_vial']} mL Sterile Water for "
            f"Injection -> {result['reconstituted_mg_per_ml']} mg/mL",
        ),
        ("Withdraw", f"{result['withdraw_ml']} mL"),
        (
            "Dilute",
            f"add to {result['diluent']}: final volume {result['final_volume_ml']} mL "
            f"({result['diluent_ml']} mL diluent), {result['concentration_mg_per_ml']} mg/mL",
        ),
        (
            "Infuse",
            f"{result['infusion_rate_ml_per_h']} mL/h over {result['infusion_minutes']} min",
        ),
        ("Waste", f"{result['waste_mg']} mg"),
    ]
    deadlines = result.get("deadlines")
    if deadlines:
        rows.append(("Dilute by", deadlines["dilute_by"]))
        rows.append(("Infusion ends by", deadlines["infusion_end_by"]))
    for key, value in rows:
        table.add_row(key, value)
    console = _console()
    console.print(table)
    for note in result["notes"]:
        console.print(f"[dim]- {note}[/dim]")
    console.print(f"[bold]{result['disclaimer']}[/bold]")


def _render_plan(result: dict[str, Any]) -> None:
    from rich.table import Table

    bsa_text = f"{result['bsa_m2']} m2" if result["bsa_m2"] is not None else "unknown"
    cap = result["cycle_cap"]
    as_of = f", as of {result['as_of']}: {result['decision_status']}" if "as_of" in result else ""
    table = Table(
        title=f"Course plan {result['patient_id']} (cap {cap} cycles, BSA {bsa_text}{as_of})"
    )
    for column in ("cycle", "day", "scheduled", "window", "mg/m2", "mg", "status", ""):
        table.add_column(column)
    for d in result["doses"]:
        window = f"{d['earliest']} .. {d['latest'] or 'open'}"
        mg = "-" if d["dose_mg"] is None else str(d["dose_mg"])
        table.add_row(
            str(d["cycle"]),
            str(d["day"]),
            d["scheduled"],
            window,
            str(d["dose_mg_per_m2"]),
            mg,
            d["status"],
            ("provisional" if d["provisional"] else "")
            + (
                f" capped from {d['limited_from_mg_per_m2']}"
                if d.get("limited_from_mg_per_m2") is not None
                else ""
            ),
        )
    console = _console()
    console.print(table)
    for note in result["notes"]:
        console.print(f"[dim]- {note}[/dim]")
    console.print(f"[bold]{result['disclaimer']}[/bold]")


# -- input parsing and error reporting ----------------------------------------------------


def _parse_date(text: str, field: str) -> date:
    return options.parse_date(text, field)


def _parse_time(text: str, field: str) -> time:
    return options.parse_time(text, field)


def _fail(field: str, message: str, json_output: bool) -> NoReturn:
    line = f"error: {field}: {message}".replace("\n", " ")
    if json_output:
        typer.echo(json.dumps({"error": {"field": field, "message": message}}))
    typer.echo(line, err=True)
    raise SystemExit(2)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the app; expected errors print one line and exit with code 2."""
    from inoplan.errors import CdsError, InvalidInput, OptionalDependencyMissing

    args = list(sys.argv[1:] if argv is None else argv)
    want_json = "--json" in args
    if not args:
        args = ["--help"]
    try:
        result = app(args=args, prog_name="inoplan", standalone_mode=False)
    except InvalidInput as exc:
        _fail(exc.field, exc.message, want_json)
    except OptionalDependencyMissing as exc:  # names the extra to install
        _fail(exc.extra, str(exc), want_json)
    except CdsError as exc:
        _fail("inoplan", str(exc), want_json)
    except typer.TyperException as exc:  # a usage error: unknown option, missing argument...
        param = getattr(exc, "param", None)  # set when one parameter is at fault
        field = getattr(param, "name", None) or "arguments"
        _fail(field, exc.format_message(), want_json)
    raise SystemExit(result if isinstance(result, int) else 0)
