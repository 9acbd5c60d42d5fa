"""Coordinate reference systems: the three we speak, transforms, and sanity checks.

Input coordinates are the commonest source of silent damage in a property
register: British National Grid metres typed into a longitude field, or
latitude and longitude swapped. Every point that enters the register passes
through :func:`to_lonlat`, which converts with pyproj and refuses anything
outside Great Britain with a message that says what was probably meant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from pyproj import Transformer

WGS84_SRID = 4326
BNG_SRID = 27700


@dataclass(frozen=True)
class Crs:
    """A CRS we support: its OGC URI, EPSG code and axis order on the wire."""

    uri: str
    srid: int
    # OGC API - Features Part 2: CRS84 is lon/lat, EPSG:4326 is lat/lon
    # (its authority's order), EPSG:27700 is easting/northing.
    lat_first: bool
    label: str


CRS84 = Crs("http://www.opengis.net/def/crs/OGC/1.3/CRS84", WGS84_SRID, False, "CRS84")
EPSG4326 = Crs("http://www.opengis.net/def/crs/EPSG/0/4326", WGS84_SRID, True, "EPSG:4326")
EPSG27700 = Crs("http://www.opengis.net/def/crs/EPSG/0/27700", BNG_SRID, False, "EPSG:27700")
SUPPORTED_CRS: tuple[Crs, ...] = (CRS84, EPSG4326, EPSG27700)

# Every name a CRS parameter accepts, as written (matched without regard to case or brackets).
CRS_NAMES: dict[str, Crs] = {}
for _crs in SUPPORTED_CRS:
    for _alias in (_crs.uri, _crs.label, _crs.uri.replace("http://", "https://")):
        CRS_NAMES[_alias] = _crs
CRS_NAMES["OGC:CRS84"] = CRS84
CRS_NAMES["urn:ogc:def:crs:OGC:1.3:CRS84"] = CRS84
CRS_NAMES["urn:ogc:def:crs:EPSG::4326"] = EPSG4326
CRS_NAMES["urn:ogc:def:crs:EPSG::27700"] = EPSG27700
CRS_NAMES["4326"] = EPSG4326
CRS_NAMES["27700"] = EPSG27700
_ALIASES: dict[str, Crs] = {name.lower(): crs for name, crs in CRS_NAMES.items()}


def crs_names(among: tuple[Crs, ...] = SUPPORTED_CRS) -> list[str]:
    """The names a CRS parameter accepts for the CRSs ``among`` (an OpenAPI enum)."""
    return [name for name, crs in CRS_NAMES.items() if crs in among]


# Great Britain with a small margin, in WGS84 degrees and in BNG metres. A
# bounding box, not a coastline: it catches the mix-ups that matter (metres as
# degrees, swapped axes, 0,0) without shipping a boundary file.
GB_LON_MIN, GB_LON_MAX = -8.75, 1.85
GB_LAT_MIN, GB_LAT_MAX = 49.8, 60.95
BNG_E_MIN, BNG_E_MAX = 0.0, 700_000.0
BNG_N_MIN, BNG_N_MAX = 0.0, 1_250_000.0


class CrsError(ValueError):
    """A CRS name we do not support."""


class CoordinateError(ValueError):
    """A coordinate that cannot be a place in Great Britain; the message says why."""


def parse_crs(text: str | None, default: Crs = CRS84) -> Crs:
    """Return the supported CRS named by an OGC URI, EPSG:n or CRS84; raise CrsError otherwise."""
    if text is None or text.strip() == "":
        return default
    crs = _ALIASES.get(text.strip().strip("[]").lower())
    if crs is None:
        supported = ", ".join(c.uri for c in SUPPORTED_CRS)
        raise CrsError(f"unsupported CRS {text!r}; supported: {supported}")
    return crs


@lru_cache(maxsize=8)
def transformer(from_srid: int, to_srid: int) -> Transformer:
    """Return a cached pyproj transformer that takes and gives x/y (lon/lat) order."""
    return Transformer.from_crs(f"EPSG:{from_srid}", f"EPSG:{to_srid}", always_xy=True)


def lonlat_to_bng(lon: float, lat: float) -> tuple[float, float]:
    """Return (easting, northing) in metres for a WGS84 lon/lat."""
    return transformer(WGS84_SRID, BNG_SRID).transform(lon, lat)


def bng_to_lonlat(easting: float, northing: float) -> tuple[float, float]:
    """Return (lon, lat) in degrees for a British National Grid easting/northing."""
    return transformer(BNG_SRID, WGS84_SRID).transform(easting, northing)


def in_gb_lonlat(lon: float, lat: float) -> bool:
    return GB_LON_MIN <= lon <= GB_LON_MAX and GB_LAT_MIN <= lat <= GB_LAT_MAX


def in_gb_bng(easting: float, northing: float) -> bool:
    if not (BNG_E_MIN < easting <= BNG_E_MAX and BNG_N_MIN < northing <= BNG_N_MAX):
        return False
    return in_gb_lonlat(*bng_to_lonlat(easting, northing))


def looks_like_degrees(a: float, b: float) -> bool:
    return abs(a) <= 180 and abs(b) <= 180


def _require_finite(a: float, b: float) -> None:
    if not (math.isfinite(a) and math.isfinite(b)):
        raise CoordinateError("coordinates must be finite numbers (no NaN or Infinity)")


def to_lonlat(first: float, second: float, crs: Crs = CRS84) -> tuple[float, float]:
    """Return WGS84 (lon, lat) for a point given in ``crs`` wire order, or raise CoordinateError.

    Detects the usual mix-ups and says what was probably meant: BNG metres
    sent as degrees, degrees sent as BNG, and swapped axes.
    """
    _require_finite(first, second)
    if crs.srid == BNG_SRID:
        easting, northing = first, second
        if looks_like_degrees(easting, northing):
            raise CoordinateError(
                f"({easting}, {northing}) look like longitude/latitude degrees, not British "
                "National Grid metres; send them without crs (CRS84, [lon, lat])"
            )
        if in_gb_bng(easting, northing):
            return bng_to_lonlat(easting, northing)
        if in_gb_bng(northing, easting):
            raise CoordinateError(
                f"easting and northing appear swapped: ({easting}, {northing}) is outside Great "
                f"Britain but ({northing}, {easting}) is inside; send [easting, northing]"
            )
        raise CoordinateError(f"easting/northing ({easting}, {northing}) is outside Great Britain")

    lon, lat = (second, first) if crs.lat_first else (first, second)
    order = "[lat, lon]" if crs.lat_first else "[lon, lat]"
    if not looks_like_degrees(lon, lat) or abs(lat) > 90:
        if in_gb_bng(first, second):
            return _raise_bng_as_degrees(first, second)
        raise CoordinateError(f"({first}, {second}) are not valid degrees for {crs.label} {order}")
    if in_gb_lonlat(lon, lat):
        return lon, lat
    if in_gb_lonlat(lat, lon):
        raise CoordinateError(
            f"latitude and longitude appear swapped: {crs.label} expects {order}, and "
            f"({first}, {second}) is only inside Great Britain the other way round"
        )
    raise CoordinateError(f"point ({first}, {second}) in {crs.label} {order} is outside Great Britain")


def _raise_bng_as_degrees(easting: float, northing: float) -> tuple[float, float]:
    lon, lat = bng_to_lonlat(easting, northing)
    raise CoordinateError(
        f"({easting}, {northing}) look like British National Grid metres sent as degrees "
        f"(probably lon {lon:.6f}, lat {lat:.6f}); send crs=EPSG:27700 or convert to lon/lat"
    )


def from_lonlat(lon: float, lat: float, crs: Crs) -> tuple[float, float]:
    """Return a WGS84 point in ``crs`` wire order."""
    if crs.srid == BNG_SRID:
        return lonlat_to_bng(lon, lat)
    return (lat, lon) if crs.lat_first else (lon, lat)
