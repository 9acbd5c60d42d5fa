"""GIS exports, read back by GDAL itself (pyogrio and Debian's ogrinfo), compared with the database."""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import shutil
import sqlite3
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from sqlalchemy import Engine, text

from api.db import write_transaction
from api.services import exports as svc
from api.services import properties as props
from api.services.filters import PropertyFilter, build_filter
from api.services.seed import SEED_DIR, read_csv
from gis import crs as crs_mod
from gis import exports as ex
from gis import qgis_style
from gis.errors import ValidationFailed
from gis.register import validate_property
from gis.visibility import PUBLIC, Tier, Viewer

ADMIN = Viewer(Tier.owner, admin=True)
CANARY = 987654321
FORMAT_CRS = [(key, srid) for key, fmt in ex.FORMATS.items() for srid in fmt.srids]
NUMERIC = {"int32", "int64", "float64"}


# -- fixtures -------------------------------------------------------------------------------


def _insert(engine: Engine, records: list[dict[str, Any]]) -> list[str]:
    with write_transaction(engine, "test-exports") as conn:
        return [props.create_record(conn, validate_property(r, creating=True))["id"] for r in records]


@pytest.fixture(scope="module")
def org(seeded: Engine, make_org) -> str:
    """Our own organisation with the awkward cases: a sensitive canary, no rating, no place, long text."""
    code = make_org()
    base = {"owner": code, "post_town": "Worcester", "use_category": "office", "tenure": "freehold"}
    _insert(
        seeded,
        [
            {
                **base,
                "asset_ref": "X-CANARY",
                "name": f"Canary House {CANARY}",
                "value_gbp": CANARY,
                "sensitive": True,
                "rag": "green",
                "rag_reason": "vacant",
                "geometry": _pt(-2.2201, 52.1921),
            },
            {
                **base,
                "asset_ref": "X-UNRATED",
                "name": "Unrated Depot",
                "value_gbp": 12_000_000_000,
                "gia_m2": 1234.56,
                "uprn": 100120654321,
                "valuation_date": "2024-03-31",
                "holding_type": "land_and_building",
                "tenure_detail": "ground_leasehold",
                "disposal_blockers": ["planning", "title"],
                "geometry": _pt(-2.0501, 52.3012),
            },
            {
                **base,
                "asset_ref": "X-NOWHERE",
                "name": "Site with no map point",
                "rag": "red",
                "rag_reason": "r" * 600,
            },
            {
                **base,
                "asset_ref": "X-ODD",
                "name": "Caf\u00e9 \u201cThe Hub\u201d & <Annex>, Ledbury Rd",
                "rag": "amber",
                "rag_reason": 'half empty; "quoted", comma',
                "value_gbp": 0,
                "geometry": _pt(-1.9512, 52.0833),
            },
        ],
    )
    return code


def _pt(lon: float, lat: float) -> dict[str, Any]:
    return {"type": "Point", "coordinates": [lon, lat]}


@pytest.fixture(scope="module")
def owners(org: str) -> list[str]:
    """The seed's bodies and ours: records no other test writes to, so counts are stable."""
    return [row["code"] for row in read_csv(SEED_DIR / "organisations.csv")] + [org]


@pytest.fixture(scope="module")
def register(seeded: Engine, owners: list[str]) -> pd.DataFrame:
    """The database's own answer for those owners (admin view), keyed by id."""
    sql = """SELECT id::text AS id, owner, asset_ref, uprn, name, post_town, tenure, tenure_detail,
                    holding_type,
                    use_category, gia_m2, value_gbp, rag, rag_reason, valuation_date, sensitive,
                    array_to_string(disposal_blockers, ';') AS disposal_blockers,
                    ST_X(geom) AS lon, ST_Y(geom) AS lat, ST_X(geom_bng) AS e, ST_Y(geom_bng) AS n
             FROM property WHERE deleted_at IS NULL AND owner = ANY(:owners)"""
    with seeded.connect() as conn:
        rows = conn.execute(text(sql), {"owners": owners}).mappings().all()
    return pd.DataFrame([dict(r) for r in rows]).set_index("id")


@pytest.fixture(scope="module")
def exported(seeded: Engine, owners: list[str], tmp_path_factory) -> dict[tuple[str, int], ex.ExportResult]:
    """Every format in every CRS it allows, admin view, written once for the module."""
    folder = tmp_path_factory.mktemp("exports")
    out = {}
    for key, srid in FORMAT_CRS:
        fmt = ex.FORMATS[key]
        crs = crs_mod.EPSG27700 if srid == crs_mod.BNG_SRID else crs_mod.EPSG4326
        with seeded.connect() as conn:
            # Small batches: the streamed path with many appends is the one under test.
            out[key, srid] = svc.export_properties(
                conn,
                folder / f"p{srid}.{fmt.extension}",
                fmt,
                crs,
                PropertyFilter(owner=owners),
                ADMIN,
                batch_rows=500,
            )
    return out


# -- reading back -----------------------------------------------------------------------------


def gdal_source(path: Path) -> str:
    return f"/vsizip/{path}/{ex.LAYER_NAME}.shp" if path.suffix == ".zip" else str(path)


def read_back(result: ex.ExportResult) -> pd.DataFrame:
    """The file as GDAL reads it, with register field names and slugs, indexed by id."""
    key = result.format.key
    options = {"AUTODETECT_TYPE": "YES"} if key == "csv" else {}
    layer = ex.LAYER_NAME if key == "gpkg" else None
    frame = pyogrio.read_dataframe(gdal_source(result.path), layer=layer, **options)
    if key == "zip":
        frame = frame.rename(columns={v: k for k, v in ex.SHAPEFILE_FIELDS.items()})
    elif key == "kml":
        frame = frame.rename(columns={"Name": "name"})
    elif key == "csv":
        headings = {h: src for h, src in ex.TRANSPARENCY_COLUMNS}
        headings.update({v: k for k, v in ex.TRANSPARENCY_DEGREE_HEADINGS.items()})
        frame = frame.rename(columns=headings)
        # CSV has no null: an empty cell is the nearest thing.
        for name in frame.select_dtypes(include=["object", "string"]).columns:
            frame[name] = frame[name].map(lambda v: v if v != "" else None)
        for name in ex.CODE_LABEL_FIELDS:
            frame[name] = frame[name].map(
                lambda v: v.lower().replace(" ", "_") if isinstance(v, str) else None
            )
    return frame.set_index("id")


def values(series: pd.Series) -> list[Any]:
    """Python values with every kind of missing (None, NaN, pd.NA) as None."""
    return [None if pd.isna(v) else v for v in series.tolist()]


def ogrinfo(path: Path, *options: str) -> str:
    return subprocess.run(
        ["ogrinfo", "-ro", "-so", "-al", *options, gdal_source(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout


def field_types(summary: str) -> dict[str, str]:
    return dict(re.findall(r"^(.+?): (\w+)(?:\(\w+\))? \(\d+\.\d+\)$", summary, flags=re.MULTILINE))


# -- every format, every CRS ---------------------------------------------------------------


@pytest.mark.parametrize(("key", "srid"), FORMAT_CRS)
def test_every_format_reads_back_with_the_register_count_and_crs(
    exported, register, key: str, srid: int
) -> None:
    result = exported[key, srid]
    info = pyogrio.read_info(gdal_source(result.path), layer=ex.LAYER_NAME if key == "gpkg" else None)
    assert result.count == info["features"] == len(register)
    if key != "csv":
        assert info["crs"] == f"EPSG:{srid}"
        assert info["geometry_type"] == ("Unknown" if key == "kml" else "Point")  # KML declares no type


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="gdal-bin is installed by scripts/setup.sh")
@pytest.mark.parametrize(("key", "srid"), FORMAT_CRS)
def test_ogrinfo_reads_every_format_with_numeric_values(exported, register, key: str, srid: int) -> None:
    result = exported[key, srid]
    summary = ogrinfo(result.path, *(["-oo", "AUTODETECT_TYPE=YES"] if key == "csv" else []))
    assert f"Feature Count: {len(register)}" in summary
    if key != "csv":
        crs_text = "British National Grid" if srid == crs_mod.BNG_SRID else "WGS 84"
        assert crs_text in summary
    types = field_types(summary)
    value_field = {"zip": "VALUE_GBP"}.get(key, "value_gbp")
    assert types[value_field] in ("Integer64", "Real", "Integer")
    assert types[{"zip": "GIA_M2"}.get(key, "gia_m2")] == "Real"


@pytest.mark.parametrize(("key", "srid"), FORMAT_CRS)
def test_attribute_values_equal_the_database(exported, register, key: str, srid: int) -> None:
    frame = read_back(exported[key, srid])
    assert set(frame.index) == set(register.index)
    frame = frame.loc[register.index]
    for name in ("owner", "asset_ref", "name", "post_town", "tenure", "holding_type", "rag"):
        assert values(frame[name]) == values(register[name]), name
    for name in ("value_gbp", "gia_m2", "uprn"):
        assert str(frame[name].dtype) in NUMERIC, (name, frame[name].dtype)
        np.testing.assert_allclose(
            frame[name].astype(float).to_numpy(),
            register[name].astype(float).to_numpy(),
            rtol=1e-12,
            equal_nan=True,
            err_msg=name,
        )
    if key != "zip":  # dBASE text stops at 254 characters (documented); everything else keeps it whole
        assert values(frame["rag_reason"]) == values(register["rag_reason"])


@pytest.mark.parametrize(("key", "srid"), FORMAT_CRS)
def test_points_are_the_registers_points(exported, register, key: str, srid: int) -> None:
    frame = read_back(exported[key, srid]).loc[register.index]
    bng = srid == crs_mod.BNG_SRID
    want_x, want_y = (register["e"], register["n"]) if bng else (register["lon"], register["lat"])
    if key == "csv":
        x, y = frame["x"].astype(float), frame["y"].astype(float)
        tolerance = 0.005 if bng else 5e-8  # rounded to 2 and 7 decimals
    else:
        x, y = shapely.get_x(frame.geometry.values), shapely.get_y(frame.geometry.values)
        tolerance = 1e-6 if bng else 1e-9
    np.testing.assert_allclose(np.asarray(x, float), want_x.astype(float), atol=tolerance, equal_nan=True)
    np.testing.assert_allclose(np.asarray(y, float), want_y.astype(float), atol=tolerance, equal_nan=True)


def test_bng_export_round_trips_to_the_stored_lonlat_within_a_centimetre(exported, register) -> None:
    frame = read_back(exported["gpkg", crs_mod.BNG_SRID]).loc[register.index]
    placed = frame.geometry.notna().to_numpy()
    e, n = shapely.get_x(frame.geometry.values[placed]), shapely.get_y(frame.geometry.values[placed])
    # Ours (PostGIS) against pyproj, both ways: BNG → lon/lat and lon/lat → BNG.
    lon, lat = crs_mod.transformer(crs_mod.BNG_SRID, crs_mod.WGS84_SRID).transform(e, n)
    e2, n2 = crs_mod.transformer(crs_mod.WGS84_SRID, crs_mod.BNG_SRID).transform(
        register["lon"].to_numpy()[placed], register["lat"].to_numpy()[placed]
    )
    assert np.max(np.hypot(e - e2, n - n2)) < 0.01
    back_e, back_n = crs_mod.transformer(crs_mod.WGS84_SRID, crs_mod.BNG_SRID).transform(lon, lat)
    assert np.max(np.hypot(back_e - e, back_n - n)) < 0.01
    assert len(placed) - placed.sum() == int(register["lon"].isna().sum())  # no-point records kept, unplaced


# -- GeoPackage style --------------------------------------------------------------------------


def test_geopackage_carries_a_default_qgis_style_coloured_by_rag(exported) -> None:
    path = exported["gpkg", crs_mod.BNG_SRID].path
    with sqlite3.connect(path) as db:
        contents = dict(db.execute("SELECT table_name, data_type FROM gpkg_contents").fetchall())
        styles = db.execute(
            "SELECT f_table_catalog, f_table_schema, f_table_name, f_geometry_column, styleQML, styleSLD, "
            "useAsDefault FROM layer_styles"
        ).fetchall()
        geometry_column = db.execute(
            "SELECT column_name FROM gpkg_geometry_columns WHERE table_name = 'properties'"
        ).fetchone()[0]
    assert contents == {"properties": "features", "layer_styles": "attributes"}
    assert len(styles) == 1
    catalog, schema, table, geom, qml, sld, default = styles[0]
    assert (catalog, schema, table, geom, default) == ("", "", "properties", geometry_column, 1)
    renderer = ET.fromstring(qml.split("\n", 1)[1]).find("renderer-v2")
    assert (
        renderer is not None and renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "rag"
    )
    categories = {c.get("value"): c.get("symbol") for c in renderer.iter("category")}
    assert set(categories) == {"red", "amber", "green", ""}
    colours = {
        s.get("name"): s.find("layer/Option/Option[@name='color']").get("value")
        for s in renderer.find("symbols")
    }
    assert colours[categories["red"]] == "215,25,28,255"
    assert colours[categories["amber"]] == "253,174,97,255"
    assert colours[categories["green"]] == "26,150,65,255"
    sld_fills = [
        p.text
        for p in ET.fromstring(sld).iter("{http://www.opengis.net/se}SvgParameter")
        if p.get("name") == "fill"
    ]
    assert sld_fills == [c.colour for c in qgis_style.RAG_CATEGORIES]
    assert "layer_styles" in [name for name, _ in pyogrio.list_layers(path)]


# -- Shapefile ------------------------------------------------------------------------------------


@pytest.mark.parametrize("srid", ex.FORMATS["zip"].srids)
def test_shapefile_zip_has_its_parts_short_names_and_the_mapping(exported, srid: int) -> None:
    result = exported["zip", srid]
    with zipfile.ZipFile(result.path) as archive:
        names = set(archive.namelist())
        mapping = list(csv.DictReader(io.StringIO(archive.read("fields.csv").decode("utf-8"))))
        cpg = archive.read("properties.cpg").decode()
        prj = archive.read("properties.prj").decode()
        qml = archive.read("properties.qml").decode()
    assert {f"properties.{ext}" for ext in ("shp", "shx", "dbf", "prj", "cpg")} <= names
    assert "fields.csv" in names and cpg.strip().upper() in ("UTF-8", "UTF8")
    assert ("British_National_Grid" in prj) == (srid == crs_mod.BNG_SRID)
    dbf_fields = pyogrio.read_info(gdal_source(result.path))["fields"].tolist()
    assert all(len(name) <= 10 for name in dbf_fields)
    assert dbf_fields == [ex.SHAPEFILE_FIELDS[name] for name in result.fields]
    assert [(m["shapefile_field"], m["field"]) for m in mapping] == [
        (ex.SHAPEFILE_FIELDS[name], name) for name in result.fields
    ]
    assert ex.SHAPEFILE_FIELDS["value_gbp"] == "VALUE_GBP"
    assert ex.SHAPEFILE_FIELDS["running_cost_gbp_pa"] == "RUNCOST_PA"
    assert 'attr="RAG"' in qml


# -- CSV -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("srid", ex.FORMATS["csv"].srids)
def test_csv_follows_the_transparency_code_layout(exported, org: str, srid: int) -> None:
    text_ = exported["csv", srid].path.read_text(encoding="utf-8-sig")
    reader = csv.reader(io.StringIO(text_))
    header = next(reader)
    code = [h for h, _ in ex.TRANSPARENCY_COLUMNS]
    if srid == crs_mod.WGS84_SRID:
        code[10:12] = ["Map reference (GeoX) longitude", "Map reference (GeoY) latitude"]
    assert code[:6] == [
        "Organisation",
        "Organisation label",
        "Authority code",
        "UPRN",
        "Unique asset identity",
        "Asset name",
    ]
    assert header[:15] == code
    assert header[15:20] == ["use_category", "gia_m2", "value_gbp", "rag", "rag_reason"]
    rows = {row[4]: dict(zip(header, row, strict=True)) for row in reader if row[0] == org}
    unrated = rows["X-UNRATED"]
    assert unrated["Organisation label"] == org  # make_org names an organisation by its code
    assert (
        unrated["Holding type"] == "Land and building"
        and unrated["Tenure sub-category"] == "Ground leasehold"
    )
    assert unrated["value_gbp"] == "12000000000" and unrated["valuation_date"] == "2024-03-31"
    x = unrated[code[10]]
    decimals = len(x.split(".")[1]) if "." in x else 0
    assert decimals <= (2 if srid == crs_mod.BNG_SRID else 7)
    assert rows["X-NOWHERE"][code[10]] == ""
    assert rows["X-ODD"]["Asset name"] == "Caf\u00e9 \u201cThe Hub\u201d & <Annex>, Ledbury Rd"


# -- KML -----------------------------------------------------------------------------------------


def test_kml_colours_each_placemark_by_rag(exported, register) -> None:
    kml = exported["kml", crs_mod.WGS84_SRID].path.read_text(encoding="utf-8")
    assert kml.count("<Placemark") == len(register)
    kml_colour = {
        c.value: "ff" + c.colour[5:7] + c.colour[3:5] + c.colour[1:3] for c in qgis_style.RAG_CATEGORIES
    }
    counts = register["rag"].fillna("none").value_counts()
    for rag, colour in kml_colour.items():
        assert kml.count(f"<color>{colour}</color>") == counts.get(rag or "none", 0), rag


def test_kml_refuses_a_selection_larger_than_its_limit(seeded: Engine, tmp_path: Path) -> None:
    small = dataclasses.replace(ex.FORMATS["kml"], max_features=5)
    with seeded.connect() as conn, pytest.raises(ValidationFailed) as err:
        svc.export_properties(conn, tmp_path / "p.kml", small, crs_mod.CRS84, PropertyFilter(), ADMIN)
    assert err.value.errors[0].field == "format" and "at most 5" in err.value.errors[0].message
    assert not (tmp_path / "p.kml").exists()


# -- CRS rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "crs", "srid"),
    [
        ("gpkg", None, 27700),
        ("zip", None, 27700),
        ("fgb", None, 27700),
        ("csv", None, 27700),
        ("geojson", None, 4326),
        ("kml", None, 4326),
        ("gpkg", "EPSG:4326", 4326),
        ("csv", "4326", 4326),
        ("geojson", "EPSG:4326", 4326),
        ("geojson", "CRS84", 4326),
    ],
)
def test_each_format_has_its_default_and_allowed_crs(key: str, crs: str | None, srid: int) -> None:
    assert ex.resolve_crs(ex.FORMATS[key], crs).srid == srid


@pytest.mark.parametrize(
    ("key", "crs"), [("geojson", "EPSG:27700"), ("kml", "EPSG:27700"), ("gpkg", "EPSG:3857")]
)
def test_a_crs_the_format_cannot_carry_is_refused_naming_crs(key: str, crs: str) -> None:
    with pytest.raises(ValidationFailed) as err:
        ex.resolve_crs(ex.FORMATS[key], crs)
    assert err.value.errors[0].field == "crs"


# -- visibility, filters, sizes ----------------------------------------------------------------


@pytest.mark.parametrize("key", list(ex.FORMATS))
def test_public_export_has_no_values_and_no_sensitive_record(
    seeded: Engine, org: str, tmp_path: Path, key: str
) -> None:
    fmt = ex.FORMATS[key]
    with seeded.connect() as conn:
        result = svc.export_properties(
            conn,
            tmp_path / f"public.{fmt.extension}",
            fmt,
            fmt.default_crs,
            PropertyFilter(owner=[org]),
            PUBLIC,
        )
    assert result.count == 3  # the sensitive canary is not there at all
    assert "value_gbp" not in result.fields and "sensitive" not in result.fields
    blobs = [result.path.read_bytes()]
    if key == "zip":
        with zipfile.ZipFile(result.path) as archive:
            blobs = [archive.read(name) for name in archive.namelist()]
    for blob in blobs:
        assert str(CANARY).encode() not in blob
        assert b"12000000000" not in blob and b"Canary House" not in blob
    columns = pyogrio.read_info(gdal_source(result.path), layer=ex.LAYER_NAME if key == "gpkg" else None)[
        "fields"
    ]
    assert not {"value_gbp", "VALUE_GBP"} & set(columns)


def test_a_filter_exports_what_the_register_query_selects(seeded: Engine, tmp_path: Path) -> None:
    flt = build_filter(rag="green", owner="worcestershire-cc,wychavon,west-mercia-police")
    with seeded.connect() as conn:
        expected = svc.count_matching(conn, flt, PUBLIC)
        listed = sum(1 for _ in props.iter_records(conn, flt, PUBLIC))
    with seeded.connect() as conn:
        result = svc.export_properties(
            conn, tmp_path / "green.gpkg", ex.FORMATS["gpkg"], crs_mod.EPSG27700, flt, PUBLIC
        )
    frame = pyogrio.read_dataframe(result.path, layer=ex.LAYER_NAME)
    assert result.count == len(frame) == expected == listed > 0
    assert set(frame["rag"]) == {"green"}


def test_the_whole_register_exports_in_one_snapshot(seeded: Engine, tmp_path: Path) -> None:
    count_sql = text("SELECT count(*) FROM property WHERE deleted_at IS NULL")
    with seeded.connect() as conn:
        before = conn.execute(count_sql).scalar_one()
    with seeded.connect() as conn:
        result = svc.export_properties(
            conn, tmp_path / "all.fgb", ex.FORMATS["fgb"], crs_mod.EPSG27700, PropertyFilter(), ADMIN
        )
    with seeded.connect() as conn:
        after = conn.execute(count_sql).scalar_one()
    # Other tests may add records meanwhile; with none, the counts are equal.
    assert min(before, after) <= result.count <= max(before, after)
    assert pyogrio.read_info(result.path)["features"] == result.count


def test_an_empty_selection_is_a_valid_empty_layer(seeded: Engine, make_org, tmp_path: Path) -> None:
    empty_org = make_org()
    for key in ex.FORMATS:
        fmt = ex.FORMATS[key]
        with seeded.connect() as conn:
            result = svc.export_properties(
                conn,
                tmp_path / f"empty.{fmt.extension}",
                fmt,
                fmt.default_crs,
                PropertyFilter(owner=[empty_org]),
                ADMIN,
            )
        layer = ex.LAYER_NAME if key == "gpkg" else None
        info = pyogrio.read_info(gdal_source(result.path), layer=layer)
        assert result.count == len(pyogrio.read_dataframe(gdal_source(result.path), layer=layer)) == 0, key
        if key in ("gpkg", "fgb", "zip", "csv"):  # an empty GeoJSON or KML has nowhere to declare fields
            assert {"value_gbp", "VALUE_GBP"} & set(info["fields"]), key


def test_batches_stay_within_the_batch_size(seeded: Engine, owners: list[str]) -> None:
    fields = ex.fields_for_viewer(ADMIN)
    with seeded.connect() as conn:
        sizes = [
            len(b)
            for b in svc.iter_batches(
                conn, PropertyFilter(owner=owners), ADMIN, 27700, fields, batch_rows=250
            )
        ]
    assert max(sizes) == 250 and len(sizes) > 2


def test_writer_accepts_geodataframes_and_reprojects_them(tmp_path: Path) -> None:
    import geopandas as gpd

    frame = gpd.GeoDataFrame(
        {"id": ["a"], "name": ["Guildhall"], "value_gbp": [5]},
        geometry=[shapely.Point(-2.2204, 52.1919)],
        crs="EPSG:4326",
    )
    result = ex.write_batches([frame], tmp_path / "g.gpkg", "gpkg", crs_mod.EPSG27700)
    back = pyogrio.read_dataframe(result.path, layer=ex.LAYER_NAME)
    e, n = crs_mod.lonlat_to_bng(-2.2204, 52.1919)
    assert result.fields == ("id", "name", "value_gbp")
    assert back.geometry[0].distance(shapely.Point(e, n)) < 0.01
