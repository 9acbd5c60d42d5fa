"""One status table: the same bad input gets the same status wherever it is sent; settings that act."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import mercantile
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import Engine

from api.errors import is_ogc_api
from api.main import create_app
from api.settings import Settings

EVESHAM = (-1.9475, 52.0925)
BAD_BBOX = "bbox=1,2,3"  # three numbers


def _tile(zoom: int) -> str:
    t = mercantile.tile(*EVESHAM, zoom)
    return f"/collections/properties/tiles/WebMercatorQuad/{zoom}/{t.y}/{t.x}"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/collections/properties/items", 400),  # OGC API – Features: an invalid parameter is a 400
        (_tile(14), 400),  # the tiles are OGC API too: the same answer as the items
        ("/properties", 422),  # the register's own API: every invalid input is a 422
        ("/exports/properties.geojson", 422),
    ],
)
def test_the_same_bad_bbox_gets_the_same_status_across_each_api(
    client: TestClient, path: str, status: int
) -> None:
    response = client.get(f"{path}?{BAD_BBOX}")
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == ["bbox"]


@pytest.mark.parametrize(
    ("path", "status"), [("/collections/properties/items", 400), ("/properties", 422), ("/conformance", 400)]
)
def test_a_nul_in_the_query_follows_the_table_too(client: TestClient, path: str, status: int) -> None:
    response = client.get(f"{path}?town=a%00b")
    assert response.status_code == status
    assert response.json()["errors"] == [
        {"field": "town", "message": "contains a NUL character", "in": "query"}
    ]


def test_a_framework_validation_error_on_the_ogc_api_is_a_400(client: TestClient) -> None:
    assert client.get("/collections/properties/items?limit=0").status_code == 400
    assert client.get("/properties?limit=0").status_code == 422


@pytest.mark.parametrize(
    ("path", "ogc"),
    [("/", True), ("/conformance", True), ("/collections", True), ("/collections/properties/items", True)]
    + [("/properties", False), ("/collectionsx", False), ("/exports/properties.csv", False), ("/map", False)],
)
def test_which_paths_are_the_ogc_api(path: str, ogc: bool) -> None:
    assert is_ogc_api(path) is ogc


@pytest.fixture(scope="module")
def small_pages(db_url: str, seeded: Engine) -> Iterator[TestClient]:
    settings = Settings(
        database_url=db_url,
        rate_limit_per_minute=1_000_000,
        background_worker=False,
        page_limit_default=3,
        page_limit_max=5,
        tile_points_min_zoom=0,
        tile_grid_cells_per_side=16,
    )
    with TestClient(create_app(settings, seeded)) as client:
        yield client


def test_page_limits_come_from_the_settings(small_pages: TestClient) -> None:
    assert small_pages.get("/collections/properties/items").json()["numberReturned"] == 3
    # Above the maximum the OGC API serves the maximum rather than refusing.
    over = small_pages.get("/collections/properties/items?limit=50")
    assert over.status_code == 200 and over.json()["numberReturned"] == 5
    assert small_pages.get("/properties").json()["count"] == 3
    assert small_pages.get("/properties?limit=50").json()["count"] == 5


def test_tile_rules_come_from_the_settings(client: TestClient, small_pages: TestClient) -> None:
    assert client.get(_tile(6)).headers["X-Tile-Mode"] == "clusters"  # default: aggregate below zoom 10
    assert small_pages.get(_tile(6)).headers["X-Tile-Mode"] == "points"
    tilejson = small_pages.get("/collections/properties/tiles/WebMercatorQuad/tilejson.json").json()
    assert "Below zoom 0" in tilejson["description"] and "16×16 grid" in tilejson["description"]


@pytest.mark.parametrize(
    "values",
    [
        {"page_limit_default": 200, "page_limit_max": 100},
        {"tile_grid_cells_per_side": 100},  # does not divide the 4096 tile extent
        {"tile_points_min_zoom": 23},
        {"tile_max_points": 0},
        {"feed_retention_days": 0},
    ],
)
def test_impossible_settings_fail_at_start_up(values: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Settings(database_url=None, **values)


def test_a_database_that_cannot_be_reached_is_a_503_to_retry_not_an_internal_error() -> None:
    from support import free_port

    # Nothing listens on the port: as while PostgreSQL restarts, or the network to it is down.
    away = f"postgresql+psycopg://estate:x@127.0.0.1:{free_port()}/estate"
    app = create_app(Settings(database_url=away, work_prestart=False, background_worker=False))
    with TestClient(app, raise_server_exceptions=False) as client:
        for method, path in (
            ("GET", "/healthz"),
            ("GET", "/collections/properties/items?limit=1"),
            ("GET", _tile(12)),
            ("GET", "/properties?limit=1"),
            ("GET", "/exports/properties.csv"),  # expensive work: its slot is in the database too
            ("POST", "/sync/properties"),
        ):
            response = client.request(method, path, json=[] if method == "POST" else None)
            assert response.status_code == 503, (path, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert int(response.headers["Retry-After"]) > 0
            assert "cannot be reached" in response.json()["detail"]
