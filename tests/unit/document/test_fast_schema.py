"""The schema lane without pydantic (``inoplan.document.fast``) never answers differently.

``validate_document`` either returns the values ``CourseDocument.model_validate`` would hold
(field for field, same types) or None, and then the models decide. Checked on every golden case,
worked example and demo course, and on random breakages of them (Hypothesis: a value replaced by
any JSON/YAML value, a key removed, an unknown key added): whenever the lane accepts, the models
accept too and hold the same values.
"""

from __future__ import annotations

import copy
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from inoplan.document.fast import validate_document, validate_event
from inoplan.document.io import _event_adapter
from inoplan.document.models import CourseDocument

ROOT = Path(__file__).parents[3]
FILES = (
    sorted((ROOT / "tests" / "golden" / "cases").glob("*.yaml"))
    + sorted((ROOT / "examples").glob("*.yaml"))
    + sorted((ROOT / "src" / "inoplan" / "demo" / "courses").glob("*.yaml"))
)


def _load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    document.pop("expect", None)
    return document


DOCUMENTS = [_load(p) for p in FILES]


def _same(model: Any, fast: Any, where: str = "document") -> None:
    """The lane's value equals the model's: same type, same value, recursively."""
    if isinstance(model, BaseModel):
        for name in type(model).model_fields:
            _same(getattr(model, name), getattr(fast, name), f"{where}.{name}")
        if type(model).__name__ == "PlanChangeDoc":
            assert fast.model_fields_set == model.model_fields_set, where
        return
    if isinstance(model, list):
        assert isinstance(fast, list) and len(fast) == len(model), where
        for i, (a, b) in enumerate(zip(model, fast, strict=True)):
            _same(a, b, f"{where}[{i}]")
        return
    assert type(fast) is type(model), f"{where}: {type(fast)} vs {type(model)}"
    assert fast == model, f"{where}: {fast!r} vs {model!r}"


def _models(document: dict[str, Any]) -> CourseDocument | None:
    try:
        return CourseDocument.model_validate(document)
    except ValidationError:
        return None


def test_the_documents_cover_cases_examples_and_demo() -> None:
    assert len(DOCUMENTS) > 150
    assert {p.parent.name for p in FILES} == {"cases", "examples", "courses"}


@pytest.mark.parametrize("index", range(len(DOCUMENTS)), ids=lambda i: FILES[i].stem)
def test_every_shipped_document_takes_the_lane_with_the_models_values(index: int) -> None:
    document = DOCUMENTS[index]
    fast = validate_document(copy.deepcopy(document))
    model = _models(copy.deepcopy(document))
    assert model is not None
    assert fast is not None, f"{FILES[index].name} is valid but left the fast lane"
    _same(model, fast)


_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "2027-03-01",
            "2027-02-30",
            "2027-3-1",
            date(2027, 3, 1),
            "09:00",
            "24:00",
            "us",
            "eu",
            "labs",
            "vitals",
            "CR",
            "mg/dL",
            "10*9/L",
            "\ud800",
            " H-1",
            "H\u202e1",
            21,
            28,
            1,
            8,
            15,
            0,
            -0.0,
            1.0,
            True,
            "",
            "x" * 65,
            "x" * 501,
        ]
    ),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            out += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            out += _paths(item, (*prefix, i))
    return out


@st.composite
def _broken(draw: st.DrawFn) -> dict[str, Any]:
    document: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(DOCUMENTS)))
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_paths(document)))
        if not path:
            continue
        parent: Any = document
        for key in path[:-1]:
            parent = parent[key]
        what = draw(st.sampled_from(["replace", "replace", "remove", "add"]))
        if what == "replace":
            parent[path[-1]] = draw(_JSON)
        elif what == "remove" and isinstance(parent, dict):
            del parent[path[-1]]
        elif what == "add" and isinstance(parent, dict):
            key = draw(st.sampled_from(["extra", "value", "type", "uln", "name", "id"]))
            parent[key] = draw(_JSON)
    return document


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(_broken())
def test_the_lane_accepts_only_what_the_models_accept_with_the_same_values(
    document: dict[str, Any],
) -> None:
    fast = validate_document(copy.deepcopy(document))
    if fast is None:
        return  # the models decide
    model = _models(copy.deepcopy(document))
    assert model is not None, "the lane accepted a document the models refuse"
    _same(model, fast)


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(_broken())
def test_one_event_takes_the_lane_as_the_event_union_would(document: dict[str, Any]) -> None:
    events = document.get("events")
    for event in events if isinstance(events, list) else []:
        fast = validate_event(copy.deepcopy(event)) if isinstance(event, dict) else None
        if fast is None:
            continue
        try:
            model = _event_adapter().validate_python(copy.deepcopy(event))
        except ValidationError:
            pytest.fail(f"the lane accepted an event the models refuse: {event!r}")
        _same(model, fast)
