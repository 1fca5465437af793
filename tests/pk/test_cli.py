"""``inoplan pk`` on the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from inoplan.cli.main import main

from .courses import adult_course


def _write(tmp_path: Path, document: dict[str, object]) -> Path:
    path = tmp_path / "course.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    out, err = capsys.readouterr()
    return int(exit_info.value.code or 0), out, err


def test_pk_json_gives_the_contract_fields(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        ["pk", str(_write(tmp_path, adult_course(cycles=1, given_cycles=1))), "--json"], capsys
    )
    assert code == 0
    result = json.loads(out)
    assert result["cycles"][0]["cmax_ng_per_ml"] == pytest.approx(212.6, rel=0.01)
    assert {
        "model",
        "cumulative_auc_ng_h_per_ml",
        "series",
        "disclaimer",
        "exposure_target",
    } <= set(result)


def test_pk_population_with_plot_writes_an_svg(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "exposure.svg"
    course = _write(tmp_path, adult_course(cycles=2, given_cycles=1))
    code, out, _ = _run(
        ["pk", str(course), "--population", "100", "--seed", "4", "--plot", str(plot), "--json"],
        capsys,
    )
    assert code == 0
    result = json.loads(out)
    assert (
        result["cycles"][0]["auc_ng_h_per_ml"]["p95"] > result["cycles"][0]["auc_ng_h_per_ml"]["p5"]
    )
    assert "<svg" in plot.read_text(encoding="utf-8")


def test_pk_prints_a_table_with_the_disclaimer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(
        ["pk", str(_write(tmp_path, adult_course(cycles=1, given_cycles=1)))], capsys
    )
    assert code == 0
    assert "Garrett 2019" in out and "no exposure target" in out and "qualified" in out


def test_invalid_input_exits_2_naming_the_field_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plot = tmp_path / "never.svg"
    course = _write(tmp_path, adult_course(cycles=1, given_cycles=1, height_cm=140, weight_kg=30))
    code, out, err = _run(["pk", str(course), "--plot", str(plot), "--json"], capsys)
    assert code == 2
    assert err.startswith("error: bsa_m2:") and err.count("\n") == 1
    assert json.loads(out)["error"]["field"] == "bsa_m2"
    assert not plot.exists()


def test_a_bad_population_size_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    course = _write(tmp_path, adult_course(cycles=1, given_cycles=1))
    code, _, err = _run(["pk", str(course), "--population", "0"], capsys)
    assert code == 2 and "population" in err


def test_help_does_not_import_numpy_matplotlib_or_dask() -> None:
    probe = (
        "import sys\n"
        "from inoplan.cli.main import main\n"
        "try:\n    main(['pk', '--help'])\nexcept SystemExit:\n    pass\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "names = ('numpy', 'matplotlib', 'dask', 'distributed', 'scipy')\n"
        "heavy = [m for m in names if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "HEAVY []" in done.stdout


def test_importing_the_pk_knowledge_and_model_types_stays_light() -> None:
    probe = (
        "import sys\n"
        "import inoplan, inoplan.knowledge.pk, inoplan.domain.pk.model, inoplan.cli.pk\n"
        "import inoplan.services.exposure\n"
        "print('HEAVY', [m for m in ('numpy', 'matplotlib', 'dask') if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "HEAVY []" in done.stdout
