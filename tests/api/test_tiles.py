"""Vector tiles: decoded with mapbox-vector-tile, aggregated by rule, ETags that follow edits."""

from __future__ import annotations

import mapbox_vector_tile
import mercantile
from support import auth_header, new_property

TILE = "/collections/properties/tiles/WebMercatorQuad/{z}/{y}/{x}"
EVESHAM = (-1.9475, 52.0925)


def _tile_for(lon: float, lat: float, zoom: int) -> tuple[int, int, int]:
    t = mercantile.tile(lon, lat, zoom)
    return zoom, t.y, t.x


def _get(client, z: int, y: int, x: int, headers=None, query: str = ""):
    return client.get(TILE.format(z=z, y=y, x=x) + query, headers=headers or {})


def test_point_tile_holds_buildings_with_styling_attributes(client) -> None:
    response = _get(client, *_tile_for(*EVESHAM, 14))
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/vnd.mapbox-vector-tile"
    assert response.headers["X-Tile-Mode"] == "points"
    layer = mapbox_vector_tile.decode(response.content)["properties"]
    assert layer["features"]
    rated = [f for f in layer["features"] if "rag" in f["properties"]]  # MVT omits null attributes
    assert rated and isinstance(rated[0]["id"], int)
    assert {"id", "owner", "rag", "use", "name"} <= set(rated[0]["properties"])
    assert {f["properties"].get("rag") for f in layer["features"]} <= {"red", "amber", "green", None}


def test_tile_features_match_the_register(client) -> None:
    z, y, x = _tile_for(*EVESHAM, 14)
    decoded = mapbox_vector_tile.decode(_get(client, z, y, x).content)["properties"]["features"]
    # Tiles carry a small buffer past their edge so symbols are not cut; compare the tile proper.
    inside = [f for f in decoded if all(0 <= c <= 4096 for c in f["geometry"]["coordinates"])]
    west, south, east, north = mercantile.bounds(x, y, z)
    items = client.get(f"/collections/properties/items?bbox={west},{south},{east},{north}&limit=5000").json()
    assert {f["properties"]["id"] for f in inside} == {f["id"] for f in items["features"]}


def test_low_zoom_tile_is_aggregated_and_says_so(client) -> None:
    z, y, x = _tile_for(*EVESHAM, 7)
    response = _get(client, z, y, x)
    assert response.headers["X-Tile-Mode"] == "clusters"
    layers = mapbox_vector_tile.decode(response.content)
    assert "properties" not in layers
    cells = layers["property_clusters"]["features"]
    total = sum(c["properties"]["count"] for c in cells)
    west, south, east, north = mercantile.bounds(x, y, z)
    in_tile = client.get(f"/collections/properties/items?bbox={west},{south},{east},{north}&limit=1").json()
    assert total == in_tile["numberMatched"] > 1000  # aggregated, not truncated
    assert all(
        c["properties"]["count"]
        == c["properties"]["red"]
        + c["properties"]["amber"]
        + c["properties"]["green"]
        + c["properties"]["unrated"]
        for c in cells
    )


def test_tilejson_documents_layers_and_rule(client) -> None:
    doc = client.get("/collections/properties/tiles/WebMercatorQuad/tilejson.json").json()
    assert doc["tilejson"].startswith("3") and "{z}" in doc["tiles"][0]
    assert {layer["id"] for layer in doc["vector_layers"]} == {"properties", "property_clusters"}
    assert doc["aggregation"]["points_min_zoom"] > 0


def test_tile_has_cache_headers_and_honours_if_none_match(client) -> None:
    z, y, x = _tile_for(*EVESHAM, 13)
    first = _get(client, z, y, x)
    assert "max-age" in first.headers["Cache-Control"] and first.headers["ETag"]
    again = _get(client, z, y, x, headers={"If-None-Match": first.headers["ETag"]})
    assert again.status_code == 304


def test_an_edit_changes_the_etag_of_the_tile_that_holds_it(client, make_org, make_key) -> None:
    org = make_org()
    headers = auth_header(make_key(org, "writer"))
    lon, lat = -2.5950, 52.3100  # Tenbury Wells
    created = client.post(
        "/properties",
        json=new_property(org, geometry={"type": "Point", "coordinates": [lon, lat]}),
        headers=headers,
    ).json()
    z, y, x = _tile_for(lon, lat, 15)
    far = _tile_for(-1.9475, 52.0925, 15)
    before, before_far = _get(client, z, y, x).headers["ETag"], _get(client, *far).headers["ETag"]
    client.patch(
        f"/properties/{created['id']}",
        json={"rag": "green", "rag_reason": "vacant now"},
        headers={**headers, "If-Match": '"1"'},
    )
    assert _get(client, z, y, x).headers["ETag"] != before
    assert _get(client, *far).headers["ETag"] == before_far


def test_out_of_range_tile_is_404(client) -> None:
    assert _get(client, 3, 9, 0).status_code == 404


def test_tiles_filter_by_rag(client) -> None:
    layer = mapbox_vector_tile.decode(_get(client, *_tile_for(*EVESHAM, 13), query="?rag=red").content)
    assert {f["properties"]["rag"] for f in layer["properties"]["features"]} == {"red"}


def test_public_tiles_carry_no_value_band(client, make_key) -> None:
    z, y, x = _tile_for(*EVESHAM, 14)
    public = mapbox_vector_tile.decode(_get(client, z, y, x).content)["properties"]["features"]
    assert all("value_band" not in f["properties"] for f in public)
    partner = mapbox_vector_tile.decode(
        _get(client, z, y, x, headers=auth_header(make_key("hmcts", "reader"))).content
    )["properties"]["features"]
    assert any(f["properties"].get("value_band") for f in partner)


def test_tiles_allow_other_web_maps(client) -> None:
    response = _get(client, *_tile_for(*EVESHAM, 12), headers={"Origin": "https://maps.example.org"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "ETag" in response.headers["access-control-expose-headers"]
