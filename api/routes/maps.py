"""The workspace page, what it draws offline, and the browser assets it needs, served by the app itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse
from sqlalchemy import text

from api.deps import AsyncEngineDep, EngineDep, PrincipalDep, SettingsDep
from api.services import maps as map_svc
from api.services import tiles as tile_svc
from api.urls import base_url
from gis.vocab import UseCategory, values

router = APIRouter(tags=["map"])
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
# npm packages (package.json), installed by scripts/setup.sh; mounted at /static/vendor/<name>
VENDOR_DIRS = {
    "maplibre-gl": Path(__file__).resolve().parents[2] / "node_modules" / "maplibre-gl" / "dist",
}


@router.get("/map", response_class=HTMLResponse, summary="The estate manager's workspace (HTML)")
async def estate_map(
    request: Request, pool: AsyncEngineDep, settings: SettingsDep, principal: PrincipalDep
) -> HTMLResponse:
    from gis.maps import MapConfig, build_map_html  # loaded on the first page, not at start-up

    base = base_url(request, settings)
    async with pool.connect() as conn:
        bounds = await tile_svc.register_bounds(conn, principal.viewer)
        result = await conn.execute(text("SELECT code, name FROM organisation ORDER BY name"))
        owners = [dict(r) for r in result.mappings()]
    config = MapConfig(
        static_base=f"{base}/static",
        tiles_url=f"{base}/collections/properties/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}",
        api_base=base,
        bounds=bounds,
        owners=owners,
        uses=list(values(UseCategory)),
        online_basemap=settings.online_basemap,
        basemap_url=settings.basemap_url,
        basemap_attribution=settings.basemap_attribution,
        tile_rules=settings.tile_rules,
    )
    return HTMLResponse(build_map_html(config), headers={"Cache-Control": "no-cache"})


@router.get(
    "/map/wayfinding.geojson",
    summary="Post towns (at the mean of their buildings) and each body's estate extent, for a map with no basemap",
    responses={200: {"content": {"application/geo+json": {}}}},
)
def wayfinding(engine: EngineDep, principal: PrincipalDep) -> Any:
    with engine.connect() as conn:
        body = map_svc.wayfinding(conn, principal.viewer)
    # Towns move only when buildings do; a few minutes' staleness is harmless and saves a scan per page.
    return JSONResponse(
        body, media_type="application/geo+json", headers={"Cache-Control": "private, max-age=300"}
    )
