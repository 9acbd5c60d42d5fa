"""A property record as it enters the register: field rules and geometry checks.

One model serves every write path (API create/update, partner sync, imports,
the seed), so a rule added here holds everywhere. Validation collects every
problem with its field name before anything is written.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely
from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic import Field as Rule
from shapely.geometry import MultiPolygon, Polygon, shape

from gis import crs as crs_mod
from gis import schema
from gis.errors import FieldError, ValidationFailed
from gis.schema import MultiPolygonGeometry, PointGeometry, PolygonGeometry

_RECORD_CONFIG = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)


def _record_model(
    name: str, fields: list[schema.Field], doc: str, base: type[BaseModel] | None = None
) -> Any:
    definitions: dict[str, Any] = {
        f.name: (f.input_type | None, Rule(None, description=f.description)) for f in fields
    }
    if base is None:
        return create_model(name, __config__=_RECORD_CONFIG, __doc__=doc, **definitions)
    return create_model(name, __base__=base, __doc__=doc, **definitions)


REQUIRED_ON_CREATE = ("owner", "asset_ref", "name")
# A record always has these: a write may leave them out (a PATCH) but never set them to null.
NEVER_NULL = REQUIRED_ON_CREATE
# Null means "the default" for these.
NULL_IS_DEFAULT = ("use_category", "disposal_stage", "sensitive")


def requiring(*names: str, required: bool = True) -> Callable[[dict[str, Any]], None]:
    """A model's JSON Schema edit: ``names`` are not null and, with ``required``, required (the record's
    validation says "is required" itself, so the model keeps them optional and names every missing one)."""

    def edit(model_schema: dict[str, Any]) -> None:
        if required:
            model_schema["required"] = sorted({*model_schema.get("required", ()), *names})
        for name in names:
            if name not in model_schema["properties"]:
                continue
            prop = model_schema["properties"][name]
            prop.pop("default", None)
            kept = [s for s in prop.pop("anyOf", [prop.copy()]) if s.get("type") != "null"]
            if len(kept) == 1:
                prop.update(kept[0])
            else:
                prop["anyOf"] = kept

    return edit


# Built from gis.schema, so a field added there is writable everywhere at once.
_WRITABLE = [f for f in schema.FIELDS if f.writable]
if TYPE_CHECKING:

    class PropertyFields(BaseModel):
        geometry: PointGeometry | None
        footprint: PolygonGeometry | MultiPolygonGeometry | None

    class PropertyCreate(PropertyFields):
        pass

else:
    PropertyFields = _record_model(
        "PropertyFields",
        [f for f in _WRITABLE if f.name != "owner"],
        "Every writable field of a property; all optional so the same model serves PATCH.",
        base=type(
            "_Fields",
            (BaseModel,),
            {
                "model_config": ConfigDict(
                    **_RECORD_CONFIG, json_schema_extra=requiring(*NEVER_NULL, required=False)
                )
            },
        ),
    )
    PropertyCreate = _record_model(
        "PropertyCreate",
        [schema.BY_NAME["owner"]],
        "A new property: its fields and the organisation that owns it.",
        base=type(
            "_Created",
            (PropertyFields,),
            {"model_config": ConfigDict(json_schema_extra=requiring(*REQUIRED_ON_CREATE))},
        ),
    )


if TYPE_CHECKING:
    PropertyTombstone = BaseModel
else:
    PropertyTombstone = _record_model(
        "PropertyTombstone",
        [schema.BY_NAME["owner"], schema.BY_NAME["asset_ref"]],
        "Which record a tombstone retires: its owner and asset reference, under the same rules as a write.",
    )


@dataclass(frozen=True)
class FootprintLimits:
    """How large a footprint may be and how far from its record's point (the API takes them from settings).

    Generous for real buildings: the largest public buildings (hospitals,
    prisons) have outlines of a few thousand vertices; a footprint is the
    building's own outline, so it lies on or near the point that places it.
    """

    max_vertices: int = 20_000
    max_bytes: int = 512 * 1024  # as WKB: 16 bytes a 2-D vertex plus ring and part headers
    max_distance_m: float = 250.0


DEFAULT_FOOTPRINT_LIMITS = FootprintLimits()
# Columns written to the database besides the geometry, in schema order.
SCALAR_COLUMNS: tuple[str, ...] = tuple(f.name for f in schema.SCALAR_WRITABLE)


def _pydantic_errors(exc: ValidationError, index: int | None) -> list[FieldError]:
    errors = []
    for err in exc.errors():
        loc = ".".join(str(part) for part in err["loc"]) or "body"
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        errors.append(FieldError(loc, message, index))
    return errors


def _point_wkt(geometry: PointGeometry, crs: crs_mod.Crs) -> str:
    lon, lat = crs_mod.to_lonlat(geometry.coordinates[0], geometry.coordinates[1], crs)
    return f"SRID=4326;POINT({lon!r} {lat!r})"


def _rings(footprint: PolygonGeometry | MultiPolygonGeometry) -> list[list[list[float]]]:
    if isinstance(footprint, PolygonGeometry):
        return list(footprint.coordinates)
    return [ring for polygon in footprint.coordinates for ring in polygon]


def _check_outline(footprint: PolygonGeometry | MultiPolygonGeometry, limits: FootprintLimits) -> None:
    """Refuse what shapely would quietly accept: open rings, a third dimension, an outsized outline."""
    rings = _rings(footprint)
    vertices = sum(len(ring) for ring in rings)
    if vertices > limits.max_vertices:
        raise crs_mod.CoordinateError(
            f"footprint has {vertices:,} vertices; at most {limits.max_vertices:,} (simplify the outline)"
        )
    if any(len(position) != 2 for ring in rings for position in ring):
        raise crs_mod.CoordinateError("footprint must be 2-D: positions are [x, y], without a height")
    for number, ring in enumerate(rings, start=1):
        if ring[0] != ring[-1]:
            # Refused, never repaired: GeoJSON rings are closed, and closing one guesses the outline.
            raise crs_mod.CoordinateError(
                f"footprint ring {number} is not closed: its last position must repeat its first"
            )


def _footprint_wkt(
    footprint: PolygonGeometry | MultiPolygonGeometry,
    crs: crs_mod.Crs,
    limits: FootprintLimits = DEFAULT_FOOTPRINT_LIMITS,
) -> str:
    _check_outline(footprint, limits)
    try:
        area = shape(footprint.model_dump())
    except (ValueError, TypeError, IndexError, AttributeError, KeyError, shapely.errors.GEOSException) as exc:
        raise crs_mod.CoordinateError(f"not a valid GeoJSON {footprint.type}: {exc}") from exc
    coords = shapely.get_coordinates(area)
    if coords.size == 0 or not all(math.isfinite(v) for v in coords.ravel()):
        raise crs_mod.CoordinateError("footprint coordinates must be finite numbers")
    if not area.is_valid:
        # Refused, never repaired: a repaired outline may not be the building.
        raise crs_mod.CoordinateError(f"invalid footprint: {shapely.is_valid_reason(area)}")
    for x, y in coords:
        crs_mod.to_lonlat(float(x), float(y), crs)
    if crs.srid == crs_mod.BNG_SRID:
        to_wgs84 = crs_mod.transformer(crs.srid, crs_mod.WGS84_SRID)
        area = shapely.transform(area, lambda xy: np.column_stack(to_wgs84.transform(xy[:, 0], xy[:, 1])))
    elif crs.lat_first:
        area = shapely.transform(area, lambda xy: xy[:, ::-1])
    if not area.is_valid:
        raise crs_mod.CoordinateError(
            f"invalid footprint after reprojection: {shapely.is_valid_reason(area)}"
        )
    if isinstance(area, Polygon):
        area = MultiPolygon([area])
    size = len(shapely.to_wkb(area))
    if size > limits.max_bytes:
        raise crs_mod.CoordinateError(f"footprint is {size:,} bytes as WKB; at most {limits.max_bytes:,}")
    return f"SRID=4326;{area.wkt}"


def footprint_distance_m(geom_ewkt: str, footprint_ewkt: str) -> float:
    """Metres (British National Grid) from a record's point to its footprint; 0 when the point is inside."""
    point = shapely.from_wkt(geom_ewkt.split(";", 1)[-1])
    area = shapely.from_wkt(footprint_ewkt.split(";", 1)[-1])
    to_bng = crs_mod.transformer(crs_mod.WGS84_SRID, crs_mod.BNG_SRID)

    def project(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(to_bng.transform(xy[:, 0], xy[:, 1]))

    return float(shapely.transform(point, project).distance(shapely.transform(area, project)))


def footprint_too_far(geom_ewkt: str | None, footprint_ewkt: str | None, max_distance_m: float) -> str | None:
    """The problem with a footprint placed away from its point, or None when it is close enough."""
    if geom_ewkt is None or footprint_ewkt is None:
        return None
    distance_m = footprint_distance_m(geom_ewkt, footprint_ewkt)
    if distance_m > max_distance_m:
        return (
            f"footprint lies {distance_m:,.0f} m from the record's point; it must contain the point "
            f"or lie within {max_distance_m:,.0f} m of it"
        )
    return None


def _text_errors(values: dict[str, Any], index: int | None) -> list[FieldError]:
    # PostgreSQL text cannot hold NUL; pydantic already refuses lone surrogates.
    return [
        FieldError(name, "contains a NUL character", index)
        for name, value in values.items()
        if isinstance(value, str) and "\x00" in value
    ]


def validate_tombstone(data: dict[str, Any], *, index: int | None = None) -> dict[str, Any]:
    """Return the (owner, asset_ref) a tombstone retires, or raise ValidationFailed naming the field."""
    try:
        model = PropertyTombstone.model_validate({k: data.get(k) for k in ("owner", "asset_ref")})
    except ValidationError as exc:
        raise ValidationFailed(_pydantic_errors(exc, index)) from None
    values = model.model_dump()
    errors = _text_errors(values, index)
    if not values.get("asset_ref"):
        errors.append(FieldError("asset_ref", "a tombstone needs the asset_ref to delete", index))
    if errors:
        raise ValidationFailed(errors)
    return values


def validate_property(
    data: Any,
    crs: crs_mod.Crs = crs_mod.CRS84,
    *,
    creating: bool,
    index: int | None = None,
    footprint_limits: FootprintLimits = DEFAULT_FOOTPRINT_LIMITS,
) -> dict[str, Any]:
    """Return DB-ready column values for one record, or raise ValidationFailed naming every field.

    ``geom`` and ``footprint`` come back as EWKT in EPSG:4326; fields absent from
    the input are absent from the result, so a PATCH touches only what it names.
    """
    if not isinstance(data, dict):
        raise ValidationFailed([FieldError("body", "expected a JSON object", index)])
    model_cls = PropertyCreate if creating else PropertyFields
    try:
        model = model_cls.model_validate(data)
    except ValidationError as exc:
        raise ValidationFailed(_pydantic_errors(exc, index)) from None
    values = model.model_dump(exclude_unset=True, mode="json")
    errors = _text_errors(values, index)
    if creating:
        for name in REQUIRED_ON_CREATE:
            if values.get(name) in (None, ""):
                errors.append(FieldError(name, "is required", index))
    for name in (*NEVER_NULL, *NULL_IS_DEFAULT):
        if name in values and values[name] is None and (creating or name != "owner"):
            if name in NULL_IS_DEFAULT:
                values.pop(name)  # null means "the default"
            elif name not in [e.field for e in errors]:
                errors.append(FieldError(name, "cannot be null", index))
    if "geometry" in values:
        values.pop("geometry")
        if model.geometry is None:
            values["geom"] = None
        else:
            try:
                values["geom"] = _point_wkt(model.geometry, crs)
            except crs_mod.CoordinateError as exc:
                errors.append(FieldError("geometry", str(exc), index))
    if "footprint" in values:
        values.pop("footprint")
        if model.footprint is None:
            values["footprint"] = None
        else:
            try:
                values["footprint"] = _footprint_wkt(model.footprint, crs, footprint_limits)
            except crs_mod.CoordinateError as exc:
                errors.append(FieldError("footprint", str(exc), index))
            else:
                far = footprint_too_far(
                    values.get("geom"), values["footprint"], footprint_limits.max_distance_m
                )
                if far:
                    errors.append(FieldError("footprint", far, index))
    if values.get("rag") is not None and not values.get("rag_reason") and creating:
        errors.append(FieldError("rag_reason", "a RAG rating needs a reason", index))
    if "disposal_blockers" in values and values["disposal_blockers"] is None:
        values["disposal_blockers"] = []
    if errors:
        raise ValidationFailed(errors)
    return values
