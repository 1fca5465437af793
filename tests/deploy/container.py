"""Read the Dockerfile and compose.yaml as a container engine would, to start the service with
exactly their command and environment (no container engine runs on the test machines)."""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE = ROOT / "compose.yaml"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def entrypoint() -> list[str]:
    """The exec-form ENTRYPOINT followed by CMD, as the container runs it."""
    argv: list[str] = []
    for word, rest in instructions():
        if word in ("ENTRYPOINT", "CMD"):
            parsed = json.loads(rest)  # exec form only: a shell form would be a bug
            assert isinstance(parsed, list) and all(isinstance(a, str) for a in parsed)
            argv += parsed
    return argv


def image_environment() -> dict[str, str]:
    env: dict[str, str] = {}
    for word, rest in instructions():
        if word == "ENV":
            for item in shlex.split(rest):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def compose() -> dict[str, Any]:
    import yaml

    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` (the forms used here)."""

    def replace(match: re.Match[str]) -> str:
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        given = variables.get(name)
        if operator in (":-", "-"):
            return given if given else (argument or "")
        if operator in (":?", "?"):
            if not given:
                raise KeyError(f"{name}: {argument}")
            return given
        return given or ""

    return _VARIABLE.sub(replace, value)


def app_environment(variables: Mapping[str, str]) -> dict[str, str]:
    """The app container's environment: the image's ENV, then compose's ``environment``."""
    env = image_environment()
    for key, value in compose()["services"]["app"]["environment"].items():
        env[key] = interpolate(str(value), variables)
    return env
