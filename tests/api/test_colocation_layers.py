"""Co-location hubs reach the planners' and managers' tools: an OGC collection, GDAL, the map."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from support import auth_header


def test_collection_is_listed_and_served_as_geojson(client, make_key) -> None:
    ids = {c["id"] for c in client.get("/collections").json()["collections"]}
    assert {"properties", "colocation-candidates"} <= ids
    doc = client.get(
        "/collections/colocation-candidates/items?limit=5",
        headers=auth_header(make_key("wychavon", "reader")),
    ).json()
    assert doc["type"] == "FeatureCollection" and 0 < doc["numberReturned"] <= 5
    first = doc["features"][0]
    assert first["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert first["properties"]["rank"] == 1 and len(first["properties"]["owners"]) >= 2
    one = client.get(
        f"/collections/colocation-candidates/items/{first['id']}",
        headers=auth_header(make_key("wychavon", "reader")),
    ).json()
    assert one["properties"]["host_name"] == first["properties"]["host_name"]


def test_collection_refuses_other_crs(client) -> None:
    assert client.get("/collections/colocation-candidates/items?crs=EPSG:27700").status_code == 400


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="gdal-bin is installed by scripts/setup.sh")
def test_gdal_lists_the_hub_layer(live_server) -> None:
    out = subprocess.run(
        ["ogrinfo", "-ro", "-q", f"OAPIF:{live_server}/"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "colocation-candidates" in out


def test_map_page_offers_the_hubs(client) -> None:
    html = client.get("/map").text
    assert 'id="tab-hubs"' in html  # the workspace's Hubs tab lists /colocation/candidates
