"""GET /exports/properties.{ext}: files a GIS opens, the viewer's fields only, the features API's filters."""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import pyogrio
import pytest
from sqlalchemy import Engine
from support import auth_header

from api.db import write_transaction
from api.services import properties as props
from gis import exports as ex
from gis.register import validate_property

CANARY = 987654321
EXTENSIONS = list(ex.FORMATS)


@pytest.fixture(scope="module")
def org(seeded: Engine, make_org) -> str:
    """Our organisation: one sensitive canary, one public record with a value, one unrated."""
    code = make_org()
    base = {
        "owner": code,
        "post_town": "Pershore",
        "use_category": "office",
        "geometry": {"type": "Point", "coordinates": [-2.0751, 52.1102]},
    }
    records = [
        {
            **base,
            "asset_ref": "A-CANARY",
            "name": f"Canary Lodge {CANARY}",
            "value_gbp": CANARY,
            "sensitive": True,
            "rag": "green",
            "rag_reason": "empty",
        },
        {
            **base,
            "asset_ref": "A-VALUED",
            "name": "Valued Hall",
            "value_gbp": 123_456_789_012,
            "rag": "green",
            "rag_reason": "surplus",
            "gia_m2": 640.25,
        },
        {**base, "asset_ref": "A-UNRATED", "name": "Unrated Store"},
    ]
    with write_transaction(seeded, "test-exports-api") as conn:
        for record in records:
            props.create_record(conn, validate_property(record, creating=True))
    return code


def download(
    client,
    ext: str,
    tmp_path: Path,
    headers: dict[str, str] | None = None,
    **params: Any,
) -> tuple[Any, Path]:
    response = client.get(f"/exports/properties.{ext}", params=params, headers=headers or {})
    target = tmp_path / f"download.{ext}"
    target.write_bytes(response.content)
    return response, target


def gdal_source(path: Path) -> str:
    return f"/vsizip/{path}/{ex.LAYER_NAME}.shp" if path.suffix == ".zip" else str(path)


def layer_info(path: Path) -> dict[str, Any]:
    return pyogrio.read_info(gdal_source(path), layer=ex.LAYER_NAME if path.suffix == ".gpkg" else None)


def all_bytes(path: Path) -> list[bytes]:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            return [archive.read(name) for name in archive.namelist()]
    return [path.read_bytes()]


def listed(client, headers: dict[str, str] | None = None, **params: Any) -> int:
    body = client.get("/properties", params={**params, "limit": 10_000}, headers=headers or {}).json()
    assert body["next"] is None
    return body["count"]


@pytest.mark.parametrize("ext", EXTENSIONS)
def test_every_format_downloads_as_an_attachment_gdal_opens(
    client, org: str, tmp_path: Path, ext: str
) -> None:
    fmt = ex.FORMATS[ext]
    response, path = download(client, ext, tmp_path, owner=f"{org},malvern-hills")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].split(";")[0] == fmt.media_type.split(";")[0]
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;") and disposition.rstrip('"').endswith(f".{ext}")
    assert "no-store" in response.headers["cache-control"]
    expected = listed(client, owner=f"{org},malvern-hills")
    assert int(response.headers["x-feature-count"]) == expected
    assert (
        len(pyogrio.read_dataframe(gdal_source(path), layer=ex.LAYER_NAME if ext == "gpkg" else None))
        == expected
    )


@pytest.mark.parametrize("ext", EXTENSIONS)
def test_public_download_has_no_values_and_no_sensitive_record(
    client, org: str, tmp_path: Path, ext: str
) -> None:
    response, path = download(client, ext, tmp_path, owner=org)
    assert response.status_code == 200, response.text
    assert response.headers["x-feature-count"] == "2"  # the canary does not exist for the public
    for blob in all_bytes(path):
        assert str(CANARY).encode() not in blob and b"Canary Lodge" not in blob
        assert b"123456789012" not in blob  # a value the public may not see
    assert not {"value_gbp", "VALUE_GBP"} & set(layer_info(path)["fields"])


def test_a_partner_key_downloads_values_and_sensitive_records(
    client, org: str, make_key, tmp_path: Path
) -> None:
    headers = auth_header(make_key(org, "reader"))
    response, path = download(client, "gpkg", tmp_path, headers=headers, owner=org)
    assert response.status_code == 200
    frame = pyogrio.read_dataframe(path, layer=ex.LAYER_NAME).set_index("asset_ref")
    assert len(frame) == 3
    assert frame.loc["A-CANARY", "value_gbp"] == CANARY
    assert frame.loc["A-VALUED", "value_gbp"] == 123_456_789_012
    info = layer_info(path)
    assert dict(zip(info["fields"], info["dtypes"], strict=True))["value_gbp"] == "int64"  # Integer64 field


@pytest.mark.parametrize("ext", ["gpkg", "csv", "geojson"])
def test_a_filter_gives_the_same_count_as_the_properties_api(client, tmp_path: Path, ext: str) -> None:
    params = {"rag": "green", "owner": "worcestershire-cc,wychavon,redditch"}
    response, path = download(client, ext, tmp_path, **params)
    expected = listed(client, **params)
    assert expected > 0
    assert int(response.headers["x-feature-count"]) == expected
    options = {"AUTODETECT_TYPE": "YES"} if ext == "csv" else {}
    frame = pyogrio.read_dataframe(
        gdal_source(path), layer=ex.LAYER_NAME if ext == "gpkg" else None, **options
    )
    assert len(frame) == expected and set(frame["rag"]) == {"green"}


@pytest.mark.parametrize(
    ("ext", "crs", "srid"),
    [
        ("gpkg", None, 27700),
        ("gpkg", "EPSG:4326", 4326),
        ("fgb", None, 27700),
        ("zip", "EPSG:4326", 4326),
        ("geojson", None, 4326),
        ("kml", None, 4326),
    ],
)
def test_british_national_grid_by_default_and_wgs84_on_request(
    client,
    org: str,
    tmp_path: Path,
    ext: str,
    crs: str | None,
    srid: int,
) -> None:
    response, path = download(client, ext, tmp_path, owner=org, **({"crs": crs} if crs else {}))
    assert response.status_code == 200
    assert layer_info(path)["crs"] == f"EPSG:{srid}"
    assert response.headers["content-crs"].endswith(f"/{srid}>") or "CRS84" in response.headers["content-crs"]


@pytest.mark.parametrize(
    ("ext", "params", "field"),
    [
        ("geojson", {"crs": "EPSG:27700"}, "crs"),
        ("kml", {"crs": "EPSG:27700"}, "crs"),
        ("gpkg", {"crs": "EPSG:3857"}, "crs"),
        ("csv", {"rag": "purple"}, "rag"),
        ("fgb", {"owner": "no-such-body"}, "owner"),
    ],
)
def test_bad_parameters_are_422_naming_the_parameter(
    client, ext: str, params: dict[str, str], field: str
) -> None:
    response = client.get(f"/exports/properties.{ext}", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in response.json()["errors"]] == [field]


def test_every_bad_parameter_is_named_at_once(client) -> None:
    response = client.get("/exports/properties.geojson", params={"crs": "EPSG:27700", "rag": "purple"})
    assert response.status_code == 422
    assert sorted(e["field"] for e in response.json()["errors"]) == ["crs", "rag"]


def test_geojson_refusal_says_why(client) -> None:
    detail = client.get("/exports/properties.geojson", params={"crs": "EPSG:27700"}).json()["detail"]
    assert "RFC 7946" in detail


def test_an_unknown_format_is_404_listing_the_formats(client) -> None:
    response = client.get("/exports/properties.xlsx")
    assert response.status_code == 404
    assert "properties.gpkg" in response.json()["detail"]


def test_the_temporary_file_is_gone_after_the_download(client, org: str) -> None:
    tmp = Path(tempfile.gettempdir())
    before = set(tmp.glob("estate-export-*"))
    response = client.get("/exports/properties.gpkg", params={"owner": org})
    assert response.status_code == 200 and response.content[:16] == b"SQLite format 3\x00"
    assert set(tmp.glob("estate-export-*")) <= before


def test_shapefile_zip_carries_the_field_mapping(client, org: str) -> None:
    response = client.get("/exports/properties.zip", params={"owner": org})
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        mapping = archive.read("fields.csv").decode("utf-8").splitlines()
    assert mapping[0] == "shapefile_field,field,type,description"
    assert all(len(line.split(",")[0]) <= 10 for line in mapping[1:])
