"""Shared fixtures (kept small and generic): a PostgreSQL server for tests marked ``postgres``.

``INOPLAN_TEST_POSTGRES_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``)
names the server. When it does not answer, ``postgres`` tests are skipped -- unless
``INOPLAN_REQUIRE_POSTGRES`` is set (CI sets it), in which case they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


def _postgres_error(url: str) -> str | None:
    try:
        import psycopg

        dsn = url.replace("postgresql+psycopg://", "postgresql://", 1)
        with psycopg.connect(dsn, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except Exception as exc:  # any failure means "no usable server"
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """The base URL of a PostgreSQL server that answers (else skip, or fail in CI)."""
    url = os.environ.get("INOPLAN_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    error = _postgres_error(url)
    if error is not None:
        message = f"PostgreSQL at {url} does not answer ({error})"
        if os.environ.get("INOPLAN_REQUIRE_POSTGRES"):
            pytest.fail(message + "; INOPLAN_REQUIRE_POSTGRES is set")
        pytest.skip(message)
    return url


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A URL whose connections use a fresh, empty schema (dropped afterwards)."""
    import psycopg

    schema = f"t_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    dsn = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{separator}options={quote(f'-csearch_path={schema}')}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
