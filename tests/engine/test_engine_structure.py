"""The engine is pure (standard library + domain only), cites every reason, and its QT list
and knowledge entries are well-formed."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import inoplan

ENGINE = Path(inoplan.__file__).parent / "domain" / "engine"
ALLOWED_PREFIXES = ("inoplan.domain", "inoplan.errors")


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("path", sorted(ENGINE.glob("*.py")), ids=lambda p: p.name)
def test_engine_imports_only_stdlib_and_domain(path: Path) -> None:
    import sys

    bad = set()
    for module in imports(path):
        root = module.split(".")[0]
        if module == "inoplan" or module.startswith(ALLOWED_PREFIXES) or module == "__future__":
            continue
        if root in sys.stdlib_module_names and (
            root in {"datetime"}
            or root
            not in {
                "time",
                "os",
                "io",
                "pathlib",
                "logging",
                "random",
                "socket",
                "subprocess",
            }
        ):
            continue
        bad.add(module)
    assert not bad, f"{path.name} imports {sorted(bad)}"


@pytest.mark.parametrize("path", sorted(ENGINE.glob("*.py")), ids=lambda p: p.name)
def test_engine_never_reads_the_clock(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for banned in ("date.today(", "datetime.now(", "datetime.utcnow(", "time.time(", "open("):
        assert banned not in text, f"{path.name} uses {banned}"


def test_no_label_numbers_as_literals_in_rules() -> None:
    """Numeric literals in the engine are only 0, 1 (and 100 for percent, 0.01/0.1 display steps):
    every label number (0.8, 1.8, 1.5, 2.5, 28, 56, 481, ...) is read from the knowledge file."""
    import io
    import tokenize

    allowed = {"0", "1", "2", "12", "100", "0.01", "0.1", "64"}  # 12 months a year; 64: loop guard
    for path in sorted(ENGINE.glob("*.py")):
        numbers = {
            tok.string
            for tok in tokenize.generate_tokens(
                io.StringIO(path.read_text(encoding="utf-8")).readline
            )
            if tok.type == tokenize.NUMBER
        }
        assert numbers <= allowed, f"{path.name}: {sorted(numbers - allowed)}"


def test_every_rule_and_threshold_the_engine_reads_exists_in_both_labels() -> None:
    import re

    from inoplan.knowledge import load_label

    text = "\n".join(p.read_text(encoding="utf-8") for p in ENGINE.glob("*.py"))
    keys = set(
        re.findall(
            r'(?:number|threshold|interpretation|cite|has_threshold)\("([a-z0-9_]+)"\)', text
        )
    )
    for name in ("us", "eu"):
        label = load_label(name)
        for key in keys:
            if key == "hematologic_persistence_days" and name == "eu":
                continue  # deliberately absent in the EU file
            assert key in label.thresholds or key in label.rules or key in label.sections, (
                name,
                key,
            )
    # Every documented alert code (docs/decision.md) has a cited text:
    # tests/knowledge/test_integrity.py checks it.


def test_qt_list_matches_the_main_table() -> None:
    from inoplan.knowledge.qt import load_qt_drugs

    drugs = load_qt_drugs().drugs
    confirmed = {d.key: d.tag for d in drugs if d.status == "confirmed"}
    assert len(confirmed) == 27
    assert sum(tag == "BOXED" for tag in confirmed.values()) == 8
    assert sum(tag == "W&P" for tag in confirmed.values()) == 18
    assert [k for k, t in confirmed.items() if t == "AR-ONLY"] == ["escitalopram"]
    assert all(d.source for d in drugs)
    assert {d.key for d in drugs if d.status == "unconfirmed"} >= {
        "moxifloxacin",
        "amiodarone",
        "pentamidine",
    }
    assert [d.key for d in drugs if d.status == "contrast"] == ["isavuconazonium"]
    assert "credible" not in Path(inoplan.__file__).parent.joinpath(
        "knowledge", "qt_drugs.toml"
    ).read_text().lower().replace("no crediblemeds", "")


def test_qt_matcher_whole_words_and_excludes() -> None:
    from inoplan.knowledge.qt import load_qt_drugs

    qt = load_qt_drugs()
    names = [
        "Cipro 500 mg",
        "ciprofloxacin otic drops",
        "tacrolimus ointment",
        "Prograf",
        "methadone-hcl",
        "Nexterone",
    ]
    assert [(m.medication, m.drug.key) for m in qt.match(names)] == [
        ("Cipro 500 mg", "ciprofloxacin"),
        ("Prograf", "tacrolimus"),
        ("methadone-hcl", "methadone"),
    ]
