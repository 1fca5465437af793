"""The HL7 v2 reader and the ACK, message by message (no database: tests/integration has those)."""

from __future__ import annotations

import doctest
import importlib
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from inoplan.domain.results import LocalCode, ResultsPolicy
from inoplan.interop.hl7v2 import build_ack, read_message, split_batch

FIXTURES = Path(__file__).parent / "fixtures" / "hl7"
NOW = datetime(2027, 4, 18, 9, 30, tzinfo=UTC)
MSH = "MSH|^~\\&|LIS|LAB|INOPLAN|ONC|20270418091500||ORU^R01|C-1|P|2.5.1"
PID = "PID|1||MRN-1^^^H^MR||DOE^J||19900120|F"
OBR = "OBR|1||F-1^LIS|58410-2^CBC^LN|||202704180730||||||||||||||||||F"


def msg(*obx: str, msh: str = MSH, pid: str = PID, obr: str = OBR) -> bytes:
    return "\r".join([msh, pid, obr, *obx]).encode()


def obx(
    value: str = "2.1",
    *,
    code: str = "751-8^ANC^LN",
    kind: str = "NM",
    unit: str = "10*9/L^^UCUM",
    ref: str = "1.8-7.7",
    flag: str = "",
    status: str = "F",
) -> str:
    return f"OBX|1|{kind}|{code}||{value}|{unit}|{ref}|{flag}|||{status}"


def codes_of(raw: bytes, policy: ResultsPolicy | None = None) -> list[str]:
    return [p.code for p in read_message(raw, policy).problems]


@pytest.mark.parametrize("module", ["inoplan.domain.results", "inoplan.interop.ucum"])
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_a_clean_result() -> None:
    message = read_message(msg(obx()))
    assert (message.sender, message.control_id, message.kind) == ("LAB", "C-1", "ORU^R01")
    [patient] = message.patients
    assert patient.identifiers == ("MRN-1",)
    assert (patient.birth_date, patient.sex) == (date(1990, 1, 20), "female")
    [result] = patient.results
    assert (result.analyte, result.value, result.unit) == ("anc", Decimal("2.1"), "10*9/L")
    assert (result.lln, result.uln, result.order) == (Decimal("1.8"), Decimal("7.7"), "F:F-1^LIS")
    assert result.observed == date(2027, 4, 18) and result.status == "final"


@pytest.mark.parametrize(
    ("ref", "low", "high"),
    [
        ("0.3-1.2", "0.3", "1.2"),
        ("0.3 - 1.2", "0.3", "1.2"),
        ("<1.2", None, "1.2"),
        ("<= 1.2", None, "1.2"),
        (">0.3", "0.3", None),
        ("", None, None),
    ],
)
def test_reference_range_forms(ref: str, low: str | None, high: str | None) -> None:
    message = read_message(msg(obx("3.0", ref=ref)))
    [r] = message.results
    assert (r.lln, r.uln) == (
        None if low is None else Decimal(low),
        None if high is None else Decimal(high),
    )


@pytest.mark.parametrize("ref", ["1.2-0.3", "normal", "0.3-", "low"])
def test_an_unreadable_reference_range_is_a_problem(ref: str) -> None:
    assert codes_of(msg(obx(ref=ref))) == ["reference_range"]


@pytest.mark.parametrize(
    ("code", "ref", "problem"),
    [
        ("1975-2^TBIL^LN", "", "no_uln"),
        ("1975-2^TBIL^LN", ">0.3", "no_uln"),
        ("1920-8^AST^LN", "0-0", "no_uln"),
        ("1742-6^ALT^LN", "0-45", None),
    ],
)
def test_liver_tests_need_their_upper_limit(code: str, ref: str, problem: str | None) -> None:
    raw = msg(obx("30", code=code, unit="U/L^^UCUM" if "TBIL" not in code else "mg/dL", ref=ref))
    assert codes_of(raw) == ([] if problem is None else [problem])


@pytest.mark.parametrize(
    ("value", "flag", "contradicts"),
    [
        ("7.6", "H", True),  # below the upper limit 7.7 yet flagged high
        ("7.7", "H", False),  # at the limit: not contradicted
        ("7.8", "H", False),
        ("7.8", "N", True),
        ("7.7", "N", False),
        ("1.9", "L", True),
        ("1.8", "L", False),
        ("1.7", "LL", False),
        ("9.0", "", False),
        ("9.0", "A", False),  # abnormal without direction: nothing to check
    ],
)
def test_the_abnormal_flag_must_not_contradict_the_range(
    value: str, flag: str, contradicts: bool
) -> None:
    assert codes_of(msg(obx(value, flag=flag))) == (["flag_contradiction"] if contradicts else [])


@pytest.mark.parametrize(
    ("kind", "value", "problem"),
    [
        ("NM", "2.1", None),
        ("NM", ".5", None),
        ("ST", "2.1", None),
        ("SN", "^2.1", None),
        ("SN", "=^2.1", None),
        ("SN", "<^0.2", "censored_value"),
        ("SN", "^1^-^3", "censored_value"),
        ("NM", "<0.2", "censored_value"),
        ("NM", "2,1", "unreadable_value"),
        ("NM", "-1", "implausible_value"),
        ("CE", "HIGH", "unreadable_value"),
        ("NM", "2.1~2.2", "unreadable_value"),
    ],
)
def test_values_are_plain_numbers(kind: str, value: str, problem: str | None) -> None:
    assert codes_of(msg(obx(value, kind=kind))) == ([] if problem is None else [problem])


@pytest.mark.parametrize(
    ("unit", "problem"),
    [
        ("10*9/L^^UCUM", None),
        ("10*9/L", None),  # text (no coding system): through the table
        ("x10*9/L^per litre^L", None),  # a local unit code: its identifier is read as text
        ("K/uL^^UCUM", "unknown_unit"),  # UCUM-coded kelvin per microlitre
        ("^^UCUM^10*9/L^^UCUM", None),  # the alternate triplet
        ("G/L", "unknown_unit"),
        ("", "unknown_unit"),
    ],
)
def test_units(unit: str, problem: str | None) -> None:
    assert codes_of(msg(obx(unit=unit))) == ([] if problem is None else [problem])


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("F", "final"),
        ("C", "corrected"),
        ("P", "preliminary"),
        ("X", "cancelled"),
        ("D", "deleted"),
        ("W", "wrong"),
        ("U", "final"),
    ],
)
def test_result_statuses(status: str, expected: str) -> None:
    [result] = read_message(msg(obx(status=status))).results
    assert result.status == expected


@pytest.mark.parametrize("status", ["R", "I", "N", "O", "S"])
def test_statuses_without_a_result_are_not_recorded(status: str) -> None:
    message = read_message(msg(obx(status=status)))
    assert message.results == () and message.problems == ()
    assert message.patients[0].ignored


@pytest.mark.parametrize("status", ["", "Z"])
def test_an_unknown_or_missing_status_is_a_problem(status: str) -> None:
    assert codes_of(msg(obx(status=status))) == ["result_status"]


def test_codes_loinc_local_ignored_unknown_and_ambiguous() -> None:
    policy = ResultsPolicy(
        local_codes=(LocalCode("99LAB", "PLT", "platelets"), LocalCode("99LAB", "HGB", "ignore"))
    )
    raw = msg(
        obx(code="PLT^Platelets^99LAB", unit="10*9/L"),
        obx(code="HGB^Hb^99lab", unit="g/dL"),  # the coding system matches case-insensitively
        obx(code="2345-7^Glucose^LN", unit="mg/dL"),
    )
    message = read_message(raw, policy)
    assert message.problems == ()
    assert [r.analyte for r in message.results] == ["platelets"]
    assert len(message.patients[0].ignored) == 2
    assert codes_of(msg(obx(code="XYZ^Mystery^99LAB")), policy) == ["unknown_code"]
    both = "751-8^ANC^LN^PLT^Platelets^99LAB"
    assert codes_of(msg(obx(code=both)), policy) == ["ambiguous_code"]


def test_pregnancy_results_coded_or_in_words() -> None:
    coded = obx("260385009^Negative^SCT", code="2106-3^hCG urine^LN", kind="CE", unit="", ref="")
    words = obx("POSITIVE", code="2118-8^hCG^LN", kind="ST", unit="", ref="")
    unclear = obx("equivocal", code="2118-8^hCG^LN", kind="ST", unit="", ref="")
    results = read_message(msg(coded, words)).results
    assert [r.result for r in results] == ["negative", "positive"]
    assert codes_of(msg(unclear)) == ["unreadable_value"]


@pytest.mark.parametrize(
    ("msh", "code"),
    [
        (MSH.replace("ORU^R01", "ADT^A01"), "unsupported_type"),
        (MSH.replace("|2.5.1", "|2.6"), "unsupported_version"),
        (MSH.replace("|2.5.1", "|2.2"), "unsupported_version"),
        (MSH.replace("|P|", "|T|"), "processing_id"),
        (MSH.replace("|C-1|", "||"), "no_control_id"),
        (MSH.replace("^~\\&", "^~\\"), "encoding_characters"),
        (MSH.replace("^~\\&", "^^\\&"), "encoding_characters"),
        (MSH + "||||||WINDOWS-1252", "unsupported_charset"),
    ],
)
def test_headers_that_are_refused(msh: str, code: str) -> None:
    message = read_message(msg(obx(), msh=msh))
    assert message.rejected and [p.code for p in message.problems] == [code]


@pytest.mark.parametrize("version", ["2.3", "2.3.1", "2.4", "2.5", "2.5.1"])
def test_every_supported_version(version: str) -> None:
    message = read_message(msg(obx(), msh=MSH.replace("|2.5.1", f"|{version}")))
    assert not message.rejected and message.results


def test_not_hl7_at_all() -> None:
    message = read_message(b"hello, this is not a message")
    assert message.rejected and message.problems[0].code == "not_hl7"


def test_character_sets() -> None:
    latin = msg(obx(), msh=MSH + "||||||8859/1", pid=PID.replace("DOE", "MÜLLER")).decode()
    assert not read_message(latin.encode("latin-1")).problems
    undeclared = latin.replace("|8859/1", "").encode("latin-1")  # not UTF-8, not declared
    assert codes_of(undeclared) == ["encoding"]
    assert not read_message(latin.replace("|8859/1", "").encode("utf-8")).problems


@pytest.mark.parametrize(
    ("segments", "code"),
    [
        ([MSH, PID, "0BX|1|NM|751-8^ANC^LN||2|10*9/L"], "broken_segment"),
        ([MSH, PID, "obr|1"], "broken_segment"),
        ([MSH, OBR, obx()], "segment_order"),
        ([MSH, PID, obx()], "segment_order"),
        ([MSH, OBR.replace("F-1^LIS", "")], "segment_order"),
        ([MSH, PID, OBR.replace("F-1^LIS", ""), obx()], "no_order_number"),
        ([MSH, PID, OBR.replace("202704180730", ""), obx()], "no_date"),
        ([MSH, PID.replace("MRN-1^^^H^MR", "123^^^H^SS"), OBR, obx()], "no_record_number"),
        ([MSH], "no_patient"),
    ],
)
def test_structure_problems(segments: list[str], code: str) -> None:
    assert code in codes_of("\r".join(segments).encode())


def test_identifier_types_and_authority_come_from_the_site_policy() -> None:
    pid = "PID|1||A-1^^^H1^MR~B-2^^^H2^MR~C-3^^^H1^PI||X||19900120|F"
    raw = msg(obx(), pid=pid)
    assert read_message(raw).patients[0].identifiers == ("A-1", "B-2")
    only_h2 = ResultsPolicy(assigning_authority="H2")
    assert read_message(raw, only_h2).patients[0].identifiers == ("B-2",)
    untyped = msg(obx(), pid="PID|||777||X||19900120|F")
    assert read_message(untyped).patients[0].identifiers == ("777",)


def test_split_batch_files() -> None:
    messages = split_batch((FIXTURES / "batch-three-messages.hl7").read_bytes())
    assert [read_message(m).control_id for m in messages] == [
        "LAB-20260418-0001",
        "LAB-20260418-0101",
        "LAB-20260418-0005",
    ]
    framed = b"\x0b" + msg(obx()) + b"\x1c\r\n" + b"\x0b" + msg(obx()) + b"\x1c\r"
    assert len(split_batch(framed)) == 2
    assert len(split_batch(msg(obx()).replace(b"\r", b"\r\n"))) == 1
    stray = split_batch(b"garbage line\n" + msg(obx()))
    assert len(stray) == 2 and read_message(stray[0]).rejected


def test_the_ack_for_each_version() -> None:
    problem_message = read_message(msg(obx(ref="bad")))
    new = build_ack(problem_message, "AE", text="a|b^c", problems=problem_message.problems, now=NOW)
    msh, msa, err = new.decode().rstrip("\r").split("\r")
    assert msh.split("|")[2:6] == ["INOPLAN", "ONC", "LIS", "LAB"]
    assert msh.split("|")[6] == "20270418093000" and msh.split("|")[8] == "ACK^R01^ACK"
    assert msa.split("|")[:3] == ["MSA", "AE", "C-1"]
    assert "\\F\\" in msa and "\\S\\" in msa  # separators in the text are escaped
    assert err.split("|")[3] == "102^^HL70357" and err.split("|")[4] == "E"
    assert err.split("|")[2] == "OBX^1^7"  # ERR-2 names the field
    old = read_message(msg(obx(ref="x"), msh=MSH.replace("|2.5.1", "|2.3")))
    ack = build_ack(old, "AE", problems=old.problems, now=NOW).decode()
    assert ack.split("\r")[0].endswith("|2.3") and "ERR|^^^" in ack
    again = build_ack(old, "AE", problems=old.problems, now=NOW)
    assert again.split(b"\r")[0] == ack.encode().split(b"\r")[0]  # the same id on a resend
    with pytest.raises(ValueError):
        build_ack(old, "CA", now=NOW)
