"""scripts/audit.py (`make audit`) and scripts/check_lock.py (`make install`).

The audit must never read as clean when the vulnerability data could not be had (pip-audit alone
prints "No known vulnerabilities found" for packages it skipped); the lock check must name a
requirement of pyproject.toml that the installed lock does not satisfy.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from packaging.requirements import Requirement

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
LOCK = SCRIPTS.parent / "requirements.lock"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"scripts_{name}", SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


audit = load("audit")
check_lock = load("check_lock")

Report = tuple[dict[str, Any] | None, str]


def fake_services(monkeypatch: pytest.MonkeyPatch, answers: dict[str, Report]) -> list[str]:
    asked: list[str] = []

    def run(lock: Path, service: str) -> Report:
        asked.append(service)
        return answers[service]

    monkeypatch.setattr(audit, "run_pip_audit", run)
    return asked


def dep(name: str, *, vulns: list[dict[str, Any]] | None = None, skip: str = "") -> dict[str, Any]:
    if skip:
        return {"name": name, "skip_reason": skip}
    return {"name": name, "version": "1.0", "vulns": vulns or []}


UNREACHABLE: Report = (None, "ConnectionError: Failed to resolve the host")
NOT_FOUND = "Dependency not found on PyPI and could not be audited"


def test_no_data_anywhere_says_so_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    report = {"dependencies": [dep("alembic", skip=NOT_FOUND), dep("rich", skip=NOT_FOUND)]}
    asked = fake_services(monkeypatch, {"pypi": (report, ""), "osv": UNREACHABLE})
    assert audit.main(["audit.py", str(LOCK)]) == 2
    assert asked == ["pypi", "osv"]
    err = capsys.readouterr().err
    assert "CANNOT CHECK" in err and "nothing was checked" in err
    assert "osv: cannot be reached" in err and "pypi: answered for none" in err


def test_every_package_checked_and_clean_exits_0(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    fake_services(monkeypatch, {"pypi": ({"dependencies": [dep("alembic"), dep("rich")]}, "")})
    assert audit.main(["audit.py", str(LOCK)]) == 0
    assert "2 of 2 locked packages checked against pypi; 0 with" in capsys.readouterr().out


def test_a_vulnerable_package_is_listed_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    vuln = {"id": "PYSEC-2099-1", "fix_versions": ["1.1"]}
    report = {"dependencies": [dep("alembic", vulns=[vuln]), dep("rich")]}
    fake_services(monkeypatch, {"pypi": (report, "")})
    assert audit.main(["audit.py", str(LOCK)]) == 1
    assert "alembic 1.0: PYSEC-2099-1 (fixed in 1.1)" in capsys.readouterr().out


def test_a_partial_answer_names_what_was_not_checked_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    report = {"dependencies": [dep("alembic"), dep("rich", skip=NOT_FOUND)]}
    fake_services(monkeypatch, {"pypi": (report, "")})
    assert audit.main(["audit.py", str(LOCK)]) == 2
    captured = capsys.readouterr()
    assert "1 of 2 locked packages checked" in captured.out
    assert "NOT CHECKED (1): rich" in captured.err


def test_the_lock_file_exists_and_pins_with_hashes() -> None:
    text = LOCK.read_text(encoding="utf-8")
    pins = [line for line in text.splitlines() if "==" in line and not line.startswith("#")]
    assert len(pins) > 50
    assert text.count("--hash=sha256:") >= len(pins)
    assert "scipy" in text  # dev only, but locked
    assert "://" not in text  # no index address in the lock


def test_check_lock_expands_the_projects_own_extras(monkeypatch: pytest.MonkeyPatch) -> None:
    requires = [
        "numpy<3,>=1.26",
        'psycopg[binary]<4,>=3.1.18; extra == "postgres"',
        'inoplan[postgres]; extra == "dev"',
        'pytest<10,>=8.0; extra == "dev"',
        'dask[distributed]<2027,>=2024.1; extra == "dask"',
    ]
    monkeypatch.setattr(check_lock.metadata, "requires", lambda name: requires)
    names = sorted(Requirement(str(r)).name for r in check_lock.requirements(("dev",)))
    assert names == ["numpy", "psycopg", "pytest"]  # dask is not an extra of dev here


def test_check_lock_names_a_requirement_the_lock_lacks(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    requires = ["numpy>=1.26,<3", 'not-a-real-package-xyz>=1; extra == "dev"']
    monkeypatch.setattr(check_lock.metadata, "requires", lambda name: requires)
    assert check_lock.main() == 1
    err = capsys.readouterr().err
    assert "not-a-real-package-xyz>=1 is not installed" in err and "make lock" in err


def test_check_lock_names_a_version_outside_the_range(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(check_lock.metadata, "requires", lambda name: ["pytest>=99"])
    assert check_lock.main() == 1
    assert "pytest>=99 but pytest" in capsys.readouterr().err


def test_the_installed_environment_fits_pyproject() -> None:
    assert check_lock.main() == 0, "run make lock, then make install"
