"""What is in view: counts, floor area, value and RAG split of a filtered set, and a page of it, in one query."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, text

from api.services.filters import PropertyFilter
from gis import visibility
from gis.errors import FieldError, ValidationFailed

# sort key -> SQL over the projected columns (never the raw ones: a hidden value must not order the list)
SORT_KEYS: dict[str, str] = {
    "name": "f.name",
    "owner": "f.owner",
    "post_town": "f.post_town",
    "use_category": "f.use_category",
    "gia_m2": "f.gia_m2",
    "value_gbp": "f.value_gbp",
    "rag": "CASE f.rag WHEN 'red' THEN 0 WHEN 'amber' THEN 1 WHEN 'green' THEN 2 ELSE 3 END",
}
ITEM_COLUMNS = (
    "id",
    "name",
    "owner",
    "post_town",
    "use_category",
    "rag",
    "gia_m2",
    "value_gbp",
    "lon",
    "lat",
)


def parse_sort(raw: str) -> tuple[str, bool]:
    """Return (key, descending) from ``name`` or ``-value_gbp``; raise ValidationFailed naming ``sort``."""
    descending = raw.startswith("-")
    key = raw[1:] if descending else raw
    if key not in SORT_KEYS:
        raise ValidationFailed(
            [FieldError("sort", f"one of {', '.join(SORT_KEYS)}, optionally with a leading '-'")]
        )
    return key, descending


def summarise(
    conn: Connection,
    flt: PropertyFilter,
    viewer: visibility.Viewer,
    *,
    sort: str = "name",
    limit: int = 25,
    offset: int = 0,
) -> dict[str, Any]:
    """Return the totals of every record matching ``flt`` the viewer may see, and one sorted page of them."""
    key, descending = parse_sort(sort)
    where, params = flt.where(viewer)
    rag = visibility.sql_column("rag", viewer, "p")
    value = visibility.sql_column("value_gbp", viewer, "p")
    gia = visibility.sql_column("gia_m2", viewer, "p")
    direction = "DESC NULLS LAST" if descending else "ASC NULLS LAST"
    params.update(limit=limit, offset=offset)
    # Casts: a field the viewer may not see is an untyped NULL. One statement; the CTE is inlined into both uses, so the totals scan reads no text
    # columns and the page is a top-N sort, each planned on the same indexes.
    sql = f"""
        WITH f AS NOT MATERIALIZED (
          SELECT p.id::text AS id, p.name, p.owner, p.post_town, p.use_category, ({rag})::text AS rag,
                 ({gia})::float8 AS gia_m2, ({value})::bigint AS value_gbp, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat
          FROM property p WHERE {where}
        ),
        page AS (
          SELECT f.*, row_number() OVER (ORDER BY {SORT_KEYS[key]} {direction}, f.id) AS n
          FROM f ORDER BY {SORT_KEYS[key]} {direction}, f.id LIMIT :limit OFFSET :offset
        )
        SELECT count(*) AS count,
               coalesce(sum(f.gia_m2), 0)::float AS gia_m2,
               count(f.gia_m2) AS gia_known,
               sum(f.value_gbp)::bigint AS value_gbp,
               count(f.value_gbp) AS value_known,
               count(*) FILTER (WHERE f.rag = 'red') AS red,
               count(*) FILTER (WHERE f.rag = 'amber') AS amber,
               count(*) FILTER (WHERE f.rag = 'green') AS green,
               count(*) FILTER (WHERE f.rag IS NULL) AS unrated,
               (SELECT coalesce(json_agg(json_build_object({", ".join(f"'{c}', page.{c}" for c in ITEM_COLUMNS)})
                                         ORDER BY page.n), '[]'::json) FROM page) AS items
        FROM f"""
    row = conn.execute(text(sql), params).mappings().one()
    count = int(row["count"])
    return {
        "count": count,
        "gia_m2": round(float(row["gia_m2"]), 1),
        "gia_known": int(row["gia_known"]),
        "value_gbp": int(row["value_gbp"]) if row["value_gbp"] is not None else None,
        "value_known": int(row["value_known"]),
        "rag": {k: int(row[k]) for k in ("red", "amber", "green", "unrated")},
        "items": row["items"],
        "sort": sort,
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if offset + limit < count else None,
    }
