"""Partner sync: bulk upsert keyed on (owner, asset_ref), and the change feed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Response
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SkipValidation, create_model

from api.deps import EngineDep, PrincipalDep, SettingsDep, crs_query
from api.openapi import RULES_KEY
from api.schemas import ChangesPage, SyncResult
from api.services import feed as feed_svc
from api.services.sync import IDEMPOTENCY_KEY_MAX, sync_properties
from gis.register import PropertyFields, requiring
from gis.schema import BY_NAME, VERSION_MAX

OWNER, ASSET_REF = BY_NAME["owner"], BY_NAME["asset_ref"]

router = APIRouter(tags=["partner sync"])


ExpectedVersion: Any = (
    int | None,
    Field(None, ge=1, le=VERSION_MAX, description="applied only if the stored version is this one"),
)


# Built from the register's own fields (gis.schema), so the document says what validation does.
SyncRecord: Any = create_model(
    "SyncRecord",
    __base__=type(
        "_Record",
        (PropertyFields,),
        {"model_config": ConfigDict(json_schema_extra=requiring("asset_ref", "name"))},
    ),
    __doc__="A record of the batch: a property (see POST /properties); owner defaults to the key's body.",
    owner=(OWNER.input_type | None, Field(None, description=OWNER.description)),
    expected_version=ExpectedVersion,
    deleted=(Literal[False] | None, Field(None, description="false, or leave it out: a record to keep")),
)
SyncTombstone: Any = create_model(
    "SyncTombstone",
    __config__=ConfigDict(extra="allow"),
    __doc__="A tombstone: the record with this asset_ref is deleted (its other fields are not read).",
    owner=(OWNER.input_type | None, Field(None, description=OWNER.description)),
    asset_ref=(ASSET_REF.input_type, Field(description=ASSET_REF.description)),
    deleted=(Literal[True], ...),
    expected_version=ExpectedVersion,
)


def _objects(value: Any) -> Any:
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError("a list of JSON objects")
    return value


class SyncBatch(BaseModel):
    """A batch of whole records, each a record or a tombstone."""

    # Documented as records and tombstones, validated record by record by the sync service, which
    # names each problem with its record's index and writes nothing unless every record is good.
    records: Annotated[SkipValidation[list[SyncRecord | SyncTombstone]], BeforeValidator(_objects)] = Field(
        description="up to ESTATE_SYNC_BATCH_MAX (10,000) records"
    )


@router.post(
    "/sync/properties",
    summary="Upsert a batch of records, all or nothing",
    responses={200: {"model": SyncResult}},
    openapi_extra={
        RULES_KEY: {
            "asset_ref": "once per owner in a batch",
            # The Idempotency-Key draft (IETF httpapi): a key reused for another request is a 422.
            "Idempotency-Key": "not one already used for a different request",
        }
    },
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
        str | None, crs_query("CRS of the records' geometry: CRS84 (default) or EPSG:27700")
    ] = None,
    idempotency_key: Annotated[
        str | None,
        Header(
            description="retries with the same key apply once",
            json_schema_extra={"minLength": 1, "maxLength": IDEMPOTENCY_KEY_MAX},
        ),
    ] = None,
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
