"""Response models for OpenAPI: what each register endpoint answers, derived from gis.schema.

A record carries only the fields its caller may see (gis.visibility), so every
field of ``PropertyPublic`` is optional and absent fields are simply left out.
Lists are documented with these models but sent without a per-item pydantic
pass (a 10,000-record page would spend most of its time there).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from gis import schema


def _public_type(f: schema.Field) -> Any:
    if f.is_geometry:
        return dict[str, Any]
    if f.python_type is list:
        return list[str]
    return f.python_type


PropertyPublic: type[BaseModel] = create_model(
    "PropertyPublic",
    __config__=ConfigDict(extra="forbid"),
    __doc__="A register record as one caller may see it: fields it may not see are absent.",
    **{f.name: (_public_type(f) | None, Field(None, description=f.description)) for f in schema.FIELDS},  # type: ignore[call-overload]
)


class PropertyPage(BaseModel):
    items: list[PropertyPublic]
    count: int = Field(description="records on this page")
    next: str | None = Field(description="URL of the next page, absent at the end")


class HistoryEntry(BaseModel):
    id: int
    action: Literal["insert", "update", "delete"]
    version: int
    actor: str | None = Field(description="who made the change (partners and owners only)")
    changed_at: str
    before: PropertyPublic | None
    after: PropertyPublic | None


class PropertyHistory(BaseModel):
    property_id: str
    changes: list[HistoryEntry]


class Change(BaseModel):
    cursor: str
    seq: int
    action: Literal["insert", "update", "delete"]
    property_id: str
    owner: str
    asset_ref: str | None
    version: int
    changed_at: str
    actor: str | None
    record: PropertyPublic | None


class ChangesPage(BaseModel):
    changes: list[Change]
    next: str = Field(description="pass as `since` to continue")
    has_more: bool


class SyncItem(BaseModel):
    id: str
    owner: str
    asset_ref: str
    version: int
    action: Literal["inserted", "updated", "deleted", "retired"]


class SyncSummary(BaseModel):
    received: int
    inserted: int
    updated: int
    unchanged: int
    deleted: int
    retired: int


class SyncResult(BaseModel):
    summary: SyncSummary
    items: list[SyncItem]


# GET /properties/summary: what is in a map view
class RagSplit(BaseModel):
    red: int
    amber: int
    green: int
    unrated: int = Field(description="no rating, or one the caller may not see")


class SummaryItem(BaseModel):
    id: str
    name: str
    owner: str
    post_town: str | None
    use_category: str | None
    rag: str | None
    gia_m2: float | None
    value_gbp: int | None = Field(description="null where the caller may not see it")
    lon: float | None
    lat: float | None


class PropertySummary(BaseModel):
    """What is in a view: totals over every matching building the caller may see, and one sorted page."""

    count: int = Field(description="buildings matching the filters")
    gia_m2: float = Field(description="total gross internal area of those with one, m²")
    gia_known: int = Field(description="buildings with a floor area")
    value_gbp: int | None = Field(description="total value of those whose value the caller may see")
    value_known: int = Field(description="buildings whose value is known and visible to the caller")
    rag: RagSplit
    items: list[SummaryItem]
    sort: str
    limit: int
    offset: int
    next_offset: int | None
