"""The repository stands on its own: the documents it names exist in it and say what is cited.

- every ``docs/<name>.md`` named anywhere (source, tests, docs, README, examples, bench, scripts,
  CI) exists, and so do the relative Markdown links and the repository paths Markdown names;
- ``docs/<name>.md section N`` (also ``sections N-M``, ``N and M``, or a bare number after the
  page's name) names a heading numbered N in that page; so does ``[page](page.md) section N``
  inside docs/;
- ``docs/qt-drugs.md #N`` names row N of the QT main table, and that row is the drug the line
  talks about;
- the source keys ``[S#]`` of the knowledge files are listed in the page they come from;
- no file names a document outside the repository (the research notes it was built from);
- the pages stay complete: every alert code, event type, CLI command and QT list entry the code
  knows is documented, and the index lists every page.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
SCANNED_DIRS = ("src", "tests", "docs", "examples", "bench", "scripts", ".ci")
SKIPPED_DIRS = frozenset(
    {
        "__pycache__",
        ".venv",
        ".git",
        ".hypothesis",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        "node_modules",
        "artifacts",
    }
)
BINARY_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".gif", ".ico", ".pdf", ".db", ".pyc"})

# Names of documents that live outside the repository. Spelt in pieces so that this file does
# not name them itself.
OUTSIDE = (
    "../" + "shared",
    "/work/" + "shared",
    "CONT" + "RACT",
    "LABEL" + "-FACTS",
    "PK" + "-MODEL.md",
    "QT" + "-DRUGS.md",
    "INTER" + "OP.md",
    "STY" + "LE.md",
    "ARCHI" + "TECTURE.md",
)

_NUMBER = r"\d+(?:\.\d+)*"
_NUMBERS = rf"(?P<nums>{_NUMBER}(?:\s*(?:-|–|and|,)\s*{_NUMBER})*)"
DOC_MENTION = re.compile(r"(?<![\w/.-])docs/(?P<doc>[A-Za-z0-9_-]+)\.md")
DOC_SECTION = re.compile(
    r"(?<![\w/.-])docs/(?P<doc>[A-Za-z0-9_-]+)\.md`?,?[ \t]+\(?(?:(?:sections?|§)[ \t]+)?"
    + _NUMBERS
)
LINK_SECTION = re.compile(
    r"\]\((?P<doc>[A-Za-z0-9_-]+)\.md\)`?,?[ \t]+\(?(?:sections?|§)[ \t]+" + _NUMBERS
)
QT_ROW_REF = re.compile(r"docs/qt-drugs\.md`?[ \t]+#(?P<row>\d+)")
# a file (with a suffix) or a folder (trailing slash); `examples/01` is a case label, not a path
REPO_PATH = re.compile(
    r"`(?P<path>(?:src|tests|docs|examples|bench|scripts|\.ci)/(?:[^`\s]*\.[A-Za-z0-9]+|[^`\s]*/))`"
)
MD_LINK = re.compile(r"\]\((?!https?:|mailto:|#)(?P<target>[^)\s#]+)(?:#[^)]*)?\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(?P<num>\d+(?:\.\d+)*)\.?[ \t]", re.MULTILINE)
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Hit:
    path: Path
    line: int
    text: str

    def __str__(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}: {self.text.strip()[:160]}"


def _is_skipped(path: Path) -> bool:
    return any(part in SKIPPED_DIRS or part.endswith(".egg-info") for part in path.parts)


@cache
def repository_files() -> tuple[Path, ...]:
    """Text files of the repository that may name a document (top level + SCANNED_DIRS)."""
    found = [p for p in ROOT.iterdir() if p.is_file()]
    for name in SCANNED_DIRS:
        base = ROOT / name
        if base.is_dir():
            found.extend(p for p in base.rglob("*") if p.is_file())
    return tuple(
        sorted(
            p
            for p in found
            if not _is_skipped(p.relative_to(ROOT)) and p.suffix.lower() not in BINARY_SUFFIXES
        )
    )


@cache
def read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, OSError):
        return None


def hits(pattern: re.Pattern[str]) -> Iterator[tuple[Hit, re.Match[str]]]:
    for path in repository_files():
        text = read(path)
        if text is None:
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            for match in pattern.finditer(line):
                yield Hit(path, number, line), match


@cache
def headings(doc: str) -> frozenset[str]:
    """Section numbers of a docs/ page's headings (code blocks left out)."""
    text = read(DOCS / f"{doc}.md") or ""
    return frozenset(m["num"] for m in HEADING.finditer(FENCE.sub("", text)))


def section_numbers(nums: str) -> list[str]:
    """``"2.2-2.6"`` -> ``["2.2", "2.6"]`` (both ends of a range must exist)."""
    return re.findall(_NUMBER, nums)


# -- the pages named exist -----------------------------------------------------------------


def test_the_scan_sees_the_repository() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in repository_files()}
    assert {"README.md", "src/inoplan/document/models.py", "docs/README.md"} <= names
    assert Path(__file__).resolve() in repository_files()
    assert not any(n.startswith(".venv/") for n in names)


def test_every_docs_page_named_anywhere_exists() -> None:
    missing = [
        f"{hit}  -> docs/{m['doc']}.md"
        for hit, m in hits(DOC_MENTION)
        if not (DOCS / f"{m['doc']}.md").is_file()
    ]
    assert not missing, "pages named but not in docs/:\n" + "\n".join(missing)


def test_every_relative_markdown_link_resolves() -> None:
    broken = []
    for path in repository_files():
        if path.suffix != ".md":
            continue
        text = FENCE.sub("", read(path) or "")
        for m in MD_LINK.finditer(text):
            if not (path.parent / m["target"]).exists():
                broken.append(f"{path.relative_to(ROOT)} -> {m['target']}")
    assert not broken, "links to files that do not exist:\n" + "\n".join(broken)


def test_every_repository_path_named_in_markdown_exists() -> None:
    """Backticked paths such as `src/inoplan/sitepolicy.py` in the Markdown files."""
    missing = []
    for path in repository_files():
        if path.suffix != ".md":
            continue
        for m in REPO_PATH.finditer(read(path) or ""):
            named = m["path"].rstrip("/")
            if not any(c in named for c in "<>*{}") and not (ROOT / named).exists():
                missing.append(f"{path.relative_to(ROOT)} -> {named}")
    assert not missing, "paths named in Markdown that do not exist:\n" + "\n".join(missing)


def test_no_file_names_a_document_outside_the_repository() -> None:
    found: list[str] = []
    for path in repository_files():
        text = read(path)
        if text is None or "LICENSE" in path.name:  # licence texts say "contract"
            continue
        for number, line in enumerate(text.splitlines(), start=1):
            found.extend(
                f"{Hit(path, number, line)}  ({name!r})" for name in OUTSIDE if name in line
            )
    assert not found, "references to documents outside the repository:\n" + "\n".join(found)


# -- numbered sections, rows and source keys resolve -------------------------------------------


def test_every_numbered_section_reference_names_a_heading() -> None:
    unresolved = []
    checked = 0
    for pattern in (DOC_SECTION, LINK_SECTION):
        for hit, m in hits(pattern):
            if pattern is LINK_SECTION and hit.path.parent != DOCS:
                continue
            if not (DOCS / f"{m['doc']}.md").is_file():
                continue  # reported by test_every_docs_page_named_anywhere_exists
            for number in section_numbers(m["nums"]):
                checked += 1
                if number not in headings(m["doc"]):
                    unresolved.append(f"{hit}  -> {m['doc']}.md has no heading {number}")
    assert checked > 20, "the scan found too few section references to be working"
    assert not unresolved, "section references without a heading:\n" + "\n".join(unresolved)


def test_the_section_scan_would_catch_a_missing_heading() -> None:
    line = "see docs/" + "pk-model.md section 99.7 and docs/" + "cli.md 3"
    found = [(m["doc"], section_numbers(m["nums"])) for m in DOC_SECTION.finditer(line)]
    assert found == [("pk-model", ["99.7"]), ("cli", ["3"])]
    assert "99.7" not in headings("pk-model")
    assert "3" in headings("cli")
    assert section_numbers("2.2-2.6") == ["2.2", "2.6"]
    assert section_numbers("1 and 8.5") == ["1", "8.5"]


def _qt_rows() -> dict[str, str]:
    text = read(DOCS / "qt-drugs.md") or ""
    main = text.split("## 1.", 1)[1].split("\n## 2.", 1)[0]
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*([a-z_ ]+?)\s*\|", main, re.MULTILINE)
    return {number: generic.replace("_", " ") for number, generic in rows}


def test_qt_row_references_name_the_row_of_that_drug() -> None:
    rows = _qt_rows()
    assert len(rows) == 27 and rows["17"] == "ondansetron"
    wrong = []
    seen = 0
    for hit, m in hits(QT_ROW_REF):
        seen += 1
        generic = rows.get(m["row"])
        if generic is None or generic not in hit.text.lower():
            wrong.append(f"{hit}  -> row #{m['row']} is {generic!r}")
    assert seen >= 3
    assert not wrong, "QT row references that do not match the table:\n" + "\n".join(wrong)


def _defined_keys(doc: str) -> set[str]:
    text = read(DOCS / f"{doc}.md") or ""
    return set(re.findall(r"^- \[(S\d+x?)\]", text, re.MULTILINE))


@pytest.mark.parametrize(
    ("folder", "doc"),
    [("labels", "label-facts"), ("pk", "pk-model")],
)
def test_knowledge_source_keys_are_listed_in_their_page(folder: str, doc: str) -> None:
    defined = _defined_keys(doc)
    used: dict[str, str] = {}
    for path in sorted((ROOT / "src/inoplan/knowledge" / folder).rglob("*")):
        if path.suffix not in {".toml", ".md"}:
            continue
        for bracket in re.findall(r"\[([^\[\]]*)\]", read(path) or ""):
            for key in re.findall(r"\b(S\d+x?)\b", bracket):
                used.setdefault(key, str(path.relative_to(ROOT)))
    assert used, f"no source keys found under knowledge/{folder}"
    missing = {k: where for k, where in used.items() if k not in defined}
    assert not missing, f"source keys not listed in docs/{doc}.md: {missing}"


# -- the pages cover what the code knows -----------------------------------------------------


def test_every_alert_code_is_documented() -> None:
    decision = read(DOCS / "decision.md") or ""
    codes: set[str] = set()
    for path in (ROOT / "src/inoplan/knowledge/labels").glob("*/label.toml"):
        codes |= set(tomllib.loads(path.read_text(encoding="utf-8"))["alert"])
    assert {"PREMEDICATION", "DOSE_DEVIATION", "CONTRAINDICATION"} <= codes
    from inoplan.services.decision_store import TAMPERED

    codes.add(TAMPERED)  # raised by the Today list, not the engine
    assert sorted(c for c in codes if f"`{c}`" not in decision) == []


def test_every_event_type_has_its_section() -> None:
    from inoplan.document import course_json_schema

    page = read(DOCS / "course-document.md") or ""
    titles = set(re.findall(r"^### 6\.\d+ `([a-z_]+)`", page, re.MULTILINE))
    types = {
        d["properties"]["type"]["const"]
        for d in course_json_schema()["$defs"].values()
        if "type" in d.get("properties", {}) and "const" in d["properties"]["type"]
    }
    assert "void" in types and len(types) == 14
    assert titles == types


def test_every_cli_command_is_documented() -> None:
    import typer

    from inoplan.cli.main import app

    cli_doc = read(DOCS / "cli.md") or ""
    root = typer.main.get_command(app)
    names: list[str] = []
    for name, command in getattr(root, "commands", {}).items():
        subcommands = getattr(command, "commands", None)  # a group such as `inoplan db`
        if subcommands:
            names.extend(f"inoplan {name} {sub}" for sub in subcommands)
        else:
            names.append(f"inoplan {name}")
    assert "inoplan evaluate" in names and "inoplan fhir import" in names
    assert [n for n in names if n not in cli_doc] == []


def test_every_qt_list_entry_is_documented() -> None:
    text = read(DOCS / "qt-drugs.md") or ""
    raw = tomllib.loads((ROOT / "src/inoplan/knowledge/qt_drugs.toml").read_text(encoding="utf-8"))
    keys = list(raw["drug"])
    assert len(keys) > 30
    assert [k for k in keys if k not in text and k.replace("_", " ") not in text] == []
    confirmed = {k.replace("_", " ") for k, v in raw["drug"].items() if v["status"] == "confirmed"}
    assert set(_qt_rows().values()) == confirmed


def test_the_index_lists_every_page() -> None:
    index = read(DOCS / "README.md") or ""
    pages = sorted(p.name for p in DOCS.glob("*.md") if p.name != "README.md")
    assert [p for p in pages if f"({p})" not in index] == []
