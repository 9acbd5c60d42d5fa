"""Export writers: the register as files QGIS, ArcGIS, Google Earth and a spreadsheet open correctly.

Pure: no SQL, no HTTP. The caller hands :func:`write_batches` an iterable of
batches (pandas / geopandas frames, or anything with ``to_pandas()`` such as a
pyarrow Table) holding register fields by their register names plus a
``geometry`` column (WKB, or shapely geometries in a GeoDataFrame) already in
the export CRS. Memory stays bounded by one batch:

1. each batch is shaped for the format (Shapefile names, Transparency Code
   columns, KML styles) and appended with pyogrio to a *staging* GeoPackage
   written without a spatial index (appending to an indexed layer costs a
   trigger per row; appending to an unindexed one is cheap);
2. the staging layer is streamed once through GDAL's Arrow interface into the
   target driver (``open_arrow`` → ``write_arrow``). That single pass is also
   what lets the formats GDAL cannot append to (FlatGeobuf, KML) and the ones
   where appending rewrites the file (GeoJSON) be written batch by batch, and
   it builds the GeoPackage's R-tree once, at the end.

Every file is written by GDAL (the pyogrio wheel's own build). The one thing
added beside GDAL is the GeoPackage's ``layer_styles`` row, and that is also
written with pyogrio as an ordinary attributes table.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import itertools
import os
import shutil
import tempfile
import warnings
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from gis import crs as crs_mod
from gis import csvcell, qgis_style, schema, visibility
from gis.errors import FieldError, ValidationFailed
from gis.imports.patches import code_wording
from gis.vocab import HoldingType, Tenure, TenureDetail

if TYPE_CHECKING:
    import pandas as pd


LAYER_NAME = "properties"
GEOMETRY = "geometry"  # the batch column holding WKB (or shapely geometries)
GPKG_GEOMETRY_COLUMN = "geom"  # GDAL's default; layer_styles must name it
KML_MAX_FEATURES = 25_000  # libkml holds the whole document in memory (~7 KB a placemark)
OGR_STYLE = "OGR_STYLE"  # GDAL reads a field of this name as each feature's style string


# --------------------------------------------------------------------------------------
# Formats


@dataclass(frozen=True)
class ExportFormat:
    """One downloadable format: GDAL driver, file name, media type and the CRSs it may carry."""

    key: str
    extension: str
    driver: str
    media_type: str
    label: str
    default_crs: crs_mod.Crs
    srids: tuple[int, ...]
    max_features: int | None = None
    layer_options: Mapping[str, str] | None = None
    dataset_options: Mapping[str, str] | None = None

    @property
    def filename(self) -> str:
        return f"{LAYER_NAME}.{self.extension}"


BOTH = (crs_mod.BNG_SRID, crs_mod.WGS84_SRID)
FORMATS: dict[str, ExportFormat] = {
    f.key: f
    for f in (
        ExportFormat(
            "gpkg",
            "gpkg",
            "GPKG",
            "application/geopackage+sqlite3",
            "GeoPackage (styled by RAG)",
            crs_mod.EPSG27700,
            BOTH,
            layer_options={
                "IDENTIFIER": "Shared Estate properties",
                "DESCRIPTION": "Public buildings, coloured by RAG disposal rating",
            },
            # 1.2 is the version every QGIS, ArcGIS and GDAL >= 2.2 reads without a warning.
            dataset_options={"VERSION": "1.2"},
        ),
        ExportFormat(
            "zip",
            "zip",
            "ESRI Shapefile",
            "application/zip",
            "Shapefile (zipped, with fields.csv)",
            crs_mod.EPSG27700,
            BOTH,
            layer_options={"ENCODING": "UTF-8", "RESIZE": "YES"},
        ),
        # RFC 7946: GeoJSON is WGS84 longitude/latitude, always.
        ExportFormat(
            "geojson",
            "geojson",
            "GeoJSON",
            "application/geo+json",
            "GeoJSON (RFC 7946)",
            crs_mod.CRS84,
            (crs_mod.WGS84_SRID,),
            layer_options={"RFC7946": "YES", "WRITE_NAME": "NO"},
        ),
        ExportFormat(
            "fgb", "fgb", "FlatGeobuf", "application/flatgeobuf", "FlatGeobuf", crs_mod.EPSG27700, BOTH
        ),
        # KML is WGS84 by its own specification; LIBKML is the GDAL driver that writes point styles.
        ExportFormat(
            "kml",
            "kml",
            "LIBKML",
            "application/vnd.google-earth.kml+xml",
            "KML (Google Earth)",
            crs_mod.CRS84,
            (crs_mod.WGS84_SRID,),
            max_features=KML_MAX_FEATURES,
        ),
        ExportFormat(
            "csv",
            "csv",
            "CSV",
            "text/csv; charset=utf-8",
            "CSV (Transparency Code layout)",
            crs_mod.EPSG27700,
            BOTH,
            layer_options={"WRITE_BOM": "YES", "LINEFORMAT": "CRLF"},
        ),
    )
}
FORMAT_ALIASES: dict[str, str] = {
    "shp": "zip",
    "shapefile": "zip",
    "json": "geojson",
    "flatgeobuf": "fgb",
    "geopackage": "gpkg",
}


def get_format(name: str) -> ExportFormat:
    """Return the format named by its key, extension or alias; raise ValidationFailed naming ``format``."""
    key = name.strip().lower().lstrip(".")
    key = FORMAT_ALIASES.get(key, key)
    if key not in FORMATS:
        raise ValidationFailed(
            [FieldError("format", f"unknown export format {name!r}; one of {', '.join(FORMATS)}")]
        )
    return FORMATS[key]


def format_for_path(path: Path) -> ExportFormat:
    """Return the format a file name's extension asks for (``x.shp.zip`` is a zipped Shapefile)."""
    suffix = path.suffix.lower().lstrip(".")
    if not suffix:
        raise ValidationFailed(
            [
                FieldError(
                    "path",
                    f"{path.name!r} has no extension; use one of {', '.join('.' + k for k in FORMATS)}",
                )
            ]
        )
    return get_format(suffix)


def resolve_crs(fmt: ExportFormat, requested: str | None) -> crs_mod.Crs:
    """Return the CRS to write ``fmt`` in, or raise ValidationFailed naming ``crs``."""
    try:
        chosen = crs_mod.parse_crs(requested, fmt.default_crs)
    except crs_mod.CrsError:
        raise ValidationFailed(
            [
                FieldError(
                    "crs",
                    f"unsupported CRS {requested!r}; use EPSG:27700 (British National Grid) or EPSG:4326",
                )
            ]
        ) from None
    if chosen.srid not in fmt.srids:
        why = (
            "RFC 7946 GeoJSON is always WGS84 longitude/latitude"
            if fmt.key == "geojson"
            else "KML is always WGS84 longitude/latitude"
            if fmt.key == "kml"
            else f"{fmt.label} is written in {', '.join(f'EPSG:{s}' for s in fmt.srids)}"
        )
        raise ValidationFailed(
            [
                FieldError(
                    "crs",
                    f"{fmt.label} cannot be written in {chosen.label}: {why}; "
                    "leave crs out or send EPSG:4326",
                )
            ]
        )
    return chosen


# --------------------------------------------------------------------------------------
# Fields


# Export order is the record's order (gis.schema); bookkeeping columns without an
# export type (created_by, deleted_at, ...) are left out: they describe the register,
# not the building.
FIELDS: tuple[schema.Field, ...] = tuple(f for f in schema.FIELDS if f.ogr_type is not None)
FIELDS_BY_NAME: dict[str, schema.Field] = {f.name: f for f in FIELDS}

# Shapefile (dBASE) field names are at most 10 characters. One fixed mapping,
# so a column means the same in every download; written into each zip as fields.csv.
SHAPEFILE_FIELDS: dict[str, str] = {f.name: f.shapefile_name or f.name.upper()[:10] for f in FIELDS}
assert all(f.shapefile_name for f in FIELDS), "every exported field needs a Shapefile name"
assert all(len(v) <= 10 for v in SHAPEFILE_FIELDS.values()), "dBASE field names are at most 10 characters"
assert len(set(SHAPEFILE_FIELDS.values())) == len(SHAPEFILE_FIELDS), "Shapefile names must be unique"

# Local Government Transparency Code 2015, land and building assets: the
# publisher's columns, then the Code's in its order and wording, then ours.
# Values are (heading, source); sources that are not register fields are
# filled here: the organisation's label and authority (GSS) code from the
# ``organisations`` the caller passes, x/y from the point.
TRANSPARENCY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Organisation", "owner"),
    ("Organisation label", "organisation_label"),
    ("Authority code", "authority_code"),
    ("UPRN", "uprn"),
    ("Unique asset identity", "asset_ref"),
    ("Asset name", "name"),
    ("Street number", "street_number"),
    ("Street name", "street"),
    ("Post town", "post_town"),
    ("Postcode", "postcode"),
    ("Map reference (GeoX) easting", "x"),
    ("Map reference (GeoY) northing", "y"),
    ("Tenure type", "tenure"),
    ("Tenure sub-category", "tenure_detail"),
    ("Holding type", "holding_type"),
)
# A batch column the caller may add for CSV: the UPRN as the council wrote it
# (leading zeros), written instead of the integer where present.
UPRN_AS_WRITTEN = "uprn_as_written"
# With EPSG:4326 the map reference is ISO 6709 degrees, and the headings say so
# (the Code asks publishers to make clear which system they use).
TRANSPARENCY_DEGREE_HEADINGS = {"x": "Map reference (GeoX) longitude", "y": "Map reference (GeoY) latitude"}
# Our fields after the Code's, the planner's essentials first.
CSV_EXTRA_FIELDS: tuple[str, ...] = (
    "use_category",
    "gia_m2",
    "value_gbp",
    "rag",
    "rag_reason",
    "site_area_ha",
    "listed_grade",
    "condition",
    "utilisation_pct",
    "fte",
    "valuation_basis",
    "valuation_date",
    "running_cost_gbp_pa",
    "maintenance_backlog_gbp",
    "lease_expiry_date",
    "disposal_stage",
    "disposal_blockers",
    "sensitive",
    "id",
    "version",
    "updated_at",
)


@dataclass(frozen=True)
class Organisation:
    """What the Transparency CSV says about the publisher: its name and authority (GSS) code."""

    label: str
    authority_code: str | None = None


CODE_LABEL_FIELDS = frozenset({"tenure", "tenure_detail", "holding_type"})
BNG_DECIMALS = 2  # centimetres
DEGREE_DECIMALS = 7  # about a centimetre


_CODE_VOCABULARIES: dict[str, type[StrEnum]] = {
    "tenure": Tenure,
    "tenure_detail": TenureDetail,
    "holding_type": HoldingType,
}


def code_label(slug: str | None, field: str = "holding_type") -> str | None:
    """The Transparency Code's wording for a slug of ``field``: ``occupied`` → ``Occupied by local authority``."""
    return code_wording(slug, _CODE_VOCABULARIES[field])


def fields_for_viewer(viewer: visibility.Viewer) -> list[str]:
    """Return the export fields this viewer may see on at least one record, in export order.

    A key holder sees its own organisation's records at owner tier, so the
    columns are those of the highest tier the viewer reaches; the values of
    rows they may not see come out NULL (see ``visibility.sql_column``).
    """
    visible = set(visibility.fields_seen_by(viewer))
    return [f.name for f in FIELDS if f.name in visible]


def fields_csv(fields: Sequence[str]) -> str:
    """The Shapefile field mapping as CSV text: shapefile_field, field, type, description."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["shapefile_field", "field", "type", "description"])
    for name in fields:
        field = FIELDS_BY_NAME[name]
        writer.writerow(
            [csvcell.neutralise(v) for v in (SHAPEFILE_FIELDS[name], name, field.ogr_type, field.description)]
        )
    return out.getvalue()


# --------------------------------------------------------------------------------------
# Turning a batch into typed columns


@dataclass
class Column:
    """One output column: its name in the file, values, and a null mask where the dtype has no null."""

    name: str
    values: np.ndarray
    mask: np.ndarray | None = None


def _as_frame(batch: Any, srid: int) -> pd.DataFrame:
    import pandas as pd

    if hasattr(batch, "to_pandas") and not isinstance(batch, pd.DataFrame):
        batch = batch.to_pandas()  # pyarrow Table / RecordBatch
    if not isinstance(batch, pd.DataFrame):
        raise TypeError(f"a batch must be a DataFrame or have to_pandas(), not {type(batch).__name__}")
    if hasattr(batch, "set_geometry") and hasattr(batch, "to_crs"):  # a GeoDataFrame: shapely → WKB
        if batch.crs is not None and batch.crs.to_epsg() != srid:
            batch = batch.to_crs(epsg=srid)
        geometry_name = batch.geometry.name
        wkb = shapely.to_wkb(np.asarray(batch.geometry.values, dtype=object))
        batch = pd.DataFrame(batch.drop(columns=[geometry_name]))
        batch[GEOMETRY] = wkb
    return batch


def _typed(series: pd.Series, ogr_type: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Return (values, null mask) with the numpy dtype pyogrio maps to ``ogr_type``."""
    import pandas as pd

    n = len(series)
    if ogr_type in ("Integer64", "Integer"):
        ints = pd.array(series.astype(object).where(series.notna(), None), dtype="Int64")
        dtype = "int64" if ogr_type == "Integer64" else "int32"
        return ints.to_numpy(dtype=dtype, na_value=0), np.asarray(ints.isna())
    if ogr_type == "Real":
        return pd.to_numeric(series, errors="raise").to_numpy(dtype="float64", na_value=np.nan), None
    if ogr_type == "Date":
        dates = pd.to_datetime(series, errors="raise")
        return dates.to_numpy(dtype="datetime64[ns]").astype("datetime64[D]"), None
    if ogr_type == "Boolean":
        mask = np.asarray(series.isna())
        return series.where(~mask, False).astype(bool).to_numpy(), mask if mask.any() else None
    if pd.api.types.infer_dtype(series, skipna=True) in ("string", "empty"):
        return series.to_numpy(dtype=object, na_value=None), None
    values = np.empty(n, dtype=object)
    for i, value in enumerate(series.tolist()):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            values[i] = None
        elif isinstance(value, bool | np.bool_):
            values[i] = "true" if value else "false"
        elif isinstance(value, list | tuple):
            values[i] = ";".join(str(v) for v in value)
        elif isinstance(value, dt.datetime):
            values[i] = (
                value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value.tzinfo else value.isoformat()
            )
        else:
            values[i] = str(value)
    return values, None


def _uprn_column(heading: str, frame: pd.DataFrame, n: int) -> Column:
    """UPRNs as text: the council's written form (leading zeros) where the batch has it, else the integer."""
    import pandas as pd

    uprns = frame["uprn"] if "uprn" in frame else pd.Series([None] * n, dtype=object)
    written = frame[UPRN_AS_WRITTEN] if UPRN_AS_WRITTEN in frame else pd.Series([None] * n, dtype=object)
    values = [
        w if isinstance(w, str) and w else None if u is None or pd.isna(u) else str(int(u))
        for u, w in zip(uprns.tolist(), written.tolist(), strict=True)
    ]
    return Column(heading, np.array(values, dtype=object))


def _points_xy(geometry: np.ndarray, decimals: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y of WKB points, rounded; NaN (written as empty) where a record has no point."""
    geoms = shapely.from_wkb(geometry)
    x = np.round(shapely.get_x(geoms), decimals)
    y = np.round(shapely.get_y(geoms), decimals)
    return x, y


def shape_batch(
    frame: pd.DataFrame,
    fmt: ExportFormat,
    crs: crs_mod.Crs,
    fields: Sequence[str],
    organisations: Mapping[str, Organisation] | None = None,
) -> tuple[np.ndarray | None, list[Column]]:
    """Return (WKB geometry or None, columns) laid out for ``fmt``: the one place formats differ."""
    import pandas as pd

    n = len(frame)
    wkb = frame[GEOMETRY].to_numpy(dtype=object) if GEOMETRY in frame else np.full(n, None, dtype=object)
    wkb = np.array(
        [
            g if isinstance(g, bytes) else bytes(g) if isinstance(g, memoryview | bytearray) else None
            for g in wkb
        ],
        dtype=object,
    )

    def column(name: str, out_name: str | None = None, ogr_type: str | None = None) -> Column:
        field = FIELDS_BY_NAME[name]
        series = frame[name] if name in frame else pd.Series([None] * n, dtype=object)
        ogr_type = ogr_type or field.ogr_type or "String"
        if fmt.key == "csv":
            if name in CODE_LABEL_FIELDS:
                series = series.map(lambda v: code_label(v, name), na_action="ignore")
            if ogr_type in ("Date", "Boolean"):
                ogr_type = "String"  # ISO dates and true/false, not GDAL's 2024/03/31 and 0/1
            if ogr_type == "String":
                series = series.map(csvcell.neutralise, na_action="ignore")
        values, mask = _typed(series, ogr_type)
        return Column(out_name or name, values, mask)

    if fmt.key == "csv":
        degrees = crs.srid == crs_mod.WGS84_SRID
        x, y = _points_xy(wkb, DEGREE_DECIMALS if degrees else BNG_DECIMALS)
        columns: list[Column] = []
        owners = frame["owner"] if "owner" in frame else pd.Series([None] * n, dtype=object)
        orgs = [(organisations or {}).get(o) if isinstance(o, str) else None for o in owners]
        for heading, source in TRANSPARENCY_COLUMNS:
            if source in ("x", "y"):
                label = TRANSPARENCY_DEGREE_HEADINGS[source] if degrees else heading
                columns.append(Column(label, x if source == "x" else y))
            elif source == "organisation_label":
                columns.append(
                    Column(heading, np.array([o.label if o else None for o in orgs], dtype=object))
                )
            elif source == "authority_code":
                codes = [o.authority_code if o else None for o in orgs]
                columns.append(Column(heading, np.array(codes, dtype=object)))
            elif source == "uprn":
                columns.append(_uprn_column(heading, frame, n))
            else:
                columns.append(column(source, heading))
        columns += [column(name) for name in CSV_EXTRA_FIELDS if name in fields]
        return None, columns
    if fmt.key == "zip":
        return wkb, [column(name, SHAPEFILE_FIELDS[name]) for name in fields]
    if fmt.key == "kml":
        # KML's typed ExtendedData has no 64-bit integer: money goes as double, still a number.
        columns = [
            column(name, ogr_type="Real" if FIELDS_BY_NAME[name].ogr_type == "Integer64" else None)
            for name in fields
        ]
        rag = frame["rag"] if "rag" in frame and "rag" in fields else pd.Series([None] * n, dtype=object)
        styles = np.array(
            [qgis_style.kml_style(r if isinstance(r, str) else None) for r in rag], dtype=object
        )
        return wkb, [*columns, Column(OGR_STYLE, styles)]
    return wkb, [column(name) for name in fields]


# --------------------------------------------------------------------------------------
# Writing


@dataclass(frozen=True)
class ExportResult:
    path: Path
    format: ExportFormat
    crs: crs_mod.Crs
    count: int
    fields: tuple[str, ...]


@contextlib.contextmanager
def _quiet_gdal() -> Iterator[None]:
    # pyogrio warns when a layer is empty or a name is laundered; neither is news here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@dataclass
class _Staged:
    count: int = 0
    without_geometry: int = 0


def _stage(
    batches: Iterable[Any],
    staging: Path,
    fmt: ExportFormat,
    crs: crs_mod.Crs,
    fields: Sequence[str],
    max_features: int | None,
    organisations: Mapping[str, Organisation] | None = None,
) -> _Staged:
    """Append every batch to an unindexed staging GeoPackage; return what was staged."""
    import pandas as pd
    from pyogrio import raw

    staged = _Staged()
    geometry_type = None if fmt.key == "csv" else "Point"
    for batch in batches:
        frame = _as_frame(batch, crs.srid)
        if staged.count and len(frame) == 0:
            continue
        staged.count += len(frame)
        if max_features is not None and staged.count > max_features:
            raise ValidationFailed(
                [
                    FieldError(
                        "format",
                        f"{fmt.label} holds at most {max_features:,} properties; narrow the "
                        "selection (owner, town, rag, bbox) or download GeoPackage or FlatGeobuf",
                    )
                ]
            )
        wkb, columns = shape_batch(frame, fmt, crs, fields, organisations)
        if wkb is not None:
            staged.without_geometry += sum(1 for g in wkb if g is None)
        with _quiet_gdal():
            raw.write(
                staging,
                wkb,
                [c.values for c in columns],
                fields=[c.name for c in columns],
                field_mask=[c.mask for c in columns] if any(c.mask is not None for c in columns) else None,
                layer=LAYER_NAME,
                driver="GPKG",
                geometry_type=geometry_type,
                crs=f"EPSG:{crs.srid}" if geometry_type else None,
                encoding="UTF-8",
                append=staging.exists(),
                layer_options=None if staging.exists() else {"SPATIAL_INDEX": "NO"},
            )
    if not staging.exists():  # no batch at all: still write an empty layer with the right columns
        empty = pd.DataFrame({name: pd.Series([], dtype=object) for name in fields})
        empty[GEOMETRY] = pd.Series([], dtype=object)
        return _stage([empty], staging, fmt, crs, fields, max_features, organisations)
    return staged


def _transcode(staging: Path, target: Path, fmt: ExportFormat, staged: _Staged) -> None:
    """Stream the staging layer into ``target`` with ``fmt``'s driver (GDAL Arrow, bounded memory)."""
    from pyogrio import raw

    options = dict(fmt.layer_options or {})
    if fmt.key == "fgb" and staged.without_geometry:
        # GDAL cannot index a feature with no geometry; such a file is still valid, only unindexed.
        options["SPATIAL_INDEX"] = "NO"
    with _quiet_gdal(), raw.open_arrow(staging, layer=LAYER_NAME, batch_size=10_000) as (meta, reader):
        geometry_name = meta["geometry_name"] or None
        raw.write_arrow(
            reader,
            target,
            layer=LAYER_NAME,
            driver=fmt.driver,
            geometry_name=geometry_name,
            geometry_type="Point" if geometry_name else None,
            crs=meta["crs"] if geometry_name else None,
            layer_options=options or None,
            dataset_options=dict(fmt.dataset_options) if fmt.dataset_options else None,
        )


def add_layer_styles(gpkg: Path, layer: str = LAYER_NAME, field: str = "rag") -> None:
    """Add QGIS's ``layer_styles`` table with a default RAG style for ``layer``.

    The columns are those QGIS creates when it saves a style into a
    GeoPackage; pyogrio writes it as an attributes table, so it is listed in
    gpkg_contents like any table QGIS makes. Catalog and schema are empty
    strings, not NULL: QGIS matches them with ``= ''``.
    """
    from pyogrio import raw

    now = np.array([dt.datetime.now(dt.UTC).replace(tzinfo=None)], dtype="datetime64[ms]")
    row: dict[str, np.ndarray] = {
        "f_table_catalog": np.array([""], dtype=object),
        "f_table_schema": np.array([""], dtype=object),
        "f_table_name": np.array([layer], dtype=object),
        "f_geometry_column": np.array([GPKG_GEOMETRY_COLUMN], dtype=object),
        "styleName": np.array([f"{layer} by RAG"], dtype=object),
        "styleQML": np.array([qgis_style.rag_qml(field)], dtype=object),
        "styleSLD": np.array([qgis_style.rag_sld(layer, field)], dtype=object),
        "useAsDefault": np.array([True]),
        "description": np.array(
            ["Coloured by RAG disposal rating (red, amber, green; grey: not rated)"], dtype=object
        ),
        "owner": np.array([""], dtype=object),
        "ui": np.array([None], dtype=object),
        "update_time": now,
    }
    with _quiet_gdal():
        raw.write(
            gpkg,
            None,
            list(row.values()),
            fields=list(row),
            layer="layer_styles",
            driver="GPKG",
            geometry_type=None,
            append=False,
            layer_options={"FID": "id"},
        )


def _zip_shapefile(folder: Path, target: Path, fields: Sequence[str]) -> None:
    """Zip the Shapefile's parts with fields.csv and a QGIS .qml/.sld that colour it by RAG."""
    stem = LAYER_NAME
    (folder / "fields.csv").write_text(fields_csv(fields), encoding="utf-8")
    if "rag" in fields:
        (folder / f"{stem}.qml").write_text(qgis_style.rag_qml(SHAPEFILE_FIELDS["rag"]), encoding="utf-8")
        (folder / f"{stem}.sld").write_text(
            qgis_style.rag_sld(stem, SHAPEFILE_FIELDS["rag"]), encoding="utf-8"
        )
    members = [folder / f"{stem}.{ext}" for ext in ("shp", "shx", "dbf", "prj", "cpg", "qml", "sld")]
    members.append(folder / "fields.csv")
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member in members:
            if member.exists():
                archive.write(member, member.name)  # streamed from disk in chunks


def write_batches(
    batches: Iterable[Any],
    path: Path | str,
    fmt: ExportFormat | str,
    crs: crs_mod.Crs | str | None = None,
    *,
    fields: Sequence[str] | None = None,
    organisations: Mapping[str, Organisation] | None = None,
) -> ExportResult:
    """Write the batches to ``path`` as ``fmt`` in ``crs`` and return what was written.

    ``fields`` are register field names in the order wanted (default: every
    export field the first batch has). Batches must already be in ``crs``.
    ``organisations`` (code → label and authority code) fill the Transparency
    CSV's publisher columns.
    The file appears at ``path`` only when complete.
    """
    path = Path(path)
    fmt = fmt if isinstance(fmt, ExportFormat) else get_format(fmt)
    crs = crs if isinstance(crs, crs_mod.Crs) else resolve_crs(fmt, crs)
    iterator = iter(batches)
    if fields is None:
        first = next(iterator, None)
        columns = [] if first is None else list(_as_frame(first, crs.srid).columns)
        fields = [f.name for f in FIELDS if f.name in columns]
        iterator = itertools.chain([first], iterator) if first is not None else iter(())
    unknown = [name for name in fields if name not in FIELDS_BY_NAME]
    if unknown:
        raise ValueError(f"not export fields: {unknown}")
    work = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    try:
        staging = work / "staging.gpkg"
        staged = _stage(iterator, staging, fmt, crs, fields, fmt.max_features, organisations)
        if fmt.key == "zip":
            shapefile = work / "shp" / f"{LAYER_NAME}.shp"
            shapefile.parent.mkdir()
            _transcode(staging, shapefile, fmt, staged)
            built = work / fmt.filename
            _zip_shapefile(shapefile.parent, built, fields)
        else:
            built = work / fmt.filename
            _transcode(staging, built, fmt, staged)
            if fmt.key == "gpkg":
                add_layer_styles(built, field="rag")
        os.replace(built, path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return ExportResult(path=path, format=fmt, crs=crs, count=staged.count, fields=tuple(fields))


def read_layer_info(path: Path | str) -> dict[str, Any]:
    """GDAL's summary of an exported file's properties layer (count, CRS, fields): for checks and the CLI."""
    import pyogrio

    path = Path(path)
    suffix = path.suffix.lower()
    source = f"/vsizip/{path}/{LAYER_NAME}.shp" if suffix == ".zip" else str(path)
    return pyogrio.read_info(source, layer=LAYER_NAME if suffix == ".gpkg" else None)
