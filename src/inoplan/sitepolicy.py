"""Read a site's policy file (TOML) into a ``SitePolicy``. I/O: reads one file.

Example ``site-policy.toml``::

    [rounding]
    bsa_step_m2 = 0.01
    dose_step_mg = 0.01
    mode = "half-up"        # or "down"

    [preparation]
    final_concentration_min_mg_per_ml = 0.01
    final_concentration_max_mg_per_ml = 0.1

    [freshness]
    lab_max_age_days = 3
    weight_max_age_days = 28

    [qt]
    extra_drugs = ["moxifloxacin", "amiodarone"]
"""

from __future__ import annotations

import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Any

from inoplan.domain.policy import RoundingPolicy, SitePolicy
from inoplan.errors import InvalidInput

__all__ = ["load_site_policy"]

_DEFAULT_STEP = RoundingPolicy().dose_step_mg  # 0.01, docs/cli.md

_KNOWN = {
    "rounding": {"bsa_step_m2", "dose_step_mg", "mode"},
    "preparation": {"final_concentration_min_mg_per_ml", "final_concentration_max_mg_per_ml"},
    "freshness": {"lab_max_age_days", "weight_max_age_days"},
    "qt": {"extra_drugs"},
}


def load_site_policy(path: str | Path | None) -> SitePolicy:
    """The site policy from ``path``; the defaults when ``path`` is None or empty."""
    if not path:
        return SitePolicy()
    source = Path(path)
    try:
        raw = tomllib.loads(source.read_text(encoding="utf-8"), parse_float=Decimal)
    except OSError as exc:
        raise InvalidInput("site_policy", f"cannot read {str(source)!r}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput("site_policy", f"not valid TOML: {exc}") from None
    for table, keys in raw.items():
        if table not in _KNOWN or not isinstance(keys, dict):
            raise InvalidInput(f"site_policy.{table}", "unknown section")
        unknown = set(keys) - _KNOWN[table]
        if unknown:
            raise InvalidInput(f"site_policy.{table}.{sorted(unknown)[0]}", "unknown setting")
    r: dict[str, Any] = raw.get("rounding", {})
    p: dict[str, Any] = raw.get("preparation", {})
    f: dict[str, Any] = raw.get("freshness", {})
    q: dict[str, Any] = raw.get("qt", {})
    mode = r.get("mode", "half-up")
    if not isinstance(mode, str):
        raise InvalidInput("site_policy.rounding.mode", f"expected a text, got {mode!r}")
    drugs = q.get("extra_drugs", [])
    if not isinstance(drugs, list) or not all(isinstance(x, str) and x for x in drugs):
        raise InvalidInput("site_policy.qt.extra_drugs", "expected a list of drug names")
    return SitePolicy(
        rounding=RoundingPolicy(
            bsa_step_m2=_step(r.get("bsa_step_m2"), "rounding.bsa_step_m2"),
            dose_step_mg=_step(r.get("dose_step_mg"), "rounding.dose_step_mg"),
            mode=mode,
        ),
        final_concentration_min_mg_per_ml=_dec(
            p.get("final_concentration_min_mg_per_ml"),
            "preparation.final_concentration_min_mg_per_ml",
        ),
        final_concentration_max_mg_per_ml=_dec(
            p.get("final_concentration_max_mg_per_ml"),
            "preparation.final_concentration_max_mg_per_ml",
        ),
        lab_max_age_days=_days(f.get("lab_max_age_days"), "freshness.lab_max_age_days"),
        weight_max_age_days=_days(f.get("weight_max_age_days"), "freshness.weight_max_age_days"),
        extra_qt_drugs=tuple(drugs),
        source=str(source),
    )


def _dec(value: object, key: str) -> Decimal | None:
    """A TOML number as a Decimal (floats arrive as Decimal: parse_float=Decimal)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise InvalidInput(f"site_policy.{key}", f"expected a number, got {value!r}")
    return Decimal(value)


def _step(value: object, key: str) -> Decimal:
    step = _dec(value, key)
    return _DEFAULT_STEP if step is None else step  # "is None": a 0 is refused, not replaced


def _days(value: object, key: str) -> int | None:
    """A whole, non-negative number of days."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(
            f"site_policy.{key}", f"expected a whole number of days >= 0, got {value!r}"
        )
    return value
