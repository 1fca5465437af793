"""The ``inoplan`` console script: a start-up fast lane in front of the Typer app.

``inoplan bsa``, ``inoplan dose`` and ``inoplan evaluate FILE`` with ``--json`` are what scripts
and EHR wrappers call over and over; importing Typer (and Click) alone costs several times a bare
Python start (bench/README.md, "CLI start-up"). For exactly those invocations, written plainly
(``--name value`` or ``--name=value``, numbers as plain decimals, every required option present,
no ``--help``, no shell completion), this module reads the options itself and calls the same
service functions as the commands in :mod:`inoplan.cli.main`, printing the same JSON line.

Anything else, and any expected error (``InvalidInput`` and the rest of ``inoplan.errors``), goes
to the Typer app, which parses the whole command line again and gives its usual help, completion,
usage errors and messages: the fast lane never answers an error itself. The options below are
checked against the Typer commands' own parameters by ``tests/cli/test_entry.py``, which also
compares both paths' output. Standard library only at import time.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from typing import Any, NoReturn

__all__ = ["FAST_COMMANDS", "main"]

_FLOAT = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_INT = re.compile(r"[1-9]\d{0,5}")

#: The options of each fast command: name -> (kind, default); ``required`` when there is no
#: default. ``path`` is the one positional argument (``evaluate``'s course document).
FAST_COMMANDS: dict[str, dict[str, tuple[str, Any]]] = {
    "bsa": {
        "--height-cm": ("float", "required"),
        "--weight-kg": ("float", "required"),
        "--formula": ("str", "mosteller"),
    },
    "dose": {
        "--height-cm": ("float", "required"),
        "--weight-kg": ("float", "required"),
        "--mg-per-m2": ("float", None),
        "--cycle": ("int", None),
        "--day": ("int", None),
        "--response": ("str", None),
        "--vial": ("str", None),
        "--formula": ("str", "mosteller"),
        "--prepared-at": ("str", None),
        "--label": ("str", "us"),
    },
    "evaluate": {
        "COURSE": ("path", "required"),
        "--on": ("str", "required"),
    },
}

#: Click runs shell completion when this variable is set (``--install-completion`` scripts).
_COMPLETION_VARIABLE = "_INOPLAN_COMPLETE"


def _read(command: str, args: list[str]) -> dict[str, Any] | None:
    """The options of a plain fast-lane command line, or None when Typer should parse it."""
    spec = FAST_COMMANDS[command]
    values: dict[str, Any] = {}
    json_seen = False
    i = 0
    while i < len(args):
        token = args[i]
        i += 1
        if token == "--json" and not json_seen:
            json_seen = True
            continue
        if not token.startswith("--"):
            if "COURSE" not in spec or "COURSE" in values or token.startswith("-") or not token:
                return None
            values["COURSE"] = token
            continue
        name, equals, value = token.partition("=")
        if name not in spec or name in values or name == "COURSE":
            return None
        if not equals:
            if i >= len(args):
                return None
            value = args[i]
            i += 1
        if not value or value.startswith("-"):
            return None
        kind = spec[name][0]
        if kind == "float":
            if not _FLOAT.fullmatch(value):
                return None
            values[name] = float(value)
        elif kind == "int":
            if not _INT.fullmatch(value):
                return None
            values[name] = int(value)
        else:
            values[name] = value
    if not json_seen:
        return None  # the readable rendering needs Rich: the Typer command draws it
    for name, (_kind, default) in spec.items():
        if name not in values:
            if default == "required":
                return None
            values[name] = default
    return values


def _run(command: str, values: dict[str, Any]) -> Mapping[str, Any]:
    """The same service calls as the Typer commands of :mod:`inoplan.cli.main`."""
    from inoplan.cli import options

    policy = options.site_policy()
    if command == "bsa":
        from inoplan.services.dosing import bsa_json

        return bsa_json(
            values["--height-cm"], values["--weight-kg"], values["--formula"], policy=policy
        )
    if command == "dose":
        from inoplan.services.dosing import dose_json

        prepared_at = values["--prepared-at"]
        return dose_json(
            height_cm=values["--height-cm"],
            weight_kg=values["--weight-kg"],
            mg_per_m2=values["--mg-per-m2"],
            cycle=values["--cycle"],
            day=values["--day"],
            response=values["--response"],
            vial=values["--vial"],
            formula=values["--formula"],
            prepared_at=(options.parse_time(prepared_at, "prepared_at") if prepared_at else None),
            label=values["--label"],
            policy=policy,
        )
    from pathlib import Path

    from inoplan.document import read_document
    from inoplan.services.courses import decide_document

    day = options.parse_date(values["--on"], "on")
    return decide_document(read_document(Path(values["COURSE"])), day, policy=policy)


def fast_lane(args: list[str]) -> int | None:
    """Run a plain ``bsa``/``dose``/``evaluate FILE`` with ``--json``: exit code 0, or None
    when the Typer app must handle the command line (anything else, or an expected error)."""
    if not args or args[0] not in FAST_COMMANDS or os.environ.get(_COMPLETION_VARIABLE):
        return None
    command = args[0]
    values = _read(command, args[1:])
    if values is None:
        return None
    if command == "evaluate" and os.path.isdir(values["COURSE"]):
        return None  # batch mode: a Rich progress bar on stderr
    from inoplan.cli import options
    from inoplan.errors import CdsError

    policy_file = os.environ.get("INOPLAN_SITE_POLICY")  # as Click reads the envvar: "" = unset
    if policy_file:
        from pathlib import Path

        options.State.site_policy = Path(policy_file)
    else:
        options.State.site_policy = None
    try:
        result = _run(command, values)
    except CdsError:
        return None  # the Typer app runs the command again and reports the error its way
    import json

    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    sys.stdout.flush()
    return 0


def main(argv: list[str] | None = None) -> NoReturn:
    """The console script: the fast lane, else :func:`inoplan.cli.main.main` (Typer)."""
    args = list(sys.argv[1:] if argv is None else argv)
    code = fast_lane(args)
    if code is not None:
        raise SystemExit(code)
    from inoplan.cli.main import main as typer_main

    typer_main(args)
    raise SystemExit(0)  # pragma: no cover - typer_main always exits
