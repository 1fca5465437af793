"""The four worked examples of the repository (examples/*.yaml) pass."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.engine.enginekit import codes, decide

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.yaml"))


def test_all_four_examples_are_present() -> None:
    assert [p.name[:2] for p in EXAMPLES] == ["01", "02", "03", "04"]


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_worked_example(path: Path) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    expect = document.pop("expect")
    decision = decide(document, expect["as_of"])
    assert decision["status"] == expect["status"]
    for key, value in (expect.get("next_dose") or {}).items():
        assert decision["next_dose"][key] == value, key
    for code in expect.get("alerts_include", []):
        assert code in codes(decision)
    if "reasons_cite" in expect:
        assert any(expect["reasons_cite"] in r["citation"] for r in decision["reasons"])


def test_example_doses_in_mg_match_the_hand_arithmetic() -> None:
    # 01: 182 cm / 88 kg -> Mosteller 2.11 m2 -> 0.8 x 2.11 = 1.688 -> 1.69 mg
    # 04: 103 cm / 16.5 kg -> 0.69 m2 -> 0.552 -> 0.55 mg
    expected = {"01": (2.11, 1.69), "04": (0.69, 0.55), "03": (1.97, 0.99)}
    for path in EXAMPLES:
        key = path.name[:2]
        if key not in expected:
            continue
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        decision = decide(document, document.pop("expect")["as_of"])
        assert (decision["next_dose"]["bsa_m2"], decision["next_dose"]["dose_mg"]) == expected[key]
