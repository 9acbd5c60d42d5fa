"""Read GeoPackage, GeoJSON and Shapefile asset layers into register records.

Attributes go through the same row rules as Transparency Code CSV files
(:class:`gis.imports.transparency.RecordBuilder`), so a tenure spelt "F/H"
reads the same from either and the report has the same shape. Report rows
number features as a spreadsheet export of the attribute table would: the
header is row 1, so the first feature is row 2.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from shapely.geometry import MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from gis.crs import BNG_SRID, WGS84_SRID, looks_like_degrees
from gis.imports.report import Action, ImportResult
from gis.imports.transparency import ATTRIBUTE_FIELDS, Point, RecordBuilder

LAYER_ROW = 1  # report row for notes about the whole layer, like a CSV header
FIRST_FEATURE_ROW = 2
POLYGONAL = ("Polygon", "MultiPolygon")


def read_vector_file(
    path: str | Path, owner: str, column_mapping: Mapping[str, str], known_towns: Iterable[str] = ()
) -> ImportResult:
    """Read the first layer of a vector file into register records for ``owner``.

    ``column_mapping`` maps a source column name to the register field it
    holds, e.g. ``{"SITE_NAME": "name", "TENURE": "tenure"}``; unmapped
    columns are listed in the report as not imported. Location comes from the geometry: points as they
    are, other shapes by their centroid computed in EPSG:27700. Polygonal
    shapes are also kept as ``footprint`` (MultiPolygon WKT in WGS84).
    """
    unknown = sorted(set(column_mapping.values()) - set(ATTRIBUTE_FIELDS))
    if unknown:
        raise ValueError(f"cannot map columns to {unknown}; mappable fields are {list(ATTRIBUTE_FIELDS)}")
    targets = list(column_mapping.values())
    if doubled := sorted({t for t in targets if targets.count(t) > 1}):
        raise ValueError(f"more than one column mapped to {doubled}")
    frame = pyogrio.read_dataframe(path)
    if not isinstance(frame, gpd.GeoDataFrame):
        raise ValueError(f"{path} has no geometry; read a table without geometry with parse_transparency_csv")
    missing = sorted(set(column_mapping) - set(frame.columns))
    if missing:
        raise ValueError(f"{path} has no column {missing}; its columns are {list(frame.columns)}")

    builder = RecordBuilder(owner, known_towns)
    for column in frame.columns:
        if column not in column_mapping and column != frame.geometry.name:
            filled = int(frame[column].notna().sum())
            problem = f"column not mapped ({filled} non-blank value(s)); its values are not stored"
            builder.note(1, str(column), str(column), problem, Action.not_imported)
    geometry = _with_crs_from_values(frame.geometry, builder)
    srid = geometry.crs.to_epsg()
    bng = geometry if srid == BNG_SRID else geometry.to_crs(BNG_SRID)
    wgs84 = geometry.to_crs(WGS84_SRID)
    texts = {column: [_as_text(value) for value in frame[column]] for column in column_mapping}

    for index, (source, metres, degrees) in enumerate(zip(geometry, bng, wgs84, strict=True)):
        row = FIRST_FEATURE_ROW + index
        raw = {target: texts[column][index] for column, target in column_mapping.items()}
        footprint, repaired = _footprint(degrees)
        point = _point(source, metres, in_degrees=srid == WGS84_SRID)
        accepted = builder.add(row, raw, point=point, extra={"footprint": footprint})
        if accepted and repaired:
            builder.note(row, "footprint", source.geom_type, "invalid polygon repaired", Action.corrected)
    return builder.result()


def _with_crs_from_values(geometry: gpd.GeoSeries, builder: RecordBuilder) -> gpd.GeoSeries:
    """Return the geometry with the CRS its values show, if it has none or a geographic one that is wrong.

    Shapefiles often lack a .prj, and BNG metres exported under a WGS84 label
    are a common slip; either way the values say which it is.
    """
    bounds = geometry.total_bounds
    if not np.all(np.isfinite(bounds)):
        return geometry if geometry.crs is not None else geometry.set_crs(WGS84_SRID)
    in_degrees = looks_like_degrees(bounds[0], bounds[1]) and looks_like_degrees(bounds[2], bounds[3])
    srid = WGS84_SRID if in_degrees else BNG_SRID
    if geometry.crs is None:
        problem = f"layer has no CRS: read as EPSG:{srid} from its coordinate values"
        builder.note(LAYER_ROW, "(file)", "", problem, Action.corrected)
        return geometry.set_crs(srid)
    if geometry.crs.is_geographic and not in_degrees:
        problem = f"layer says {geometry.crs.to_string()} but its values are metres: read as EPSG:{BNG_SRID}"
        builder.note(LAYER_ROW, "(file)", geometry.crs.to_string(), problem, Action.corrected)
        return geometry.set_crs(BNG_SRID, allow_override=True)
    return geometry


def _point(source: BaseGeometry | None, metres: BaseGeometry | None, *, in_degrees: bool) -> Point | None:
    """Return the feature's point: the point itself, or the centroid of any other shape in EPSG:27700."""
    if source is None or metres is None or source.is_empty:
        return None
    if source.geom_type != "Point":
        centre = metres.centroid
        return Point(centre.x, centre.y, f"centroid of {source.geom_type}", claimed="bng")
    raw = f"{source.x}, {source.y}"
    if in_degrees:
        # Kept in degrees so lat/lon written the wrong way round is caught as a swap,
        # not reprojected into nonsense first.
        return Point(source.x, source.y, raw, claimed="degrees")
    return Point(metres.x, metres.y, raw, claimed="bng")


def _footprint(degrees: BaseGeometry | None) -> tuple[str | None, bool]:
    """Return (MultiPolygon WKT, repaired) for a polygonal shape: the register holds valid MultiPolygons."""
    if degrees is None or degrees.is_empty or degrees.geom_type not in POLYGONAL:
        return None, False
    repaired = not degrees.is_valid
    shape = shapely.make_valid(degrees) if repaired else degrees
    polygons: list[Polygon] = []
    for part in shapely.get_parts(shape):
        if isinstance(part, Polygon):
            polygons.append(part)
        elif isinstance(part, MultiPolygon):
            polygons.extend(part.geoms)
    if not polygons:
        return None, repaired
    return MultiPolygon(polygons).wkt, repaired


def _as_text(value: Any) -> str:
    if value is None or (pd.api.types.is_scalar(value) and pd.isna(value)):
        return ""
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))  # an integer column stored as real, e.g. a UPRN
    return str(value)
