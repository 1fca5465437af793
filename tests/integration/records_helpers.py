"""Helpers shared by tests/api and tests/integration (records, users, tokens, documents)."""

from __future__ import annotations

import copy
import functools
from datetime import date
from typing import Any

from pydantic import SecretStr

from inoplan.bootstrap import Database
from inoplan.config import Settings
from inoplan.services.auth import ROLES, Principal, hash_password, issue_token

#: A fixed key that passes the production strength check (tests only).
SECRET = "Zq3v9Lw2Tn8Xb4Rm6Yc1Hp5Kd7Fg0Js2Qa9Wu3Ee8Oi4Ly6Vt"
#: A fixed audit (HMAC) key that passes the production strength check (tests only).
AUDIT_KEY = "Pb5Nc8Vx2Mz7Qk4Wr9Ts1Yh6Jd3Lg0Fa8Ue5Io2Kw7Rn4Ht"
PASSWORD = "correct horse battery staple"
SECOND_NURSE = "charge_nurse"
#: The demo scenarios are written for fixed days; tests pin "today" to keep them stable.
TODAY = date(2026, 12, 1)


def head_revision() -> str:
    """The newest migration shipped in the package (what ``db upgrade`` must reach)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", "inoplan.persistence:migrations")
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def settings_for(url: str, **extra: Any) -> Settings:
    extra.setdefault("audit_key", SecretStr(AUDIT_KEY))
    return Settings(
        database_url=url, secret_key=SecretStr(SECRET), environment="production", **extra
    )


def migrated_database(url: str) -> Database:
    database = Database(settings_for(url))
    database.upgrade()
    return database


@functools.cache
def password_hash() -> str:
    return hash_password(PASSWORD)


def add_users(database: Database) -> dict[str, str]:
    """One user per role (named after the role); returns role -> bearer token."""
    from datetime import UTC, datetime

    tokens = {}
    with database.uow(write=True) as uow:
        for role in ROLES:
            if uow.users.get(role) is None:
                uow.users.add(
                    username=role, password_hash=password_hash(), role=role, at=datetime.now(UTC)
                )
        if uow.users.get(SECOND_NURSE) is None:  # an administration's independent second signer
            uow.users.add(
                username=SECOND_NURSE,
                password_hash=password_hash(),
                role="nurse",
                at=datetime.now(UTC),
            )
        uow.commit()
    for role in ROLES:
        tokens[role] = issue_token(Principal(role, role), secret=SECRET, minutes=30)[0]
    return tokens


def headers(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}


@functools.cache
def _documents() -> tuple[dict[str, Any], ...]:
    from inoplan.demo import demo_documents

    return tuple(demo_documents(TODAY))


def course_document(index: int = 0, *, patient_id: str | None = None) -> dict[str, Any]:
    """A valid course document (one of the demo scenarios), deep-copied."""
    document = copy.deepcopy(_documents()[index])
    if patient_id is not None:
        document["patient"]["id"] = patient_id
    return document


def vitals_event(n: int, *, prefix: str = "w") -> dict[str, Any]:
    """A small valid event with a unique id (weights vary so events are distinguishable)."""
    return {
        "id": f"{prefix}-{n}",
        "date": "2026-11-29",
        "type": "vitals",
        "weight_kg": 60 + (n % 200) / 10,
    }
