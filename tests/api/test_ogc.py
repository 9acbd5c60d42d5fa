"""OGC API – Features: landing, conformance, collections, items paging, CRS (Part 2)."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from support import auth_header

from gis.crs import lonlat_to_bng


def test_landing_page_links_the_standard_resources(client) -> None:
    rels = {link["rel"] for link in client.get("/").json()["links"]}
    assert {"self", "service-desc", "service-doc", "conformance", "data"} <= rels


def test_conformance_declares_core_geojson_and_crs(client) -> None:
    classes = client.get("/conformance").json()["conformsTo"]
    assert any(c.endswith("ogcapi-features-1/1.0/conf/core") for c in classes)
    assert any(c.endswith("ogcapi-features-1/1.0/conf/geojson") for c in classes)
    assert any(c.endswith("ogcapi-features-2/1.0/conf/crs") for c in classes)


def test_collection_lists_supported_crs_and_extent(client) -> None:
    doc = client.get("/collections/properties").json()
    assert "http://www.opengis.net/def/crs/EPSG/0/27700" in doc["crs"]
    minx, miny, maxx, maxy = doc["extent"]["spatial"]["bbox"][0]
    assert -3.0 < minx < maxx < -1.5 and 51.9 < miny < maxy < 52.6  # Worcestershire


def test_items_are_geojson_with_numbers_as_numbers(client, make_key, owner_engine) -> None:
    # One named record its caller may see whole (its owner's own, with an area and a value), not
    # whichever office comes first: a partner may not see a marketed building's value.
    with owner_engine.connect() as conn:
        chosen = conn.execute(
            text(
                "SELECT id::text AS id, gia_m2, value_gbp FROM property WHERE owner = 'hmcts' "
                "AND deleted_at IS NULL AND geom IS NOT NULL AND gia_m2 IS NOT NULL "
                "AND value_gbp IS NOT NULL ORDER BY asset_ref LIMIT 1"
            )
        ).one()
    response = client.get(
        "/collections/properties/items?limit=5000&owner=hmcts",
        headers=auth_header(make_key("hmcts", "reader")),
    )
    assert response.headers["content-type"].startswith("application/geo+json")
    assert response.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"
    doc = response.json()
    assert doc["type"] == "FeatureCollection" and doc["numberReturned"] == len(doc["features"])
    props = next(f["properties"] for f in doc["features"] if f["id"] == chosen.id)
    assert isinstance(props["gia_m2"], float) and props["gia_m2"] == chosen.gia_m2
    assert type(props["value_gbp"]) is int and props["value_gbp"] == chosen.value_gbp


def test_next_and_prev_links_walk_the_whole_collection_once(client) -> None:
    first = client.get("/collections/properties/items?limit=400").json()
    total = first["numberMatched"]
    seen = [f["id"] for f in first["features"]]
    pages = [first]
    doc = first
    while nxt := next((lk["href"] for lk in doc["links"] if lk["rel"] == "next"), None):
        doc = client.get(nxt).json()
        pages.append(doc)
        seen += [f["id"] for f in doc["features"]]
    assert len(seen) == len(set(seen)) == total
    prev = next(lk["href"] for lk in pages[-1]["links"] if lk["rel"] == "prev")
    back = client.get(prev).json()
    assert [f["id"] for f in back["features"]] == [f["id"] for f in pages[-2]["features"]]


def test_crs_27700_matches_pyproj_within_a_centimetre(client) -> None:
    located = "bbox=-3.0,51.9,-1.7,52.5"  # imports may hold unplaced records; compare placed ones
    wgs = client.get(f"/collections/properties/items?limit=50&{located}").json()["features"]
    bng = client.get(f"/collections/properties/items?limit=50&crs=EPSG:27700&{located}")
    assert bng.headers["Content-Crs"] == "<http://www.opengis.net/def/crs/EPSG/0/27700>"
    for a, b in zip(wgs, bng.json()["features"], strict=True):
        e, n = lonlat_to_bng(*a["geometry"]["coordinates"])
        assert b["geometry"]["coordinates"] == pytest.approx([e, n], abs=0.01)


def test_epsg_4326_is_latitude_first(client) -> None:
    located = "bbox=-3.0,51.9,-1.7,52.5"
    crs84 = client.get(f"/collections/properties/items?limit=1&{located}").json()["features"][0]
    epsg = client.get(f"/collections/properties/items?limit=1&crs=EPSG:4326&{located}").json()["features"][0]
    assert epsg["geometry"]["coordinates"] == crs84["geometry"]["coordinates"][::-1]


@pytest.mark.parametrize("param", ["crs=EPSG:3857", "bbox-crs=EPSG:2154&bbox=1,2,3,4", "crs=nonsense"])
def test_unsupported_crs_is_400_not_ignored(client, param) -> None:
    response = client.get(f"/collections/properties/items?{param}")
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"


def test_bbox_crs_27700_selects_the_same_buildings(client) -> None:
    doc = client.get(
        "/collections/properties/items?bbox=403000,242500,405500,244800&bbox-crs=EPSG:27700&limit=1000"
    ).json()
    assert doc["numberMatched"] > 0
    for f in doc["features"]:
        e, n = lonlat_to_bng(*f["geometry"]["coordinates"])
        assert 403000 <= e <= 405500 and 242500 <= n <= 244800


def test_property_filters_apply_to_items(client) -> None:
    doc = client.get("/collections/properties/items?owner=dwp-jcp&limit=1000").json()
    assert doc["numberMatched"] == doc["numberReturned"] > 0
    assert {f["properties"]["owner"] for f in doc["features"]} == {"dwp-jcp"}


def test_single_item_has_etag_and_html_view(client) -> None:
    fid = client.get("/collections/properties/items?limit=1").json()["features"][0]["id"]
    response = client.get(f"/collections/properties/items/{fid}")
    assert response.status_code == 200 and response.headers["ETag"]
    html = client.get(f"/collections/properties/items/{fid}?f=html")
    assert html.headers["content-type"].startswith("text/html")
    from html import escape

    assert escape(response.json()["properties"]["name"]) in html.text  # names like St Oswald's are escaped


def test_sensitive_records_are_not_public_features(client, seeded) -> None:
    from sqlalchemy import text

    with seeded.connect() as conn:
        hidden = conn.execute(text("SELECT id::text FROM property WHERE sensitive LIMIT 1")).scalar_one()
    assert client.get(f"/collections/properties/items/{hidden}").status_code == 404


def test_number_matched_is_estimated_past_the_exact_limit_and_says_so(settings, seeded) -> None:
    from fastapi.testclient import TestClient

    from api.main import create_app

    small = create_app(settings.model_copy(update={"exact_count_limit": 10}), seeded)
    with TestClient(small) as tight:
        estimated = tight.get("/collections/properties/items?limit=1").json()
        exact = tight.get("/collections/properties/items?limit=1&owner=hmcts&use=court").json()
    assert estimated["numberMatchedEstimated"] is True and estimated["numberMatched"] > 10
    assert "numberMatchedEstimated" not in exact and exact["numberMatched"] <= 10
