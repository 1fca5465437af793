"""HL7 v2 ORU^R01 (v2.3 to v2.5.1) -> results, and the ACK that answers a message. Pure.

Parsing uses python-hl7 (PyPI ``hl7``, docs/ehr-integration.md says why); this module adds
what a results interface must check before anything reaches a course:

- the header: MSH-9 ``ORU^R01``, MSH-12 one of :data:`VERSIONS`, MSH-11 an accepted processing
  id, a message control id (MSH-10), sane encoding characters (MSH-2) and a character set
  (MSH-18) the bytes really are in. A header that fails is **rejected** (ACK ``AR``);
- the segments: each a three-character id, PID before OBR, OBR before OBX (a broken segment is a
  problem and the message is parked: ACK ``AE``);
- each OBX: its code (LOINC, or the site's local code table), its status (OBX-11), its value
  (a plain number: ``<0.2`` or a range is not one), its unit (UCUM code, or text through the one
  table of spellings), its reference range (OBX-7) and abnormal flag (OBX-8), which must not
  contradict each other, and its date (OBX-14, else OBR-7). Bilirubin, AST and ALT need their
  upper limit of normal: without it the result is parked, never completed with a default.

Nothing here decides which patient or course a message belongs to (``services.results`` does).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from inoplan.domain.results import (
    LAB_ANALYTES,
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
from inoplan.interop.ucum import UCUM_SYSTEM_NAMES, wire_lab_unit

__all__ = [
    "MLLP_END",
    "MLLP_START",
    "VERSIONS",
    "build_ack",
    "read_message",
    "split_batch",
]

VERSIONS: Final = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1")
MLLP_START: Final = b"\x0b"
MLLP_END: Final = b"\x1c\x0d"
LOINC_SYSTEMS: Final = frozenset({"LN", "LOINC", "http://loinc.org"})
_SNOMED_SYSTEMS: Final = frozenset({"SCT", "SNM", "SNOMED", "SNOMEDCT", "http://snomed.info/sct"})
_SEGMENT_ID: Final = re.compile(r"^[A-Z][A-Z0-9]{2}$")
_NUMBER: Final = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_TS: Final = re.compile(r"^(\d{4})(\d{2})(\d{2})")
_CHARSETS: Final = {
    "": "utf-8",  # not declared: UTF-8 (which ASCII is part of) or nothing
    "ASCII": "ascii",
    "8859/1": "latin-1",
    "8859/15": "iso8859-15",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",
}
_STATUS: Final = {
    "F": "final",
    "C": "corrected",
    "P": "preliminary",
    "X": "cancelled",
    "D": "deleted",
    "W": "wrong",
    "U": "final",  # changed to final without retransmitting: a value, when one is sent
}
#: OBX-11 values that carry no result to record (R: entered, not verified; I: pending; ...).
_NOT_A_RESULT: Final = frozenset({"R", "I", "N", "O", "S"})
_POSITIVE: Final = frozenset({"positive", "pos", "detected", "reactive", "pregnant"})
_NEGATIVE: Final = frozenset(
    {"negative", "neg", "not detected", "non-reactive", "nonreactive", "not pregnant"}
)


# -- splitting files and MLLP blocks -------------------------------------------------------------


def split_batch(data: bytes) -> list[bytes]:
    """The messages in a file: one message, several, or a batch (FHS/BHS ... BTS/FTS).

    MLLP framing characters are dropped, line ends are normalised to the HL7 segment terminator
    (carriage return) and the batch envelope segments are left out. Each message starts at its
    MSH segment. Text before the first MSH that is not an envelope becomes a message of its own
    (it will be rejected as not HL7), so nothing in the file is silently skipped.
    """
    text = data.replace(MLLP_START, b"").replace(b"\x1c", b"")
    text = text.replace(b"\r\n", b"\r").replace(b"\n", b"\r")
    messages: list[list[bytes]] = []
    stray: list[bytes] = []
    for line in text.split(b"\r"):
        if not line.strip():
            continue
        head = line.lstrip()[:3]
        if head in (b"FHS", b"BHS", b"BTS", b"FTS"):
            continue
        if head == b"MSH":
            messages.append([line.lstrip()])
        elif messages:
            messages[-1].append(line)
        else:
            stray.append(line)
    out = [b"\r".join(m) for m in messages]
    if stray:
        out.insert(0, b"\r".join(stray))
    return out


# -- reading one message ---------------------------------------------------------------------


@dataclass
class _Header:
    field_sep: str = "|"
    encoding: str = "^~\\&"
    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    message_type: str = ""
    control_id: str = ""
    processing_id: str = ""
    version: str = ""
    charset: str = ""


def _split_header(line: str) -> tuple[_Header | None, str | None]:
    """MSH by hand (before trusting the library): its fields, and what is wrong with it."""
    if not line.startswith("MSH") or len(line) < 8:
        return None, "the message does not start with an MSH segment"
    sep = line[3]
    if sep.isalnum() or sep in "\r\n ":
        return None, f"MSH-1 field separator {sep!r} is not usable"
    encoding = line[4:].split(sep, 1)[0]
    fields = line.split(sep)
    usable = not (
        len(encoding) != 4
        or len(set(encoding)) != 4
        or sep in encoding
        or any(ch.isalnum() or ch.isspace() for ch in encoding)
    )
    component, repetition = (encoding[0], encoding[1]) if usable else ("^", "~")

    def part(n: int, comp: int = 1) -> str:  # MSH-n, first repetition (MSH-1 is the separator)
        if n - 1 >= len(fields):
            return ""
        components = fields[n - 1].split(repetition)[0].split(component)
        return components[comp - 1] if comp <= len(components) else ""

    kind = "^".join(x for x in (part(9, 1), part(9, 2)) if x)
    header = _Header(
        field_sep=sep,
        encoding=encoding,
        sending_application=part(3),
        sending_facility=part(4),
        receiving_application=part(5),
        receiving_facility=part(6),
        message_type=kind,
        control_id=part(10).strip(),
        processing_id=part(11).strip(),
        version=part(12).strip(),
        charset=part(18).strip().upper(),
    )
    if not usable:
        return header, (
            f"MSH-2 encoding characters {encoding!r} are not four distinct separators "
            "(expected ^~\\& or another set of four)"
        )
    return header, None


def read_message(raw: bytes, policy: ResultsPolicy | None = None) -> InboundMessage:
    """Read one ORU^R01 message into results and problems (never raises on bad content)."""
    policy = policy or ResultsPolicy()
    sha = hashlib.sha256(raw).hexdigest()
    latin = raw.decode("latin-1").lstrip("\x0b \t\r\n")
    first = latin.replace("\n", "\r").split("\r", 1)[0]
    header, broken = _split_header(first)
    if header is None:
        return InboundMessage(
            channel="hl7",
            sender="",
            control_id="",
            raw=latin,
            content_sha256=sha,
            problems=(Problem("not_hl7", broken or "not an HL7 message", "MSH"),),
            rejected=True,
        )
    base = InboundMessage(
        channel="hl7",
        sender=header.sending_facility or header.sending_application,
        control_id=header.control_id,
        raw=latin,
        content_sha256=sha,
        kind=header.message_type,
        version=header.version,
        sender_application=header.sending_application,
        receiving_application=header.receiving_application,
        receiving_facility=header.receiving_facility,
    )
    if broken is not None:
        return replace(
            base, problems=(Problem("encoding_characters", broken, "MSH-2"),), rejected=True
        )
    refusal = _refusal(header, policy)
    codec = _CHARSETS.get(header.charset)
    text: str | None = None
    if codec is not None:
        try:
            text = raw.decode(codec)
        except UnicodeDecodeError:
            text = None
    if refusal is not None:
        return replace(base, raw=text or latin, problems=(refusal,), rejected=True)
    if text is None:
        problem = Problem(
            "encoding",
            f"the bytes are not in the character set MSH-18 declares ({header.charset or 'none'})",
            "MSH-18",
        )
        return replace(base, problems=(problem,))
    text = text.lstrip("\x0b \t\r\n").replace("\r\n", "\r").replace("\n", "\r").rstrip("\x1c\r")
    patients, problems = _read_body(text, header, policy)
    return replace(base, raw=text, patients=patients, problems=problems)


def _refusal(header: _Header, policy: ResultsPolicy) -> Problem | None:
    if not header.control_id:
        return Problem("no_control_id", "MSH-10 message control id is empty", "MSH-10")
    if header.message_type != "ORU^R01":
        return Problem(
            "unsupported_type",
            f"MSH-9 {header.message_type or '(empty)'} is not ORU^R01 (results only)",
            "MSH-9",
        )
    if header.version not in VERSIONS:
        return Problem(
            "unsupported_version",
            f"MSH-12 version {header.version or '(empty)'} is not one of {', '.join(VERSIONS)}",
            "MSH-12",
        )
    if header.processing_id not in policy.processing_ids:
        return Problem(
            "processing_id",
            f"MSH-11 processing id {header.processing_id or '(empty)'} is not accepted "
            f"({', '.join(policy.processing_ids)}): test and debug messages never reach a course",
            "MSH-11",
        )
    if header.charset not in _CHARSETS:
        return Problem(
            "unsupported_charset", f"MSH-18 character set {header.charset} is not supported"
        )
    return None


# -- the body ----------------------------------------------------------------------------------


@dataclass
class _Group:
    identifiers: tuple[str, ...]
    birth_date: date | None
    sex: str | None
    results: list[LabResult] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)


@dataclass
class _Order:
    key: str
    observed: date | None
    status: str
    where: str
    has_results: bool = False


def _segments(text: str) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(text.split("\r"), start=1):
        if line.strip():
            yield number, line


def _read_body(
    text: str, header: _Header, policy: ResultsPolicy
) -> tuple[tuple[PatientResults, ...], tuple[Problem, ...]]:
    import hl7

    problems: list[Problem] = []
    for number, line in _segments(text):
        name = line[:3]
        if not _SEGMENT_ID.match(name) or (len(line) > 3 and line[3] != header.field_sep):
            problems.append(
                Problem("broken_segment", f"line {number} is not an HL7 segment", f"line {number}")
            )
    if problems:
        return (), tuple(problems)
    try:
        message = hl7.parse(text)
    except Exception:  # python-hl7 raises several kinds on malformed input
        return (), (Problem("broken_segment", "the message cannot be parsed", "MSH"),)
    groups: list[_Group] = []
    order: _Order | None = None
    counts: dict[str, int] = {}
    for segment in message:
        name = str(segment[0])
        counts[name] = counts.get(name, 0) + 1
        where = f"{name}[{counts[name]}]"
        if name == "PID":
            groups.append(_patient(segment, where, policy, problems))
            order = None
        elif name == "OBR":
            if not groups:
                problems.append(Problem("segment_order", "OBR before any PID", where))
                continue
            if order is not None:
                _close_order(order, groups[-1])
            order = _order(segment, where, problems)
        elif name == "OBX":
            if order is None or not groups:
                problems.append(Problem("segment_order", "OBX outside an order (OBR)", where))
                continue
            order.has_results = True
            _observation(segment, where, order, groups[-1], policy, problems)
    if order is not None and groups:
        _close_order(order, groups[-1])
    if not groups:
        problems.append(Problem("no_patient", "the message has no PID segment", "PID"))
    patients = tuple(
        PatientResults(
            identifiers=g.identifiers,
            birth_date=g.birth_date,
            sex=g.sex,
            results=tuple(g.results),
            ignored=tuple(g.ignored),
        )
        for g in groups
    )
    return patients, tuple(problems)


def _f(segment: Any, field_num: int, component: int = 1, repeat: int = 1) -> str:
    try:
        value = segment.extract_field(None, field_num, repeat, component, 1)
    except (IndexError, KeyError):
        return ""
    return str(value or "").strip()


def _repeats(segment: Any, field_num: int) -> int:
    if field_num >= len(segment):
        return 0
    value = segment(field_num)
    import hl7

    if isinstance(value, hl7.Field) and value and isinstance(value[0], hl7.Repetition):
        return len(value)
    return 1 if str(value) else 0


def _ts_date(value: str) -> date | None:
    match = _TS.match(value)
    if not match:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def _patient(segment: Any, where: str, policy: ResultsPolicy, problems: list[Problem]) -> _Group:
    entries = []
    for i in range(1, _repeats(segment, 3) + 1):
        ident = _f(segment, 3, 1, i)
        if ident:
            entries.append((ident, _f(segment, 3, 4, i), _f(segment, 3, 5, i)))
    typed = [e for e in entries if e[2]]
    wanted = {t.upper() for t in policy.identifier_types}
    chosen = [e for e in typed if e[2].upper() in wanted] if typed else entries
    if policy.assigning_authority:
        chosen = [e for e in chosen if e[1] == policy.assigning_authority]
    identifiers = tuple(dict.fromkeys(e[0] for e in chosen))
    if not identifiers:
        problems.append(
            Problem(
                "no_record_number",
                "PID-3 names no medical record number of the accepted type"
                f" ({', '.join(policy.identifier_types)})",
                f"{where}.3",
            )
        )
    birth_text = _f(segment, 7)
    birth = _ts_date(birth_text) if birth_text else None
    if birth_text and birth is None:
        problems.append(Problem("bad_date", "PID-7 birth date is not a date", f"{where}.7"))
    sex = {"F": "female", "M": "male"}.get(_f(segment, 8).upper())
    return _Group(identifiers=identifiers, birth_date=birth, sex=sex)


def _order(segment: Any, where: str, problems: list[Problem]) -> _Order:
    filler = _f(segment, 3, 1)
    placer = _f(segment, 2, 1)
    if filler:
        key = f"F:{filler}^{_f(segment, 3, 2)}"
    elif placer:
        key = f"P:{placer}^{_f(segment, 2, 2)}"
    else:
        key = ""
        problems.append(
            Problem(
                "no_order_number",
                "OBR has neither a filler (OBR-3) nor a placer (OBR-2) order number, so a later "
                "correction could not find its result",
                where,
            )
        )
    observed_text = _f(segment, 7)
    observed = _ts_date(observed_text) if observed_text else None
    if observed_text and observed is None:
        problems.append(Problem("bad_date", "OBR-7 is not a date and time", f"{where}.7"))
    return _Order(key=key, observed=observed, status=_f(segment, 25).upper(), where=where)


def _close_order(order: _Order, group: _Group) -> None:
    """An order cancelled as a whole (OBR-25 X) without results withdraws what it had sent."""
    if order.status == "X" and not order.has_results and order.key and order.observed:
        group.results.append(
            LabResult(
                analyte="*",
                status="cancelled",
                observed=order.observed,
                order=order.key,
                code="OBR-25 X",
                source=order.where,
            )
        )


def _codes(segment: Any) -> list[tuple[str, str]]:
    """(system, code) of OBX-3's identifier and its alternate identifier."""
    out = []
    for first in (1, 4):
        code, system = _f(segment, 3, first), _f(segment, 3, first + 2)
        if code:
            out.append((system, code))
    return out


def _analyte(
    pairs: Sequence[tuple[str, str]], policy: ResultsPolicy
) -> tuple[str | None, bool, bool]:
    """(analyte, known, ambiguous) for OBX-3's codes: LOINC first-class, local codes from policy."""
    found: set[str] = set()
    known = False
    for system, code in pairs:
        if system.upper() in LOINC_SYSTEMS or system in LOINC_SYSTEMS:
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
        return None, True, True
    return (next(iter(found)) if found else None), known, False


def _unit(segment: Any, where: str, percent: bool) -> str:
    ucum = None
    for first in (1, 4):
        system = _f(segment, 6, first + 2)
        code = _f(segment, 6, first)
        if code and (system.upper() in UCUM_SYSTEM_NAMES or system in UCUM_SYSTEM_NAMES):
            ucum = code
            break
    text = _f(segment, 6, 1) or _f(segment, 6, 2)
    return wire_lab_unit(ucum_code=ucum, text=None if ucum else text, where=where, percent=percent)


def _number(text: str) -> Decimal | None:
    if not _NUMBER.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        return None


def _range(text: str) -> tuple[Decimal | None, Decimal | None] | None:
    """OBX-7 as (lower, upper): ``3.5-5.1``, ``<1.2``, ``<= 40``, ``>10``, ``0 - 40``."""
    t = text.replace(" ", "")
    if not t:
        return (None, None)
    match = re.fullmatch(r"(<=?|≤)(.+)", t)
    if match and _number(match[2]) is not None:
        return (None, _number(match[2]))
    match = re.fullmatch(r"(>=?|≥)(.+)", t)
    if match and _number(match[2]) is not None:
        return (_number(match[2]), None)
    match = re.fullmatch(r"([+-]?[\d.]+)-([+-]?[\d.]+)", t)
    if match:
        low, high = _number(match[1]), _number(match[2])
        if low is not None and high is not None and low <= high:
            return (low, high)
    return None


def _observation(
    segment: Any,
    where: str,
    order: _Order,
    group: _Group,
    policy: ResultsPolicy,
    problems: list[Problem],
) -> None:
    pairs = _codes(segment)
    shown = "|".join(f"{s or '?'}:{c}" for s, c in pairs) or "(no code)"
    analyte, known, ambiguous = _analyte(pairs, policy)
    if ambiguous:
        problems.append(
            Problem("ambiguous_code", f"OBX-3 codes {shown} name different analytes", f"{where}.3")
        )
        return
    if analyte is None:
        if known:
            group.ignored.append(shown)
            return
        problems.append(
            Problem(
                "unknown_code",
                f"OBX-3 {shown} is neither a LOINC code inoplan uses nor in the site's local code "
                "table (site policy [[results.local_code]])",
                f"{where}.3",
            )
        )
        return
    status_code = _f(segment, 11).upper()
    if status_code in _NOT_A_RESULT:
        group.ignored.append(f"{shown} (status {status_code})")
        return
    status = _STATUS.get(status_code)
    if status is None:
        problems.append(
            Problem(
                "result_status",
                f"OBX-11 result status {status_code or '(empty)'} is not one inoplan can apply",
                f"{where}.11",
            )
        )
        return
    observed = _ts_date(_f(segment, 14)) or order.observed
    if observed is None:
        problems.append(
            Problem("no_date", "neither OBX-14 nor OBR-7 gives the observation date", where)
        )
        return
    if not order.key:
        return  # already reported on the OBR
    common: dict[str, Any] = {
        "analyte": analyte,
        "status": status,
        "observed": observed,
        "order": order.key,
        "code": shown,
        "source": where,
        "flag": _f(segment, 8).upper(),
    }
    raw_value = _f(segment, 5)
    if status in ("cancelled", "deleted", "wrong") or (status_code == "U" and not raw_value):
        if status_code == "U":
            group.ignored.append(f"{shown} (status U without a value: the earlier one stands)")
            return
        group.results.append(LabResult(**common))
        return
    if analyte == "pregnancy_test":
        result = _pregnancy(segment)
        if result is None:
            problems.append(
                Problem("unreadable_value", "the pregnancy test result is not readable", where)
            )
            return
        group.results.append(LabResult(**common, result=result))
        return
    value = _value(segment, where, problems)
    if value is None:
        return
    try:
        unit = _unit(segment, f"{where}.6", percent=analyte in PERCENT_ANALYTES)
    except InvalidInput as exc:
        problems.append(Problem("unknown_unit", exc.message, exc.field))
        return
    limits = _range(_f(segment, 7))
    if limits is None:
        problems.append(
            Problem("reference_range", "OBX-7 reference range is not readable", f"{where}.7")
        )
        return
    low, high = limits
    if high is not None and high <= 0:
        high = None
    if analyte in NEEDS_ULN and high is None:
        problems.append(
            Problem(
                "no_uln",
                f"{analyte} needs the laboratory's upper limit of normal (OBX-7) and none was "
                "sent; site reference ranges are not configured, so it is not guessed",
                f"{where}.7",
            )
        )
        return
    contradiction = flag_contradiction(common["flag"], value, low, high)
    if contradiction:
        problems.append(Problem("flag_contradiction", contradiction, f"{where}.8"))
        return
    if analyte in PERCENT_ANALYTES:
        low = high = None
    if analyte not in LAB_ANALYTES and analyte not in PERCENT_ANALYTES:  # pragma: no cover
        return
    group.results.append(LabResult(**common, value=value, unit=unit, uln=high, lln=low))


def _value(segment: Any, where: str, problems: list[Problem]) -> Decimal | None:
    kind = _f(segment, 2).upper()
    if _repeats(segment, 5) > 1:
        problems.append(Problem("unreadable_value", "OBX-5 repeats", f"{where}.5"))
        return None
    if kind == "SN":
        comparator, num, separator = _f(segment, 5, 1), _f(segment, 5, 2), _f(segment, 5, 3)
        if comparator not in ("", "=") or separator:
            problems.append(
                Problem(
                    "censored_value",
                    f"OBX-5 is {comparator}{num}{separator}{_f(segment, 5, 4)}, not a single "
                    "number: enter it by hand if it is usable",
                    f"{where}.5",
                )
            )
            return None
        text = num
    elif kind in ("NM", "ST", "TX", ""):
        text = _f(segment, 5)
    else:
        problems.append(
            Problem("unreadable_value", f"OBX-2 value type {kind} is not a number", f"{where}.2")
        )
        return None
    value = _number(text)
    if value is None:
        code = "censored_value" if text[:1] in "<>≤≥" else "unreadable_value"
        problems.append(Problem(code, f"OBX-5 {text!r} is not a number", f"{where}.5"))
        return None
    if value < 0:
        problems.append(Problem("implausible_value", "OBX-5 is negative", f"{where}.5"))
        return None
    return value


def _pregnancy(segment: Any) -> str | None:
    code, text, system = _f(segment, 5, 1), _f(segment, 5, 2), _f(segment, 5, 3)
    if system.upper() in _SNOMED_SYSTEMS or system in _SNOMED_SYSTEMS:
        if code in (k.SNOMED_POSITIVE, k.SNOMED_PREGNANT):
            return "positive"
        if code in (k.SNOMED_NEGATIVE, k.SNOMED_NOT_PREGNANT):
            return "negative"
    words = {w.strip().lower() for w in (code, text) if w.strip()}
    if words and words <= _POSITIVE:
        return "positive"
    if words and words <= _NEGATIVE:
        return "negative"
    return None


# -- acknowledgements ----------------------------------------------------------------------------

#: HL7 table 0357 message error condition codes used in ERR-3.
_ERROR_CODES: Final = {
    "not_hl7": "100",
    "encoding_characters": "102",
    "broken_segment": "100",
    "segment_order": "100",
    "no_control_id": "101",
    "unsupported_type": "200",
    "unsupported_version": "203",
    "processing_id": "202",
    "unsupported_charset": "203",
    "encoding": "102",
    "unknown_code": "103",
    "ambiguous_code": "103",
    "unknown_unit": "103",
    "result_status": "103",
    "reference_range": "102",
    "unreadable_value": "102",
    "censored_value": "102",
    "implausible_value": "102",
    "flag_contradiction": "102",
    "bad_date": "102",
    "no_uln": "101",
    "no_date": "101",
    "no_order_number": "101",
    "no_patient": "101",
    "unknown_patient": "204",
    "ambiguous_patient": "204",
    "identity_mismatch": "204",
    "no_record_number": "101",
    "internal": "207",
}


def _escape(text: str, header_sep: str = "|", encoding: str = "^~\\&") -> str:
    escape = encoding[2]
    out = text.replace(escape, f"{escape}E{escape}")
    for ch, code in ((header_sep, "F"), (encoding[0], "S"), (encoding[1], "R"), (encoding[3], "T")):
        out = out.replace(ch, f"{escape}{code}{escape}")
    return re.sub(r"[\r\n]+", " ", out)


def _location(where: str) -> str:
    """``OBX[3].7`` -> ``OBX^3^7`` and ``MSH-10`` -> ``MSH^1^10`` (ERR-2, type ERL)."""
    match = re.match(r"^([A-Z][A-Z0-9]{2})\[(\d+)\](?:\.(\d+))?", where)
    if match:
        return "^".join(x for x in (match[1], match[2], match[3]) if x)
    match = re.match(r"^([A-Z][A-Z0-9]{2})-(\d+)$", where)
    if match:
        return f"{match[1]}^1^{match[2]}"
    return ""


def build_ack(
    message: InboundMessage,
    code: str,
    *,
    text: str = "",
    problems: Sequence[Problem] = (),
    now: datetime,
    application: str = "INOPLAN",
) -> bytes:
    """An original-mode ACK (MSH + MSA [+ ERR]) for ``message``, as UTF-8 bytes.

    ``code`` is AA (applied or stored), AE (content problem: parked for review, do not resend)
    or AR (rejected: not a message inoplan takes, or it could not be stored: resend later).
    Texts name fields and reasons, never patient data.
    """
    if code not in ("AA", "AE", "AR"):
        raise ValueError(f"unknown acknowledgement code {code!r}")
    version = message.version if message.version in VERSIONS else "2.5.1"
    trigger = "R01" if message.kind.endswith("R01") else ""
    stamp = now.strftime("%Y%m%d%H%M%S")
    ack_id = (
        "A"
        + hashlib.sha256(
            f"{message.sender}|{message.control_id}|{message.content_sha256}".encode()
        ).hexdigest()[:19]
    )
    msh = "|".join(
        [
            "MSH",
            "^~\\&",
            _escape(message.receiving_application or application),
            _escape(message.receiving_facility),
            _escape(message.sender_application),
            _escape(message.sender),
            stamp,
            "",
            f"ACK^{trigger}^ACK" if trigger else "ACK",
            ack_id,
            "P",
            version,
        ]
    )
    msa = "|".join(["MSA", code, _escape(message.control_id), _escape(text[:80])])
    segments = [msh, msa]
    for problem in problems[:10]:
        condition = _ERROR_CODES.get(problem.code, "207")
        if version in ("2.3", "2.3.1", "2.4"):
            segments.append(f"ERR|^^^{condition}&{_escape(problem.message[:200])}")
        else:
            severity = "E" if code != "AA" else "W"
            segments.append(
                "|".join(
                    [
                        "ERR",
                        "",
                        _location(problem.where),
                        f"{condition}^^HL70357",
                        severity,
                        "",
                        "",
                        "",
                        _escape(problem.message[:250]),
                    ]
                )
            )
    return ("\r".join(segments) + "\r").encode("utf-8")
