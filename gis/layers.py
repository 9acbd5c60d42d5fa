"""Map layers: the properties layer's tile rules, value bands and TileJSON.

Tiles are built in PostGIS (api/services/tiles.py); this module decides what a
tile holds. At low zoom a tile may cover a whole county or nation, so points
are aggregated onto a grid by rule (and the tile says so) instead of being
silently truncated.
"""

from __future__ import annotations

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
