"""What the map page draws when the online basemap is out of reach: town names and each body's estate extent."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from gis import visibility

ESTATE_POINT_BUFFER_M = 300  # a body with one building (or a line of them) still gets an area to see


def wayfinding(conn: Connection, viewer: visibility.Viewer) -> dict[str, Any]:
    """Return a GeoJSON FeatureCollection of post towns (points) and estate extents (polygons).

    A town sits at the median of its buildings' coordinates, so one mis-placed
    record does not drag the label away; both come from records the viewer may see.
    """
    where = visibility.sql_filter(viewer, "p") + " AND p.deleted_at IS NULL AND p.geom IS NOT NULL"
    params = visibility.sql_params(viewer)
    sql = f"""
        WITH towns AS (
          SELECT mode() WITHIN GROUP (ORDER BY p.post_town) AS name, count(*) AS buildings,
                 percentile_cont(0.5) WITHIN GROUP (ORDER BY ST_X(p.geom)) AS lon,
                 percentile_cont(0.5) WITHIN GROUP (ORDER BY ST_Y(p.geom)) AS lat
          FROM property p WHERE {where} AND coalesce(trim(p.post_town), '') <> ''
          GROUP BY lower(trim(p.post_town))
        ),
        estates AS (
          SELECT p.owner, count(*) AS buildings, ST_ConvexHull(ST_Collect(p.geom)) AS hull
          FROM property p WHERE {where} GROUP BY p.owner
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
