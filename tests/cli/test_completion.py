"""Shell completion for ``inoplan`` (Typer's): the scripts, the answers, the installation.

A user's ``--show-completion`` / ``--install-completion`` detect the shell they run in; the tests
name the shell instead (Typer's switch for that is an environment variable).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def inoplan(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inoplan", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **env},
    )


NAMED_SHELL = {"_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}


def complete_bash(line: str) -> list[str]:
    words = line.split(" ")
    done = inoplan(
        _INOPLAN_COMPLETE="complete_bash", COMP_WORDS=line, COMP_CWORD=str(len(words) - 1)
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def test_commands_complete() -> None:
    assert complete_bash("inoplan ev") == ["evaluate"]
    assert {"import", "export"} <= set(complete_bash("inoplan fhir "))
    assert complete_bash("inoplan fhir ex") == ["export"]
    assert {"bsa", "dose", "plan", "evaluate", "pk", "serve"} <= set(complete_bash("inoplan "))


def test_options_complete() -> None:
    assert {"--on", "--json", "--help"} <= set(complete_bash("inoplan evaluate --"))
    assert "--height-cm" in complete_bash("inoplan dose --he")


def test_the_completion_scripts_call_back_inoplan() -> None:
    bash = inoplan("--show-completion", "bash", **NAMED_SHELL)
    assert bash.returncode == 0
    assert "_INOPLAN_COMPLETE=complete_bash" in bash.stdout
    assert "complete -o default -F _inoplan_completion inoplan" in bash.stdout
    zsh = inoplan("--show-completion", "zsh", **NAMED_SHELL)
    assert zsh.returncode == 0 and zsh.stdout.startswith("#compdef inoplan")
    fish = inoplan("--show-completion", "fish", **NAMED_SHELL)
    assert fish.returncode == 0 and "complete --command inoplan" in fish.stdout


def test_install_completion_writes_into_the_users_home(tmp_path: Path) -> None:
    done = inoplan("--install-completion", "bash", HOME=str(tmp_path), **NAMED_SHELL)
    assert done.returncode == 0, done.stderr
    script = tmp_path / ".bash_completions" / "inoplan.sh"
    assert "_INOPLAN_COMPLETE" in script.read_text()
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()


def test_the_options_are_in_the_help() -> None:
    text = inoplan("--help").stdout
    assert "--install-completion" in text and "--show-completion" in text
