"""Integrity of the vocabulary (knowledge/terms): every CTCAE v5.0 term, the label's own terms,
the allergens of every label revision; one meaning per name; the matching rules."""

from __future__ import annotations

from pathlib import Path

import pytest

import inoplan
from inoplan.domain.vocabulary import CATEGORIES, normal_key
from inoplan.knowledge.loader import available_versions, load_label, read_raw
from inoplan.knowledge.vocabulary import load_vocabulary, read_raw_vocabulary, vocabulary_json

VOCABULARY = load_vocabulary()
TERMS_DIR = Path(inoplan.__file__).parent / "knowledge" / "terms"


def test_the_vocabulary_is_versioned_and_documented() -> None:
    raw, _ = read_raw_vocabulary()
    assert raw["schema"] == 1
    assert VOCABULARY.id and VOCABULARY.version
    source = (TERMS_DIR / "SOURCE.md").read_text(encoding="utf-8")
    assert "public domain" in source and "National Cancer Institute" in source
    assert "MedDRA" in source  # the licence note of the codes


def test_every_ctcae_v5_term_is_there_once() -> None:
    _, rows = read_raw_vocabulary()
    assert len(rows) == 837  # CTCAE v5.0 (2017-11-27) has 837 terms
    names = [name for _, _, name in rows]
    assert len(set(names)) == len(names)
    ctcae = [t for t in VOCABULARY.terms.values() if t.source == "CTCAE v5.0"]
    assert len(ctcae) == 837
    assert {t.name for t in ctcae} == set(names)
    assert all(t.meddra_code and t.meddra_code.isdigit() and t.soc for t in ctcae)


@pytest.mark.parametrize(
    ("name", "code", "category"),
    [
        ("Sinusoidal obstruction syndrome", "vod", "vod"),
        ("Hepatic failure", "hepatic_failure", "liver_severe"),
        ("Hepatic necrosis", "hepatic_necrosis", "liver_severe"),
        ("Infusion related reaction", "infusion_related_reaction", "infusion_reaction"),
        ("Neutrophil count decreased", "neutrophil_count_decreased", "hematologic"),
        ("Platelet count decreased", "platelet_count_decreased", "hematologic"),
        ("Hemolysis", "hemolysis", "hemolysis"),
        ("Nausea", "nausea", "other"),
        ("Blood bilirubin increased", "blood_bilirubin_increased", "other"),
    ],
)
def test_the_terms_the_rules_depend_on(name: str, code: str, category: str) -> None:
    term = VOCABULARY.lookup(name)
    assert term is not None and term.code == code and term.category == category


def test_the_course_document_codes_still_mean_what_they_meant() -> None:
    """docs/course-document.md names vod, liver_toxicity_severe, infusion_related_reaction."""
    for code, category in (
        ("vod", "vod"),
        ("liver_toxicity_severe", "liver_severe"),
        ("infusion_related_reaction", "infusion_reaction"),
    ):
        term = VOCABULARY.lookup(code)
        assert term is not None and term.code == code and term.category == category


def test_every_name_means_one_term_and_every_category_is_known() -> None:
    seen: dict[str, str] = {}
    for term in VOCABULARY.terms.values():
        assert term.category in CATEGORIES
        for name in term.names():
            key = normal_key(name)
            assert key, name
            assert seen.setdefault(key, term.code) == term.code, f"{name!r}: two terms"
    assert set(VOCABULARY.categories) == set(CATEGORIES)
    assert all(text.strip() for text in VOCABULARY.categories.values())


@pytest.mark.parametrize("version", available_versions())
def test_every_excipient_of_every_label_revision_is_a_coded_allergen(version: str) -> None:
    label = load_label(version)
    substances = read_raw(version)["excipients"]["substances"]
    roles = set()
    for substance in substances:
        allergen = VOCABULARY.allergen(substance)
        assert allergen is not None, f"{version}: {substance!r} is not coded"
        assert allergen.role in ("active", "excipient")
        roles.add(allergen.role)
    assert roles == {"active", "excipient"}  # the drug itself and its excipients
    assert label.vocabulary() is VOCABULARY


@pytest.mark.parametrize(
    ("names", "code"),
    [
        (("polysorbate 80", "Tween 80", "Tween-80", "TWEEN80", "E433", "E-433"), "polysorbate_80"),
        (
            ("polyoxyethylene (20) sorbitan monooleate", "polysorbatum 80", "PS80"),
            "polysorbate_80",
        ),
        (
            ("tromethamine", "trometamol", "Tris", "THAM", "tris(hydroxymethyl)aminomethane"),
            "tromethamine",
        ),
        (("sucrose", "saccharose"), "sucrose"),
        (("sodium chloride", "NaCl"), "sodium_chloride"),
        (("inotuzumab ozogamicin", "BESPONSA", "CMC-544", "PF-05208773"), "inotuzumab_ozogamicin"),
    ],
)
def test_allergen_synonyms_and_e_numbers(names: tuple[str, ...], code: str) -> None:
    for name in names:
        allergen = VOCABULARY.allergen(name)
        assert allergen is not None and allergen.code == code, name
    assert VOCABULARY.allergens["polysorbate_80"].e_numbers == ("E433",)


def test_related_substances_point_at_an_ingredient() -> None:
    related = [a for a in VOCABULARY.allergens.values() if a.role == "related"]
    assert related
    for allergen in related:
        assert allergen.note
        for other in allergen.related_to:
            assert VOCABULARY.allergens[other].role in ("active", "excipient")


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("SOS/VOD", "vod"),
        ("VOD (veno-occlusive disease)", "vod"),
        ("Venoocclusive liver disease", "vod"),
        ("Hepatic sinusoidal obstruction syndrome", "vod"),
        ("veno occlusive disease", "vod"),
        ("HEPATIC VOD", "vod"),
        ("grade 3 nausea", "nausea"),
        ("Diarrhoea", "diarrhea"),
        ("Anaemia", "anemia"),
        ("oedema limbs", "edema_limbs"),
        ("Pyrexia", "fever"),
        ("QTc prolongation", "electrocardiogram_qt_corrected_interval_prolonged"),
    ],
)
def test_matching_is_case_punctuation_spacing_and_spelling_insensitive(
    text: str, code: str
) -> None:
    coding = VOCABULARY.code(text)
    assert [t.code for t in coding.terms] == [code]
    assert not coding.unmatched


@pytest.mark.parametrize("text", ["liver", "grade 3", "tummy ache", "xyz"])
def test_a_text_naming_nothing_known_is_not_recognised(text: str) -> None:
    coding = VOCABULARY.code(text)
    assert not coding.recognised and coding.unmatched == (text,)
    assert coding.uncoded_code.startswith("uncoded:")


def test_the_vocabulary_as_json_for_adapters() -> None:
    whole = vocabulary_json()
    assert len(whole["toxicity_terms"]) == len(VOCABULARY.terms)
    assert {a["code"] for a in whole["allergens"]} == set(VOCABULARY.allergens)
    assert "toxicity_terms" not in vocabulary_json("allergen")


def test_allergen_suggestions_are_memoised_without_changing_the_answer() -> None:
    from inoplan.knowledge.vocabulary import load_vocabulary

    vocabulary = load_vocabulary()
    for text in ("polysorbat80", "polysorbate 80", "penicillin", "trometamole", "", "sucrse"):
        fresh = vocabulary._allergen_suggestions(text, 3)
        assert vocabulary.allergen_suggestions(text) == fresh
        assert vocabulary.allergen_suggestions(text) == fresh  # from the memo
        assert vocabulary.allergen_suggestions(text, limit=1) == fresh[:1]
    assert [a.code for a in vocabulary.allergen_suggestions("polysorbat80")] != []
