"""``inoplan hl7 import|listen``: the HL7 v2 results interface (docs/ehr-integration.md).

Both write to the service's database (``INOPLAN_DATABASE_URL``); the site policy
(``--site-policy`` / ``INOPLAN_SITE_POLICY``) holds the local code table (``[results]``).
Imports only Typer at module level.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="HL7 v2 results: import a file, or listen for MLLP.", no_args_is_help=True)


def _context() -> Any:
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from inoplan.bootstrap import get_database
    from inoplan.cli.options import State
    from inoplan.inbound import FeedContext
    from inoplan.sitepolicy import load_results_policy, load_site_policy

    database = get_database()
    database.upgrade()
    zone = ZoneInfo(database.settings.clinic_timezone)
    path = State.site_policy or database.settings.site_policy
    return FeedContext(
        database=database,
        today=lambda: datetime.now(zone).date(),
        now=lambda: datetime.now(zone),
        results_policy=load_results_policy(path),
        site_policy=load_site_policy(path),
    )


def _line(number: int, outcome: Any, control_id: str) -> str:
    text = f"{number}: {control_id or '(no control id)'}: {outcome.state} {outcome.ack_code}"
    if outcome.duplicate:
        text += " (already received)"
    if outcome.event_ids:
        text += f", {len(outcome.event_ids)} event(s)"
    for course_id, status in outcome.decisions.items():
        text += f", course {course_id}: {status}"
    for problem in outcome.problems:
        text += f"\n    {problem.code}: {problem.message}" + (
            f" [{problem.where}]" if problem.where else ""
        )
    return text


@app.command("import")
def import_file(
    file: Annotated[
        Path, typer.Argument(help="HL7 v2 file: one message, several, or a batch (FHS/BHS).")
    ],
    json_output: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
) -> None:
    """Import ORU^R01 results from a file; every message is recorded, parked or refused.

    Exit code 0 when every message was recorded (or carried nothing inoplan uses), 1 when some
    were parked or refused (listed; see the web page "Results to review"), 2 when the file
    cannot be read.
    """
    from inoplan.errors import InvalidInput
    from inoplan.inbound import handle_hl7
    from inoplan.interop.hl7v2 import split_batch

    try:
        data = file.read_bytes()
    except OSError as exc:
        raise InvalidInput("FILE", f"cannot read {str(file)!r}: {exc.strerror}") from None
    messages = split_batch(data)
    if not messages:
        raise InvalidInput("FILE", "no HL7 message in the file")
    ctx = _context()
    review = False
    for number, raw in enumerate(messages, start=1):
        outcome, ack = handle_hl7(ctx, raw)
        control_id = ack.split(b"\r")[1].split(b"|")[2].decode("utf-8", "replace")
        review = review or outcome.state not in ("applied", "ignored", "resolved")
        if json_output:
            typer.echo(
                json.dumps(
                    {
                        "message": number,
                        "control_id": control_id,
                        "state": outcome.state,
                        "ack": outcome.ack_code,
                        "duplicate": outcome.duplicate,
                        "event_ids": list(outcome.event_ids),
                        "decisions": {str(k): v for k, v in outcome.decisions.items()},
                        "problems": [p.to_json() for p in outcome.problems],
                        "message_id": outcome.message_id,
                    }
                )
            )
        else:
            typer.echo(_line(number, outcome, control_id))
    ctx.database.dispose()
    if review:
        raise typer.Exit(1)


@app.command()
def listen(
    host: Annotated[
        str, typer.Option(help="Address to bind (loopback by default; use a TLS tunnel).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (2575 is the usual HL7 port).")] = 2575,
    max_bytes: Annotated[
        int, typer.Option("--max-bytes", help="Largest message accepted (bytes).")
    ] = 1_048_576,
    idle_timeout: Annotated[
        float, typer.Option("--idle-timeout", help="Close a connection idle this long (s).")
    ] = 600.0,
    message_timeout: Annotated[
        float, typer.Option("--message-timeout", help="Time to receive one message (s).")
    ] = 30.0,
    max_connections: Annotated[
        int, typer.Option("--max-connections", help="Clients served at once.")
    ] = 16,
) -> None:
    """Receive ORU^R01 over MLLP and answer each message with an ACK after it is stored."""
    import asyncio
    import signal

    from inoplan.errors import InvalidInput
    from inoplan.inbound import handle_hl7
    from inoplan.interop.mllp import MllpLimits, MllpServer

    if not 0 <= port <= 65535:
        raise InvalidInput("port", "a TCP port from 0 to 65535")
    if max_bytes < 1024 or idle_timeout <= 0 or message_timeout <= 0 or max_connections < 1:
        raise InvalidInput("limits", "max-bytes >= 1024, timeouts > 0, max-connections >= 1")
    ctx = _context()

    def handler(raw: bytes) -> bytes:
        return handle_hl7(ctx, raw)[1]

    async def run() -> None:
        server = MllpServer(
            handler,
            host=host,
            port=port,
            limits=MllpLimits(max_bytes, idle_timeout, message_timeout, max_connections),
        )
        bound = await server.start()
        typer.echo(f"listening for HL7 v2 (MLLP) on {host}:{bound}", err=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.close()

    try:
        asyncio.run(run())
    finally:
        ctx.database.dispose()
