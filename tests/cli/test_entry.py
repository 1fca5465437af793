"""The console script's start-up fast lane (``inoplan.cli.entry``) answers exactly as the Typer
app does: same stdout, stderr and exit code for plain ``bsa``/``dose``/``evaluate FILE --json``,
and every other command line (help, usage errors, invalid values, batch folders, completion)
goes to the Typer app. Structural checks only (which modules load), no timings."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from inoplan.cli import entry
from inoplan.cli.main import app
from inoplan.cli.main import main as typer_main

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


@pytest.fixture(autouse=True)
def _no_site_policy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INOPLAN_SITE_POLICY", raising=False)
    monkeypatch.delenv("_INOPLAN_COMPLETE", raising=False)


def _run(capsys: pytest.CaptureFixture[str], fn: Any, argv: list[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        fn(list(argv))
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return (0 if code is None else int(code)), out, err


def _json_course(tmp_path: Path, example: Path) -> Path:
    document = yaml.safe_load(example.read_text(encoding="utf-8"))
    document.pop("expect", None)
    path = tmp_path / (example.stem + ".json")
    path.write_text(json.dumps(document, default=str), encoding="utf-8")
    return path


def _command_lines(tmp_path: Path) -> list[list[str]]:
    lines: list[list[str]] = [
        ["bsa", "--height-cm", "170", "--weight-kg", "70", "--json"],
        ["bsa", "--json", "--weight-kg=70.5", "--height-cm=182", "--formula", "dubois"],
        ["bsa", "--height-cm", "170", "--weight-kg", "70", "--formula", "nope", "--json"],
        ["bsa", "--height-cm", "17000", "--weight-kg", "70", "--json"],  # implausible: exit 2
        ["bsa", "--height-cm", "1e2", "--weight-kg", "70", "--json"],  # Typer reads it
        ["bsa", "--height-cm", "170", "--json"],  # a missing option: usage error
        ["bsa", "--height-cm", "170", "--weight-kg", "70", "--json", "--json"],
        ["bsa", "--height-cm", "170", "--weight-kg", "70", "--bogus", "1", "--json"],
        ["dose", "--height-cm", "170", "--weight-kg", "70", "--mg-per-m2", "0.8", "--json"],
        ["dose", "--height-cm", "170", "--weight-kg", "70", "--mg-per-m2", "0.9", "--json"],
        [
            "dose",
            "--height-cm",
            "150",
            "--weight-kg",
            "48",
            "--cycle",
            "2",
            "--day",
            "8",
            "--response",
            "CR",
            "--json",
        ],
        [
            "dose",
            "--height-cm",
            "190",
            "--weight-kg",
            "95",
            "--mg-per-m2",
            "0.5",
            "--vial",
            "eu-1mg",
            "--label",
            "eu",
            "--prepared-at",
            "08:30",
            "--json",
        ],
        [
            "dose",
            "--height-cm",
            "170",
            "--weight-kg",
            "70",
            "--mg-per-m2",
            "0.8",
            "--prepared-at",
            "25:99",
            "--json",
        ],
        ["dose", "--height-cm", "170", "--weight-kg", "70", "--cycle", "0", "--day", "1", "--json"],
        ["dose", "--height-cm", "170", "--weight-kg", "70", "--mg-per-m2", "-1", "--json"],
        ["dose", "--height-cm", "170", "--weight-kg", "70", "--mg-per-m2", "0.8"],  # Rich
        ["evaluate", str(tmp_path / "missing.json"), "--on", "2027-03-01", "--json"],
        ["evaluate", str(EXAMPLES[0]), "--on", "2027-13-01", "--json"],
        ["evaluate", str(tmp_path), "--on", "2027-03-01", "--json"],  # a folder: batch mode
    ]
    for example in EXAMPLES:
        as_of = str(yaml.safe_load(example.read_text(encoding="utf-8"))["expect"]["as_of"])
        for path in (example, _json_course(tmp_path, example)):
            lines.append(["evaluate", str(path), "--on", as_of, "--json"])
            lines.append(["evaluate", "--json", f"--on={as_of}", str(path)])
    return lines


def test_every_command_line_gives_what_the_typer_app_gives(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answered = 0
    for argv in _command_lines(tmp_path):
        fast = _run(capsys, entry.main, argv)
        typer = _run(capsys, typer_main, argv)
        assert fast == typer, argv
        with pytest.MonkeyPatch.context():
            if entry.fast_lane(list(argv)) is not None:
                answered += 1
        capsys.readouterr()
    assert answered >= 20  # the lane really answers the plain ones (not all sent to Typer)


def test_the_lane_hands_over_help_completion_and_unknown_commands(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    plain = ["bsa", "--height-cm", "170", "--weight-kg", "70", "--json"]
    assert entry.fast_lane(plain) == 0
    capsys.readouterr()
    for argv in (
        [],
        ["--help"],
        ["bsa", "--help"],
        ["--version"],
        ["plan", str(EXAMPLES[0]), "--json"],
        ["--site-policy", "x.toml", *plain],
        ["bsa", "--height-cm", "170", "--weight-kg", "70"],  # no --json: the Rich table
    ):
        assert entry.fast_lane(argv) is None, argv
    monkeypatch.setenv("_INOPLAN_COMPLETE", "bash_complete")
    assert entry.fast_lane(plain) is None


def test_the_site_policy_from_the_environment_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text("[rounding]\ndose_step_mg = 0.1\n", encoding="utf-8")
    monkeypatch.setenv("INOPLAN_SITE_POLICY", str(policy))
    argv = ["dose", "--height-cm", "170", "--weight-kg", "70", "--mg-per-m2", "0.8", "--json"]
    fast = _run(capsys, entry.main, argv)
    assert fast == _run(capsys, typer_main, argv)
    assert fast[0] == 0 and json.loads(fast[1])["dose_mg"] == 1.5  # 1.5 mg, rounded to 0.1
    monkeypatch.delenv("INOPLAN_SITE_POLICY")
    assert _run(capsys, entry.main, argv) == _run(capsys, typer_main, argv)


def test_the_lanes_options_are_the_typer_commands_options() -> None:
    import typer.main

    group = typer.main.get_command(app)
    for name, spec in entry.FAST_COMMANDS.items():
        command = group.commands[name]  # type: ignore[attr-defined]
        params = {}
        for param in command.params:
            if param.name == "json_output":
                assert param.opts == ["--json"]
                continue
            key = "COURSE" if param.param_type_name == "argument" else param.opts[0]
            kind = {
                "FLOAT": "float",
                "INTEGER": "int",
                "INT": "int",
                "TEXT": "str",
                "STR": "str",
                "PATH": "path",
            }[param.type.name.upper()]
            default = "required" if param.required else param.default
            params[key] = (kind, default)
        assert params == spec, name


def _modules_after(argv: list[str]) -> set[str]:
    script = (
        "import contextlib, io, json, sys\n"
        "from inoplan.cli.entry import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code in (0, None), exit.code\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "INOPLAN_SITE_POLICY"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def _tops(modules: set[str]) -> set[str]:
    return {m.split(".")[0] for m in modules}


HEAVY = {"typer", "click", "rich", "sqlalchemy", "fastapi", "starlette", "numpy", "matplotlib"}


@pytest.mark.parametrize(
    "argv",
    [
        ["bsa", "--height-cm", "170", "--weight-kg", "70", "--json"],
        ["dose", "--height-cm", "170", "--weight-kg", "70", "--mg-per-m2", "0.8", "--json"],
    ],
)
def test_bsa_and_dose_load_no_cli_framework_nor_pydantic(argv: list[str]) -> None:
    tops = _tops(_modules_after(argv))
    assert "inoplan" in tops
    assert not tops & (HEAVY | {"pydantic", "yaml", "orjson"}), tops & HEAVY


def test_evaluate_loads_no_cli_framework_nor_server_libraries() -> None:
    example = str(EXAMPLES[0])
    modules = _modules_after(["evaluate", example, "--on", "2027-03-01", "--json"])
    assert "inoplan.domain.engine" in modules
    # a plainly valid document is checked by the schema lane (inoplan.document.fast)
    assert "pydantic" not in _tops(modules)
    assert not _tops(modules) & HEAVY


NOT_UTF8 = b"label: us\npatient: {id: \xff\xfe}\n"  # Latin-1/UTF-16 bytes, not UTF-8


@pytest.mark.parametrize(
    "argv",
    [
        ["evaluate", "{bad}", "--on", "2027-03-01", "--json"],
        ["plan", "{bad}", "--json"],
        ["--site-policy", "{bad}", "evaluate", str(EXAMPLES[0]), "--on", "2027-03-01", "--json"],
        ["fhir", "import", "{bad}", "--json"],
    ],
)
def test_a_file_that_is_not_utf8_is_a_clear_error_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    """Both lanes: exit 2 (invalid input), the file named, what is wrong and what to do."""
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(NOT_UTF8)
    argv = [a.replace("{bad}", str(bad)) for a in argv]
    typer = _run(capsys, typer_main, argv)
    lanes = [typer] if argv[0] == "fhir" else [typer, _run(capsys, entry.main, argv)]
    for code, out, err in lanes:
        assert code == 2, (argv, err)
        message = json.loads(out)["error"]["message"]  # --json: the error as JSON on stdout
        assert message.startswith(f"cannot read {str(bad)!r}: not UTF-8 text (byte 0xff at")
        assert message.endswith("save it as UTF-8") and "Traceback" not in err


def test_a_folder_with_a_file_that_is_not_utf8_goes_on_with_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "latin1.yaml").write_bytes(NOT_UTF8)
    code, out, _ = _run(capsys, typer_main, ["evaluate", str(tmp_path), "--on", "2027-03-01"])
    assert code == 1
    assert "not UTF-8 text" in json.loads(out)["error"]["message"]
