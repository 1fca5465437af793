"""Demo data for ``inoplan serve --demo``: four fictional courses and an admin user.

The courses are plain course documents in ``demo/courses`` (``inoplan evaluate`` reads them as
they are); ``demo/courses/scenarios.toml`` gives, beside them, the day each scenario is written
for. Seeding shifts every date in a document (birth dates included, so ages stay as written) by
``today - that day``, so the demo always shows today's situation: an adult due for cycle 1 day
8, an adult in remission due for cycle 3 day 8, a child due for the first dose, and an adult
whose day 8 is held for liver tests.

The demo ``admin`` user's password is ``INOPLAN_DEMO_PASSWORD`` when set; otherwise a random one
is generated and printed once (it is not stored anywhere in clear).
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta
from importlib import resources
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inoplan.bootstrap import Database
    from inoplan.config import Settings

__all__ = ["demo_documents", "scenario_days", "seed_demo"]

_DATE_KEYS = frozenset({"date", "start_date", "birth_date"})
DEMO_ADMIN = "admin"


def _shift(value: Any, days: int) -> Any:
    if isinstance(value, dict):
        return {
            k: (_shift_date(v, days) if k in _DATE_KEYS else _shift(v, days))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_shift(v, days) for v in value]
    return value


def _shift_date(value: Any, days: int) -> Any:
    if isinstance(value, str):
        value = date.fromisoformat(value)
    return (value + timedelta(days=days)).isoformat()


def scenario_days() -> dict[str, date]:
    """File name of each demo course -> the day its scenario is written for."""
    import tomllib

    folder = resources.files("inoplan.demo").joinpath("courses")
    days = tomllib.loads(folder.joinpath("scenarios.toml").read_text(encoding="utf-8"))["today"]
    names = sorted(e.name for e in folder.iterdir() if e.name.endswith(".yaml"))
    if sorted(days) != names:  # a release bug: every course needs its day, and only courses
        raise ValueError(f"demo/courses/scenarios.toml lists {sorted(days)}, the folder {names}")
    return {name: days[name] for name in names}


def demo_documents(today: date) -> list[dict[str, Any]]:
    """The demo course documents with their dates moved so that each scenario's day is ``today``."""
    from inoplan.document.io import parse_text

    folder = resources.files("inoplan.demo").joinpath("courses")
    out = []
    for name, anchor in scenario_days().items():
        raw = parse_text(folder.joinpath(name).read_text(encoding="utf-8"), field=name)
        out.append(_shift(raw, (today - anchor).days))
    return out


def _random_password() -> str:
    """16 random characters that the password policy accepts (almost always the first draw)."""
    from inoplan.errors import InvalidInput
    from inoplan.services.passwords import check_password

    while True:
        candidate = secrets.token_urlsafe(12)
        try:
            return check_password(candidate, DEMO_ADMIN)
        except InvalidInput:
            continue


def seed_demo(database: Database, *, settings: Settings, today: date | None = None) -> list[str]:
    """Seed the demo into an empty database; returns lines to print (once)."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from inoplan.services.auth import add_user
    from inoplan.services.records import create_course

    lines: list[str] = []
    with database.uow() as uow:
        empty = uow.courses.list(offset=0, limit=1)[1] == 0
        has_users = uow.users.count() > 0
    if not has_users:
        given = settings.demo_password.get_secret_value() if settings.demo_password else None
        password = given or _random_password()
        add_user(database, DEMO_ADMIN, password, "admin", actor="demo")
        if given:
            lines.append(f"demo: user '{DEMO_ADMIN}' (role admin) with INOPLAN_DEMO_PASSWORD")
        else:
            lines.append(
                f"demo: user '{DEMO_ADMIN}' (role admin), password {password} (shown only now)"
            )
    if empty:
        today = today or datetime.now(ZoneInfo(settings.clinic_timezone)).date()
        ids = [
            create_course(database, document, actor="demo").id for document in demo_documents(today)
        ]
        lines.append(f"demo: seeded courses {', '.join(map(str, ids))} (dates relative to {today})")
    else:
        lines.append("demo: the database already holds courses; nothing seeded")
    return lines
