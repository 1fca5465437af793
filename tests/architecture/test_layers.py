"""Import rules (docs/architecture.md: the layers and what each may import).

- ``domain/`` imports only the standard library and ``inoplan.domain``/``inoplan.errors``
  (``domain/pk`` may also import NumPy);
- ``import inoplan``, ``import inoplan.cli.main`` and ``inoplan --help`` load no web framework,
  database, NumPy, matplotlib or pydantic;
- every class in ``inoplan.errors.__all__`` is an Exception.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import inoplan
import inoplan.errors

PACKAGE = Path(inoplan.__file__).parent
DOMAIN = PACKAGE / "domain"
HEAVY = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "alembic",
    "numpy",
    "scipy",
    "matplotlib",
    "pydantic",
)
STDLIB = sys.stdlib_module_names
# Besides its own package the domain may use the error hierarchy and the package root (which
# holds only ``__version__`` and the disclaimer; checked below to import nothing itself).
ROOT_MODULES = ("inoplan", "inoplan.errors")


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module a file imports (relative imports resolved)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                found.add(".".join([*base, node.module] if node.module else base))
            elif node.module:
                found.add(node.module)
    return found


def allowed(module: str, path: Path) -> bool:
    top = module.split(".")[0]
    if top in STDLIB or top == "__future__":
        return True
    if module in ROOT_MODULES or module == "inoplan.domain" or module.startswith("inoplan.domain."):
        return True
    in_pk = "pk" in path.relative_to(DOMAIN).parts[:-1]
    return in_pk and top == "numpy"


DOMAIN_FILES = sorted(DOMAIN.rglob("*.py"))


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: str(p.relative_to(DOMAIN)))
def test_domain_imports_only_the_standard_library_and_itself(path: Path) -> None:
    bad = sorted(m for m in imported_modules(path) if not allowed(m, path))
    assert not bad, f"{path.relative_to(PACKAGE)} imports {bad}"


def test_the_rule_would_catch_a_violation(tmp_path: Path) -> None:
    fake = DOMAIN / "dosing.py"  # only its location matters for the pk exception
    assert not allowed("pydantic", fake)
    assert not allowed("inoplan.knowledge.loader", fake)
    assert not allowed("numpy", fake)
    assert allowed("numpy", DOMAIN / "pk" / "simulate.py")
    assert allowed("decimal", fake)


@pytest.mark.parametrize("module", ["__init__.py", "errors.py"])
def test_what_the_domain_may_import_from_the_root_is_itself_pure(module: str) -> None:
    imports = imported_modules(PACKAGE / module)
    assert all(m.split(".")[0] in STDLIB or m == "__future__" for m in imports), imports


def test_the_domain_is_scanned() -> None:
    names = {p.name for p in DOMAIN_FILES}
    assert {"body.py", "dosing.py", "planner.py", "units.py"} <= names


def loaded_after(code: str) -> set[str]:
    script = code + "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    env = {k: v for k, v in os.environ.items() if k != "INOPLAN_SITE_POLICY"}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def heavy_in(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in HEAVY)


@pytest.mark.parametrize("statement", ["import inoplan", "import inoplan.cli.main"])
def test_importing_loads_nothing_heavy(statement: str) -> None:
    assert heavy_in(loaded_after(statement)) == []


def test_help_loads_nothing_heavy() -> None:
    modules = loaded_after(
        "import contextlib, io\n"
        "from inoplan.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
    )
    assert "inoplan.cli.main" in modules
    assert heavy_in(modules) == []


def test_the_dose_command_loads_nothing_heavy() -> None:
    # the benchmarked command: standard library, Typer and the domain only
    modules = loaded_after(
        "import contextlib, io\n"
        "from inoplan.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(['dose', '--height-cm', '170', '--weight-kg', '70',\n"
        "              '--mg-per-m2', '0.8', '--json'])\n"
        "    except SystemExit as exit:\n"
        "        assert exit.code in (0, None), exit.code\n"
    )
    assert "inoplan.domain.dosing" in modules
    assert heavy_in(modules) == []


def test_every_public_error_is_an_exception() -> None:
    assert inoplan.errors.__all__
    for name in inoplan.errors.__all__:
        cls = getattr(inoplan.errors, name)
        assert inspect.isclass(cls) and issubclass(cls, Exception), name
        assert issubclass(cls, inoplan.errors.CdsError), name
        assert cls.__doc__, name


def test_invalid_input_is_a_value_error_carrying_the_field() -> None:
    err = inoplan.errors.InvalidInput("height_cm", "too small")
    assert isinstance(err, ValueError)
    assert (err.field, err.message, str(err)) == ("height_cm", "too small", "height_cm: too small")


def private_library_imports(path: Path) -> list[str]:
    """``lib._private`` modules and ``_private`` names imported from other packages."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            names: list[str] = []
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            modules = [node.module]
            names = [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in [*modules, *names]:
            parts = name.split(".")
            if parts[0] == "inoplan":
                continue
            if any(p.startswith("_") and not p.startswith("__") for p in parts[1:]):
                found.append(name)
    return sorted(found)


SOURCE_FILES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", SOURCE_FILES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_private_module_or_name_of_a_library_is_imported(path: Path) -> None:
    assert private_library_imports(path) == [], f"{path.relative_to(PACKAGE)}: private import"


def test_the_private_import_rule_would_catch_one(tmp_path: Path) -> None:
    planted = tmp_path / "planted.py"
    planted.write_text(
        "import typer._click\n"
        "from typer._click.exceptions import UsageError\n"
        "from typer.main import _parse\n"
        "from inoplan.cli import _private\n"
        "from __future__ import annotations\n"
        "import os.path\n"
    )
    assert private_library_imports(planted) == [
        "typer._click",
        "typer._click.exceptions",
        "typer._click.exceptions.UsageError",
        "typer.main._parse",
    ]
