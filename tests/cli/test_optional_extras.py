"""Optional parts used without their extra: a message naming the extra, never a traceback.

The extras are ``postgres`` (psycopg) and ``dask`` (dask[distributed]); the development install
has both, so their absence is simulated: ``sys.modules[name] = None`` makes ``import name``
fail exactly as it does when the package is not installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from inoplan.errors import OptionalDependencyMissing
from inoplan.optional import EXTRAS, require
from tests.pk.courses import adult_course


def test_require_returns_the_module_when_installed() -> None:
    assert require("json", "a test").dumps([1]) == "[1]"


def test_require_names_the_extra_of_a_missing_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(OptionalDependencyMissing) as caught:
        require("psycopg", "a PostgreSQL database")
    assert (caught.value.extra, caught.value.module) == ("postgres", "psycopg")
    assert "pip install 'inoplan[postgres]'" in str(caught.value)


def test_every_extra_named_exists_in_pyproject() -> None:
    import tomllib

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    extras = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"][
        "optional-dependencies"
    ]
    assert set(EXTRAS.values()) <= set(extras)
    assert any(r.startswith("psycopg") for r in extras["postgres"])
    assert any(r.startswith("dask[distributed]") for r in extras["dask"])


def test_a_postgresql_url_without_psycopg_names_the_postgres_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from inoplan.persistence.engine import make_engine

    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(OptionalDependencyMissing) as caught:
        make_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")
    assert caught.value.extra == "postgres"
    make_engine("sqlite://").dispose()  # SQLite needs no extra


def _cli_without(
    module: str, args: list[str], env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    code = (
        "import sys\n"
        f"sys.modules[{module!r}] = None  # as if the extra were not installed\n"
        "from inoplan.cli.main import main\n"
        f"main({args!r})\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    return done.returncode, done.stdout, done.stderr


def test_pk_dask_without_the_dask_extra_exits_2_naming_it(tmp_path: Path) -> None:
    course = tmp_path / "course.json"
    course.write_text(json.dumps(adult_course(cycles=2, given_cycles=1)), encoding="utf-8")
    code, out, err = _cli_without(
        "distributed",
        ["pk", str(course), "--population", "20", "--seed", "1", "--dask", "tcp://127.0.0.1:9"],
    )
    assert code == 2, err
    assert out == ""
    assert err.startswith("error: dask: ")
    assert "pip install 'inoplan[dask]'" in err
    assert "Traceback" not in err


def test_a_postgresql_database_without_psycopg_exits_2_naming_the_extra(tmp_path: Path) -> None:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("INOPLAN_")}
    env["INOPLAN_DATABASE_URL"] = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    code, _, err = _cli_without("psycopg", ["db", "current"], env=env)
    assert code == 2, err
    assert err.startswith("error: postgres: ")
    assert "pip install 'inoplan[postgres]'" in err
    assert "Traceback" not in err
