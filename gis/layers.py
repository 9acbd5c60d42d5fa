"""Map layers: the properties layer's tile rules, value bands and TileJSON.

Tiles are built in PostGIS (api/services/tiles.py); this module decides what a
tile holds. At low zoom a tile may cover a whole county or nation, so points
are aggregated onto a grid by rule (and the tile says so) instead of being
silently truncated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

WEB_MERCATOR_HALF_M = 20037508.342789244
TILE_EXTENT = 4096
TILE_BUFFER = 64
MAX_ZOOM = 22
# The database keeps each cluster grid cell's counts for zooms 0..AGGREGATE_MAX_LEVEL, on a
# grid of 2**GRID_SHIFT cells per tile side (migration 0003 holds these numbers as literals).
AGGREGATE_MAX_LEVEL = 9
GRID_SHIFT = 6

# value bands the map styles on; public viewers, who may not see values, get null
VALUE_BANDS_GBP: tuple[tuple[int, str], ...] = (
    (250_000, "under £250k"),
    (1_000_000, "£250k–£1m"),
    (5_000_000, "£1m–£5m"),
    (20_000_000, "£5m–£20m"),
)
TOP_BAND = "over £20m"
RAG_COLOURS: dict[str, str] = {"red": "#d7191c", "amber": "#fdae61", "green": "#1a9641", "none": "#7f7f7f"}


@dataclass(frozen=True)
class TileRules:
    """When to draw points and when to aggregate them."""

    points_min_zoom: int = 10  # below this zoom, always aggregate
    max_points_per_tile: int = 20_000  # above this count, aggregate even at high zoom
    grid_cells_per_side: int = 64  # aggregation grid: 64×64 cells per tile

    def mode_for(self, zoom: int, count: int) -> str:
        if zoom < self.points_min_zoom or count > self.max_points_per_tile:
            return "clusters"
        return "points"


def value_band_sql(value_expr: str) -> str:
    """SQL CASE giving the band label for a (possibly NULL) value expression."""
    whens = " ".join(f"WHEN {value_expr} < {limit} THEN '{label}'" for limit, label in VALUE_BANDS_GBP)
    return f"CASE WHEN {value_expr} IS NULL THEN NULL {whens} ELSE '{TOP_BAND}' END"


def valid_tile(zoom: int, row: int, col: int) -> bool:
    return 0 <= zoom <= MAX_ZOOM and 0 <= row < 2**zoom and 0 <= col < 2**zoom


def tile_bounds_3857(zoom: int, row: int, col: int) -> tuple[float, float, float, float]:
    """Return (minx, miny, maxx, maxy) in EPSG:3857 metres of a WebMercatorQuad tile."""
    size = 2 * WEB_MERCATOR_HALF_M / 2**zoom
    minx = -WEB_MERCATOR_HALF_M + col * size
    maxy = WEB_MERCATOR_HALF_M - row * size
    return minx, maxy - size, minx + size, maxy


# A view's totals read stored cells for the part of it made of whole cells: a level whose grid puts about
# this many cells across the view keeps both the cells read and the rim counted from rows small.
SUMMARY_CELLS_ACROSS = 128
_MERCATOR_MAX_LAT = 85.0511287798066
_EDGE_M = 1.0  # whole cells keep this far inside the view, so rounding never puts one of their points outside
# The Web Mercator world, which holds every stored point (each has a geom_3857): totals asked with no
# view are the totals of this one, read from its whole cells and a rim that holds nothing in Britain.
MERCATOR_WORLD = (-180.0, -_MERCATOR_MAX_LAT, 180.0, _MERCATOR_MAX_LAT)


@dataclass(frozen=True)
class WholeCells:
    """The stored grid cells at ``level`` lying wholly inside a lon/lat box, and their lon/lat extent."""

    level: int
    cx0: int
    cx1: int
    cy0: int  # cy counts down from the top of the world, as migration 0003's tile_cell(-y)
    cy1: int
    west: float
    south: float
    east: float
    north: float


def _mercator(lon: float, lat: float) -> tuple[float, float]:
    lat = max(-_MERCATOR_MAX_LAT, min(_MERCATOR_MAX_LAT, lat))
    x = lon * WEB_MERCATOR_HALF_M / 180.0
    y = math.log(math.tan(math.pi / 4 + math.radians(lat) / 2)) * WEB_MERCATOR_HALF_M / math.pi
    return x, y


def _lonlat(x: float, y: float) -> tuple[float, float]:
    lon = x * 180.0 / WEB_MERCATOR_HALF_M
    lat = math.degrees(2 * math.atan(math.exp(y * math.pi / WEB_MERCATOR_HALF_M)) - math.pi / 2)
    return lon, lat


def whole_cells(bbox: tuple[float, float, float, float]) -> WholeCells | None:
    """The block of stored cells wholly inside ``bbox`` (lon/lat), at a level putting ~128 across it.

    None when no whole cell fits (a view smaller than a cell of the finest level is counted from rows).
    """
    west, south, east, north = bbox
    x0, y0 = _mercator(west, south)
    x1, y1 = _mercator(east, north)
    width_m = max(x1 - x0, y1 - y0, 1e-3)
    across = math.floor(math.log2(SUMMARY_CELLS_ACROSS * 2 * WEB_MERCATOR_HALF_M / width_m))
    level = max(0, min(AGGREGATE_MAX_LEVEL, across - GRID_SHIFT))
    size = 2 * WEB_MERCATOR_HALF_M / 2 ** (level + GRID_SHIFT)
    cx0 = math.ceil((x0 + _EDGE_M + WEB_MERCATOR_HALF_M) / size)
    cx1 = math.floor((x1 - _EDGE_M + WEB_MERCATOR_HALF_M) / size) - 1
    cy0 = math.ceil((WEB_MERCATOR_HALF_M - y1 + _EDGE_M) / size)
    cy1 = math.floor((WEB_MERCATOR_HALF_M - y0 - _EDGE_M) / size) - 1
    if cx0 > cx1 or cy0 > cy1:
        return None
    w, n = _lonlat(-WEB_MERCATOR_HALF_M + cx0 * size, WEB_MERCATOR_HALF_M - cy0 * size)
    e, s = _lonlat(-WEB_MERCATOR_HALF_M + (cx1 + 1) * size, WEB_MERCATOR_HALF_M - (cy1 + 1) * size)
    return WholeCells(level, cx0, cx1, cy0, cy1, w, s, e, n)


def tilejson(
    tiles_url: str, bounds: tuple[float, float, float, float], rules: TileRules, name: str = "properties"
) -> dict[str, Any]:
    """TileJSON 3.0 for the properties layer, documenting both layers and the aggregation rule."""
    return {
        "tilejson": "3.0.0",
        "name": name,
        "description": (
            f"Public buildings. Below zoom {rules.points_min_zoom}, or where a tile would hold more than "
            f"{rules.max_points_per_tile} buildings, points are aggregated onto a "
            f"{rules.grid_cells_per_side}×{rules.grid_cells_per_side} grid in layer 'property_clusters' "
            "(count and RAG counts per cell); otherwise each building is a point in layer 'properties'. "
            "The response header X-Tile-Mode says which: 'points', 'clusters' (from the cells the database "
            "keeps, for filters on owner, use and rag) or 'clusters; source=live' (grouped from the rows, "
            "for other filters). Tiles take the register's filters as query parameters."
        ),
        "tiles": [tiles_url],
        "minzoom": 0,
        "maxzoom": MAX_ZOOM,
        "bounds": list(bounds),
        "center": [(bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2, 9],
        "scheme": "xyz",
        "vector_layers": [
            {
                "id": "properties",
                "description": "one point per building (feature id = integer fid)",
                "minzoom": rules.points_min_zoom,
                "maxzoom": MAX_ZOOM,
                "fields": {
                    "id": "String: register id (uuid)",
                    "name": "String",
                    "owner": "String: organisation code",
                    "rag": "String: red | amber | green (null if not visible to the caller)",
                    "use": "String: use category",
                    "value_band": "String: value band (null if not visible to the caller)",
                },
            },
            {
                "id": "property_clusters",
                "description": "aggregated buildings per grid cell at low zoom or in dense tiles",
                "minzoom": 0,
                "maxzoom": MAX_ZOOM,
                "fields": {
                    "count": "Number",
                    "red": "Number",
                    "amber": "Number",
                    "green": "Number",
                    "unrated": "Number",
                },
            },
        ],
        "aggregation": {
            "points_min_zoom": rules.points_min_zoom,
            "max_points_per_tile": rules.max_points_per_tile,
            "grid_cells_per_side": rules.grid_cells_per_side,
        },
    }
