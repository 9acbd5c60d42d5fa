"""OGC API – Features (Part 1 core, GeoJSON, OpenAPI 3.0, HTML; Part 2 CRS) and vector tiles."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy.ext.asyncio import AsyncEngine

from api.auth import Principal
from api.deps import (
    AsyncEngineDep,
    FilterDep,
    PrincipalDep,
    SettingsDep,
    bbox_pattern,
    between,
    crs_query,
    etag,
)
from api.guards import reject_unknown_query
from api.html import render_document
from api.limits import CEILING_NOTE, CEILINGS, COLOCATION, check_colocation, expensive
from api.offload import WorkPool, WorkPoolDep
from api.responses import FastJSONResponse
from api.services import features as ogc
from api.services import properties as svc
from api.services import tiles as tile_svc
from api.urls import PAGE_LIMIT_HELP, base_url, page_url
from gis import colocation as colocation_domain
from gis import crs as crs_mod
from gis import layers, visibility
from gis.errors import FieldError, NotFound, ValidationFailed
from gis.visibility import Viewer

router = APIRouter(tags=["OGC API – Features"], dependencies=[Depends(reject_unknown_query)])
# Collections besides the buildings, served further down this module.
EXTRA_COLLECTIONS = {
    "colocation-candidates": {
        "title": "Co-location candidates",
        "description": "Groups of partners' buildings within walking distance that could share one site",
    }
}
GEOJSON_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {ogc.GEOJSON: {"schema": {"type": "object"}}}}
}
# f=geojson is the items' JSON by its other name (what some clients ask for).
FORMATS = ("json", "html", "geojson")
FQ = Annotated[
    str | None, Query(description="json (default) or html", json_schema_extra={"enum": list(FORMATS)})
]


def _wants_html(request: Request, f: str | None) -> bool:
    if f is not None:
        if f not in FORMATS:
            raise ValidationFailed(
                [FieldError("f", f"unsupported format {f!r}; use json or html", where="query")]
            )
        return f == "html"
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "json" not in accept


def _parse_crs(value: str | None, name: str) -> crs_mod.Crs:
    try:
        return crs_mod.parse_crs(value)
    except crs_mod.CrsError as exc:
        raise ValidationFailed([FieldError(name, str(exc), where="query")]) from None


def _respond(
    request: Request,
    f: str | None,
    doc: dict[str, Any],
    title: str,
    media_type: str = "application/json",
    headers: dict[str, str] | None = None,
) -> Response:
    if _wants_html(request, f):
        return HTMLResponse(render_document(title, doc), headers=headers)
    return FastJSONResponse(doc, media_type=media_type, headers=headers)


@router.get("/", summary="Landing page")
def landing(request: Request, settings: SettingsDep, f: FQ = None) -> Response:
    return _respond(request, f, ogc.landing_document(base_url(request, settings)), "Shared Estate")


@router.get("/conformance", summary="Conformance classes")
def conformance(request: Request, f: FQ = None) -> Response:
    return _respond(request, f, {"conformsTo": ogc.CONFORMANCE}, "Conformance")


async def _collections(
    request: Request, settings: Any, pool: AsyncEngine, viewer: Viewer
) -> list[dict[str, Any]]:
    base = base_url(request, settings)
    async with pool.connect() as conn:
        bounds = await tile_svc.register_bounds(conn, viewer)
    collections = [ogc.collection_document(base, bounds)]
    for cid, spec in EXTRA_COLLECTIONS.items():
        collections.append(
            ogc.collection_document(
                base, bounds, cid=cid, title=spec["title"], description=spec["description"], tiles=False
            )
        )
    return collections


@router.get("/collections", summary="Collections")
async def collections(
    request: Request, pool: AsyncEngineDep, settings: SettingsDep, principal: PrincipalDep, f: FQ = None
) -> Response:
    base = base_url(request, settings)
    doc = {
        "links": [{"href": f"{base}/collections", "rel": "self", "type": "application/json"}],
        "collections": await _collections(request, settings, pool, principal.viewer),
        "crs": [c.uri for c in crs_mod.SUPPORTED_CRS],
    }
    return _respond(request, f, doc, "Collections")


@router.get("/collections/properties", summary="The properties collection")
async def collection(
    request: Request, pool: AsyncEngineDep, settings: SettingsDep, principal: PrincipalDep, f: FQ = None
) -> Response:
    doc = (await _collections(request, settings, pool, principal.viewer))[0]
    return _respond(request, f, doc, doc["title"])


@router.get(
    "/collections/properties/queryables",
    summary="Queryable properties",
    responses={200: {"content": {"application/schema+json": {"schema": {"type": "object"}}}}},
)
def queryables(request: Request, settings: SettingsDep) -> JSONResponse:
    return JSONResponse(
        ogc.queryables_document(base_url(request, settings)), media_type="application/schema+json"
    )


@router.get(
    "/collections/properties/items",
    summary="Buildings as GeoJSON features (keyset-paged)",
    responses=GEOJSON_RESPONSE,
    description=(
        "Pages follow `next`/`prev` links with opaque keyset cursors (no OFFSET scans). `numberMatched` is "
        "exact up to ESTATE_EXACT_COUNT_LIMIT matches (100,000 by default); beyond that it is PostgreSQL's "
        "planner estimate and the response "
        "carries `numberMatchedEstimated: true`. `crs` and `bbox-crs` take CRS84 (default), EPSG:4326 "
        "(latitude first) or EPSG:27700; any other CRS, like any invalid parameter, is a 400."
    ),
)
async def items(
    request: Request,
    pool: AsyncEngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    filters: FilterDep,
    crs: Annotated[str | None, crs_query("CRS84 (default), EPSG:4326 or EPSG:27700")] = None,
    limit: Annotated[int | None, Query(ge=1, description=PAGE_LIMIT_HELP)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    f: FQ = None,
) -> Response:
    out_crs = _parse_crs(crs, "crs")
    limit = settings.page_limit(limit)
    flt = filters.build()
    position = svc.decode_cursor(cursor)
    after = position[1] if position and position[0] == "after" else None
    before = position[1] if position and position[0] == "before" else None
    async with pool.connect() as conn:
        await svc.check_organisations_async(conn, flt.owner)
        records, more_id = await svc.list_records_async(
            conn, flt, principal.viewer, limit=limit, after_id=after, before_id=before
        )
        matched, exact = await svc.count_records_async(
            conn, flt, principal.viewer, settings.exact_count_limit
        )
    base = base_url(request, settings)
    visible = visibility.project_many(records, principal.viewer)
    features = [ogc.to_feature(r, out_crs, base) for r in visible]
    links = [
        {"href": page_url(request, settings), "rel": "self", "type": ogc.GEOJSON},
        {"href": f"{base}/collections/properties", "rel": "collection", "type": "application/json"},
    ]
    has_next = (more_id is not None) if not before else bool(records)
    has_prev = bool(records) and (
        before is None and after is not None or before is not None and more_id is not None
    )
    if records and has_next:
        links.append(
            {
                "href": page_url(request, settings, cursor=svc.encode_cursor(records[-1]["id"])),
                "rel": "next",
                "type": ogc.GEOJSON,
                "title": "next page",
            }
        )
    if records and has_prev:
        links.append(
            {
                "href": page_url(request, settings, cursor=svc.encode_cursor(records[0]["id"], "before")),
                "rel": "prev",
                "type": ogc.GEOJSON,
                "title": "previous page",
            }
        )
    doc = ogc.items_document(features, number_matched=matched, exact=exact, links=links)
    headers = {"Content-Crs": f"<{out_crs.uri}>"}
    return _respond(request, f, doc, "Public buildings", media_type=ogc.GEOJSON, headers=headers)


@router.get(
    "/collections/properties/items/{feature_id}",
    summary="One building as a GeoJSON feature",
    responses=GEOJSON_RESPONSE,
)
async def item(
    feature_id: str,
    request: Request,
    pool: AsyncEngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    crs: Annotated[str | None, crs_query("CRS84 (default), EPSG:4326 or EPSG:27700")] = None,
    f: FQ = None,
) -> Response:
    out_crs = _parse_crs(crs, "crs")
    async with pool.connect() as conn:
        record = await svc.get_visible_async(conn, feature_id, principal.viewer)
    feature = ogc.to_feature(record, out_crs, base_url(request, settings))
    headers = {"Content-Crs": f"<{out_crs.uri}>", "ETag": etag(record["version"])}
    return _respond(
        request, f, feature, record.get("name") or "Building", media_type=ogc.GEOJSON, headers=headers
    )


@router.get(
    "/collections/properties/tiles/WebMercatorQuad/tilejson.json", summary="TileJSON for the vector tiles"
)
async def tilejson(
    request: Request, pool: AsyncEngineDep, settings: SettingsDep, principal: PrincipalDep
) -> JSONResponse:
    base = base_url(request, settings)
    async with pool.connect() as conn:
        bounds = await tile_svc.register_bounds(conn, principal.viewer)
    url = f"{base}/collections/properties/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}"
    return JSONResponse(
        layers.tilejson(url, bounds, settings.tile_rules), headers={"Cache-Control": "public, max-age=300"}
    )


@router.get(
    "/collections/properties/tiles/WebMercatorQuad/{tileMatrix}/{tileRow}/{tileCol}",
    summary="A Mapbox Vector Tile of buildings",
    response_class=Response,
    responses={
        200: {"content": {"application/vnd.mapbox-vector-tile": {}}},
        304: {"description": "Not modified (If-None-Match holds the tile's ETag)"},
    },
)
async def tile(
    request: Request,
    pool: AsyncEngineDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    tileMatrix: int,  # noqa: N803 - the OGC path parameter names
    tileRow: int,  # noqa: N803
    tileCol: int,  # noqa: N803
    filters: FilterDep,
) -> Response:
    if not layers.valid_tile(tileMatrix, tileRow, tileCol):
        raise NotFound(f"no tile {tileMatrix}/{tileRow}/{tileCol} in WebMercatorQuad")
    flt = filters.build()
    async with pool.connect() as conn:
        result = await tile_svc.cached_tile(
            conn,
            tileMatrix,
            tileRow,
            tileCol,
            flt,
            principal.viewer,
            settings.tile_rules,
            max_tiles=settings.tile_cache_max_tiles,
        )
    scope = "public" if principal.role == "anonymous" else "private"
    freshness = f"max-age={settings.tile_max_age_s}" + (
        "" if settings.tile_max_age_s else ", must-revalidate"
    )
    headers = {
        "ETag": result.etag,
        # A write changes the ETag of exactly the tiles it touches; max-age=0 makes caches ask.
        "Cache-Control": f"{scope}, {freshness}",
        # What a tile holds depends on the caller's key (its tier and organisation).
        "Vary": "Authorization, X-API-Key, Cookie",  # a signed-in person sees by their role
        "X-Tile-Mode": result.mode,
        "X-Tile-Cache": "hit" if result.cached else "miss",
    }
    if _etag_matches(request.headers.get("if-none-match"), result.etag):
        return Response(status_code=304, headers=headers)
    return Response(result.data, media_type="application/vnd.mapbox-vector-tile", headers=headers)


def _etag_matches(if_none_match: str | None, current: str) -> bool:
    if not if_none_match:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or current in tags


# The co-location analysis as a second OGC collection, so QGIS can load the hubs beside the buildings.
@router.get("/collections/colocation-candidates", summary="The co-location candidates collection")
async def colocation_collection(
    request: Request, pool: AsyncEngineDep, settings: SettingsDep, principal: PrincipalDep, f: FQ = None
) -> Response:
    doc = next(
        c
        for c in await _collections(request, settings, pool, principal.viewer)
        if c["id"] == "colocation-candidates"
    )
    return _respond(request, f, doc, doc["title"])


async def _hubs(pool: WorkPool, principal: Principal, **params: Any) -> dict[str, Any]:
    from api.services.colocation import candidates_answer

    # In a worker process, like every analysis (api/offload.py).
    return await pool.run(candidates_answer, principal.viewer, as_geojson=True, **params)


@router.get(
    "/collections/colocation-candidates/items",
    summary="Hub candidates as GeoJSON outlines, best first",
    responses=GEOJSON_RESPONSE,
    **expensive(COLOCATION),
)
async def colocation_items(
    request: Request,
    work_pool: WorkPoolDep,
    settings: SettingsDep,
    principal: PrincipalDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    distance_m: Annotated[
        float,
        Query(
            description="walking distance between partners, metres (at most "
            f"{CEILINGS.colocation_distance_m:,.0f} for {CEILING_NOTE})",
            **between(colocation_domain.DISTANCE_M_MIN, colocation_domain.DISTANCE_M_MAX),
        ),
    ] = colocation_domain.DEFAULT_DISTANCE_M,
    town: Annotated[str | None, Query(max_length=100)] = None,
    owner: Annotated[str | None, Query(max_length=63)] = None,
    bbox: Annotated[str | None, Query(description="minLon,minLat,maxLon,maxLat", **bbox_pattern())] = None,
    crs: Annotated[str | None, crs_query("CRS84 only for this collection", (crs_mod.CRS84,))] = None,
    f: FQ = None,
) -> Response:
    if _parse_crs(crs, "crs") != crs_mod.CRS84:
        raise ValidationFailed(
            [FieldError("crs", "the colocation-candidates collection is served in CRS84 only", where="query")]
        )
    check_colocation(principal, distance_m, None)
    doc = await _hubs(
        work_pool, principal, limit=limit, distance_m=distance_m, town=town, owner=owner, bbox=bbox
    )
    base = base_url(request, settings)
    doc = ogc.items_document(
        doc["features"],
        number_matched=None,
        exact=True,
        links=[
            {"href": page_url(request, settings), "rel": "self", "type": ogc.GEOJSON},
            {
                "href": f"{base}/collections/colocation-candidates",
                "rel": "collection",
                "type": "application/json",
            },
        ],
    )
    return _respond(
        request,
        f,
        doc,
        "Co-location candidates",
        media_type=ogc.GEOJSON,
        headers={"Content-Crs": f"<{crs_mod.CRS84.uri}>"},
    )


@router.get(
    "/collections/colocation-candidates/items/{hub_id}",
    summary="One hub candidate",
    responses=GEOJSON_RESPONSE,
    **expensive(COLOCATION),
)
async def colocation_item(
    hub_id: str,
    request: Request,
    work_pool: WorkPoolDep,
    principal: PrincipalDep,
    f: FQ = None,
) -> Response:
    doc = await _hubs(work_pool, principal, limit=1000)
    feature = next((ft for ft in doc["features"] if ft["id"] == hub_id), None)
    if feature is None:
        raise NotFound(f"no co-location candidate {hub_id!r} under the default rules")
    return _respond(request, f, feature, feature["properties"]["host_name"], media_type=ogc.GEOJSON)
