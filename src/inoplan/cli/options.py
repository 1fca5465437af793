"""What every command shares: the site policy named on the root command (``--site-policy``) and
the reading of date and time options.

The root callback in :mod:`inoplan.cli.main` stores the option here; the commands of the
sub-modules (``fhir``, ``pk``) read it from here, so none of them imports ``cli.main`` back
(no import circle). Standard library only at import time.
"""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from typing import Any

__all__ = ["State", "parse_date", "parse_time", "site_policy"]


class State:
    """Options of the root command for the current invocation."""

    site_policy: Path | None = None


def site_policy() -> Any:
    """The site policy named by ``--site-policy`` / ``INOPLAN_SITE_POLICY`` (or the defaults)."""
    if State.site_policy is None:  # what load_site_policy(None) returns, without loading the
        from inoplan.domain.policy import SitePolicy  # policy reader (start-up time)

        return SitePolicy()
    from inoplan.sitepolicy import load_site_policy

    return load_site_policy(State.site_policy)


def parse_date(text: str, field: str) -> date:
    """A date option, inside the accepted window (1900-01-01 to 2099-12-31)."""
    from inoplan.document.plausibility import check_date
    from inoplan.errors import InvalidInput

    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise InvalidInput(field, f"{text!r} is not a date (YYYY-MM-DD)") from None
    return check_date(day, field)


def parse_time(text: str, field: str) -> time:
    """A time-of-day option, ``HH:MM``."""
    from inoplan.errors import InvalidInput

    try:
        hours, minutes = text.split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise InvalidInput(field, f"{text!r} is not a time (HH:MM)") from None
