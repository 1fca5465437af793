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

    [results]                        # result feeds: HL7 v2 and FHIR (docs/ehr-integration.md)
    identifier_types = ["MR"]        # PID-3 identifier types that name the record number
    assigning_authority = "GOODHEALTH"   # optional: only identifiers from this authority
    identifier_system = "urn:oid:2.16.840.1.113883.19.5"  # FHIR: the MRN's identifier system

    [[results.local_code]]           # the laboratory's own codes (OBX-3 / Coding)
    system = "99LAB"
    code = "TBIL"
    analyte = "bilirubin"            # a course document analyte, or "ignore"

    [labs.bilirubin]                 # the laboratory's unit and reference range (ULN),
    unit = "umol/L"                  # prefilled on the web's laboratory form; site data,
    uln = 21                         # not label facts (docs/web-ui.md)

    [labs.anc]
    unit = "10*9/L"

    [clinic]                         # printed on the patient handout (docs/web-ui.md)
    name = "Haematology day unit"
    phone_day = "+44 20 7946 0000"
    phone_out_of_hours = "+44 20 7946 0999"   # nights, weekends and holidays

    [[clinic.contact]]               # named people the patient may call (any number)
    name = "Sam Rivera"
    role = "clinical nurse specialist"
    phone = "+44 20 7946 0123"
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from inoplan.domain.policy import (
    DEFAULT_LAB_REFERENCES,
    ClinicContacts,
    Contact,
    LabReference,
    RoundingPolicy,
    SitePolicy,
)
from inoplan.domain.results import ResultsPolicy
from inoplan.errors import InvalidInput

__all__ = ["load_results_policy", "load_site_policy"]

_DEFAULT_STEP = RoundingPolicy().dose_step_mg  # 0.01, docs/cli.md

_KNOWN = {
    "rounding": {"bsa_step_m2", "dose_step_mg", "mode"},
    "preparation": {"final_concentration_min_mg_per_ml", "final_concentration_max_mg_per_ml"},
    "freshness": {"lab_max_age_days", "weight_max_age_days"},
    "qt": {"extra_drugs"},
    "clinic": {"name", "phone_day", "phone_out_of_hours", "contact"},
    "labs": {r.analyte for r in DEFAULT_LAB_REFERENCES},
    "results": {
        "identifier_types",
        "assigning_authority",
        "processing_ids",
        "identifier_system",
        "local_code",
    },
}


def load_site_policy(path: str | Path | None) -> SitePolicy:
    """The site policy from ``path``; the defaults when ``path`` is None or empty."""
    if not path:
        return SitePolicy()
    source = Path(path)
    raw = _read(source)
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
    _results_policy(raw.get("results", {}))  # a bad [results] section fails every command
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
        clinic=_clinic(raw.get("clinic", {})),
        lab_references=_lab_references(raw.get("labs", {})),
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


def _read(source: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(source.read_text(encoding="utf-8"), parse_float=Decimal)
    except OSError as exc:
        raise InvalidInput("site_policy", f"cannot read {str(source)!r}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise InvalidInput.not_utf8("site_policy", source, exc) from None
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput("site_policy", f"not valid TOML: {exc}") from None


def load_results_policy(path: str | Path | None) -> ResultsPolicy:
    """The ``[results]`` section of the site policy (result feeds); defaults when absent."""
    if not path:
        return ResultsPolicy()
    raw = _read(Path(path))
    load_site_policy(path)  # the whole file must be valid, not only this section
    return _results_policy(raw.get("results", {}))


def _texts(value: object, key: str, *, empty: bool = False) -> tuple[str, ...]:
    if (
        not isinstance(value, list)
        or not all(isinstance(x, str) and x.strip() for x in value)
        or (not value and not empty)
    ):
        raise InvalidInput(f"site_policy.results.{key}", "expected a list of texts")
    return tuple(x.strip() for x in value)


def _results_policy(section: object) -> ResultsPolicy:
    from inoplan.domain.results import ANALYTES, LocalCode

    if not isinstance(section, dict):
        raise InvalidInput("site_policy.results", "expected a table")
    defaults = ResultsPolicy()
    authority = section.get("assigning_authority")
    system = section.get("identifier_system")
    for key, value in (("assigning_authority", authority), ("identifier_system", system)):
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InvalidInput(f"site_policy.results.{key}", "expected a text")
    codes: list[LocalCode] = []
    seen: set[tuple[str, str]] = set()
    entries = section.get("local_code", [])
    if not isinstance(entries, list):
        raise InvalidInput("site_policy.results.local_code", "expected [[results.local_code]]")
    for i, entry in enumerate(entries):
        where = f"site_policy.results.local_code[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"system", "code", "analyte"}:
            raise InvalidInput(where, "expected system, code and analyte")
        values = [entry.get(name) for name in ("system", "code", "analyte")]
        if not all(isinstance(v, str) and v.strip() for v in values):
            raise InvalidInput(where, "system, code and analyte are required texts")
        code_system, code, analyte = (str(v).strip() for v in values)
        if analyte not in (*ANALYTES, "ignore"):
            raise InvalidInput(
                f"{where}.analyte", f"unknown analyte {analyte!r}; one of {', '.join(ANALYTES)}"
            )
        if (code_system.casefold(), code) in seen:
            raise InvalidInput(f"{where}.code", f"{code_system}|{code} is listed twice")
        seen.add((code_system.casefold(), code))
        codes.append(LocalCode(system=code_system, code=code, analyte=analyte))
    return ResultsPolicy(
        local_codes=tuple(codes),
        identifier_types=_texts(section["identifier_types"], "identifier_types")
        if "identifier_types" in section
        else defaults.identifier_types,
        assigning_authority=authority.strip() if isinstance(authority, str) else None,
        processing_ids=_texts(section["processing_ids"], "processing_ids")
        if "processing_ids" in section
        else defaults.processing_ids,
        identifier_system=system.strip() if isinstance(system, str) else None,
    )


#: A phone number as people write it: digits, spaces, + ( ) - . /, an optional extension.
_PHONE = re.compile(r"^\+?[0-9(][0-9 ()./-]{1,30}[0-9)](?: ?(?:ext\.?|x) ?[0-9]{1,6})?$")


def _line(value: object, key: str, *, limit: int = 100) -> str:
    """A printable one-line text of at most ``limit`` characters (stripped)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"site_policy.clinic.{key}", "expected a non-empty text")
    text = value.strip()
    if len(text) > limit or any(not c.isprintable() for c in text):
        raise InvalidInput(
            f"site_policy.clinic.{key}",
            f"expected one printable line of at most {limit} characters",
        )
    return text


def _phone(value: object, key: str) -> str:
    text = _line(value, key, limit=40)
    if not _PHONE.match(text):
        raise InvalidInput(
            f"site_policy.clinic.{key}",
            f"{text!r} is not a phone number (digits, spaces, + ( ) - . /, optional 'ext 123')",
        )
    return text


def _clinic(section: object) -> ClinicContacts:
    """The ``[clinic]`` section: phone numbers and named contacts for the patient handout."""
    if not isinstance(section, dict):
        raise InvalidInput("site_policy.clinic", "expected a table")
    entries = section.get("contact", [])
    if not isinstance(entries, list):
        raise InvalidInput("site_policy.clinic.contact", "expected [[clinic.contact]] tables")
    contacts = []
    for i, entry in enumerate(entries):
        where = f"contact[{i}]"
        if not isinstance(entry, dict) or set(entry) - {"name", "role", "phone"}:
            raise InvalidInput(f"site_policy.clinic.{where}", "expected name, role and phone")
        contacts.append(
            Contact(
                name=_line(entry.get("name"), f"{where}.name"),
                role=_line(entry["role"], f"{where}.role") if "role" in entry else "",
                phone=_phone(entry["phone"], f"{where}.phone") if "phone" in entry else "",
            )
        )
    return ClinicContacts(
        name=_line(section["name"], "name") if "name" in section else "",
        phone_day=_phone(section["phone_day"], "phone_day") if "phone_day" in section else "",
        phone_out_of_hours=(
            _phone(section["phone_out_of_hours"], "phone_out_of_hours")
            if "phone_out_of_hours" in section
            else ""
        ),
        contacts=tuple(contacts),
    )


def _lab_references(section: Mapping[str, Any]) -> tuple[LabReference, ...]:
    """The ``[labs.<analyte>]`` tables over the defaults: a unit the course document accepts for
    the analyte and, where the label judges multiples of it, a positive ULN in that unit."""
    from inoplan.domain.units import accepted_units

    out = []
    for default in DEFAULT_LAB_REFERENCES:
        entry = section.get(default.analyte)
        if entry is None:
            out.append(default)
            continue
        where = f"site_policy.labs.{default.analyte}"
        if not isinstance(entry, dict) or set(entry) - {"unit", "uln"}:
            raise InvalidInput(where, "expected a table with unit and uln")
        unit = entry.get("unit", default.unit)
        accepted = accepted_units(default.analyte)
        if unit not in accepted:
            raise InvalidInput(
                f"{where}.unit", f"unknown unit {unit!r}; accepted: {', '.join(accepted)}"
            )
        uln = _dec(entry.get("uln"), f"labs.{default.analyte}.uln")
        if uln is not None and not uln > 0:
            raise InvalidInput(f"{where}.uln", f"expected a number above 0, got {uln}")
        if uln is None and default.uln is not None and unit != default.unit:
            raise InvalidInput(
                f"{where}.uln",
                f"required with the unit {unit!r} (the default is in {default.unit})",
            )
        out.append(LabReference(default.analyte, unit, uln if uln is not None else default.uln))
    return tuple(out)
