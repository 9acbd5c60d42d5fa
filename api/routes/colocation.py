"""Co-location candidates: where partners could share one building. Parse, call the service, return."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response

from api.deps import PrincipalDep, bbox_pattern, between, one_or_more
from api.limits import CEILING_NOTE, CEILINGS, COLOCATION, check_colocation, expensive
from api.offload import WorkPoolDep
from api.services import colocation as svc
from gis import colocation as domain
from gis.errors import FieldError, ValidationFailed
from gis.vocab import UseCategory, values

router = APIRouter(prefix="/colocation", tags=["analysis"])

GEOJSON = "application/geo+json"
FORMATS = ("json", "geojson")


@router.get(
    "/candidates",
    summary="Co-location candidates: two or more bodies within walking distance, best score first",
    **expensive(COLOCATION),
    responses={200: {"content": {GEOJSON: {}}, "description": "JSON list, or GeoJSON with f=geojson"}},
)
async def list_candidates(
    pool: WorkPoolDep,
    principal: PrincipalDep,
    distance_m: Annotated[
        float,
        Query(
            description="walking distance from the host, metres (at most "
            f"{CEILINGS.colocation_distance_m:,.0f} for {CEILING_NOTE})",
            **between(domain.DISTANCE_M_MIN, domain.DISTANCE_M_MAX),
        ),
    ] = (domain.DEFAULT_DISTANCE_M),
    min_owners: Annotated[
        int,
        Query(description="distinct bodies a hub needs (at least 2)", **between(2, domain.MIN_OWNERS_MAX)),
    ] = (domain.DEFAULT_MIN_OWNERS),
    uses: Annotated[
        list[str] | None,
        Query(
            description="use categories that may share; repeat or comma-separate; "
            f"default {', '.join(domain.SHAREABLE_USES)}; at most {CEILINGS.colocation_uses} for {CEILING_NOTE}",
            json_schema_extra={
                "items": {"type": "string", "pattern": one_or_more(values(UseCategory), at_least_one=True)}
            },
        ),
    ] = None,
    town: Annotated[str | None, Query(max_length=100, description="only buildings in this post town")] = None,
    owner: Annotated[
        list[str] | None, Query(description="only hubs in which one of these bodies takes part")
    ] = None,
    bbox: Annotated[
        str | None,
        Query(description="only buildings inside minLon,minLat,maxLon,maxLat", **bbox_pattern()),
    ] = None,
    limit: Annotated[
        int, Query(description="at most this many candidates", **between(1, svc.LIMIT_MAX))
    ] = 20,
    m2_per_fte: Annotated[
        float,
        Query(description="workspace per FTE, m²", **between(domain.M2_PER_FTE_MIN, domain.M2_PER_FTE_MAX)),
    ] = domain.DEFAULT_M2_PER_FTE,
    relocation_gbp_per_m2: Annotated[
        float,
        Query(
            description="one-off moving cost per m² moved, £", **between(0, domain.RELOCATION_GBP_PER_M2_MAX)
        ),
    ] = (domain.DEFAULT_RELOCATION_GBP_PER_M2),
    f: Annotated[
        str | None, Query(description="json (default) or geojson", json_schema_extra={"enum": list(FORMATS)})
    ] = None,
    accept: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    if f is not None and f not in FORMATS:
        raise ValidationFailed([FieldError("f", f"one of {', '.join(FORMATS)}")])
    check_colocation(principal, distance_m, uses)
    as_geojson = f == "geojson" or (f is None and accept is not None and GEOJSON in accept)
    body = await pool.run_json(
        svc.candidates_answer,
        principal.viewer,
        as_geojson=as_geojson,
        distance_m=distance_m,
        min_owners=min_owners,
        uses=uses,
        town=town,
        owner=owner,
        bbox=bbox,
        limit=limit,
        m2_per_fte=m2_per_fte,
        relocation_gbp_per_m2=relocation_gbp_per_m2,
    )
    return Response(body, media_type=GEOJSON if as_geojson else "application/json")
