"""The Dockerfile and compose.yaml: valid, consistent, and starting the tested command.

No container engine runs on the test machines. ``compose.yaml`` is checked against the
Compose Specification's own JSON Schema (``compose-spec.json``, the schema ``docker compose
config`` validates with); the Dockerfile is read instruction by instruction. The command and
environment they give are what ``test_container_outage.py`` starts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.deploy.container import (
    COMPOSE,
    app_environment,
    compose,
    entrypoint,
    image_environment,
    instructions,
    interpolate,
)

SCHEMA = Path(__file__).with_name("compose-spec.json")
VARIABLES = {
    "POSTGRES_PASSWORD": "db-password-for-tests",
    "INOPLAN_SECRET_KEY": "Zq3v9Lw2Tn8Xb4Rm6Yc1Hp5Kd7Fg0Js2Qa9Wu3Ee8Oi4Ly6",
    "INOPLAN_AUDIT_KEY": "Pb5Nc8Vx2Mz7Qk4Wr9Ts1Yh6Jd3Lg0Fa8Ue5Io2Kw7Rn4Ht",
    "INOPLAN_PUBLIC_URL": "https://inoplan.example.org",
}


def test_the_compose_file_is_valid_against_the_compose_specification() -> None:
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(
        jsonschema.Draft7Validator(schema).iter_errors(compose()), key=lambda e: list(e.path)
    )
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]


def test_the_schema_check_would_catch_a_mistake() -> None:
    import jsonschema

    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    broken = compose()
    broken["services"]["app"]["depends_on"] = {"db": {"condition": "when_it_feels_like_it"}}
    broken["services"]["app"]["ports"] = [{"target": "eight thousand"}]
    assert list(jsonschema.Draft7Validator(schema).iter_errors(broken))


def test_one_database_and_the_app_with_several_workers_behind_it() -> None:
    services = compose()["services"]
    assert set(services) == {"db", "app"}
    app = services["app"]
    assert "entrypoint" not in app and "command" not in app  # the image's entry point runs
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    env = app_environment(VARIABLES)
    assert env["INOPLAN_ENVIRONMENT"] == "production"
    assert env["INOPLAN_DATABASE_URL"].startswith("postgresql+psycopg://inoplan:")
    assert env["INOPLAN_DATABASE_URL"].endswith("@db:5432/inoplan")
    assert int(env["INOPLAN_WORKERS"]) > 1
    assert env["INOPLAN_SECRET_KEY"] == VARIABLES["INOPLAN_SECRET_KEY"]
    assert env["INOPLAN_AUDIT_KEY"] == VARIABLES["INOPLAN_AUDIT_KEY"]
    assert all(port.startswith("127.0.0.1:") for port in app["ports"])  # only the proxy
    assert services["db"]["image"].startswith("postgres:")
    assert "pgdata" in compose()["volumes"]


@pytest.mark.parametrize("missing", sorted(VARIABLES))
def test_compose_refuses_to_start_without_a_secret(missing: str) -> None:
    variables = {k: v for k, v in VARIABLES.items() if k != missing}
    with pytest.raises(KeyError, match=missing):
        app_environment(variables)


def test_interpolation_follows_compose() -> None:
    assert interpolate("${A:-4}", {}) == "4" and interpolate("${A:-4}", {"A": "2"}) == "2"
    assert interpolate("x${A}y", {"A": "1"}) == "x1y"
    with pytest.raises(KeyError):
        interpolate("${A:?set A}", {"A": ""})


def test_the_dockerfile_runs_inoplan_serve_unprivileged_with_a_readiness_check() -> None:
    assert entrypoint() == ["inoplan", "serve"]
    words = dict(instructions())
    user = words["USER"].split(":")[0]
    assert user not in ("", "root", "0")
    assert "/readyz" in words["HEALTHCHECK"]
    env = image_environment()
    assert env["INOPLAN_ENVIRONMENT"] == "production"
    assert words["EXPOSE"] == env["INOPLAN_PORT"] == "8000"
    assert env["INOPLAN_HOST"] == "0.0.0.0"
    assert words["FROM"].startswith("python:3.11")


def test_the_env_example_names_every_variable_compose_needs() -> None:
    import re

    needed = set(re.findall(r"\$\{([A-Z_]+)", COMPOSE.read_text(encoding="utf-8")))
    example = (COMPOSE.parent / "deploy" / "env.example").read_text(encoding="utf-8")
    named = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line}
    assert needed - {"INOPLAN_CLINIC_TIMEZONE", "INOPLAN_LOG_LEVEL"} <= named
