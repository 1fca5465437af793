"""``inoplan db``, ``inoplan user``, ``inoplan audit verify`` and the demo seed."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from tests.integration.records_helpers import (
    AUDIT_KEY,
    TODAY,
    head_revision,
    migrated_database,
    settings_for,
)


def _run(url: str, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INOPLAN_")}
    env["INOPLAN_DATABASE_URL"] = url
    env["INOPLAN_AUDIT_KEY"] = AUDIT_KEY  # the key the in-process helpers use as well
    return subprocess.run(
        [sys.executable, "-m", "inoplan", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'cli.db'}"


def test_db_upgrade_migrates_and_reports_the_revision(url: str) -> None:
    result = _run(url, "db", "upgrade")
    assert result.returncode == 0, result.stderr
    assert head_revision() in result.stdout
    assert _run(url, "db", "current").stdout.strip() == head_revision()


def test_user_add_reads_the_password_from_stdin_and_the_user_can_log_in(url: str) -> None:
    from inoplan.services.auth import authenticate

    result = _run(url, "user", "add", "alice", "--role", "nurse", stdin="m4ple-syrup-drips\n")
    assert result.returncode == 0, result.stderr
    assert "m4ple" not in result.stdout + result.stderr
    database = migrated_database(url)
    user = authenticate(database, "alice", "m4ple-syrup-drips")
    assert user is not None and user.role == "nurse"
    assert authenticate(database, "alice", "wrong-password") is None
    listed = _run(url, "user", "list", "--json")
    assert '"alice"' in listed.stdout and '"nurse"' in listed.stdout
    database.dispose()


def test_user_add_refuses_bad_input_with_exit_code_2_naming_the_field(url: str) -> None:
    bad_role = _run(url, "user", "add", "bob", "--role", "surgeon", stdin="long enough pw\n")
    assert bad_role.returncode == 2 and "role" in bad_role.stderr
    short = _run(url, "user", "add", "bob", "--role", "viewer", stdin="short\n")
    assert short.returncode == 2 and "password" in short.stderr
    twice = _run(url, "user", "add", "carol", "--role", "viewer", stdin="long enough pw\n")
    assert twice.returncode == 0
    again = _run(url, "user", "add", "carol", "--role", "viewer", stdin="long enough pw\n")
    assert again.returncode == 2 and "already exists" in again.stderr


def test_audit_verify_exits_non_zero_naming_the_first_broken_record(url: str) -> None:
    from sqlalchemy import update

    from inoplan.persistence.rows import AuditRow

    for name in ("u1", "u2", "u3"):
        assert (
            _run(url, "user", "add", name, "--role", "viewer", stdin="long enough pw\n").returncode
            == 0
        )
    ok = _run(url, "audit", "verify")
    assert ok.returncode == 0 and "3 records" in ok.stdout
    database = migrated_database(url)
    with database.uow(write=True) as uow:
        uow.session.execute(
            update(AuditRow)
            .where(AuditRow.seq == 2)
            .values(after={"username": "u2", "role": "admin"})
        )
        uow.commit()
    database.dispose()
    broken = _run(url, "audit", "verify")
    assert broken.returncode == 1
    assert "record 2" in broken.stderr


def test_audit_head_exports_the_anchor_head_that_verify_expect_checks_later(url: str) -> None:
    import json

    from sqlalchemy import delete, func, select, text

    from inoplan.persistence.rows import AuditRow

    assert (
        _run(url, "user", "add", "u1", "--role", "viewer", stdin="long enough pw\n").returncode == 0
    )
    first = _run(url, "audit", "head")
    assert first.returncode == 0, first.stderr
    head = json.loads(first.stdout)
    assert head["chain"] == "anchor" and head["chain_seq"] == 1 and head["written"] is True
    assert head["chains_anchored"] == 1 and len(head["hash"]) == 64
    again = json.loads(_run(url, "audit", "head").stdout)  # nothing grew: the same head
    assert again["written"] is False and again["expect"] == head["expect"]
    assert _run(url, "audit", "verify", "--expect", head["expect"]).returncode == 0
    bad = _run(url, "audit", "verify", "--expect", "1:nothex")
    assert bad.returncode == 2 and "--expect" in bad.stderr

    database = migrated_database(url)
    with database.uow(write=True) as uow:  # remove the anchor record (and its chain's head)
        newest = uow.session.scalar(select(func.max(AuditRow.seq)))
        uow.session.execute(delete(AuditRow).where(AuditRow.seq == newest))
        uow.session.execute(text("DELETE FROM audit_chains WHERE chain = 'anchor'"))
        uow.commit()
    database.dispose()
    gone = _run(url, "audit", "verify", "--expect", head["expect"])
    assert gone.returncode == 1
    assert "no longer in the anchor chain" in gone.stderr


def test_the_demo_seeds_four_courses_and_an_admin_once(tmp_path: Path) -> None:
    from inoplan.demo import seed_demo
    from inoplan.services import records
    from inoplan.services.auth import authenticate

    settings = settings_for(f"sqlite:///{tmp_path / 'demo.db'}", demo_password="demo-walrus-41")
    database = migrated_database(settings.database_url)
    lines = seed_demo(database, settings=settings, today=TODAY)
    assert any("admin" in line for line in lines)
    assert "demo-walrus-41" not in " ".join(lines)
    assert authenticate(database, "admin", "demo-walrus-41") is not None
    page = records.list_courses(database)
    assert page.count == 4
    statuses = {
        c.patient_external_id: records.show_decision(database, c.id, TODAY, actor="t")["status"]
        for c in page.data
    }
    assert statuses == {
        "DEMO-0001": "give",  # cycle 1 day 8
        "DEMO-0002": "give",  # in CR, cycle 3 day 8
        "DEMO-0003": "give",  # a child's first dose
        "DEMO-0004": "hold",  # liver tests
    }
    again = seed_demo(database, settings=settings, today=TODAY)
    assert records.list_courses(database).count == 4 and "nothing seeded" in again[-1]
    from inoplan.services.audit import verify_chain

    report = verify_chain(database)  # every seeded course and event vouched for by its record
    assert report.ok and report.courses == 4, report.message()
    database.dispose()


def test_the_demo_without_a_configured_password_prints_one_once(tmp_path: Path) -> None:
    from inoplan.demo import seed_demo

    settings = settings_for(f"sqlite:///{tmp_path / 'demo.db'}")
    database = migrated_database(settings.database_url)
    lines = seed_demo(database, settings=settings, today=date(2027, 1, 4))
    assert any("password" in line and "shown only now" in line for line in lines)
    database.dispose()


def test_a_cli_write_without_the_audit_key_in_production_is_refused_and_writes_nothing(
    url: str,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INOPLAN_")}
    env.update(
        INOPLAN_DATABASE_URL=url,
        INOPLAN_ENVIRONMENT="production",
        INOPLAN_SECRET_KEY="Zq3v9Lw2Tn8Xb4Rm6Yc1Hp5Kd7Fg0Js2Qa9Wu3Ee8Oi4Ly6Vt",
    )
    assert _run(url, "db", "upgrade").returncode == 0
    done = subprocess.run(
        [sys.executable, "-m", "inoplan", "user", "add", "dave", "--role", "viewer"],
        input="long enough pw\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "INOPLAN_AUDIT_KEY" in done.stderr and "Traceback" not in done.stderr
    assert '"dave"' not in _run(url, "user", "list", "--json").stdout
