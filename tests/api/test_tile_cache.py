"""The shared tile cache: byte-identical hits, invalidated by exactly the writes in a tile's area."""

from __future__ import annotations

import asyncio

import mapbox_vector_tile
import mercantile
import pytest
from sqlalchemy import text
from support import auth_header, new_property

from gis.layers import MAX_ZOOM, TILE_BUFFER, TILE_EXTENT

TILE = "/collections/properties/tiles/WebMercatorQuad/{z}/{y}/{x}"
TENBURY = (-2.5950, 52.3100)
EVESHAM = (-1.9475, 52.0925)  # far enough from Tenbury to share no tile past zoom 7


def _tile(lon: float, lat: float, z: int) -> tuple[int, int, int]:
    t = mercantile.tile(lon, lat, z)
    return z, t.y, t.x


def _get(client, z: int, y: int, x: int, query: str = "", headers=None):
    return client.get(TILE.format(z=z, y=y, x=x) + query, headers=headers or {})


def _in_buffered_area(lon: float, lat: float, z: int, y: int, x: int) -> bool:
    """Whether a point lies in the area a tile draws: the tile plus its buffer."""
    b = mercantile.xy_bounds(x, y, z)
    margin = (b.right - b.left) * TILE_BUFFER / TILE_EXTENT
    px, py = mercantile.xy(lon, lat)
    return b.left - margin <= px <= b.right + margin and b.bottom - margin <= py <= b.top + margin


def test_cold_and_warm_tiles_are_byte_identical(client, make_org) -> None:
    query = f"?owner={make_org()}&rag=red"  # a filter no other test asked for: the first answer is cold
    for z in (6, 12):
        cold = _get(client, *_tile(*TENBURY, z), query=query)
        warm = _get(client, *_tile(*TENBURY, z), query=query)
        assert cold.headers["X-Tile-Cache"] == "miss" and warm.headers["X-Tile-Cache"] == "hit"
        assert warm.content == cold.content and warm.headers["ETag"] == cold.headers["ETag"]
        assert warm.headers["X-Tile-Mode"] == cold.headers["X-Tile-Mode"]
        again = _get(
            client, *_tile(*TENBURY, z), query=query, headers={"If-None-Match": cold.headers["ETag"]}
        )
        assert again.status_code == 304


def test_a_write_invalidates_exactly_the_tiles_whose_area_holds_it_at_every_zoom(
    client, make_org, make_key
) -> None:
    org = make_org()
    headers = auth_header(make_key(org, "writer"))

    def create(lon: float, lat: float) -> str:
        body = new_property(org, geometry={"type": "Point", "coordinates": [lon, lat]})
        response = client.post("/properties", json=body, headers=headers)
        assert response.status_code == 201, response.text
        return response.json()["id"]

    here, far = create(*TENBURY), create(*EVESHAM)
    tiles = [_tile(*TENBURY, z) for z in range(MAX_ZOOM + 1)]
    for t in tiles:
        _get(client, *t)
        assert _get(client, *t).headers["X-Tile-Cache"] == "hit"

    moved_to = (EVESHAM[0] + 0.01, EVESHAM[1])
    response = client.patch(
        f"/properties/{far}",
        json={"geometry": {"type": "Point", "coordinates": list(moved_to)}},
        headers={**headers, "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    for t in tiles:
        touched = _in_buffered_area(*EVESHAM, *t) or _in_buffered_area(*moved_to, *t)
        assert _get(client, *t).headers["X-Tile-Cache"] == ("miss" if touched else "hit"), t

    assert any(_get(client, *t).headers["X-Tile-Cache"] == "hit" for t in tiles)
    response = client.patch(
        f"/properties/{here}",
        json={"rag": "green", "rag_reason": "vacant now"},
        headers={**headers, "If-Match": '"1"'},
    )
    assert response.status_code == 200, response.text
    for z, y, x in tiles:
        fresh = _get(client, z, y, x)
        assert fresh.headers["X-Tile-Cache"] == "miss", z
        if fresh.headers["X-Tile-Mode"] == "points":
            features = mapbox_vector_tile.decode(fresh.content)["properties"]["features"]
            assert [f["properties"]["rag"] for f in features if f["properties"]["id"] == here] == ["green"]


def test_the_cache_is_bounded(app, client, owner_engine) -> None:
    limit = app.state.settings.tile_cache_max_tiles
    with owner_engine.connect() as conn:
        kept = conn.execute(text("SELECT count(*) FROM tile_cache")).scalar_one()
    assert kept <= limit + 63


def test_low_zoom_clusters_from_aggregates_match_clusters_grouped_from_rows(db_url: str, seeded) -> None:
    from api.db import AsyncPool
    from api.services import tiles as svc
    from api.services.filters import PropertyFilter
    from gis import layers, visibility

    def decoded(data: bytes) -> list[tuple[int, ...]]:
        cells = mapbox_vector_tile.decode(data).get("property_clusters", {"features": []})["features"]
        keys = ("count", "red", "amber", "green", "unrated")
        return sorted(tuple(int(c["properties"][k]) for k in keys) for c in cells)

    async def compare() -> None:
        pool = AsyncPool(db_url)
        viewers = (visibility.PUBLIC, visibility.Viewer(visibility.Tier.partner, org="hmcts"))
        filters = (PropertyFilter(), PropertyFilter(rag=["red", "unrated"]), PropertyFilter(use=["office"]))
        async with pool.engine().connect() as conn:
            for z in range(4, layers.AGGREGATE_MAX_LEVEL + 1):
                _, y, x = _tile(-2.2, 52.2, z)
                for viewer in viewers:
                    for flt in filters:
                        sql, params = svc.aggregate_clusters_sql(z, y, x, flt, viewer)
                        stored = (await conn.execute(text(sql), params)).scalar_one()
                        sql, params = svc.live_clusters_sql(z, y, x, flt, viewer, layers.TileRules())
                        live = (await conn.execute(text(sql), params)).scalar_one()
                        assert decoded(bytes(stored)) == decoded(bytes(live)), (z, viewer, flt)
        await pool.dispose()

    asyncio.run(compare())


@pytest.mark.parametrize("z", [5, 8])
def test_a_filter_cells_cannot_answer_falls_back_to_rows_and_says_so(client, z: int) -> None:
    response = _get(client, *_tile(-2.2, 52.2, z), query="?town=Worcester")
    assert response.headers["X-Tile-Mode"] == "clusters; source=live"
    cells = mapbox_vector_tile.decode(response.content)["property_clusters"]["features"]
    assert sum(c["properties"]["count"] for c in cells) > 0


def test_number_matched_is_postgis_count_for_a_grid_box(client, make_org, owner_engine, seeded) -> None:
    from support import place_building

    org = make_org()
    easting, northing = 385_000.0, 255_000.0
    place_building(seeded, org, "On the edge", "Worcester", easting, northing, "test")
    # The box ends half a metre west of the building: its lon/lat hull would still hold it.
    box = (easting - 2000, northing - 2000, easting - 0.5, northing + 2000)
    bbox = ",".join(str(v) for v in box)
    doc = client.get(
        f"/collections/properties/items?bbox={bbox}&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/27700&limit=1"
    ).json()

    def postgis_count(b: tuple[float, float, float, float]) -> int:
        with owner_engine.connect() as conn:
            return conn.execute(
                text(
                    "SELECT count(*) FROM property WHERE deleted_at IS NULL AND NOT sensitive "
                    "AND ST_Intersects(geom_bng, ST_MakeEnvelope(:a, :b, :c, :d, 27700))"
                ),
                dict(zip("abcd", b, strict=True)),
            ).scalar_one()

    assert doc["numberMatched"] == postgis_count(box)
    wider_box = (*box[:2], easting + 0.5, box[3])
    doc = client.get(
        f"/collections/properties/items?bbox={','.join(str(v) for v in wider_box)}"
        "&bbox-crs=http://www.opengis.net/def/crs/EPSG/0/27700&limit=1"
    ).json()
    assert doc["numberMatched"] == postgis_count(wider_box) > postgis_count(box)
