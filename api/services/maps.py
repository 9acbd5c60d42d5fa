"""What the map page draws when the online basemap is out of reach: town names and each body's estate extent."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from api.services.revision import REGISTER_REVISION_SQL
from gis import visibility

ESTATE_POINT_BUFFER_M = 300  # a body with one building (or a line of them) still gets an area to see


# Per what a viewer may see: (the register's state — database, change feed head, bodies' names —, the collection).
_WAYFINDING: dict[str, tuple[str, dict[str, Any]]] = {}


def wayfinding(conn: Connection, viewer: visibility.Viewer) -> dict[str, Any]:
    """The wayfinding collection for this viewer, recomputed only after the register changed
    (it groups every building: about a second at a million)."""
    head = conn.execute(
        text(
            # Organisation names are drawn too, and renaming one is no change to the register.
            f"SELECT concat_ws(':', {REGISTER_REVISION_SQL}, "
            "(SELECT md5(coalesce(string_agg(code || '=' || name, ',' ORDER BY code), '')) FROM organisation))"
        )
    ).scalar_one()
    key = f"{viewer.tier}:{viewer.org}:{viewer.admin}"
    cached = _WAYFINDING.get(key)
    if cached and cached[0] == head:
        return cached[1]
    body = _wayfinding(conn, viewer)
    _WAYFINDING[key] = (head, body)
    return body


def _wayfinding(conn: Connection, viewer: visibility.Viewer) -> dict[str, Any]:
    """Return a GeoJSON FeatureCollection of post towns (points) and estate extents (polygons).

    One scan groups the buildings by body and town; a town sits at the mean of its buildings,
    and a body's extent is the convex hull of its towns' bounding boxes, which encloses every
    one of its buildings (a hull of every point costs five times as much at 10^5 buildings).
    Both come from records the viewer may see.
    """
    where = visibility.sql_filter(viewer, "p") + " AND p.deleted_at IS NULL AND p.geom IS NOT NULL"
    params = visibility.sql_params(viewer)
    sql = f"""
        WITH g AS (
          SELECT p.owner, lower(trim(coalesce(p.post_town, ''))) AS town_key, min(p.post_town) AS town,
                 count(*) AS n, sum(ST_X(p.geom)) AS sx, sum(ST_Y(p.geom)) AS sy, ST_Extent(p.geom)::geometry AS box
          FROM property p WHERE {where} GROUP BY 1, 2
        ),
        towns AS (
          SELECT min(town) AS name, sum(n) AS buildings, sum(sx) / sum(n) AS lon, sum(sy) / sum(n) AS lat
          FROM g WHERE town_key <> '' GROUP BY town_key
        ),
        estates AS (
          SELECT owner, sum(n) AS buildings, ST_ConvexHull(ST_Collect(box)) AS hull FROM g GROUP BY owner
        )
        SELECT json_build_object('type', 'FeatureCollection', 'features',
          coalesce((SELECT json_agg(json_build_object(
              'type', 'Feature',
              'geometry', json_build_object('type', 'Point', 'coordinates', json_build_array(round(t.lon::numeric, 6), round(t.lat::numeric, 6))),
              'properties', json_build_object('kind', 'town', 'name', t.name, 'buildings', t.buildings))
              ORDER BY t.buildings DESC, t.name) FROM towns t), '[]'::json)::jsonb
          || coalesce((SELECT json_agg(json_build_object(
              'type', 'Feature',
              'geometry', ST_AsGeoJSON(CASE WHEN GeometryType(e.hull) = 'POLYGON' THEN e.hull
                  ELSE ST_Buffer(e.hull::geography, {ESTATE_POINT_BUFFER_M})::geometry END, 5)::json,
              'properties', json_build_object('kind', 'estate', 'owner', e.owner, 'name', o.name, 'buildings', e.buildings))
              ORDER BY e.owner) FROM estates e JOIN organisation o ON o.code = e.owner), '[]'::json)::jsonb)
    """
    return conn.execute(text(sql), params).scalar_one()
