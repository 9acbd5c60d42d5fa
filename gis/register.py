"""A property record as it enters the register: field rules and geometry checks.

One model serves every write path (API create/update, partner sync, imports,
the seed), so a rule added here holds everywhere. Validation collects every
problem with its field name before anything is written.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal

import numpy as np
import shapely
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from shapely.geometry import MultiPolygon, Polygon, shape

from gis import crs as crs_mod
from gis.errors import FieldError, ValidationFailed
from gis.vocab import (
    Condition,
    DisposalBlocker,
    DisposalStage,
    HoldingType,
    ListedGrade,
    Rag,
    Tenure,
    TenureDetail,
    UseCategory,
    ValuationBasis,
)

Money = Annotated[int, Field(ge=0, le=10**13, strict=True)]
NonNegative = Annotated[float, Field(ge=0, lt=1e12, strict=True)]


class PointGeometry(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    type: Literal["Point"]
    coordinates: list[Annotated[float, Field(strict=True)]] = Field(min_length=2, max_length=3)


Position = Annotated[list[Annotated[float, Field(strict=True)]], Field(min_length=2, max_length=3)]
Ring = Annotated[list[Position], Field(min_length=4, max_length=100_000)]


class PolygonGeometry(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    type: Literal["Polygon"]
    coordinates: list[Ring] = Field(min_length=1, max_length=1_000)


class MultiPolygonGeometry(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)
    type: Literal["MultiPolygon"]
    coordinates: list[Annotated[list[Ring], Field(min_length=1, max_length=1_000)]] = Field(
        min_length=1, max_length=1_000
    )


AreaGeometry = Annotated[PolygonGeometry | MultiPolygonGeometry, Field(discriminator="type")]


class PropertyFields(BaseModel):
    """Every writable field of a property; all optional so the same model serves PATCH."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, str_strip_whitespace=True)

    asset_ref: str | None = Field(None, min_length=1, max_length=100, description="owner's own reference")
    uprn: int | None = Field(
        None, ge=1, le=999_999_999_999, strict=True, description="Unique Property Reference Number"
    )
    name: str | None = Field(None, min_length=1, max_length=200)
    street_number: str | None = Field(None, max_length=50)
    street: str | None = Field(None, max_length=200)
    post_town: str | None = Field(None, max_length=100)
    postcode: str | None = Field(
        None, max_length=10, pattern=r"^[A-Za-z]{1,2}[0-9][A-Za-z0-9]?\s*[0-9][A-Za-z]{2}$"
    )
    geometry: PointGeometry | None = Field(None, description="GeoJSON Point in the request's crs")
    footprint: AreaGeometry | None = Field(None, description="GeoJSON (Multi)Polygon in the request's crs")
    tenure: Tenure | None = None
    tenure_detail: TenureDetail | None = None
    holding_type: HoldingType | None = None
    use_category: UseCategory | None = None
    gia_m2: NonNegative | None = Field(None, description="gross internal area, m²")
    site_area_ha: NonNegative | None = Field(None, description="site area, hectares")
    utilisation_pct: float | None = Field(None, ge=0, le=100, strict=True)
    fte: NonNegative | None = Field(None, description="full-time-equivalent staff based here")
    value_gbp: Money | None = Field(None, description="asset value, whole pounds")
    valuation_basis: ValuationBasis | None = None
    valuation_date: dt.date | None = None
    running_cost_gbp_pa: Money | None = None
    maintenance_backlog_gbp: Money | None = None
    condition: Condition | None = None
    listed_grade: ListedGrade | None = None
    lease_expiry_date: dt.date | None = None
    rag: Rag | None = None
    rag_reason: str | None = Field(None, min_length=1, max_length=1000)
    disposal_stage: DisposalStage | None = None
    disposal_blockers: list[DisposalBlocker] | None = Field(None, max_length=5)
    sensitive: bool | None = Field(None, strict=True)

    @field_validator("valuation_date", "lease_expiry_date")
    @classmethod
    def _plausible_date(cls, value: dt.date | None) -> dt.date | None:
        if value is not None and not (dt.date(1800, 1, 1) <= value <= dt.date(2200, 12, 31)):
            raise ValueError("date must fall between 1800 and 2200")
        return value

    @field_validator("postcode")
    @classmethod
    def _normalise_postcode(cls, value: str | None) -> str | None:
        if value is None:
            return None
        compact = value.replace(" ", "").upper()
        return f"{compact[:-3]} {compact[-3:]}"


class PropertyCreate(PropertyFields):
    owner: str | None = Field(None, min_length=2, max_length=63, description="organisation code")


REQUIRED_ON_CREATE = ("owner", "asset_ref", "name")
# Columns written to the database besides the geometry, in a stable order.
SCALAR_COLUMNS: tuple[str, ...] = tuple(
    name for name in PropertyCreate.model_fields if name not in ("geometry", "footprint")
)


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


def _footprint_wkt(footprint: PolygonGeometry | MultiPolygonGeometry, crs: crs_mod.Crs) -> str:
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
    return f"SRID=4326;{area.wkt}"


def validate_property(
    data: Any,
    crs: crs_mod.Crs = crs_mod.CRS84,
    *,
    creating: bool,
    index: int | None = None,
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
    errors: list[FieldError] = [
        FieldError(name, "contains a NUL character", index)
        for name, value in values.items()
        if isinstance(value, str) and "\x00" in value
    ]
    if creating:
        for name in REQUIRED_ON_CREATE:
            if values.get(name) in (None, ""):
                errors.append(FieldError(name, "is required", index))
    for name in ("owner", "asset_ref", "name", "use_category", "disposal_stage", "sensitive"):
        if name in values and values[name] is None and (creating or name != "owner"):
            if name in ("use_category", "disposal_stage", "sensitive"):
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
                values["footprint"] = _footprint_wkt(model.footprint, crs)
            except crs_mod.CoordinateError as exc:
                errors.append(FieldError("footprint", str(exc), index))
    if values.get("rag") is not None and not values.get("rag_reason") and creating:
        errors.append(FieldError("rag_reason", "a RAG rating needs a reason", index))
    if "disposal_blockers" in values and values["disposal_blockers"] is None:
        values["disposal_blockers"] = []
    if errors:
        raise ValidationFailed(errors)
    return values
