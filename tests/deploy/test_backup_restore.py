"""Backup and restore as docs/deployment.md describes: ``pg_dump`` of the database, restored
into a fresh database, passes ``inoplan audit verify`` and holds every course and event."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import quote

import pytest

from inoplan.services import records
from tests.integration.records_helpers import (
    AUDIT_KEY,
    course_document,
    migrated_database,
    vitals_event,
)


def _run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, env=env)


@pytest.mark.postgres
def test_a_pg_dump_restored_into_a_fresh_database_passes_audit_verify(
    postgres_schema_url: str, postgres_url: str, tmp_path: Path
) -> None:
    if shutil.which("pg_dump") is None or shutil.which("pg_restore") is None:
        pytest.fail("pg_dump and pg_restore are needed (PostgreSQL client tools)")
    import psycopg

    database = migrated_database(postgres_schema_url)
    ids = []
    for n in range(3):
        ref = records.create_course(
            database, course_document(n, patient_id=f"BK-{n}"), actor="backup-test"
        )
        records.append_event(
            database, ref.id, vitals_event(n, prefix="bk"), expected_version=1, actor="nurse"
        )
        ids.append(ref.id)
    expected = {i: records.export_document(database, i) for i in ids}
    database.dispose()

    schema = postgres_schema_url.split("search_path%3D", 1)[1].split("&", 1)[0]
    dsn = postgres_url.replace("postgresql+psycopg://", "postgresql://", 1)
    dump = tmp_path / "inoplan.dump"
    done = _run("pg_dump", "--format=custom", f"--schema={schema}", f"--file={dump}", dsn)
    assert done.returncode == 0, done.stderr

    fresh = f"inoplan_restore_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{fresh}"')
    restored_dsn = dsn.rsplit("/", 1)[0] + f"/{fresh}"
    try:
        done = _run("pg_restore", "--no-owner", f"--dbname={restored_dsn}", str(dump))
        assert done.returncode == 0, done.stderr
        restored_url = (
            postgres_url.rsplit("/", 1)[0] + f"/{fresh}?options={quote(f'-csearch_path={schema}')}"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("INOPLAN_")}
        env["INOPLAN_DATABASE_URL"] = restored_url
        env["INOPLAN_AUDIT_KEY"] = AUDIT_KEY  # kept apart from the dump (docs/deployment.md)
        verify = _run(sys.executable, "-m", "inoplan", "audit", "verify", env=env)
        assert verify.returncode == 0, verify.stdout + verify.stderr
        assert "intact" in verify.stdout.lower() or "ok" in verify.stdout.lower()
        assert "3 courses" in verify.stdout
        other = {**env, "INOPLAN_AUDIT_KEY": "Xk3Qm7Tz9Rv2Lp5Wb8Nc1Hd4Jf6Gs0Ya3Ue7Io2Kr5Tn8"}
        wrong = _run(sys.executable, "-m", "inoplan", "audit", "verify", env=other)
        assert wrong.returncode == 1  # the dump alone proves nothing: the key is kept apart
        assert "another audit key" in wrong.stderr
        restored = migrated_database(restored_url)
        try:
            assert {i: records.export_document(restored, i) for i in ids} == expected
        finally:
            restored.dispose()
    finally:
        with psycopg.connect(dsn, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{fresh}" WITH (FORCE)')
