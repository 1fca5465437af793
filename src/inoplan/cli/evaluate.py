"""``inoplan evaluate``: the readable rendering of a decision, and batch mode over a folder.

Batch mode writes one JSON line per course on stdout (``{"file", "patient_id", "status",
...decision}``) and a Rich progress bar on stderr; a file that does not validate gives a line
with ``"error": {"field", "message"}`` and the batch goes on. Exit code 0 when every course was
evaluated, 1 (:data:`EXIT_SOME_FAILED`) when at least one file could not be (its line says why),
2 when the folder holds no course documents.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "COURSE_SUFFIXES",
    "EXIT_SOME_FAILED",
    "course_files",
    "evaluate_file",
    "print_decision",
    "render_decision",
    "run_batch",
]

COURSE_SUFFIXES = (".yaml", ".yml", ".json")

#: Exit code of a batch in which at least one file could not be evaluated (the help of
#: ``inoplan evaluate`` lists every exit code).
EXIT_SOME_FAILED = 1

_STATUS_STYLE = {
    "give": "bold green",
    "wait": "cyan",
    "hold": "bold yellow",
    "cannot_decide": "bold magenta",
    "complete": "bold blue",
    "discontinue": "bold red",
}
_SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "dim"}


def course_files(folder: Path) -> list[Path]:
    """Course documents directly inside ``folder``, sorted by name."""
    return sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in COURSE_SUFFIXES
    )


def evaluate_file(path: Path, on: date, *, policy: Any = None) -> dict[str, Any]:
    """One batch line: the decision, or the validation error, never an exception for bad input."""
    from inoplan.document import read_document
    from inoplan.domain.policy import SitePolicy
    from inoplan.errors import InvalidInput
    from inoplan.services.courses import decide_document

    try:
        document = read_document(path)
        decision = decide_document(document, on, policy=policy or SitePolicy())
    except InvalidInput as exc:
        patient = None
        try:
            patient = document["patient"]["id"]
        except Exception:
            patient = None
        return {
            "file": path.name,
            "patient_id": patient,
            "status": None,
            "error": {"field": exc.field, "message": exc.message},
        }
    return {"file": path.name, "patient_id": decision.get("patient_id"), **decision}


def run_batch(folder: Path, on: date, *, policy: Any = None, out: TextIO | None = None) -> int:
    """Evaluate every course in ``folder``; one JSON line each on ``out`` (default stdout)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from inoplan.errors import InvalidInput

    stream = out or sys.stdout
    files = course_files(folder)
    if not files:
        raise InvalidInput(
            "COURSE", f"no *.yaml, *.yml or *.json course documents in {str(folder)!r}"
        )
    console = Console(stderr=True)
    failed = 0
    with Progress(
        TextColumn("[bold]evaluate"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
        transient=False,
    ) as progress:
        task = progress.add_task("", total=len(files))
        for path in files:
            progress.update(task, description=path.name)
            line = evaluate_file(path, on, policy=policy)
            failed += "error" in line
            stream.write(json.dumps(line, ensure_ascii=False) + "\n")
            stream.flush()
            progress.advance(task)
    if failed:
        console.print(f"[bold red]evaluate: {failed} of {len(files)} files could not be evaluated")
        return EXIT_SOME_FAILED
    return 0


def render_decision(decision: Mapping[str, Any]) -> Any:
    """A Rich renderable of a decision (the JSON of docs/decision.md)."""
    from rich.console import Group
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    status = decision["status"]
    critical = sum(1 for a in decision.get("alerts") or [] if a.get("severity") == "critical")
    title = Text.assemble(
        ("inoplan evaluate  ", "bold"),
        (status.upper().replace("_", " "), _STATUS_STYLE.get(status, "bold")),
        (f"  ! {critical} CRITICAL" if critical else "", "bold red reverse"),
        f"   as of {decision['as_of']}   patient {decision.get('patient_id', '')}",
    )
    parts: list[Any] = []
    nd = decision.get("next_dose")
    if nd:
        dose = Table(show_header=False, box=None, pad_edge=False)
        dose.add_row("Next dose", f"cycle {nd['cycle']} day {nd['day']} ({nd.get('regimen', '')})")
        window = f"{nd['earliest']} .. {nd['latest'] or 'open (day 1 may be delayed)'}"
        dose.add_row("Scheduled", f"{nd['scheduled']}   window {window}")
        mg = "not computed" if nd["dose_mg"] is None else f"{nd['dose_mg']} mg"
        per = "unknown" if nd["dose_mg_per_m2"] is None else f"{nd['dose_mg_per_m2']} mg/m2"
        dose.add_row("Dose", f"{per} x {nd['bsa_m2']} m2 = {mg}")
        if nd.get("limited_from_mg_per_m2") is not None:
            dose.add_row(
                "",
                f"[bold red]capped from {nd['limited_from_mg_per_m2']} mg/m2: what is left of "
                "the cycle maximum; not to be given as scheduled[/bold red]",
            )
        if nd.get("status") == "held":
            dose.add_row("", "[bold red]held: do not give now[/bold red]")
        if nd.get("provisional"):
            dose.add_row("", "[dim]provisional (depends on a response not yet known)[/dim]")
        parts.append(dose)
    if decision.get("modifications"):
        parts.append(Text("Modifications: " + ", ".join(decision["modifications"]), style="yellow"))
    if decision.get("omitted_doses"):
        parts.append(
            Text(
                "Omitted: "
                + ", ".join(f"C{o['cycle']}D{o['day']}" for o in decision["omitted_doses"])
            )
        )
    parts.append(Text("Reasons", style="bold underline"))
    for r in decision["reasons"]:
        line = Text("  • ")
        line.append(r["rule"], style="bold")
        if r.get("verdict"):
            line.append(f" [{r['verdict']}]", style=_STATUS_STYLE.get(r["verdict"], ""))
        line.append(f"  {r['message']}  ")
        line.append(f"({r['citation']})", style="dim")
        parts.append(line)
        if r.get("interpretation"):
            parts.append(Text(f"      interpretation: {r['interpretation']}", style="italic dim"))
    if decision["alerts"]:
        parts.append(Text("Alerts", style="bold underline"))
        for a in decision["alerts"]:
            line = Text("  ")
            line.append(f"{a['severity'].upper():8}", style=_SEVERITY_STYLE.get(a["severity"], ""))
            line.append(f" {a['code']}", style="bold")
            line.append(f"  {a['message']}  ")
            line.append(f"({a['citation']})", style="dim")
            parts.append(line)
    kd = decision.get("key_dates") or {}
    if kd.get("contraception_until") or kd.get("no_breastfeeding_until"):
        parts.append(
            Text(
                f"Contraception until {kd.get('contraception_until') or '-'}; no breastfeeding "
                "until "
                f"{kd.get('no_breastfeeding_until') or '-'}"
                + (" (provisional)" if kd.get("provisional") else "")
            )
        )
    parts.append(
        Text(
            f"{decision['label_revision']} · engine {decision['engine_version']} · "
            f"{decision.get('disclaimer', '')}",
            style="dim",
        )
    )
    return Panel(Group(*parts), title=title, title_align="left")


def print_decision(decision: Mapping[str, Any]) -> None:
    from rich.console import Console

    Console().print(render_decision(decision))
