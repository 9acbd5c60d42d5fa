"""Vector tiles of the properties layer, built by PostGIS (ST_AsMVT), cached in PostgreSQL.

Low zooms read the grid cells the database keeps in ``tile_aggregate``
(migration 0003) instead of grouping every row; a filter those cells cannot
answer falls back to grouping the rows and says so (``X-Tile-Mode:
clusters; source=live``). High zooms read indexed points.

The cache is a table, so every worker shares it and a write's own transaction
deletes the tiles it touches (see the migration for why that cannot race).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text
from sqlalchemy.ext.asyncio import AsyncConnection

from api.services.filters import PropertyFilter
from api.services.revision import REGISTER_REVISION_SQL
from gis import visibility
from gis.layers import (
    AGGREGATE_MAX_LEVEL,
    GRID_SHIFT,
    TILE_BUFFER,
    TILE_EXTENT,
    WEB_MERCATOR_HALF_M,
    TileRules,
    tile_bounds_3857,
    value_band_sql,
)

MODE_POINTS = "points"
MODE_CLUSTERS = "clusters"  # drawn from the aggregates
MODE_LIVE_CLUSTERS = "clusters; source=live"  # grouped from the rows: the filter needs fields cells lack


@dataclass(frozen=True)
class Tile:
    data: bytes
    mode: str
    etag: str
    cached: bool = False


def _etag(data: bytes) -> str:
    # The bytes carry every attribute drawn: a change to any building in the tile changes the ETag.
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def _envelope_params(zoom: int, row: int, col: int) -> dict[str, float]:
    minx, miny, maxx, maxy = tile_bounds_3857(zoom, row, col)
    margin = (maxx - minx) * TILE_BUFFER / TILE_EXTENT
    return {
        "t_minx": minx,
        "t_miny": miny,
        "t_maxx": maxx,
        "t_maxy": maxy,
        "q_minx": minx - margin,
        "q_miny": miny - margin,
        "q_maxx": maxx + margin,
        "q_maxy": maxy + margin,
    }


ENV = "ST_MakeEnvelope(:t_minx, :t_miny, :t_maxx, :t_maxy, 3857)"
IN_TILE = "p.geom_3857 && ST_MakeEnvelope(:q_minx, :q_miny, :q_maxx, :q_maxy, 3857)"


def _cell_range(zoom: int, index: int, level: int) -> tuple[int, int]:
    """Cells at ``level`` covering tile ``index`` at ``zoom`` and its buffer (one cell each side)."""
    shift = level + GRID_SHIFT - zoom
    if shift >= 0:
        return (index << shift) - 1, ((index + 1) << shift)
    cell = index >> -shift
    return cell - 1, cell + 1


def _rag_counts(rag: str, weight: str) -> str:
    return ", ".join(
        f"coalesce(sum({weight}) FILTER (WHERE {rag} {test}), 0) AS {name}"
        for name, test in (
            ("red", "= 'red'"),
            ("amber", "= 'amber'"),
            ("green", "= 'green'"),
            ("unrated", "IS NULL"),
        )
    )


def cells_table(flt: PropertyFilter, viewer: visibility.Viewer) -> str:
    """The cells summed over owner and use serve any request that neither filters on them nor
    has owner rights that change what it sees (visibility then reads only sensitive and rag)."""
    owner_rights = viewer.org is not None and not viewer.admin and viewer.tier < visibility.Tier.partner
    if flt.owner or flt.use or owner_rights:
        return "tile_aggregate"
    return "tile_aggregate_total"


def aggregate_clusters_sql(
    zoom: int, row: int, col: int, flt: PropertyFilter, viewer: visibility.Viewer
) -> tuple[str, dict[str, Any]]:
    """SQL of a cluster tile read from the stored grid cells of its zoom."""
    where, params = flt.where(viewer, "a", aggregates=True)
    params.update(_envelope_params(zoom, row, col))
    params["cx0"], params["cx1"] = _cell_range(zoom, col, zoom)
    params["cy0"], params["cy1"] = _cell_range(zoom, row, zoom)
    params["level"] = zoom
    rag = visibility.sql_column("rag", viewer, "a")
    sql = f"""
        SELECT ST_AsMVT(t, 'property_clusters', {TILE_EXTENT}, 'geom') FROM (
          SELECT sum(a.n) AS count, {_rag_counts(rag, "a.n")},
                 ST_AsMVTGeom(ST_SetSRID(ST_MakePoint(sum(a.sum_x) / sum(a.n), sum(a.sum_y) / sum(a.n)), 3857),
                              {ENV}, {TILE_EXTENT}, {TILE_BUFFER}, true) AS geom
          FROM {cells_table(flt, viewer)} a
          WHERE a.level = :level AND a.cx BETWEEN :cx0 AND :cx1 AND a.cy BETWEEN :cy0 AND :cy1
            AND a.n > 0 AND {where}
          GROUP BY a.cy, a.cx ORDER BY a.cy, a.cx
        ) t WHERE t.geom IS NOT NULL"""
    return sql, params


# The cell of a row on the tile's grid: floor, as the stored cells are counted (migration 0003).
_LIVE_CELL = "floor((:t_maxy - ST_Y(p.geom_3857)) / :cell_m), floor((ST_X(p.geom_3857) - :t_minx) / :cell_m)"


def live_clusters_sql(
    zoom: int,
    row: int,
    col: int,
    flt: PropertyFilter,
    viewer: visibility.Viewer,
    rules: TileRules,
) -> tuple[str, dict[str, Any]]:
    """SQL of a cluster tile grouped from the rows, on the same grid as the stored cells."""
    where, params = flt.where(viewer)
    params.update(_envelope_params(zoom, row, col))
    params["cell_m"] = (params["t_maxx"] - params["t_minx"]) / rules.grid_cells_per_side
    rag = visibility.sql_column("rag", viewer, "p")
    sql = f"""
        SELECT ST_AsMVT(t, 'property_clusters', {TILE_EXTENT}, 'geom') FROM (
          SELECT count(*) AS count, {_rag_counts(rag, "1")},
                 ST_AsMVTGeom(ST_Centroid(ST_Collect(p.geom_3857)), {ENV}, {TILE_EXTENT}, {TILE_BUFFER}, true) AS geom
          FROM property p WHERE {where} AND {IN_TILE}
          GROUP BY {_LIVE_CELL} ORDER BY {_LIVE_CELL}
        ) t WHERE t.geom IS NOT NULL"""
    return sql, params


def points_sql(
    zoom: int, row: int, col: int, flt: PropertyFilter, viewer: visibility.Viewer
) -> tuple[str, dict[str, Any]]:
    """SQL of a point tile: one feature per building, feature id = fid."""
    where, params = flt.where(viewer)
    params.update(_envelope_params(zoom, row, col))
    rag = visibility.sql_column("rag", viewer, "p")
    value = visibility.sql_column("value_gbp", viewer, "p")
    sql = f"""
        SELECT ST_AsMVT(t, 'properties', {TILE_EXTENT}, 'geom', 'fid') FROM (
          SELECT p.fid, p.id::text AS id, p.name, p.owner, {rag} AS rag, p.use_category AS use,
                 {value_band_sql(value)} AS value_band,
                 ST_AsMVTGeom(p.geom_3857, {ENV}, {TILE_EXTENT}, {TILE_BUFFER}, true) AS geom
          FROM property p WHERE {where} AND {IN_TILE}
        ) t WHERE t.geom IS NOT NULL"""
    return sql, params


def upper_count_sql(
    zoom: int, row: int, col: int, flt: PropertyFilter, viewer: visibility.Viewer
) -> tuple[str, dict[str, Any]]:
    """SQL of a cheap upper bound on a high-zoom tile's buildings, from the finest stored cells."""
    where, params = flt.where(viewer, "a", aggregates=True)
    params["cx0"], params["cx1"] = _cell_range(zoom, col, AGGREGATE_MAX_LEVEL)
    params["cy0"], params["cy1"] = _cell_range(zoom, row, AGGREGATE_MAX_LEVEL)
    params["level"] = AGGREGATE_MAX_LEVEL
    sql = f"""SELECT coalesce(sum(a.n), 0) FROM {cells_table(flt, viewer)} a
              WHERE a.level = :level AND a.cx BETWEEN :cx0 AND :cx1 AND a.cy BETWEEN :cy0 AND :cy1 AND {where}"""
    return sql, params


async def _live_count(
    conn: AsyncConnection,
    zoom: int,
    row: int,
    col: int,
    flt: PropertyFilter,
    viewer: visibility.Viewer,
    cap: int,
) -> int:
    where, params = flt.where(viewer)
    params.update(_envelope_params(zoom, row, col))
    params["cap"] = cap
    sql = f"SELECT count(*) FROM (SELECT 1 FROM property p WHERE {where} AND {IN_TILE} LIMIT :cap) s"
    return int((await conn.execute(text(sql), params)).scalar_one())


async def choose_mode(
    conn: AsyncConnection,
    zoom: int,
    row: int,
    col: int,
    flt: PropertyFilter,
    viewer: visibility.Viewer,
    rules: TileRules,
) -> str:
    """Points where the tile holds few enough buildings, else clusters (stored cells where they can answer)."""
    stored = flt.aggregable and rules.grid_cells_per_side == 2**GRID_SHIFT
    if zoom < rules.points_min_zoom:
        return MODE_CLUSTERS if stored and zoom <= AGGREGATE_MAX_LEVEL else MODE_LIVE_CLUSTERS
    if stored:
        sql, params = upper_count_sql(zoom, row, col, flt, viewer)
        if int((await conn.execute(text(sql), params)).scalar_one()) <= rules.max_points_per_tile:
            return MODE_POINTS
    count = await _live_count(conn, zoom, row, col, flt, viewer, rules.max_points_per_tile + 1)
    return MODE_POINTS if count <= rules.max_points_per_tile else MODE_LIVE_CLUSTERS


async def render_tile(
    conn: AsyncConnection,
    zoom: int,
    row: int,
    col: int,
    flt: PropertyFilter,
    viewer: visibility.Viewer,
    rules: TileRules,
) -> Tile:
    """Return the MVT for one WebMercatorQuad tile, rendered now (no cache)."""
    mode = await choose_mode(conn, zoom, row, col, flt, viewer, rules)
    if mode == MODE_POINTS:
        sql, params = points_sql(zoom, row, col, flt, viewer)
    elif mode == MODE_CLUSTERS:
        sql, params = aggregate_clusters_sql(zoom, row, col, flt, viewer)
    else:
        sql, params = live_clusters_sql(zoom, row, col, flt, viewer, rules)
    data = bytes((await conn.execute(text(sql), params)).scalar_one() or b"")
    return Tile(data, mode, _etag(data))


def cache_variant(zoom: int, flt: PropertyFilter, viewer: visibility.Viewer, rules: TileRules) -> str:
    """The part of a cache key besides the tile: filters and what the caller may see.

    Cluster tiles show no per-owner field, so every partner shares them; point
    tiles show values whose visibility depends on the caller's organisation. The
    tile rules are part of the key: the same tile is drawn differently under others.
    """
    if viewer.admin:
        who = "admin"
    elif viewer.tier >= visibility.Tier.partner and zoom < rules.points_min_zoom:
        who = "partner"
    else:
        who = f"{viewer.tier.name}:{viewer.org or ''}:{int(viewer.public_rag)}"
    drawn = f"{rules.points_min_zoom}:{rules.max_points_per_tile}:{rules.grid_cells_per_side}"
    return f"{who}|{drawn}|{flt.cache_key()}"


async def cached_tile(
    conn: AsyncConnection,
    zoom: int,
    row: int,
    col: int,
    flt: PropertyFilter,
    viewer: visibility.Viewer,
    rules: TileRules,
    *,
    max_tiles: int,
) -> Tile:
    """The tile from the shared cache, or rendered and cached unless a write committed meanwhile."""
    if max_tiles <= 0:
        return await render_tile(conn, zoom, row, col, flt, viewer, rules)
    key = {"z": zoom, "x": col, "y": row, "variant": cache_variant(zoom, flt, viewer, rules)}
    found = (
        await conn.execute(
            text(
                "SELECT g.generation, c.data, c.etag, c.mode FROM tile_cache_state g LEFT JOIN tile_cache c "
                "ON c.z = :z AND c.x = :x AND c.y = :y AND c.variant = :variant"
            ),
            key,
        )
    ).one()
    if found.data is not None:
        return Tile(bytes(found.data), found.mode, found.etag, cached=True)
    tile = await render_tile(conn, zoom, row, col, flt, viewer, rules)
    # Cached only if no write committed since the generation was read (the share lock
    # waits for a committing writer), so a tile older than a write never outlives it.
    stored = (
        await conn.execute(
            text(
                "WITH g AS (SELECT 1 FROM tile_cache_state WHERE generation = :generation FOR SHARE) "
                "INSERT INTO tile_cache (z, x, y, variant, mode, etag, data) "
                "SELECT :z, :x, :y, :variant, :mode, :etag, :data FROM g ON CONFLICT DO NOTHING RETURNING id"
            ),
            {**key, "generation": found.generation, "mode": tile.mode, "etag": tile.etag, "data": tile.data},
        )
    ).scalar()
    if stored is not None and stored % 64 == 0:
        # First in, first out, trimmed every 64 inserts: at most max_tiles + 63 tiles are kept.
        await conn.execute(text("DELETE FROM tile_cache WHERE id <= :oldest"), {"oldest": stored - max_tiles})
    await conn.commit()
    return tile


_PUBLIC_BOUNDS: dict[str, tuple[str, tuple[float, float, float, float]]] = {}
BOUNDS_LEVEL = 6  # stored cells of zoom 12 (~6 km across in England) frame a restricted viewer's extent
ENGLAND_AND_WALES_LONLAT = (-8.75, 49.8, 1.85, 60.95)


async def register_bounds(
    conn: AsyncConnection, viewer: visibility.Viewer
) -> tuple[float, float, float, float]:
    """Lon/lat extent of what ``viewer`` may see of the register.

    Callers who see every record get the planner's estimate (cheap at any
    size). For the rest a sensitive record must not widen the extent (its
    edge would give its place away), so the extent is computed over what they
    may see, and kept until the change feed moves on.
    """
    if visibility.sql_filter(viewer) == "true":
        row = (
            await conn.execute(
                text(
                    "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                    "(SELECT ST_EstimatedExtent('public', 'property', 'geom')::geometry AS e) s"
                )
            )
        ).one()
        if row[0] is not None:
            return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
    head = (await conn.execute(text(f"SELECT {REGISTER_REVISION_SQL}"))).scalar_one()
    key = f"{viewer.tier}:{viewer.org}"
    cached = _PUBLIC_BOUNDS.get(key)
    if cached and cached[0] == head:
        return cached[1]
    params: dict[str, Any] = visibility.sql_params(viewer)
    # The stored cells of one level give the block of cells holding what the viewer may see; the exact
    # edges come from the rows of its outermost columns and rows of cells only (a million-row
    # ST_Extent took half a second, paid again after every write).
    table = "tile_aggregate" if viewer.org and not viewer.admin else "tile_aggregate_total"
    cells = (
        await conn.execute(
            text(
                f"SELECT min(a.cx), max(a.cx), min(a.cy), max(a.cy) FROM {table} a "
                f"WHERE a.level = :level AND a.n > 0 AND {visibility.sql_filter(viewer, 'a')}"
            ),
            {**params, "level": BOUNDS_LEVEL},
        )
    ).one()
    edges: Any = (None,)
    if cells[0] is not None:
        size = 2 * WEB_MERCATOR_HALF_M / 2 ** (BOUNDS_LEVEL + GRID_SHIFT)
        x0, x1 = -WEB_MERCATOR_HALF_M + cells[0] * size - 1, -WEB_MERCATOR_HALF_M + (cells[1] + 1) * size + 1
        y0, y1 = WEB_MERCATOR_HALF_M - (cells[3] + 1) * size - 1, WEB_MERCATOR_HALF_M - cells[2] * size + 1
        # Each edge: its strip of outermost cells (metres, padded outward so a point on a cell's edge is
        # in it whatever the rounding) and what to take there, in the order of a bbox.
        sides = (
            ("west", (x0, y0, x0 + size + 2, y1), "min(ST_X(p.geom))"),
            ("south", (x0, y0, x1, y0 + size + 2), "min(ST_Y(p.geom))"),
            ("east", (x1 - size - 2, y0, x1, y1), "max(ST_X(p.geom))"),
            ("north", (x0, y1 - size - 2, x1, y1), "max(ST_Y(p.geom))"),
        )
        parts = []
        for side, box, take in sides:
            params.update({f"{side}_{i}": v for i, v in enumerate(box)})
            envelope = f"ST_MakeEnvelope(:{side}_0, :{side}_1, :{side}_2, :{side}_3, 3857)"
            parts.append(
                f"(SELECT {take} FROM property p WHERE p.deleted_at IS NULL AND p.geom_3857 && {envelope} "
                f"AND {visibility.sql_filter(viewer)})"
            )
        edges = (await conn.execute(text(f"SELECT {', '.join(parts)}"), params)).one()
    bounds = ENGLAND_AND_WALES_LONLAT if edges[0] is None else tuple(float(v) for v in edges)
    _PUBLIC_BOUNDS[key] = (head, bounds)  # type: ignore[assignment]
    return bounds  # type: ignore[return-value]


def rebuild_aggregates(conn: Connection) -> int:
    """Recount every stored grid cell and empty the cache (after a bulk load with triggers off)."""
    return int(conn.execute(text("SELECT tile_aggregate_rebuild()")).scalar_one())
