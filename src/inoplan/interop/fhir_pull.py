"""FHIR-first sites: laboratory Observations searched on a FHIR server -> the same results.

``search_observations`` runs ``GET [base]/Observation?patient.identifier=<system>|<MRN>&code=...``
(the LOINC codes inoplan uses, and the site's local codes) with ``_include=Observation:patient``
and follows ``Bundle.link[next]`` to the end. Safety of the client:

- ``https`` only, except a loopback address (``127.0.0.0/8``, ``::1``, ``localhost``) for tests
  and a local proxy; no redirects; a ``next`` link must stay on the same scheme, host and port
  as the base (the bearer token is never sent elsewhere); at most ``max_pages`` pages;
- connect and read timeouts; the bearer token comes from the caller (an environment variable
  or a file, never the command line) and is never logged.

``read_observation`` maps one Observation with the HL7 reader's rules: LOINC or the site's local
code table, UCUM codes only (unit text through the one table), the reference range as ULN/LLN
(bilirubin, AST and ALT without an upper limit are parked), ``interpretation`` must not
contradict the range, status ``preliminary`` / ``final`` / ``amended`` / ``corrected`` /
``cancelled`` / ``entered-in-error``. A new version of an Observation (same id) supersedes the
earlier one: its id is the laboratory order the result chain hangs on.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Final
from urllib.parse import urlsplit

from inoplan.domain.results import (
    NEEDS_ULN,
    PERCENT_ANALYTES,
    InboundMessage,
    LabResult,
    PatientResults,
    Problem,
    ResultsPolicy,
    flag_contradiction,
)
from inoplan.errors import InvalidInput
from inoplan.interop import codes as k

__all__ = ["PulledObservation", "check_base_url", "read_observation", "search_observations"]

_STATUS: Final = {
    "preliminary": "preliminary",
    "final": "final",
    "amended": "corrected",
    "corrected": "corrected",
    "cancelled": "cancelled",
    "entered-in-error": "wrong",
}
_NO_RESULT: Final = frozenset({"registered"})
_INTERPRETATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


@dataclass(frozen=True, slots=True)
class PulledObservation:
    """One Observation as found, with the record number it was searched for."""

    identifier: str
    observation: dict[str, Any]
    patient: dict[str, Any] | None  # the included Patient, when the server sent it

    def raw(self) -> str:
        return json.dumps(
            {
                "patient_identifier": self.identifier,
                "observation": self.observation,
                "patient": self.patient,
            },
            sort_keys=True,
            ensure_ascii=False,
        )


# -- the client ----------------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_base_url(base_url: str) -> str:
    """The FHIR base URL without a trailing slash; https unless the host is loopback."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise InvalidInput("base", "a FHIR server base URL such as https://fhir.example.org/r4")
    if parts.username or parts.password:
        raise InvalidInput("base", "no credentials in the URL: use the token file or variable")
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        raise InvalidInput("base", "only https outside the loopback interface")
    if parts.query or parts.fragment:
        raise InvalidInput("base", "the base URL takes no query or fragment")
    return base_url.rstrip("/")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), port


def search_observations(
    client: Any,
    base_url: str,
    identifiers: Sequence[str],
    *,
    policy: ResultsPolicy,
    token: str | None = None,
    since: date | None = None,
    max_pages: int = 200,
) -> Iterator[PulledObservation]:
    """Every Observation of the patients with these record numbers, all pages followed.

    ``client`` is an ``httpx.Client`` (tests pass one with a ``MockTransport``).

    Raises
    ------
    InvalidInput
        The server answered with an error, something that is not a search Bundle, a ``next``
        link to another origin, or more than ``max_pages`` pages.
    """
    base = check_base_url(base_url)
    origin = _origin(base)
    codes = [f"{k.LOINC}|{c}" for c in (*k.LOINC_ANALYTE, *k.PREGNANCY_TEST)]
    codes += [f"{c.system}|{c.code}" for c in policy.local_codes if c.analyte != "ignore"]
    headers = {"Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    for identifier in identifiers:
        system = policy.identifier_system
        query = {
            "patient.identifier": f"{system}|{identifier}" if system else identifier,
            "code": ",".join(codes),
            "_include": "Observation:patient",
            "_count": "100",
        }
        if since is not None:
            query["date"] = f"ge{since.isoformat()}"
        params: dict[str, str] | None = query
        url: str | None = f"{base}/Observation"
        pages = 0
        while url is not None:
            pages += 1
            if pages > max_pages:
                raise InvalidInput("paging", f"more than {max_pages} pages of results")
            response = client.get(url, params=params, headers=headers)
            params = None  # the next link carries its own query
            if response.status_code != 200:
                raise InvalidInput(
                    "fhir", f"the server answered {response.status_code} to the search"
                )
            try:
                bundle = response.json()
            except ValueError:
                raise InvalidInput("fhir", "the server's answer is not JSON") from None
            if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
                raise InvalidInput("fhir", "the server's answer is not a Bundle")
            resources: list[dict[str, Any]] = [
                e["resource"]
                for e in bundle.get("entry") or ()
                if isinstance(e, dict) and isinstance(e.get("resource"), dict)
            ]
            patients = {
                f"Patient/{r.get('id')}": r for r in resources if r.get("resourceType") == "Patient"
            }
            for resource in resources:
                if resource.get("resourceType") != "Observation":
                    continue
                subject = str((resource.get("subject") or {}).get("reference") or "")
                patient = patients.get(subject) or patients.get(
                    "Patient/" + subject.rsplit("/", 1)[-1]
                )
                yield PulledObservation(identifier, resource, patient)
            url = _next_link(bundle, origin)


def _next_link(bundle: Mapping[str, Any], origin: tuple[str, str, int | None]) -> str | None:
    for link in bundle.get("link") or ():
        if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
            url = str(link["url"])
            if _origin(url) != origin:
                raise InvalidInput(
                    "paging", "the next page is on another server; it is not followed"
                )
            return url
    return None


# -- one Observation -> results ------------------------------------------------------------------


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_observation(
    raw: str, *, sender: str, control_id: str | None = None, policy: ResultsPolicy
) -> InboundMessage:
    """Map one pulled Observation (``PulledObservation.raw()``) to an inbound message."""
    data = json.loads(raw)
    observation = data.get("observation") or {}
    identifier = str(data.get("patient_identifier") or "")
    patient = data.get("patient")
    oid = str(observation.get("id") or "")
    version = str((observation.get("meta") or {}).get("versionId") or "")
    if control_id is None:
        control_id = (
            f"Observation/{oid}/_history/{version}"
            if version
            else (f"Observation/{oid}#{_sha(json.dumps(observation, sort_keys=True))[:16]}")
        )
    where = f"Observation/{oid}"
    problems: list[Problem] = []
    results: list[LabResult] = []
    ignored: list[str] = []
    birth, sex = _identity(patient, identifier, policy, problems)
    if not oid:
        problems.append(Problem("no_order_number", "the Observation has no id", "Observation"))
    else:
        result = _result(observation, oid, where, policy, problems, ignored)
        if result is not None:
            results.append(result)
    return InboundMessage(
        channel="fhir",
        sender=sender,
        control_id=control_id,
        raw=raw,
        content_sha256=_sha(raw),
        kind="Observation",
        version="R4",
        patients=(
            PatientResults(
                identifiers=(identifier,) if identifier else (),
                birth_date=birth,
                sex=sex,
                results=tuple(results),
                ignored=tuple(ignored),
            ),
        ),
        problems=tuple(problems),
    )


def _identity(
    patient: Any, identifier: str, policy: ResultsPolicy, problems: list[Problem]
) -> tuple[date | None, str | None]:
    if not isinstance(patient, dict):
        return None, None
    found = {
        str(i.get("value"))
        for i in patient.get("identifier") or ()
        if isinstance(i, dict)
        and (policy.identifier_system is None or i.get("system") == policy.identifier_system)
    }
    if identifier not in found:
        problems.append(
            Problem(
                "identity_mismatch",
                "the server returned a result whose patient does not carry the record number "
                "searched for",
                "Observation.subject",
            )
        )
    birth = None
    text = patient.get("birthDate")
    if isinstance(text, str) and len(text) == 10:
        try:
            birth = date.fromisoformat(text)
        except ValueError:
            birth = None
    gender = patient.get("gender")
    return birth, gender if gender in ("female", "male") else None


def _analyte(observation: Mapping[str, Any], policy: ResultsPolicy) -> tuple[str | None, bool, str]:
    codings = [
        c for c in (observation.get("code") or {}).get("coding") or () if isinstance(c, dict)
    ]
    shown = "|".join(f"{c.get('system')}:{c.get('code')}" for c in codings) or "(no code)"
    found: set[str] = set()
    known = False
    for c in codings:
        system, code = str(c.get("system") or ""), str(c.get("code") or "")
        if system == k.LOINC:
            known = True
            if code in k.LOINC_ANALYTE:
                found.add(k.LOINC_ANALYTE[code])
            elif code in k.PREGNANCY_TEST:
                found.add("pregnancy_test")
        local = policy.local_analyte(system, code)
        if local is not None:
            known = True
            if local != "ignore":
                found.add(local)
    if len(found) > 1:
        return None, True, shown + " (codes disagree)"
    return (next(iter(found)) if found else None), known, shown


def _result(
    o: Mapping[str, Any],
    oid: str,
    where: str,
    policy: ResultsPolicy,
    problems: list[Problem],
    ignored: list[str],
) -> LabResult | None:
    from inoplan.interop.fhir_in import pregnancy_result
    from inoplan.interop.fhir_in.observation import quantity_lab_unit

    analyte, known, shown = _analyte(o, policy)
    if analyte is None:
        if known and "disagree" not in shown:
            ignored.append(shown)
        else:
            problems.append(
                Problem(
                    "unknown_code",
                    f"code {shown} is neither a LOINC code inoplan uses nor in the site's "
                    "local code table",
                    f"{where}.code",
                )
            )
        return None
    raw_status = str(o.get("status") or "")
    if raw_status in _NO_RESULT:
        ignored.append(f"{shown} (status {raw_status})")
        return None
    status = _STATUS.get(raw_status)
    if status is None:
        problems.append(
            Problem("result_status", f"status {raw_status or '(none)'} cannot be applied", where)
        )
        return None
    when = o.get("effectiveDateTime") or (o.get("effectivePeriod") or {}).get("start")
    observed = None
    if isinstance(when, str) and len(when) >= 10:
        try:
            observed = date.fromisoformat(when[:10])
        except ValueError:
            observed = None
    if observed is None:
        problems.append(Problem("no_date", "the Observation has no effective date", where))
        return None
    flags = [
        str(c.get("code") or "")
        for concept in o.get("interpretation") or ()
        if isinstance(concept, dict)
        for c in concept.get("coding") or ()
        if isinstance(c, dict) and c.get("system") == _INTERPRETATION
    ]
    common: dict[str, Any] = {
        "analyte": analyte,
        "status": status,
        "observed": observed,
        "order": f"O:{oid}",
        "code": shown,
        "source": where,
        "flag": flags[0] if flags else "",
    }
    if status in ("cancelled", "wrong"):
        return LabResult(**common)
    if analyte == "pregnancy_test":
        found = pregnancy_result(o)
        if found is None:
            problems.append(Problem("unreadable_value", "pregnancy result not readable", where))
            return None
        return LabResult(**common, result=found)
    quantity = o.get("valueQuantity")
    if not isinstance(quantity, dict) or quantity.get("value") is None:
        problems.append(Problem("unreadable_value", "no valueQuantity", f"{where}.value"))
        return None
    if quantity.get("comparator"):
        problems.append(
            Problem(
                "censored_value",
                f"the value is {quantity['comparator']}{quantity.get('value')}, not a number",
                f"{where}.valueQuantity",
            )
        )
        return None
    try:
        value = Decimal(str(quantity["value"]))
        if analyte in PERCENT_ANALYTES:
            unit = "%"
            if quantity.get("code") not in ("%", None) or quantity.get("unit") not in ("%", None):
                raise InvalidInput(f"{where}.valueQuantity", "a percentage needs the unit %")
        else:
            unit = quantity_lab_unit(quantity, f"{where}.valueQuantity")
        low, high = _limits(o, quantity, where)
    except InvalidInput as exc:
        problems.append(Problem("unknown_unit", exc.message, exc.field))
        return None
    except ArithmeticError:
        problems.append(Problem("unreadable_value", "not a number", f"{where}.valueQuantity"))
        return None
    if not value.is_finite() or value < 0:
        problems.append(Problem("implausible_value", "not a finite number >= 0", where))
        return None
    if analyte in NEEDS_ULN and high is None:
        problems.append(
            Problem(
                "no_uln",
                f"{analyte} needs the laboratory's upper limit of normal (referenceRange.high) "
                "and none was sent; site reference ranges are not configured, so it is not "
                "guessed",
                f"{where}.referenceRange",
            )
        )
        return None
    contradiction = flag_contradiction(common["flag"], value, low, high)
    if contradiction:
        problems.append(Problem("flag_contradiction", contradiction, f"{where}.interpretation"))
        return None
    return LabResult(**common, value=value, unit=unit, uln=high, lln=low)


def _limits(
    o: Mapping[str, Any], quantity: Mapping[str, Any], where: str
) -> tuple[Decimal | None, Decimal | None]:
    """referenceRange[0] low/high, which must be in the value's unit (else an error)."""
    for rr in o.get("referenceRange") or ():
        if not isinstance(rr, dict):
            continue
        out: list[Decimal | None] = []
        for name in ("low", "high"):
            bound = rr.get(name)
            if not isinstance(bound, dict) or bound.get("value") is None:
                out.append(None)
                continue
            same = all(
                bound.get(key) in (None, quantity.get(key)) for key in ("system", "code", "unit")
            )
            if not same:
                raise InvalidInput(
                    f"{where}.referenceRange.{name}", "the limit is not in the value's unit"
                )
            number = Decimal(str(bound["value"]))
            out.append(number if name == "low" or number > 0 else None)
        return out[0], out[1]
    return None, None
