"""Vector tiles of the properties layer, built by PostGIS (ST_AsMVT) from indexed geometry."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import Connection, text

from api.services.filters import PropertyFilter
from gis import visibility
from gis.layers import TILE_BUFFER, TILE_EXTENT, TileRules, tile_bounds_3857, value_band_sql


@dataclass(frozen=True)
class Tile:
    data: bytes
    mode: str  # points | clusters
    count: int

    @property
    def etag(self) -> str:
        # The tile's bytes carry every attribute drawn, so a change to any
        # building in the tile changes its ETag, and nothing else does.
        return '"' + hashlib.sha256(self.data).hexdigest()[:32] + '"'


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


def render_tile(
    conn: Connection,
    zoom: int,
    row: int,
    col: int,
    flt: PropertyFilter,
    viewer: visibility.Viewer,
    rules: TileRules,
) -> Tile:
    """Return the MVT for one WebMercatorQuad tile, aggregated by ``rules`` when dense."""
    where, params = flt.where(viewer)
    params.update(_envelope_params(zoom, row, col))
    in_tile = "p.geom_3857 && ST_MakeEnvelope(:q_minx, :q_miny, :q_maxx, :q_maxy, 3857)"
    env = "ST_MakeEnvelope(:t_minx, :t_miny, :t_maxx, :t_maxy, 3857)"
    count = 0
    if zoom >= rules.points_min_zoom:
        params["cap"] = rules.max_points_per_tile + 1
        count = conn.execute(
            text(f"SELECT count(*) FROM (SELECT 1 FROM property p WHERE {where} AND {in_tile} LIMIT :cap) s"),
            params,
        ).scalar_one()
    mode = rules.mode_for(zoom, count)
    rag = visibility.sql_column("rag", viewer, "p")
    if mode == "points":
        value = visibility.sql_column("value_gbp", viewer, "p")
        sql = f"""
            SELECT ST_AsMVT(t, 'properties', {TILE_EXTENT}, 'geom', 'fid') FROM (
              SELECT p.fid, p.id::text AS id, p.name, p.owner, {rag} AS rag, p.use_category AS use,
                     {value_band_sql(value)} AS value_band,
                     ST_AsMVTGeom(p.geom_3857, {env}, {TILE_EXTENT}, {TILE_BUFFER}, true) AS geom
              FROM property p WHERE {where} AND {in_tile}
            ) t WHERE t.geom IS NOT NULL"""
    else:
        params["cell_m"] = (params["t_maxx"] - params["t_minx"]) / rules.grid_cells_per_side
        sql = f"""
            SELECT ST_AsMVT(t, 'property_clusters', {TILE_EXTENT}, 'geom') FROM (
              SELECT count(*) AS count,
                     count(*) FILTER (WHERE {rag} = 'red') AS red,
                     count(*) FILTER (WHERE {rag} = 'amber') AS amber,
                     count(*) FILTER (WHERE {rag} = 'green') AS green,
                     count(*) FILTER (WHERE {rag} IS NULL) AS unrated,
                     ST_AsMVTGeom(ST_Centroid(ST_Collect(p.geom_3857)), {env}, {TILE_EXTENT}, {TILE_BUFFER}, true) AS geom
              FROM property p WHERE {where} AND {in_tile}
              GROUP BY ST_SnapToGrid(p.geom_3857, :t_minx, :t_miny, :cell_m, :cell_m)
            ) t WHERE t.geom IS NOT NULL"""
    data = conn.execute(text(sql), params).scalar_one()
    return Tile(bytes(data or b""), mode, count)


_PUBLIC_BOUNDS: dict[str, tuple[int, tuple[float, float, float, float]]] = {}
ENGLAND_AND_WALES_LONLAT = (-8.75, 49.8, 1.85, 60.95)


def register_bounds(conn: Connection, viewer: visibility.Viewer) -> tuple[float, float, float, float]:
    """Lon/lat extent of what ``viewer`` may see of the register.

    Callers who see every record get the planner's estimate (cheap at any
    size). For the rest a sensitive record must not widen the extent (its
    edge would give its place away), so the extent is computed over what they
    may see, and kept until the change feed moves on.
    """
    if visibility.sql_filter(viewer) == "true":
        row = conn.execute(
            text(
                "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                "(SELECT ST_EstimatedExtent('public', 'property', 'geom')::geometry AS e) s"
            )
        ).one()
        if row[0] is not None:
            return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
    head = int(conn.execute(text("SELECT coalesce(max(seq), 0) FROM feed_tx")).scalar_one())
    key = f"{viewer.tier}:{viewer.org}"
    cached = _PUBLIC_BOUNDS.get(key)
    if cached and cached[0] == head:
        return cached[1]
    params = visibility.sql_params(viewer)
    row = conn.execute(
        text(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
            f"(SELECT ST_Extent(p.geom) AS e FROM property p WHERE p.deleted_at IS NULL "
            f"AND {visibility.sql_filter(viewer)}) s"
        ),
        params,
    ).one()
    bounds = ENGLAND_AND_WALES_LONLAT if row[0] is None else tuple(float(v) for v in row)
    _PUBLIC_BOUNDS[key] = (head, bounds)  # type: ignore[assignment]
    return bounds  # type: ignore[return-value]
