"""The coded terms (read-only): toxicity terms and allergens, and how a text is coded.

The same vocabulary the decision engine codes recorded texts with (``knowledge/terms/``,
``inoplan.knowledge.vocabulary``); readable by every authenticated role. Free text stays
possible everywhere: these routes only offer the coded list and show how a text would be read.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from inoplan.api.deps import PrincipalDep
from inoplan.api.openapi import errors

router = APIRouter(prefix="/vocabulary", tags=["vocabulary"])


class VocabularyPublic(BaseModel):
    """The vocabulary (``kind`` selects toxicity terms, allergens or both)."""

    model_config = ConfigDict(extra="allow")
    id: str
    version: str
    matching: str
    toxicity_terms: list[dict[str, Any]] | None = None
    allergens: list[dict[str, Any]] | None = None
    categories: dict[str, str] | None = None


class CodingPublic(BaseModel):
    """How a recorded text is read: the coded terms or allergens it names, or why not."""

    model_config = ConfigDict(extra="allow")
    text: str
    kind: str
    recognised: bool


@router.get("", response_model=VocabularyPublic, responses=errors(401, 422))
def get_vocabulary(
    _: PrincipalDep,
    kind: Annotated[
        Literal["toxicity", "allergen"] | None,
        Query(description="Only toxicity terms, or only allergens (default: both)"),
    ] = None,
) -> JSONResponse:
    """The coded toxicity terms (CTCAE v5.0 and the label's terms, with synonyms and the
    engine's category) and allergens (the drug and its excipients, with synonyms and E numbers)."""
    from inoplan.knowledge.vocabulary import vocabulary_json

    return JSONResponse(vocabulary_json(kind))


@router.get("/match", response_model=CodingPublic, responses=errors(401, 422))
def match_text(
    _: PrincipalDep,
    text: Annotated[str, Query(min_length=1, max_length=200, description="A recorded text")],
    kind: Annotated[
        Literal["toxicity", "allergen"], Query(description="What the text records")
    ] = "toxicity",
) -> JSONResponse:
    """How inoplan reads a toxicity term or an allergy as recorded (e.g. "SOS/VOD" is
    Sinusoidal obstruction syndrome, "Tween-80" is polysorbate 80), with suggestions for a text
    that names nothing known."""
    from inoplan.knowledge.vocabulary import match_json

    return JSONResponse(match_json(text, kind))
