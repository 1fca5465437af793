"""``inoplan evaluate FOLDER`` exit codes say whether some files could not be evaluated.

0: every course evaluated, whatever the decisions; 1: at least one file failed (the others were
evaluated and printed); 2: invalid input of the command itself. Run as a user runs it: the
installed interpreter, ``python -m inoplan``, in a subprocess.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def evaluate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "inoplan", "evaluate", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    for path in sorted(EXAMPLES.glob("*.yaml"))[:2]:
        shutil.copy(path, tmp_path / path.name)
    return tmp_path


def test_every_course_evaluated_exits_0(folder: Path) -> None:
    done = evaluate(str(folder), "--on", "2027-04-19")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 2


def test_one_bad_file_among_good_ones_exits_1_and_the_others_are_printed(folder: Path) -> None:
    (folder / "03-broken.yaml").write_text("label: us\npatient: [not, a, mapping]\n")
    done = evaluate(str(folder), "--on", "2027-04-19")
    assert done.returncode == 1
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    assert [("error" in line) for line in lines] == [False, False, True]
    assert lines[2]["file"] == "03-broken.yaml" and lines[2]["error"]["field"]
    assert "1 of 3 files could not be evaluated" in done.stderr


def test_every_file_bad_exits_1_not_0(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text("{")
    (tmp_path / "b.yaml").write_text("label: nowhere\n")
    done = evaluate(str(tmp_path), "--on", "2027-04-19")
    assert done.returncode == 1
    assert all("error" in json.loads(line) for line in done.stdout.splitlines())


def test_a_folder_without_course_documents_exits_2(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("no course here")
    done = evaluate(str(tmp_path), "--on", "2027-04-19")
    assert done.returncode == 2
    assert done.stdout == "" and done.stderr.startswith("error: COURSE:")


def test_a_bad_date_exits_2_before_any_file_is_read(folder: Path) -> None:
    done = evaluate(str(folder), "--on", "19/04/2027")
    assert done.returncode == 2 and done.stdout == ""


def test_the_exit_codes_are_documented_in_the_help() -> None:
    done = evaluate("--help")
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "Exit codes: 0 every course was evaluated" in text
    assert "1 a folder in which at least one file could not be evaluated" in text
    assert "2 invalid input" in text
