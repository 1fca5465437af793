"""Adapters compare terms through the one vocabulary (knowledge/terms), never raw text."""

from __future__ import annotations

import pytest

from inoplan.interop import codes as k
from inoplan.interop.fhir_in.condition import is_vod
from inoplan.knowledge.vocabulary import load_vocabulary
from inoplan.web.forms import KNOWN_TOXICITY_TERMS


@pytest.mark.parametrize(
    ("text", "vod"),
    [
        ("Hepatic veno-occlusive disease", True),
        ("history of hepatic VOD", True),
        ("VOD/SOS after transplant", True),
        ("Sinusoidal obstruction syndrome", True),
        ("SOB", False),  # one letter from SOS: no spelling guess makes a VOD
        ("Zofran", False),
        ("liver toxicity", False),
    ],
)
def test_a_condition_text_is_vod_by_the_vocabulary(text: str, vod: bool) -> None:
    assert is_vod({"text": text}) is vod


@pytest.mark.parametrize(("code", "vod"), [("vod", True), ("Hepatic VOD", True), ("nausea", False)])
def test_a_toxicity_code_is_vod_by_the_vocabulary(code: str, vod: bool) -> None:
    assert is_vod({"coding": [{"system": k.CS + "toxicity", "code": code}]}) is vod


def test_every_suggested_toxicity_term_of_the_web_form_is_in_the_vocabulary() -> None:
    vocabulary = load_vocabulary()
    assert [t for t in KNOWN_TOXICITY_TERMS if not vocabulary.code(t).recognised] == []
