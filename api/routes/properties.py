"""The register API: /properties. Parse, call the service, return."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from api.db import write_transaction
from api.deps import (
    AsyncEngineDep,
    EngineDep,
    FilterDep,
    PrincipalDep,
    SettingsDep,
    crs_query,
    etag,
    parse_if_match,
)
from api.responses import FastJSONResponse
from api.schemas import PropertyHistory, PropertyPage, PropertyPublic, PropertySummary
from api.services import properties as svc
from api.services import summary as summary_svc
from api.urls import PAGE_LIMIT_HELP, page_url
from gis import crs as crs_mod
from gis import visibility
from gis.register import PropertyCreate, PropertyFields, validate_property

router = APIRouter(prefix="/properties", tags=["register"])

CrsQ = Annotated[str | None, crs_query("CRS of geometry in the body: CRS84 (default) or EPSG:27700")]


@router.get(
    "",
    summary="List properties (filtered, cursor-paged)",
    response_model=None,
    responses={200: {"model": PropertyPage}},
)
def list_properties(
    request: Request,
    engine: EngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    filters: FilterDep,
    limit: Annotated[int | None, Query(ge=1, description=PAGE_LIMIT_HELP)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    limit = settings.page_limit(limit)
    flt = filters.build()
    position = svc.decode_cursor(cursor)
    after = position[1] if position and position[0] == "after" else None
    with engine.connect() as conn:
        svc.check_organisations(conn, flt.owner)
        records, next_id = svc.list_records(conn, flt, principal.viewer, limit=limit, after_id=after)
    items = visibility.project_many(records, principal.viewer)
    next_url = page_url(request, settings, cursor=svc.encode_cursor(next_id)) if next_id else None
    return {"items": items, "count": len(items), "next": next_url}


@router.get(
    "/summary",
    response_model=PropertySummary,
    summary="What is in view: totals and RAG split of the filtered set (e.g. a map's bbox), and a sorted page",
)
def property_summary(
    engine: EngineDep,
    principal: PrincipalDep,
    filters: FilterDep,
    sort: Annotated[
        str,
        Query(
            max_length=20,
            description=f"one of {', '.join(summary_svc.SORT_KEYS)}; a leading '-' sorts descending",
            json_schema_extra={"enum": [*summary_svc.SORT_KEYS, *(f"-{k}" for k in summary_svc.SORT_KEYS)]},
        ),
    ] = "name",
    limit: Annotated[int, Query(ge=1, le=500)] = 25,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    flt = filters.build()
    with engine.connect() as conn:
        svc.check_organisations(conn, flt.owner)
        return summary_svc.summarise(conn, flt, principal.viewer, sort=sort, limit=limit, offset=offset)


@router.get(
    "/{property_id}",
    summary="One property, with its ETag",
    response_model=None,
    responses={200: {"model": PropertyPublic}},
)
async def get_property(property_id: str, pool: AsyncEngineDep, principal: PrincipalDep) -> Response:
    async with pool.connect() as conn:
        record = await svc.get_visible_async(conn, property_id, principal.viewer)
    return FastJSONResponse(record, headers={"ETag": etag(record["version"])})


@router.post(
    "",
    status_code=201,
    summary="Add a property (writer of its owner, or admin)",
    responses={201: {"model": PropertyPublic}},
)
def create_property(
    body: PropertyCreate, engine: EngineDep, settings: SettingsDep, principal: PrincipalDep, crs: CrsQ = None
) -> JSONResponse:
    principal.require_writer()
    values = validate_property(
        body.model_dump(exclude_unset=True),
        crs_mod.parse_crs(crs),
        creating=True,
        footprint_limits=settings.footprint_limits,
    )
    with write_transaction(engine, principal.actor) as conn:
        svc.check_organisations(conn, [values["owner"]])
        svc.require_owner(principal.viewer, values["owner"])
        record = svc.create_record(conn, values)
    return JSONResponse(
        visibility.project(record, principal.viewer),
        status_code=201,
        headers={"ETag": etag(record["version"]), "Location": f"/properties/{record['id']}"},
    )


@router.patch(
    "/{property_id}",
    summary="Change a property; needs If-Match with its ETag",
    responses={200: {"model": PropertyPublic}},
)
def update_property(
    property_id: str,
    body: PropertyFields,
    engine: EngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    crs: CrsQ = None,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    principal.require_writer()
    values = validate_property(
        body.model_dump(exclude_unset=True),
        crs_mod.parse_crs(crs),
        creating=False,
        footprint_limits=settings.footprint_limits,
    )
    with write_transaction(engine, principal.actor) as conn:
        record = svc.update_record(
            conn,
            property_id,
            values,
            parse_if_match(if_match),
            principal.viewer,
            footprint_max_distance_m=settings.footprint_max_distance_m,
        )
    return JSONResponse(
        visibility.project(record, principal.viewer),
        headers={"ETag": etag(record["version"])},
    )


@router.delete("/{property_id}", status_code=204, summary="Retire a property (soft delete); needs If-Match")
def delete_property(
    property_id: str,
    engine: EngineDep,
    principal: PrincipalDep,
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    principal.require_writer()
    with write_transaction(engine, principal.actor) as conn:
        svc.delete_record(conn, property_id, parse_if_match(if_match), principal.viewer)
    return Response(status_code=204)


@router.get(
    "/{property_id}/history",
    summary="Every change to a property, oldest first",
    response_model=None,
    responses={200: {"model": PropertyHistory}},
)
def property_history(
    property_id: str, engine: EngineDep, settings: SettingsDep, principal: PrincipalDep
) -> dict[str, Any]:
    with engine.connect() as conn:
        changes = svc.history(conn, property_id, principal.viewer)
    return {"property_id": property_id, "changes": changes}
