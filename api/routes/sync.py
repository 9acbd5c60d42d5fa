"""Partner sync: bulk upsert keyed on (owner, asset_ref), and the change feed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, Field

from api.deps import EngineDep, PrincipalDep, SettingsDep
from api.schemas import ChangesPage, SyncResult
from api.services import feed as feed_svc
from api.services.sync import sync_properties

router = APIRouter(tags=["partner sync"])


class SyncBatch(BaseModel):
    """A batch of whole records. Each record is a property (see POST /properties) plus optionally
    ``expected_version`` (applied only if the stored version matches) or ``deleted: true`` with its
    ``asset_ref`` (a tombstone). ``owner`` defaults to the key's organisation."""

    records: list[dict[str, Any]] = Field(description="up to 10,000 records")


@router.post(
    "/sync/properties",
    summary="Upsert a batch of records, all or nothing",
    responses={200: {"model": SyncResult}},
)
def sync(
    batch: SyncBatch,
    engine: EngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    mode: Annotated[
        Literal["upsert", "full"], Query(description="full: retire the owner's records not in the batch")
    ] = "upsert",
    owner: Annotated[str | None, Query(description="with mode=full and an admin key: whose estate")] = None,
    crs: Annotated[
        str | None, Query(description="CRS of the records' geometry: CRS84 (default) or EPSG:27700")
    ] = None,
    idempotency_key: Annotated[str | None, Header(description="retries with the same key apply once")] = None,
) -> Response:
    result = sync_properties(
        engine,
        principal,
        batch.records,
        mode=mode,
        owner=owner,
        crs=crs,
        idempotency_key=idempotency_key,
        max_records=settings.sync_batch_max,
        footprint_limits=settings.footprint_limits,
    )
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return Response(
        result.content, status_code=result.status_code, headers=headers, media_type="application/json"
    )


@router.get(
    "/changes",
    summary="Every change in commit order, resumable from a cursor",
    response_model=None,
    responses={200: {"model": ChangesPage}},
)
def changes(
    engine: EngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    since: Annotated[
        str | None, Query(max_length=100, description="the `next` cursor of the previous call")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    owner: Annotated[str | None, Query(max_length=63)] = None,
) -> dict[str, Any]:
    with engine.connect() as conn:
        return feed_svc.read_changes(conn, since, principal.viewer, limit=limit, owner=owner)
