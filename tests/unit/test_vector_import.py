"""Vector import: GeoPackage, GeoJSON and Shapefile layers read through the shared row rules."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import pyogrio
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import Point, Polygon

from gis.imports import Action, ImportResult, read_vector_file

OWNER = "test-district"
MAPPING = {"SITE_REF": "asset_ref", "SITE_NAME": "name", "TENURE": "tenure", "UPRN": "uprn"}
TO_BNG = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
TO_WGS84 = Transformer.from_crs("EPSG:27700", "EPSG:4326", always_xy=True)
CM = 0.01

# Worcestershire points in British National Grid metres.
EVESHAM = (404012.45, 243812.30)
WORCESTER = (385030.0, 254880.0)
DEPOT_SQUARE = Polygon([(396000, 270500), (396040, 270500), (396040, 270530), (396000, 270530)])

ATTRIBUTES: dict[str, list[Any]] = {
    "SITE_REF": ["V-1", "V-2", "V-3", "V-4"],
    "SITE_NAME": ["Evesham Library", "Guildhall", "Bromsgrove Depot", "Unmapped Store"],
    "TENURE": ["Freehold", "F/H", "Long Leasehold", "Peppercorn"],
    "UPRN": [10023456701, 0, 100120654321, 100120655000],
    "IGNORED": ["a", "b", "c", "d"],
}


def bng_layer() -> gpd.GeoDataFrame:
    geometry = [Point(EVESHAM), Point(WORCESTER), DEPOT_SQUARE, None]
    return gpd.GeoDataFrame(ATTRIBUTES, geometry=geometry, crs="EPSG:27700")


def record(result: ImportResult, row: int) -> dict[str, Any]:
    return result.records[result.source_rows.index(row)]


def metres_from(rec: dict[str, Any], easting_northing: tuple[float, float]) -> float:
    easting, northing = TO_BNG.transform(rec["lon"], rec["lat"])
    return math.hypot(easting - easting_northing[0], northing - easting_northing[1])


@pytest.fixture
def geopackage(tmp_path: Path) -> Path:
    path = tmp_path / "assets.gpkg"
    pyogrio.write_dataframe(bng_layer(), path, driver="GPKG")
    return path


@pytest.fixture
def geojson(tmp_path: Path) -> Path:
    layer = bng_layer().iloc[:2].to_crs("EPSG:4326")
    path = tmp_path / "assets.geojson"
    pyogrio.write_dataframe(layer, path, driver="GeoJSON")
    return path


def test_geopackage_points_in_bng_come_back_within_a_centimetre(geopackage: Path) -> None:
    result = read_vector_file(geopackage, OWNER, MAPPING)
    assert metres_from(record(result, 2), EVESHAM) < CM
    assert metres_from(record(result, 3), WORCESTER) < CM


def test_geojson_points_come_back_within_a_centimetre(geojson: Path) -> None:
    result = read_vector_file(geojson, OWNER, MAPPING)
    assert [r["asset_ref"] for r in result.ok_records] == ["V-1", "V-2"]
    assert metres_from(record(result, 2), EVESHAM) < CM
    assert metres_from(record(result, 3), WORCESTER) < CM


def test_geojson_point_with_latitude_and_longitude_swapped_is_corrected(tmp_path: Path) -> None:
    layer = bng_layer().iloc[:1].to_crs("EPSG:4326")
    lonlat = layer.geometry.iloc[0]
    layer = layer.set_geometry([Point(lonlat.y, lonlat.x)], crs="EPSG:4326")
    path = tmp_path / "swapped.geojson"
    pyogrio.write_dataframe(layer, path, driver="GeoJSON")
    result = read_vector_file(path, OWNER, MAPPING)
    assert metres_from(record(result, 2), EVESHAM) < CM
    [line] = [line for line in result.report if line.field == "location"]
    assert (line.row, line.problem, line.action) == (2, "latitude/longitude swapped", Action.corrected)


def test_polygon_is_placed_at_its_bng_centroid_and_kept_as_footprint(geopackage: Path) -> None:
    rec = record(read_vector_file(geopackage, OWNER, MAPPING), 4)
    assert metres_from(rec, (396020.0, 270515.0)) < CM
    footprint = shapely.from_wkt(rec["footprint"])
    assert footprint.geom_type == "MultiPolygon"
    expected = shapely.transform(DEPOT_SQUARE, lambda xy: list(zip(*TO_WGS84.transform(*xy.T), strict=True)))
    assert footprint.equals_exact(shapely.MultiPolygon([expected]), tolerance=1e-9)
    assert record(read_vector_file(geopackage, OWNER, MAPPING), 2)["footprint"] is None


def test_mapped_columns_go_through_the_same_patch_tables(geopackage: Path) -> None:
    result = read_vector_file(geopackage, OWNER, MAPPING)
    assert [r["tenure"] for r in result.records] == ["freehold", "freehold", "leasehold", None]
    tenure_lines = [(line.row, line.action) for line in result.report if line.field == "tenure"]
    assert tenure_lines == [(3, Action.normalised), (4, Action.normalised), (5, Action.field_left_empty)]
    assert (record(result, 3)["uprn"], record(result, 4)["uprn"]) == (None, 100120654321)
    assert "IGNORED" not in str(result.records)


def test_feature_without_geometry_is_kept_without_location(geopackage: Path) -> None:
    result = read_vector_file(geopackage, OWNER, MAPPING)
    rec = record(result, 5)
    assert (rec["lon"], rec["lat"]) == (None, None)
    assert 5 not in result.rejected_rows
    assert [line.action for line in result.report if line.row == 5 and line.field == "location"] == [
        Action.kept_without_location
    ]


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_shapefile_without_crs_is_read_from_its_values(tmp_path: Path) -> None:
    path = tmp_path / "no_prj.shp"
    layer = bng_layer().iloc[:2]
    pyogrio.write_dataframe(layer.set_crs(None, allow_override=True), path)
    result = read_vector_file(path, OWNER, MAPPING)
    assert metres_from(record(result, 2), EVESHAM) < CM
    assert [(line.row, line.action) for line in result.report if line.field == "(file)"] == [
        (1, Action.corrected)
    ]


def test_mapping_to_an_unknown_field_or_missing_column_is_refused(geopackage: Path) -> None:
    with pytest.raises(ValueError, match="cannot map"):
        read_vector_file(geopackage, OWNER, {"SITE_NAME": "colour"})
    with pytest.raises(ValueError, match="no column"):
        read_vector_file(geopackage, OWNER, {"NOPE": "name"})
    with pytest.raises(ValueError, match="more than one column"):
        read_vector_file(geopackage, OWNER, {"SITE_NAME": "name", "SITE_REF": "name"})
