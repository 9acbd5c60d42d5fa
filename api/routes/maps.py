"""The map page and the browser assets it needs, served by the app itself."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import text

from api.deps import AsyncEngineDep, PrincipalDep, SettingsDep
from api.services import tiles as tile_svc
from api.urls import base_url
from gis.vocab import UseCategory, values

router = APIRouter(tags=["map"])
STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
VENDOR_DIRS = {
    # npm packages (package.json), installed by scripts/setup.sh
    "leaflet": Path(__file__).resolve().parents[2] / "node_modules" / "leaflet" / "dist",
    "leaflet.vectorgrid": Path(__file__).resolve().parents[2]
    / "node_modules"
    / "leaflet.vectorgrid"
    / "dist",
}


@router.get("/map", response_class=HTMLResponse, summary="The estate map (HTML)")
async def estate_map(
    request: Request, pool: AsyncEngineDep, settings: SettingsDep, principal: PrincipalDep
) -> HTMLResponse:
    from gis.maps import MapConfig, build_map_html  # folium loads on the first page, not at start-up

    base = base_url(request, settings)
    async with pool.connect() as conn:
        bounds = await tile_svc.register_bounds(conn, principal.viewer)
        result = await conn.execute(text("SELECT code, name FROM organisation ORDER BY name"))
        owners = [dict(r) for r in result.mappings()]
    hubs = f"{base}/colocation/candidates?f=geojson&limit=50"
    config = MapConfig(
        static_base=f"{base}/static",
        tiles_url=f"{base}/collections/properties/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}",
        api_base=base,
        bounds=bounds,
        owners=owners,
        uses=list(values(UseCategory)),
        hubs_url=hubs,
        online_basemap=settings.online_basemap,
    )
    return HTMLResponse(build_map_html(config), headers={"Cache-Control": "no-cache"})
