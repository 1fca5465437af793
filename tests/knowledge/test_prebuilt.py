"""The prebuilt knowledge cache (``inoplan.knowledge.prebuilt``) only saves time.

The value read back equals the one built from the files (every label revision, the QT list, the
vocabulary, the plausibility table); a changed source file, a broken or foreign cache file, a
folder that cannot be written and ``INOPLAN_NO_PREBUILT`` all build from the files again.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

from inoplan.document import plausibility
from inoplan.knowledge import prebuilt as pb
from inoplan.knowledge.loader import _labels_dir, _Reader, available_versions, read_raw
from inoplan.knowledge.qt import _build as build_qt
from inoplan.knowledge.qt import load_qt_drugs
from inoplan.knowledge.vocabulary import _build as build_vocabulary
from inoplan.knowledge.vocabulary import load_vocabulary


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.delenv("INOPLAN_NO_PREBUILT", raising=False)
    monkeypatch.setattr(pb, "_cache_path", lambda name: tmp_path / f"{name}.pickle")
    return tmp_path


class Counter:
    def __init__(self, value: Any) -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> Any:
        self.calls += 1
        return self.value


def _source(tmp_path: Path, text: str = "one") -> Path:
    source = tmp_path / "source.toml"
    source.write_text(text, encoding="utf-8")
    return source


@pytest.mark.parametrize("version", available_versions())
def test_a_prebuilt_label_equals_the_label_built_from_its_file(
    cache_dir: Path, version: str
) -> None:
    files = (
        _labels_dir() / version / "label.toml",
        *pb.source_files("knowledge/loader.py", "domain/label.py"),
    )
    fresh = _Reader(version, read_raw(version)).label()
    first = pb.prebuilt(
        f"label-{version}", files, lambda: _Reader(version, read_raw(version)).label()
    )
    build = Counter(None)
    again = pb.prebuilt(f"label-{version}", files, build)
    assert build.calls == 0  # read back, not built
    assert first == fresh and again == fresh
    assert again.vocabulary_source is fresh.vocabulary_source


def test_the_qt_list_vocabulary_and_plausibility_table_read_back_equal(cache_dir: Path) -> None:
    qt_files = (
        Path(pb.__file__).with_name("qt_drugs.toml"),
        *pb.source_files("knowledge/qt.py", "domain/engine/qt.py"),
    )
    for name, files, build in (
        ("qt", qt_files, build_qt),
        ("vocabulary", pb.source_files("knowledge/terms/vocabulary.toml"), build_vocabulary),
        (
            "plausibility",
            pb.source_files("document/plausibility.toml"),
            lambda: plausibility._read_table(pb.source_files("document/plausibility.toml")[0]),
        ),
    ):
        fresh = build()
        pb.prebuilt(name, files, build)
        assert pb.prebuilt(name, files, Counter(None)) == fresh, name
    assert load_qt_drugs() == build_qt()
    assert load_vocabulary() == build_vocabulary()


def test_a_changed_source_file_builds_again(cache_dir: Path, tmp_path: Path) -> None:
    source = _source(tmp_path, "one")
    assert pb.prebuilt("x", (source,), Counter("built from one")) == "built from one"
    source.write_text("two", encoding="utf-8")
    build = Counter("built from two")
    assert pb.prebuilt("x", (source,), build) == "built from two" and build.calls == 1
    assert pb.prebuilt("x", (source,), Counter("not called")) == "built from two"


def test_a_broken_or_foreign_cache_file_builds_again(cache_dir: Path, tmp_path: Path) -> None:
    source = _source(tmp_path)
    for content in (b"", b"not a pickle", pickle.dumps(("another key",)) + b"garbage"):
        (cache_dir / "x.pickle").write_bytes(content)
        build = Counter("fresh")
        assert pb.prebuilt("x", (source,), build) == "fresh" and build.calls == 1


def test_a_missing_source_or_unwritable_cache_still_builds(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    build = Counter("fresh")
    assert pb.prebuilt("x", (tmp_path / "missing.toml",), build) == "fresh"
    monkeypatch.setattr(pb, "_cache_path", lambda name: tmp_path / "file" / "sub" / "x.pickle")
    (tmp_path / "file").write_text("a file where the folder should be", encoding="utf-8")
    source = _source(tmp_path)
    assert pb.prebuilt("x", (source,), build) == "fresh"
    assert pb.prebuilt("x", (source,), build) == "fresh" and build.calls == 3
    unpicklable = Counter(lambda: None)  # a lambda cannot be pickled: nothing is written
    monkeypatch.setattr(pb, "_cache_path", lambda name: tmp_path / "y.pickle")
    pb.prebuilt("y", (source,), unpicklable)
    assert not list(tmp_path.glob("y.pickle*"))


def test_it_can_be_turned_off(
    cache_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = _source(tmp_path)
    pb.prebuilt("x", (source,), Counter("cached"))
    monkeypatch.setenv("INOPLAN_NO_PREBUILT", "1")
    assert pb.prebuilt("x", (source,), Counter("built")) == "built"
