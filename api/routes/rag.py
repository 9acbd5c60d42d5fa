"""Suggested ratings: one building's beside its human rating, and the review list of those that differ."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from api.deps import EngineDep, PrincipalDep
from api.services import rag as svc
from api.services.properties import check_organisations
from gis.vocab import Rag

router = APIRouter(tags=["disposal"])


class SuggestionReason(BaseModel):
    rule: str = Field(description="the rule's name in the rules table (gis/rag.py)")
    reason: str = Field(description="why, in words")
    leaning: Literal["red", "green"]
    points: float = Field(description="signed points: green positive, red negative")


class RagSuggestion(BaseModel):
    property_id: str
    suggested_rag: Rag
    human_rag: Rag | None = Field(description="the rating a person set (null: unrated)")
    differs: bool
    score: float = Field(description="sum of the reasons' points")
    decided_by: str | None = Field(description="the decisive rule that settled it, if one did")
    reasons: list[SuggestionReason]


class RagReviewItem(BaseModel):
    id: str
    owner: str
    asset_ref: str
    name: str
    post_town: str | None
    rag: Rag | None
    rag_reason: str | None
    disposal_stage: str | None
    value_gbp: int | None = Field(description="null where the viewer may not see it (marketed, not theirs)")
    suggested_rag: Rag
    human_rag: Rag | None
    differs: bool
    score: float
    decided_by: str | None
    reasons: list[SuggestionReason]


class RagReview(BaseModel):
    as_of: str
    rated: int = Field(description="rated buildings considered")
    differing: int = Field(
        description="of which the suggestion differs from the human rating and a rule leans its way (listed)"
    )
    differing_without_reason: int = Field(
        description="differ, but no rule leans the suggestion's way (e.g. amber for want of any rule): counted, not listed"
    )
    items: list[RagReviewItem] = Field(description="largest value first")


@router.get(
    "/properties/{property_id}/rag-suggestion",
    response_model=RagSuggestion,
    summary="The register's suggested RAG rating with its reasons, beside the human one (partners)",
)
def rag_suggestion(property_id: str, engine: EngineDep, principal: PrincipalDep) -> RagSuggestion:
    with engine.connect() as conn:
        return RagSuggestion(**svc.suggestion(conn, property_id, principal.viewer))


@router.get(
    "/rag/review",
    response_model=RagReview,
    summary="Rated buildings whose suggested rating differs from the human one, largest value first",
)
def rag_review(
    engine: EngineDep,
    principal: PrincipalDep,
    owner: Annotated[str | None, Query(max_length=63, description="only this organisation's")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> RagReview:
    with engine.connect() as conn:
        if owner:
            check_organisations(conn, [owner])
        return RagReview(**svc.review(conn, principal.viewer, owner=owner, limit=limit))
