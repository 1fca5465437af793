"""Read the vocabulary (``knowledge/terms/``) into domain values; offer it to adapters.

``load_vocabulary()`` gives the typed ``Vocabulary`` the decision engine codes terms with;
``vocabulary_json()`` the same terms as plain JSON for other adapters (the REST endpoint
``GET /api/v1/vocabulary``, the web forms' suggestion lists). Standard library only; I/O:
reads two package data files (the curated TOML and the CTCAE v5.0 term list), once per process.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from inoplan.domain.vocabulary import (
    ALLERGEN_ROLES,
    CATEGORIES,
    Allergen,
    Term,
    Vocabulary,
)
from inoplan.errors import MalformedLabelData

__all__ = [
    "load_vocabulary",
    "match_json",
    "read_raw_vocabulary",
    "snake_code",
    "vocabulary_json",
]

_NAME = "vocabulary"


def _fail(problem: str) -> MalformedLabelData:
    return MalformedLabelData(_NAME, problem)


def _dir() -> Path:
    # the package's own folder (importlib.resources would cost start-up time)
    return Path(__file__).with_name("terms")


def snake_code(name: str) -> str:
    """A CTCAE term's code: its name in snake case.

    >>> snake_code("Hepatobiliary disorders - Other, specify")
    'hepatobiliary_disorders_other_specify'
    """
    from inoplan.domain.vocabulary import normal_words

    return "_".join(normal_words(name))


def read_raw_vocabulary() -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    """The curated TOML (parsed) and the CTCAE rows (MedDRA code, SOC key, term)."""
    import tomllib

    raw = tomllib.loads((_dir() / "vocabulary.toml").read_text(encoding="utf-8"))
    ctcae = raw.get("ctcae")
    if not isinstance(ctcae, Mapping) or not isinstance(ctcae.get("file"), str):
        raise _fail("ctcae.file: missing")
    lines = (_dir() / ctcae["file"]).read_text(encoding="utf-8").splitlines()
    if not lines or lines[0].split("\t") != ["meddra_code", "soc", "term"]:
        raise _fail(f"{ctcae['file']}: expected the header meddra_code, soc, term")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != 3 or not all(fields):
            raise _fail(f"{ctcae['file']} line {number}: expected 3 tab-separated fields")
        rows.append((fields[0], fields[1], fields[2]))
    return raw, rows


def _texts(row: Mapping[str, Any], key: str, path: str) -> tuple[str, ...]:
    value = row.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _fail(f"{path}.{key}: expected a list of texts")
    return tuple(value)


def _text(row: Mapping[str, Any], key: str, path: str) -> str:
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _fail(f"{path}.{key}: missing text")
    return value


@functools.cache
def load_vocabulary() -> Vocabulary:
    """The shipped vocabulary (checked: unknown categories or roles, a name meaning two terms
    and a curated term naming a CTCAE term that does not exist are release bugs)."""
    from inoplan.knowledge.prebuilt import prebuilt, source_files

    terms = Path(__file__).with_name("terms")
    data = sorted(p for p in terms.iterdir() if p.is_file())
    code = source_files("knowledge/vocabulary.py", "domain/vocabulary.py")
    return prebuilt("vocabulary", (*data, *code), _build)


def _build() -> Vocabulary:
    raw, rows = read_raw_vocabulary()
    if raw.get("schema") != 1:
        raise _fail("expected schema = 1")
    meta = raw.get("vocabulary", {})
    socs = raw["ctcae"].get("soc", {})
    ctcae_citation = _text(raw["ctcae"], "citation", "ctcae")
    by_name: dict[str, tuple[str, str]] = {}
    for meddra, soc, name in rows:
        if soc not in socs:
            raise _fail(f"CTCAE term {name!r}: unknown SOC key {soc!r}")
        by_name[name] = (meddra, socs[soc])
    curated: dict[str, Term] = {}
    linked: dict[str, str] = {}  # CTCAE name -> curated code
    for i, row in enumerate(raw.get("term", [])):
        path = f"term[{i}]"
        code = _text(row, "code", path)
        category = _text(row, "category", path)
        if category not in CATEGORIES:
            raise _fail(f"{path}.category: unknown {category!r}")
        if code in curated:
            raise _fail(f"{path}.code: duplicate {code!r}")
        synonyms = _texts(row, "synonyms", path)
        ctcae_name = row.get("ctcae")
        if ctcae_name is not None:
            if ctcae_name not in by_name:
                raise _fail(f"{path}.ctcae: no CTCAE v5.0 term {ctcae_name!r}")
            meddra, soc_name = by_name[ctcae_name]
            linked[ctcae_name] = code
            curated[code] = Term(
                code, ctcae_name, category, ctcae_citation, meddra, soc_name, synonyms
            )
        else:
            source = _text(row, "source", path)
            if source not in ("label", "inoplan"):
                raise _fail(f"{path}.source: 'label' or 'inoplan', not {source!r}")
            curated[code] = Term(
                code, _text(row, "name", path), category, source, None, None, synonyms
            )
    terms: dict[str, Term] = {}
    for meddra, soc, name in rows:
        code = linked.get(name) or snake_code(name)
        if code in terms:
            raise _fail(f"CTCAE term {name!r}: code {code!r} is taken")
        terms[code] = curated.get(code) or Term(
            code, name, "other", ctcae_citation, meddra, socs[soc]
        )
    for code, term in curated.items():
        if code not in terms:
            terms[code] = term
        elif terms[code] is not term:
            raise _fail(f"term {code!r}: also the code of a CTCAE term; link it with 'ctcae'")
    allergens: dict[str, Allergen] = {}
    for i, row in enumerate(raw.get("allergen", [])):
        path = f"allergen[{i}]"
        code = _text(row, "code", path)
        role = _text(row, "role", path)
        if role not in ALLERGEN_ROLES:
            raise _fail(f"{path}.role: unknown {role!r}")
        if code in allergens:
            raise _fail(f"{path}.code: duplicate {code!r}")
        allergens[code] = Allergen(
            code=code,
            name=_text(row, "name", path),
            role=role,
            synonyms=_texts(row, "synonyms", path),
            e_numbers=_texts(row, "e_numbers", path),
            related_to=_texts(row, "related_to", path),
            note=row.get("note"),
        )
    for code, allergen in allergens.items():
        for other in allergen.related_to:
            if other not in allergens or allergens[other].role == "related":
                raise _fail(f"allergen {code}: related_to {other!r} is not an ingredient")
        if allergen.role == "related" and not allergen.related_to:
            raise _fail(f"allergen {code}: a related substance names what it is related to")
    matching = raw.get("matching", {})
    categories = {k: _text(v, "text", f"category.{k}") for k, v in raw.get("category", {}).items()}
    if set(categories) != set(CATEGORIES):
        raise _fail(f"category: expected exactly {', '.join(CATEGORIES)}")
    try:
        return Vocabulary(
            id=_text(meta, "id", "vocabulary"),
            version=_text(meta, "version", "vocabulary"),
            terms=terms,
            allergens=allergens,
            qualifiers=_texts(matching, "qualifiers", "matching"),
            severe_qualifiers=_texts(matching, "severe_qualifiers", "matching"),
            categories=categories,
        )
    except ValueError as exc:  # a name that means two things
        raise _fail(str(exc)) from None


def vocabulary_json(kind: str | None = None) -> dict[str, Any]:
    """The vocabulary as JSON for adapters: ``kind`` = ``"toxicity"``, ``"allergen"`` or both."""
    vocabulary = load_vocabulary()
    out: dict[str, Any] = {
        "id": vocabulary.id,
        "version": vocabulary.version,
        "matching": (
            "case-, accent-, punctuation- and spacing-insensitive; British spellings folded; "
            "'X (Y)', 'X/Y', 'X, Y' and 'X and Y' are read part by part; qualifiers such as "
            "'severe' or 'grade 3' may stand around a name. Free text stays possible: an "
            "unrecognised toxicity term counts under the label's 'any other non-hematologic "
            "toxicity' row by its grade and the decision asks for it to be coded."
        ),
    }
    if kind in (None, "toxicity"):
        out["categories"] = dict(vocabulary.categories)
        out["toxicity_terms"] = [
            {
                "code": t.code,
                "name": t.name,
                "category": t.category,
                "source": t.source,
                "meddra_code": t.meddra_code,
                "soc": t.soc,
                "synonyms": list(t.synonyms),
            }
            for t in sorted(vocabulary.terms.values(), key=lambda t: t.name.casefold())
        ]
    if kind in (None, "allergen"):
        out["allergens"] = [
            {
                "code": a.code,
                "name": a.name,
                "role": a.role,
                "e_numbers": list(a.e_numbers),
                "related_to": list(a.related_to),
                "synonyms": list(a.synonyms),
                "note": a.note,
            }
            for a in vocabulary.allergens.values()
        ]
    return out


def match_json(text: str, kind: str = "toxicity") -> dict[str, Any]:
    """How a recorded text is coded, as JSON (``kind``: ``"toxicity"`` or ``"allergen"``)."""
    vocabulary = load_vocabulary()
    if kind == "allergen":
        found = vocabulary.allergens_in(text)
        return {
            "text": text,
            "kind": kind,
            "recognised": bool(found),
            "allergens": [
                {
                    "code": m.allergen.code,
                    "name": m.allergen.name,
                    "role": m.allergen.role,
                    "related_to": list(m.allergen.related_to),
                    "matched": m.named,
                    "how": m.how,
                }
                for m in found
            ],
            "suggestions": []
            if found
            else [{"code": a.code, "name": a.name} for a in vocabulary.allergen_suggestions(text)],
        }
    coding = vocabulary.code(text)
    return {
        "text": text,
        "kind": "toxicity",
        "recognised": coding.recognised,
        "terms": [
            {"code": t.code, "name": t.name, "category": t.category, "source": t.source}
            for t in coding.terms
        ],
        "not_recognised": list(coding.unmatched),
        "severe_qualifier": coding.severe,
        "suggestions": [
            {"code": t.code, "name": t.name, "category": t.category} for t in coding.suggestions
        ],
        "if_not_recognised": (
            "counted under the label's 'any other non-hematologic toxicity' row by its grade; "
            "the decision asks for the term to be coded"
        ),
    }
