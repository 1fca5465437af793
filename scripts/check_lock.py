"""Check that what the lock installed satisfies pyproject.toml (run by `make install`).

A requirement added to pyproject.toml without `make lock` would otherwise show up later as an
ImportError in some test. This names it at install time: every requirement of inoplan, with the
extras the development install uses (dev, and through it postgres and dask), must be installed
at a version its range accepts.

Exit codes: 0 the lock fits; 1 it does not (the message says what to run).
"""

from __future__ import annotations

import sys
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT = "inoplan"
EXTRAS = ("dev",)


def requirements(extras: tuple[str, ...]) -> list[Requirement]:
    """The project's requirements for these extras, its own extras expanded."""
    wanted, seen, todo = [], set(), list(extras)
    raw = [Requirement(text) for text in metadata.requires(PROJECT) or []]
    environment_extras: set[str] = set()
    while todo:
        extra = todo.pop()
        if extra in environment_extras:
            continue
        environment_extras.add(extra)
        for req in raw:
            if req.marker is None or not req.marker.evaluate({"extra": extra}):
                continue
            if canonicalize_name(req.name) == PROJECT:
                todo.extend(req.extras)
                continue
            if str(req) not in seen:
                seen.add(str(req))
                wanted.append(req)
    for req in raw:  # the runtime requirements (no extra marker)
        if (req.marker is None or req.marker.evaluate({"extra": ""})) and str(req) not in seen:
            seen.add(str(req))
            wanted.append(req)
    return wanted


def describe(req: Requirement) -> str:
    """The requirement without its marker: ``name[extras]specifier``."""
    extras = f"[{','.join(sorted(req.extras))}]" if req.extras else ""
    return f"{req.name}{extras}{req.specifier}"


def main() -> int:
    problems = []
    for req in requirements(EXTRAS):
        try:
            version = metadata.version(req.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{describe(req)} is not installed")
            continue
        if req.specifier and not req.specifier.contains(version, prereleases=True):
            problems.append(f"{describe(req)} but {req.name} {version} is installed")
    if problems:
        print("check-lock: requirements.lock does not fit pyproject.toml:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        print(
            "check-lock: run `make lock` (then `make install`) and commit requirements.lock",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
