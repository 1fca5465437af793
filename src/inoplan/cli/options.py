"""What every command shares: the site policy named on the root command (``--site-policy``).

The root callback in :mod:`inoplan.cli.main` stores the option here; the commands of the
sub-modules (``fhir``, ``pk``) read it from here, so none of them imports ``cli.main`` back
(no import circle). Standard library only at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["State", "site_policy"]


class State:
    """Options of the root command for the current invocation."""

    site_policy: Path | None = None


def site_policy() -> Any:
    """The site policy named by ``--site-policy`` / ``INOPLAN_SITE_POLICY`` (or the defaults)."""
    from inoplan.sitepolicy import load_site_policy

    return load_site_policy(State.site_policy)
