"""Coded terms: toxicity terms and allergens with their synonyms, and the matcher. Pure.

The terms themselves live in ``knowledge/terms/`` (CTCAE v5.0 and the label's own terms,
the drug and its excipients) and are read by ``inoplan.knowledge.vocabulary``. Matching is
case-, accent-, punctuation- and spacing-insensitive, with British spellings folded to American
(``normal_key``). A toxicity text that is not a known name is split into parts ("X (Y)",
"X/Y", "X, Y", "X and Y") and qualifiers ("severe", "grade 3", ...) may stand around a name.
A toxicity term that is still not recognised is returned as such (``Coding.terms`` empty) with
the known names it contains or resembles (``Coding.suggestions``): the engine never ignores it.
Allergy texts are searched for any known name inside them (longest names first).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

__all__ = [
    "ALLERGEN_ROLES",
    "CATEGORIES",
    "Allergen",
    "AllergenMatch",
    "Coding",
    "Term",
    "Vocabulary",
    "normal_key",
    "normal_words",
]

#: What the engine does with a toxicity term of each category (text in the knowledge file).
CATEGORIES: Final = (
    "vod",
    "liver_severe",
    "liver",
    "infusion_reaction",
    "hematologic",
    "hemolysis",
    "other",
)
ALLERGEN_ROLES: Final = ("active", "excipient", "related")

# British -> American spellings, applied to words before comparing (both sides).
_SPELLING: Final = (
    ("aemia", "emia"),
    ("haem", "hem"),
    ("oedem", "edem"),
    ("oesophag", "esophag"),
    ("diarrhoe", "diarrhe"),
    ("ischaem", "ischem"),
    ("anaesth", "anesth"),
    ("tumour", "tumor"),
    ("leuc", "leuk"),
    ("paed", "ped"),
    ("foet", "fet"),
    ("oestr", "estr"),
    ("sulph", "sulf"),
    ("paenia", "penia"),
)
_GREEK: Final = {"α": " alpha ", "β": " beta ", "γ": " gamma ", "δ": " delta ", "→": " "}
_NON_WORD = re.compile(r"[^0-9a-z]+")
_LETTER_DIGIT = re.compile(r"(?<=[a-z])(?=[0-9])|(?<=[0-9])(?=[a-z])")
_PARENS = re.compile(r"[(\[{]([^()\[\]{}]*)[)\]}]")
_SEPARATORS = re.compile(r"\s*(?:/|;|,|\+|&|\band\b)\s*", re.IGNORECASE)


@lru_cache(maxsize=8192)  # pure; names and recorded texts are folded again on every decision
def normal_words(text: str) -> tuple[str, ...]:
    """Words of a text, folded: ``"Tween-80"`` -> ``("tween", "80")``; ``"Haemolysis"`` ->
    ``("hemolysis",)``.

    >>> normal_words("VOD (Veno-occlusive disease)")
    ('vod', 'veno', 'occlusive', 'disease')
    """
    if text.isascii():
        folded = text.lower()
    else:
        for symbol, replacement in _GREEK.items():
            text = text.replace(symbol, replacement)
        folded = unicodedata.normalize("NFKD", text).casefold()
        folded = "".join(c for c in folded if not unicodedata.combining(c))
    folded = _LETTER_DIGIT.sub(" ", _NON_WORD.sub(" ", folded))
    words = []
    for word in folded.split():
        for british, american in _SPELLING:
            if british in word:
                word = word.replace(british, american)
        words.append(word)
    return tuple(words)


def normal_key(text: str) -> str:
    """The comparison key: the folded words without spaces (spacing-insensitive).

    >>> normal_key("Tween-80") == normal_key("tween 80") == normal_key("TWEEN80")
    True
    >>> normal_key("veno-occlusive") == normal_key("Venoocclusive")
    True
    """
    return "".join(normal_words(text))


@dataclass(frozen=True, slots=True)
class Term:
    """A toxicity term: a CTCAE v5.0 term, a term of the label, or a common inoplan name."""

    code: str
    name: str
    category: str  # one of CATEGORIES
    source: str  # "CTCAE v5.0" | "label" | "inoplan"
    meddra_code: str | None = None
    soc: str | None = None
    synonyms: tuple[str, ...] = ()

    def names(self) -> tuple[str, ...]:
        return (self.name, self.code.replace("_", " "), *self.synonyms)


@dataclass(frozen=True, slots=True)
class Allergen:
    """The drug or one of its excipients (or a related substance: cross-reactivity only)."""

    code: str
    name: str
    role: str  # one of ALLERGEN_ROLES
    synonyms: tuple[str, ...] = ()
    e_numbers: tuple[str, ...] = ()
    related_to: tuple[str, ...] = ()
    note: str | None = None

    def names(self) -> tuple[str, ...]:
        return (self.name, self.code.replace("_", " "), *self.synonyms, *self.e_numbers)


@dataclass(frozen=True, slots=True)
class Coding:
    """What a recorded toxicity text means.

    ``terms``: the known terms it names (several when it names several, "VOD and ascites");
    empty when it is not recognised. ``unmatched``: parts of the text that named nothing known.
    ``severe``: a severity word stood around a name ("severe hepatotoxicity").
    ``suggestions``: for an unrecognised text, known terms named inside it or close to it.
    """

    text: str
    terms: tuple[Term, ...] = ()
    unmatched: tuple[str, ...] = ()
    severe: bool = False
    suggestions: tuple[Term, ...] = ()

    @property
    def recognised(self) -> bool:
        return bool(self.terms)

    @property
    def uncoded_code(self) -> str:
        """A stable key for an unrecognised text (spelling variants of it fold together)."""
        return "uncoded:" + (normal_key(self.text) or self.text.strip().casefold())


@dataclass(frozen=True, slots=True)
class AllergenMatch:
    allergy: str  # as recorded
    allergen: Allergen
    how: str  # "name" (the whole text) | "contains" (a name inside the text)
    named: str  # the words that matched


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """Toxicity terms and allergens, indexed by their normalised names."""

    id: str
    version: str
    terms: Mapping[str, Term]
    allergens: Mapping[str, Allergen]
    qualifiers: tuple[str, ...] = ()
    severe_qualifiers: tuple[str, ...] = ()
    categories: Mapping[str, str] = field(default_factory=dict)  # category -> text
    _term_keys: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    _allergen_keys: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    _cache: dict[str, Coding] = field(default_factory=dict, repr=False, compare=False)
    _suggested: dict[tuple[str, int], tuple[Allergen, ...]] = field(
        default_factory=dict, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        for term in self.terms.values():
            _index(self._term_keys, term.code, term.names(), "term")
        for allergen in self.allergens.values():
            _index(self._allergen_keys, allergen.code, allergen.names(), "allergen")

    # -- toxicity terms ------------------------------------------------------------------------
    def term(self, code: str) -> Term | None:
        return self.terms.get(code)

    def lookup(self, name: str) -> Term | None:
        """The term whose name or synonym is exactly ``name`` (after folding), else None."""
        code = self._term_keys.get(normal_key(name))
        return self.terms[code] if code else None

    def code(self, text: str) -> Coding:
        """Code a recorded toxicity text (memoised: the answer depends only on the text)."""
        found = self._cache.get(text)
        if found is None:
            found = self._code(text)
            if len(self._cache) < 20_000:
                self._cache[text] = found
        return found

    def _code(self, text: str) -> Coding:
        exact = self.lookup(text)
        if exact is not None:
            return Coding(text, (exact,))
        terms: list[Term] = []
        unmatched: list[str] = []
        severe = False
        for chunk in _chunks(text):
            whole = self._part(chunk)
            pieces = [(chunk, whole)] if whole[0] is not None else []
            if not pieces:
                pieces = [(p, self._part(p)) for p in _split(chunk)]
            for part, (term, is_severe, only_qualifiers) in pieces:
                if term is not None:
                    if term not in terms:
                        terms.append(term)
                    severe = severe or is_severe
                elif only_qualifiers:
                    severe = severe or is_severe  # "hepatotoxicity (severe)"
                else:
                    unmatched.append(part)
        if terms:
            return Coding(text, tuple(terms), tuple(unmatched), severe)
        return Coding(text, (), (text,), False, self.suggest(text))

    def _part(self, part: str) -> tuple[Term | None, bool, bool]:
        """(term, named with a severity word, made only of qualifiers) for one part."""
        words = list(normal_words(part))
        severe = False
        stripped = True
        while words and stripped:
            term = self._term_for_words(words)
            if term is not None:
                return term, severe, False
            stripped = False
            for phrase, is_severe in self._qualifier_phrases():
                n = len(phrase)
                if len(words) >= n and tuple(words[:n]) == phrase:
                    words, stripped, severe = words[n:], True, severe or is_severe
                    break
                if len(words) >= n and tuple(words[-n:]) == phrase:
                    words, stripped, severe = words[:-n], True, severe or is_severe
                    break
        return None, severe and not words, not words

    def _term_for_words(self, words: Iterable[str]) -> Term | None:
        code = self._term_keys.get("".join(words))
        return self.terms[code] if code else None

    def _qualifier_phrases(self) -> tuple[tuple[tuple[str, ...], bool], ...]:
        return _phrases(self.qualifiers, self.severe_qualifiers)

    def named_in(self, text: str) -> tuple[Term, ...]:
        """The terms a text codes as, else those it names inside as whole words (no spelling
        guess): ``"history of hepatic VOD"`` names ``vod``; ``"SOB"`` names nothing.

        For texts from other systems (a FHIR ``Condition`` text) that are not toxicity entries.
        """
        coded = self.code(text).terms
        if coded:
            return coded
        out: list[Term] = []
        for code in _spans(normal_words(text), self._term_keys):
            if self.terms[code] not in out:
                out.append(self.terms[code])
        return tuple(out)

    def is_category(self, text: str, category: str) -> bool:
        """Whether a recorded text (or a term code) codes as a term of ``category`` (one of
        ``CATEGORIES``): the one comparison of terms for adapters (``"Hepatic VOD"``, ``"SOS"``
        and ``"vod"`` are all ``vod``)."""
        return any(t.category == category for t in self.code(text).terms)

    def suggest(self, text: str, *, limit: int = 5) -> tuple[Term, ...]:
        """Known terms named inside ``text`` or spelled close to it (for an unrecognised text)."""
        out: list[Term] = []
        for code in _spans(normal_words(text), self._term_keys):
            term = self.terms[code]
            if term not in out:
                out.append(term)
        key = normal_key(text)
        if key:
            for close in difflib.get_close_matches(
                key, list(self._term_keys), n=limit, cutoff=0.85
            ):
                term = self.terms[self._term_keys[close]]
                if term not in out:
                    out.append(term)
        return tuple(out[:limit])

    # -- allergens -----------------------------------------------------------------------------
    def allergen(self, name: str) -> Allergen | None:
        """The allergen whose name, synonym or E number is exactly ``name``, else None."""
        code = self._allergen_keys.get(normal_key(name))
        return self.allergens[code] if code else None

    def allergens_in(self, allergy: str) -> tuple[AllergenMatch, ...]:
        """Every allergen named by a recorded allergy: the whole text, or a name inside it.

        Longest names win: "gemtuzumab ozogamicin" is the related substance, not "ozogamicin".
        """
        whole = self.allergen(allergy)
        if whole is not None:
            return (AllergenMatch(allergy, whole, "name", allergy),)
        words = normal_words(allergy)
        found: list[AllergenMatch] = []
        for code, span in _spans_with_text(words, self._allergen_keys):
            allergen = self.allergens[code]
            if all(m.allergen != allergen for m in found):
                found.append(AllergenMatch(allergy, allergen, "contains", span))
        return tuple(found)

    def allergen_suggestions(self, allergy: str, *, limit: int = 3) -> tuple[Allergen, ...]:
        """Allergens spelled close to an allergy text that named none (e.g. "polysorbat80").

        Memoised: the answer depends only on the text, and the fuzzy comparison with every
        allergen name (difflib) would otherwise cost milliseconds on every decision of a patient
        with an unrecognised allergy.
        """
        found = self._suggested.get((allergy, limit))
        if found is None:
            found = self._allergen_suggestions(allergy, limit)
            if len(self._suggested) < 20_000:
                self._suggested[(allergy, limit)] = found
        return found

    def _allergen_suggestions(self, allergy: str, limit: int) -> tuple[Allergen, ...]:
        key = normal_key(allergy)
        if not key:
            return ()
        out: list[Allergen] = []
        for close in difflib.get_close_matches(
            key, list(self._allergen_keys), n=limit, cutoff=0.85
        ):
            allergen = self.allergens[self._allergen_keys[close]]
            if allergen not in out:
                out.append(allergen)
        return tuple(out)


def _index(keys: dict[str, str], code: str, names: Iterable[str], what: str) -> None:
    for name in names:
        key = normal_key(name)
        if not key:
            raise ValueError(f"{what} {code}: the name {name!r} has no letters or digits")
        other = keys.setdefault(key, code)
        if other != code:
            raise ValueError(f"{what} name {name!r} means both {other} and {code}")


@lru_cache(maxsize=16)
def _phrases(
    qualifiers: tuple[str, ...], severe: tuple[str, ...]
) -> tuple[tuple[tuple[str, ...], bool], ...]:
    phrases = [(normal_words(q), False) for q in qualifiers] + [
        (normal_words(q), True) for q in severe
    ]
    return tuple(sorted(phrases, key=lambda p: -len(p[0])))  # longest first


def _chunks(text: str) -> list[str]:
    """What is outside brackets, then what is inside each pair: "X (Y)" -> ["X", "Y"]."""
    chunks = [_PARENS.sub(" ", text), *_PARENS.findall(text)]
    return [c.strip() for c in chunks if normal_words(c)]


def _split(chunk: str) -> list[str]:
    """A chunk split at / ; , + & and "and": "VOD/ascites" -> ["VOD", "ascites"]."""
    return [p.strip() for p in _SEPARATORS.split(chunk) if normal_words(p)]


def _spans(words: tuple[str, ...], keys: Mapping[str, str]) -> list[str]:
    return [code for code, _ in _spans_with_text(words, keys)]


def _spans_with_text(words: tuple[str, ...], keys: Mapping[str, str]) -> list[tuple[str, str]]:
    """Codes of the known names found as runs of whole words, longest runs first; a run inside
    a longer run that matched is not counted."""
    hits: list[tuple[int, int, str]] = []
    for i in range(len(words)):
        joined = ""
        for j in range(i, len(words)):
            joined += words[j]
            code = keys.get(joined)
            if code is not None:
                hits.append((i, j + 1, code))
    hits.sort(key=lambda h: (-(h[1] - h[0]), h[0]))
    taken: list[tuple[int, int]] = []
    out: list[tuple[str, str]] = []
    for start, end, code in hits:
        if any(s <= start and end <= e for s, e in taken):
            continue
        taken.append((start, end))
        out.append((code, " ".join(words[start:end])))
    return out
