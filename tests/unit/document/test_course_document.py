"""Course document validation (docs/course-document.md): units converted at the edge, errors name
the field (``events[2].anc.unit``), corrections supersede, events sorted by date (stable)."""

from __future__ import annotations

import copy
import json
from datetime import date, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from inoplan.document import parse_course, read_course_file, read_document
from inoplan.domain.body import BsaFormula
from inoplan.domain.course import AdministrationEvent, LabsEvent, ToxicityEvent, VitalsEvent
from inoplan.errors import InvalidInput, UnknownUnit

D = Decimal


def document() -> dict[str, Any]:
    return {
        "label": "us",
        "patient": {"id": "P-1", "birth_date": "1971-03-14", "sex": "female"},
        "plan": {"start_date": "2026-12-01", "hsct_intended": True},
        "events": [
            {"date": "2026-11-28", "type": "vitals", "height_cm": 170, "weight_kg": 70},
            {
                "date": "2026-11-28",
                "type": "labs",
                "anc": {"value": 1600, "unit": "/uL"},
                "platelets": {"value": 85, "unit": "K/uL", "transfused": False},
                "bilirubin": {"value": 12, "unit": "umol/L", "uln": 20.52},
                "ast": {"value": 31, "unit": "U/L", "uln": 40},
            },
            {"date": "2026-12-01", "type": "administration", "cycle": 1, "day": 1, "dose_mg": 1.46},
        ],
    }


def with_event(event: dict[str, Any]) -> dict[str, Any]:
    doc = document()
    doc["events"].append(event)
    return doc


def field_of(doc: dict[str, Any]) -> str:
    with pytest.raises(InvalidInput) as err:
        parse_course(doc)
    return err.value.field


class TestValidDocument:
    def test_units_are_converted_to_canonical(self) -> None:
        course = parse_course(document())
        labs = next(course.of_type(LabsEvent))
        anc = labs.values["anc"]
        # 1600 /uL = 1.6 x 10^9/L
        assert (anc.value, anc.unit, anc.reported_value, anc.reported_unit) == (
            D("1.6"),
            "10*9/L",
            D(1600),
            "/uL",
        )
        assert labs.values["platelets"].value == D(85)
        bilirubin = labs.values["bilirubin"]
        # 12 umol/L / 17.1 = 0.701754 mg/dL; ULN 20.52 / 17.1 = 1.2 mg/dL; ratio 12 / 20.52
        assert bilirubin.unit == "mg/dL"
        assert bilirubin.uln == D("1.2")
        assert bilirubin.value == pytest.approx(D("0.7017543859649122807017543860"))
        assert float(bilirubin.x_uln) == pytest.approx(12 / 20.52)  # type: ignore[arg-type]

    def test_defaults(self) -> None:
        course = parse_course(document())
        assert course.label == "us-2024-03"
        assert course.plan.cycle1_days == 21
        assert course.plan.vial == "us-0.9mg"
        assert course.plan.bsa_formula is BsaFormula.MOSTELLER
        administration = next(course.of_type(AdministrationEvent))
        assert administration.time == time(9, 0)
        assert administration.duration_min == 60

    def test_eu_label_defaults_to_the_eu_vial(self) -> None:
        doc = document()
        doc["label"] = "eu"
        course = parse_course(doc)
        assert course.label == "eu-2022-02"
        assert course.plan.vial == "eu-1mg"

    def test_a_revision_id_is_accepted(self) -> None:
        doc = document()
        doc["label"] = "us-2024-03"
        assert parse_course(doc).label == "us-2024-03"

    def test_events_are_sorted_by_date_keeping_file_order_on_ties(self) -> None:
        doc = document()
        doc["events"] = [
            {"date": "2026-12-07", "type": "toxicity", "term": "nausea", "grade": 1},
            {"date": "2026-12-05", "type": "toxicity", "term": "nausea", "grade": 2},
            {"date": "2026-12-05", "type": "toxicity", "term": "Hepatic VOD", "grade": 3},
        ]
        course = parse_course(doc)
        toxicities = list(course.of_type(ToxicityEvent))
        assert [(t.date, t.grade, t.term) for t in toxicities] == [
            (date(2026, 12, 5), 2, "nausea"),
            (date(2026, 12, 5), 3, "Hepatic VOD"),  # kept as recorded
            (date(2026, 12, 7), 1, "nausea"),
        ]
        # one vocabulary codes it (knowledge/terms): no second alias table in the reader
        from inoplan.knowledge.vocabulary import load_vocabulary

        assert [t.code for t in load_vocabulary().code("Hepatic VOD").terms] == ["vod"]

    def test_a_correction_supersedes_the_earlier_event(self) -> None:
        doc = document()
        doc["events"][0]["id"] = "v1"
        doc["events"].append(
            {
                "date": "2026-11-29",
                "type": "vitals",
                "height_cm": 170,
                "weight_kg": 72,
                "supersedes": "v1",
                "reason": "scale recalibrated",
            }
        )
        course = parse_course(doc)
        vitals = list(course.of_type(VitalsEvent))
        assert [v.weight_kg for v in vitals] == [D(72)]
        assert [e.id for e in course.superseded] == ["v1"]

    def test_a_corrected_administration_is_not_a_duplicate(self) -> None:
        doc = document()
        doc["events"][2]["id"] = "a1"
        doc["events"].append(
            {
                "date": "2026-12-01",
                "type": "administration",
                "cycle": 1,
                "day": 1,
                "dose_mg": 1.45,
                "supersedes": "a1",
                "reason": "pump log shows 1.45 mg",
            }
        )
        course = parse_course(doc)
        assert [a.dose_mg for a in course.administrations()] == [D("1.45")]

    def test_the_expect_block_of_worked_examples_is_ignored(self) -> None:
        doc = document()
        doc["expect"] = {"as_of": "2026-12-08", "status": "give"}
        parse_course(doc)

    def test_yaml_and_json_files(self, tmp_path: Path) -> None:
        json_file = tmp_path / "c.json"
        json_file.write_text(json.dumps(document()), encoding="utf-8")
        yaml_file = tmp_path / "c.yaml"
        yaml_file.write_text(
            "patient: {id: P-2, birth_date: 2020-01-01, sex: male}\n"
            "plan: {start_date: 2026-12-01}\n"
            "events:\n"
            "  - {date: 2026-11-30, type: vitals, height_cm: 103, weight_kg: 16.5}\n",
            encoding="utf-8",
        )
        assert read_course_file(json_file).patient.id == "P-1"
        child = read_course_file(yaml_file)
        assert child.plan.hsct_intended is None
        assert next(child.of_type(VitalsEvent)).weight_kg == D("16.5")


class TestErrorsNameTheField:
    def test_unknown_unit(self) -> None:
        doc = document()
        doc["events"][1]["anc"]["unit"] = "cells/L"
        with pytest.raises(UnknownUnit) as err:
            parse_course(doc)
        assert err.value.field == "events[1].anc.unit"

    def test_unknown_unit_of_a_later_event_counts_in_file_order(self) -> None:
        doc = with_event(
            {"date": "2026-11-20", "type": "labs", "platelets": {"value": 9, "unit": "g"}}
        )
        assert field_of(doc) == "events[3].platelets.unit"

    @pytest.mark.parametrize(
        ("mutate", "field"),
        [
            (lambda d: d.pop("patient"), "patient"),
            (lambda d: d["patient"].pop("birth_date"), "patient.birth_date"),
            (lambda d: d["patient"].update(sex="f"), "patient.sex"),
            (lambda d: d["plan"].update(cycle1_days=35), "plan.cycle1_days"),
            (lambda d: d["plan"].update(vial="1mg"), "plan.vial"),
            (lambda d: d["plan"].update(bsa_formula="bsa"), "plan.bsa_formula"),
            (lambda d: d["plan"].update(start_date="01/12/2026"), "plan.start_date"),
            (lambda d: d.update(label="jp"), "label"),
            (lambda d: d.update(colour="blue"), "colour"),
            (lambda d: d["events"][0].update(weight_kg="70"), "events[0].weight_kg"),
            (lambda d: d["events"][0].update(weight_kg=-70), "events[0].weight_kg"),
            (lambda d: d["events"][0].update(type="vital"), "events[0]"),
            (lambda d: d["events"][1]["anc"].update(value="1.6"), "events[1].anc.value"),
            (lambda d: d["events"][1]["bilirubin"].pop("uln"), "events[1].bilirubin.uln"),
            (lambda d: d["events"][1]["ast"].pop("uln"), "events[1].ast.uln"),
            (lambda d: d["events"][1]["anc"].update(transfused=True), "events[1].anc.transfused"),
            (lambda d: d["events"][2].update(day=9), "events[2].day"),
            (lambda d: d["events"][2].update(cycle=0), "events[2].cycle"),
            (lambda d: d["events"][2].update(time="9:30"), "events[2].time"),
            (lambda d: d["events"][2].update(dose_mg=0), "events[2].dose_mg"),
            (lambda d: d["events"][2].update(extra=1), "events[2].extra"),
        ],
    )
    def test_schema_violations(self, mutate: Any, field: str) -> None:
        doc = copy.deepcopy(document())
        mutate(doc)
        assert field_of(doc) == field

    def test_vitals_need_a_measurement(self) -> None:
        assert field_of(with_event({"date": "2026-11-29", "type": "vitals"})) == "events[3]"

    def test_labs_need_a_result(self) -> None:
        assert field_of(with_event({"date": "2026-11-29", "type": "labs"})) == "events[3]"

    def test_an_administration_recorded_twice(self) -> None:
        doc = with_event(
            {"date": "2026-12-02", "type": "administration", "cycle": 1, "day": 1, "dose_mg": 1.46}
        )
        assert field_of(doc) == "events[3]"

    def test_duplicate_event_ids(self) -> None:
        doc = document()
        doc["events"][0]["id"] = "x"
        doc["events"][1]["id"] = "x"
        assert field_of(doc) == "events[1].id"

    def test_a_correction_of_an_unknown_event(self) -> None:
        doc = with_event(
            {
                "date": "2026-11-29",
                "type": "vitals",
                "weight_kg": 71,
                "supersedes": "nope",
                "reason": "typo",
            }
        )
        assert field_of(doc) == "events[3].supersedes"

    def test_a_correction_without_a_reason(self) -> None:
        doc = document()
        doc["events"][0]["id"] = "v1"
        doc["events"].append(
            {"date": "2026-11-29", "type": "vitals", "weight_kg": 71, "supersedes": "v1"}
        )
        assert field_of(doc) == "events[3].reason"

    def test_birth_after_the_start(self) -> None:
        doc = document()
        doc["patient"]["birth_date"] = "2026-12-02"
        assert field_of(doc) == "patient.birth_date"

    def test_an_event_before_birth(self) -> None:
        doc = document()
        doc["patient"]["birth_date"] = "2026-11-29"
        assert field_of(doc) == "events[0].date"

    def test_a_file_that_is_not_a_mapping(self, tmp_path: Path) -> None:
        path = tmp_path / "list.yaml"
        path.write_text("- 1\n- 2\n", encoding="utf-8")
        with pytest.raises(InvalidInput) as err:
            read_document(path)
        assert err.value.field == "COURSE"

    def test_a_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(InvalidInput) as err:
            read_document(tmp_path / "absent.yaml")
        assert err.value.field == "COURSE"

    def test_broken_yaml(self, tmp_path: Path) -> None:
        path = tmp_path / "broken.yaml"
        path.write_text("patient: {id: [\n", encoding="utf-8")
        with pytest.raises(InvalidInput) as err:
            read_document(path)
        assert err.value.field == "COURSE"


class TestCorrectionsAndVoids:
    """A correction replaces an event of its own type; a void withdraws an entry made in error."""

    def test_a_correction_of_another_type_is_refused_naming_supersedes(self) -> None:
        doc = document()
        doc["events"][2]["id"] = "a1"
        doc["events"].append(
            {
                "date": "2026-12-02",
                "type": "vitals",
                "weight_kg": 70,
                "supersedes": "a1",
                "reason": "wrong entry",
            }
        )
        with pytest.raises(InvalidInput, match=r"cannot correct 'a1'.*void") as err:
            parse_course(doc)
        assert err.value.field == "events[3].supersedes"

    def test_a_void_withdraws_an_event_of_any_type(self) -> None:
        doc = document()
        doc["events"][2]["id"] = "a1"
        doc["events"].append(
            {"date": "2026-12-02", "type": "void", "supersedes": "a1", "reason": "wrong patient"}
        )
        course = parse_course(doc)
        assert course.administrations() == ()
        assert [e.id for e in course.superseded] == ["a1"]
        assert [(v.supersedes, v.reason) for v in course.voids] == [("a1", "wrong patient")]
        assert all(e.type != "void" for e in course.events)

    @pytest.mark.parametrize("missing", ["supersedes", "reason"])
    def test_a_void_needs_its_target_and_its_reason(self, missing: str) -> None:
        doc = document()
        doc["events"][2]["id"] = "a1"
        void = {"date": "2026-12-02", "type": "void", "supersedes": "a1", "reason": "typo"}
        del void[missing]
        doc["events"].append(void)
        assert field_of(doc) == f"events[3].{missing}"

    def test_a_void_cannot_be_corrected(self) -> None:
        doc = document()
        doc["events"][2]["id"] = "a1"
        doc["events"].append(
            {"id": "x", "date": "2026-12-02", "type": "void", "supersedes": "a1", "reason": "r"}
        )
        doc["events"].append(
            {"date": "2026-12-03", "type": "void", "supersedes": "x", "reason": "undo"}
        )
        assert field_of(doc) == "events[4].supersedes"

    @staticmethod
    def _corrected() -> dict[str, Any]:
        """Vitals ``v1`` corrected once by ``v2`` (the entry in force)."""
        doc = document()
        doc["events"][0]["id"] = "v1"
        doc["events"].append(
            {
                "id": "v2",
                "date": "2026-11-29",
                "type": "vitals",
                "weight_kg": 71,
                "supersedes": "v1",
                "reason": "scale",
            }
        )
        return doc

    def test_a_second_correction_of_the_same_entry_is_refused_naming_both(self) -> None:
        doc = self._corrected()
        doc["events"].append(
            {
                "date": "2026-11-29",
                "type": "vitals",
                "weight_kg": 73,
                "supersedes": "v1",
                "reason": "again",
            }
        )
        with pytest.raises(InvalidInput) as err:
            parse_course(doc)
        assert err.value.field == "events[4].supersedes"
        assert "'v1' is already corrected by events[3]; correct 'v2'" in err.value.message

    def test_correcting_the_entry_in_force_is_accepted(self) -> None:
        doc = self._corrected()
        doc["events"].append(
            {
                "id": "v3",
                "date": "2026-11-29",
                "type": "vitals",
                "weight_kg": 73,
                "supersedes": "v2",
                "reason": "again",
            }
        )
        course = parse_course(doc)
        assert [v.weight_kg for v in course.of_type(VitalsEvent)] == [D(73)]
        assert sorted(str(e.id) for e in course.superseded) == ["v1", "v2"]

    def test_a_void_of_an_already_corrected_entry_is_refused(self) -> None:
        doc = self._corrected()
        doc["events"].append(
            {"date": "2026-11-30", "type": "void", "supersedes": "v1", "reason": "wrong patient"}
        )
        with pytest.raises(InvalidInput, match=r"'v1' is already corrected by events\[3\]"):
            parse_course(doc)

    def test_a_correction_of_a_withdrawn_entry_is_refused(self) -> None:
        doc = document()
        doc["events"][0]["id"] = "v1"
        doc["events"].append(
            {"date": "2026-11-30", "type": "void", "supersedes": "v1", "reason": "wrong patient"}
        )
        doc["events"].append(
            {
                "date": "2026-11-29",
                "type": "vitals",
                "weight_kg": 73,
                "supersedes": "v1",
                "reason": "again",
            }
        )
        with pytest.raises(InvalidInput, match=r"already withdrawn .* by events\[3\]") as err:
            parse_course(doc)
        assert err.value.field == "events[4].supersedes"

    def test_a_void_of_the_correction_withdraws_the_correction_only(self) -> None:
        doc = self._corrected()
        doc["events"].append(
            {"date": "2026-11-30", "type": "void", "supersedes": "v2", "reason": "wrong patient"}
        )
        course = parse_course(doc)
        assert sorted(str(e.id) for e in course.superseded) == ["v2"]
        assert [v.weight_kg for v in course.of_type(VitalsEvent)] == [D(70)]  # v1 again
        doc["events"].append(
            {"date": "2026-11-30", "type": "void", "supersedes": "v1", "reason": "wrong patient"}
        )
        assert sorted(str(e.id) for e in parse_course(doc).superseded) == ["v1", "v2"]

    def test_two_old_corrections_are_repaired_by_withdrawing_one(self) -> None:
        """A course stored before the rule, with two corrections of one entry, is refused until
        one of them is withdrawn; then the other one counts."""
        doc = self._corrected()
        doc["events"].append(
            {
                "id": "v3",
                "date": "2026-11-29",
                "type": "vitals",
                "weight_kg": 73,
                "supersedes": "v1",
                "reason": "again",
            }
        )
        with pytest.raises(InvalidInput, match=r"'v1' is already corrected by events\[3\]"):
            parse_course(doc)
        doc["events"].append(
            {"date": "2026-11-30", "type": "void", "supersedes": "v3", "reason": "duplicate"}
        )
        course = parse_course(doc)
        assert [v.weight_kg for v in course.of_type(VitalsEvent)] == [D(71)]
        assert sorted(str(e.id) for e in course.superseded) == ["v1", "v3"]

    def test_after_withdrawing_a_correction_the_entry_may_be_corrected_again(self) -> None:
        doc = self._corrected()
        doc["events"].append(
            {"date": "2026-11-30", "type": "void", "supersedes": "v2", "reason": "wrong scale"}
        )
        doc["events"].append(
            {
                "id": "v3",
                "date": "2026-11-29",
                "type": "vitals",
                "weight_kg": 74,
                "supersedes": "v1",
                "reason": "weighed again",
            }
        )
        course = parse_course(doc)
        assert [v.weight_kg for v in course.of_type(VitalsEvent)] == [D(74)]

    def test_corrections_in_a_cycle_are_refused(self) -> None:
        doc = document()
        doc["events"][0].update(id="v1", supersedes="v2", reason="swap")
        doc["events"].append(
            {
                "id": "v2",
                "date": "2026-11-29",
                "type": "vitals",
                "weight_kg": 71,
                "supersedes": "v1",
                "reason": "swap",
            }
        )
        with pytest.raises(InvalidInput, match=r"cycle \('v1' -> 'v2' -> 'v1'\)") as err:
            parse_course(doc)
        assert err.value.field == "events[0].supersedes"

    def test_an_override_reason_is_kept_on_the_administration(self) -> None:
        doc = document()
        doc["events"][2]["override_reason"] = "given after discussion with the attending"
        (given,) = parse_course(doc).administrations()
        assert given.override_reason == "given after discussion with the attending"


class TestPatientName:
    def test_the_name_is_kept_as_written(self) -> None:
        doc = document()
        doc["patient"]["name"] = "Marie-Hélène O'Connor"
        assert parse_course(doc).patient.name == "Marie-Hélène O'Connor"

    @pytest.mark.parametrize("name", ["", "Ann\nSmith", "Ann\u202eSmith", " Ann", "x" * 201])
    def test_an_unprintable_or_empty_name_is_refused(self, name: str) -> None:
        doc = document()
        doc["patient"]["name"] = name
        assert field_of(doc) == "patient.name"
