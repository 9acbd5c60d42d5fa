"""What is in view: counts, floor area, value and RAG split of a filtered set, and a page of it.

At a national view the set is a million buildings, and summing them row by row took 4.7 s. So the
totals of a map view (a bbox, with at most the owner, use and RAG filters the map offers) read the
grid cells the database keeps (migrations 0003 and 0010) for the block of whole cells inside the
view, and count from rows only the rim between that block and the view's edge. Both parts are exact
and read in one statement, so the answer equals the row-by-row count. Any other filter is summed from
the rows. The page, when the view holds many buildings and a good share of the register, walks an
index in the list's order and stops after the page: name, owner and use in theirs; floor area,
value and town in theirs over the values the viewer sees, then the rest by id; ratings run by run,
by id. The totals say where each part starts (the towns' part ends where its rows run out). With
fewer buildings in view it sorts just those.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, text

from api.services import tiles as tile_svc
from api.services.filters import PropertyFilter
from gis import visibility
from gis.errors import FieldError, ValidationFailed
from gis.layers import MERCATOR_WORLD, whole_cells
from gis.vocab import Rag, values


@dataclass(frozen=True)
class SortKey:
    sql: str  # over the projected columns (never the raw ones: a hidden value must not order the list)
    indexed: bool = False  # a plain NOT NULL column with an index (column, id): the page can walk it
    # A nullable field with a partial index (field, id) over its known values (migration 0010): the
    # buildings whose value the viewer sees are walked in the index, the rest follow by id.
    field: str | None = None
    known: str | None = None  # the totals' count of buildings whose value the viewer sees, if kept
    # Ranked values, each a run walked by id in the index (field, id): the totals count each run.
    runs: tuple[str, ...] = ()


RAGS = tuple(values(Rag))  # the list's order of ratings
SORT_KEYS: dict[str, SortKey] = {
    "name": SortKey("f.name", indexed=True),
    "owner": SortKey("f.owner", indexed=True),
    "post_town": SortKey("f.post_town", field="post_town"),
    "use_category": SortKey("f.use_category", indexed=True),
    "gia_m2": SortKey("f.gia_m2", field="gia_m2", known="gia_known"),
    "value_gbp": SortKey("f.value_gbp", field="value_gbp", known="value_known"),
    "rag": SortKey(
        "CASE f.rag "
        + " ".join(f"WHEN '{r}' THEN {i}" for i, r in enumerate(RAGS))
        + f" ELSE {len(RAGS)} END",
        field="rag",
        runs=RAGS,
    ),
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
# An index-ordered walk finds a page sooner than sorting the view when the view holds many buildings
# (sorting 20,000 takes tens of ms) and a good share of the register (a quarter: the walk then passes
# at most a few non-matching entries for each match, however the names fall).
WALK_FROM_COUNT = 20_000
WALK_FROM_SHARE = 0.25
# Cell columns (migration 0010): count and sum of a field, then those withheld by disposal stage.
CELL_SUMS: dict[str, tuple[str, str, str, str] | tuple[str, str]] = {
    "gia_m2": ("gia_n", "gia_sum_m2"),
    "value_gbp": ("value_n", "value_sum_gbp", "withheld_n", "withheld_sum_gbp"),
}
_TOTALS = ("count", "gia_known", "gia_m2", "value_known", "value_gbp", "red", "amber", "green", "unrated")


def parse_sort(raw: str) -> tuple[str, bool]:
    """Return (key, descending) from ``name`` or ``-value_gbp``; raise ValidationFailed naming ``sort``."""
    descending = raw.startswith("-")
    key = raw[1:] if descending else raw
    if key not in SORT_KEYS:
        raise ValidationFailed(
            [FieldError("sort", f"one of {', '.join(SORT_KEYS)}, optionally with a leading '-'")]
        )
    return key, descending


def _projection(viewer: visibility.Viewer) -> str:
    rag = visibility.sql_column("rag", viewer, "p")
    value = visibility.sql_column("value_gbp", viewer, "p")
    gia = visibility.sql_column("gia_m2", viewer, "p")
    # Casts: a field the viewer may not see is an untyped NULL.
    return f"""p.id, p.name, p.owner, p.post_town, p.use_category, ({rag})::text AS rag,
               ({gia})::float8 AS gia_m2, ({value})::bigint AS value_gbp"""


def _row_totals(projection: str, where: str) -> str:
    """SQL of the totals of the rows matching ``where``, as the viewer sees them (``projection``)."""
    return f"""
        SELECT count(*) AS count, count(f.gia_m2) AS gia_known, coalesce(sum(f.gia_m2), 0)::float8 AS gia_m2,
               count(f.value_gbp) AS value_known, coalesce(sum(f.value_gbp), 0)::numeric AS value_gbp,
               count(*) FILTER (WHERE f.rag = 'red') AS red, count(*) FILTER (WHERE f.rag = 'amber') AS amber,
               count(*) FILTER (WHERE f.rag = 'green') AS green, count(*) FILTER (WHERE f.rag IS NULL) AS unrated
        FROM (SELECT {projection} FROM property p WHERE {where}) f"""


def _cell_totals(flt: PropertyFilter, viewer: visibility.Viewer) -> tuple[str, dict[str, Any]]:
    """SQL of the totals of the stored cells matching the filter (table and alias a)."""
    where, params = flt.where(viewer, "a", aggregates=True)
    rag = visibility.sql_column("rag", viewer, "a")
    gia_known, gia = visibility.sql_cell_sum("gia_m2", viewer, CELL_SUMS["gia_m2"])
    value_known, value = visibility.sql_cell_sum("value_gbp", viewer, CELL_SUMS["value_gbp"])
    # Value sums depend on owner rights for any viewer of a body: only the per-owner cells know the owner.
    by_owner = viewer.org is not None and not viewer.admin
    table = "tile_aggregate" if by_owner else tile_svc.cells_table(flt, viewer)
    sql = f"""
        SELECT coalesce(sum(a.n), 0) AS count, coalesce(sum({gia_known}), 0) AS gia_known,
               coalesce(sum({gia}), 0)::float8 AS gia_m2, coalesce(sum({value_known}), 0) AS value_known,
               coalesce(sum({value}), 0)::numeric AS value_gbp,
               coalesce(sum(a.n) FILTER (WHERE {rag} = 'red'), 0) AS red,
               coalesce(sum(a.n) FILTER (WHERE {rag} = 'amber'), 0) AS amber,
               coalesce(sum(a.n) FILTER (WHERE {rag} = 'green'), 0) AS green,
               coalesce(sum(a.n) FILTER (WHERE {rag} IS NULL), 0) AS unrated
        FROM {table} a
        WHERE a.level = :c_level AND a.cx BETWEEN :c_cx0 AND :c_cx1 AND a.cy BETWEEN :c_cy0 AND :c_cy1 AND {where}"""
    return sql, params


def totals(
    conn: Connection, flt: PropertyFilter, viewer: visibility.Viewer, *, stored: bool = True
) -> dict[str, Any]:
    """The totals of every record matching ``flt`` the viewer may see; stored cells answer where they
    can (``stored=False`` counts every row, as a test compares)."""
    projection = _projection(viewer)
    without_box = dataclasses.replace(flt, bbox=None)
    bbox = flt.bbox
    whole_register = bbox is None and not flt.bbox_bng
    if whole_register:
        bbox = MERCATOR_WORLD  # no view: the world's cells, and the rows without a location in the rim
    usable = stored and bbox is not None and not flt.bbox_bng and without_box.aggregable
    cells = whole_cells(bbox) if bbox is not None and usable else None
    if bbox is None or cells is None:
        where, params = flt.where(viewer)
        sql = _row_totals(projection, where)
        return dict(conn.execute(text(sql), params).mappings().one())
    stored_sql, params = _cell_totals(without_box, viewer)
    where, row_params = without_box.where(viewer)
    params.update(row_params)
    # With no view the rim runs to the poles: a point past Web Mercator's edge (none in Britain, which
    # the register's validation keeps to) sits in the world's outer cells, never in the block.
    west, south, east, north = (-180.0, -90.0, 180.0, 90.0) if whole_register else bbox
    pad = 1e-7  # degrees: the rim overlaps the whole cells a little; the cell test below decides
    params.update(
        c_level=cells.level, c_cx0=cells.cx0, c_cx1=cells.cx1, c_cy0=cells.cy0, c_cy1=cells.cy1,
        b_w=west, b_s=south, b_e=east, b_n=north,
        i_w=cells.west + pad, i_s=cells.south + pad, i_e=cells.east - pad, i_n=cells.north - pad,
    )  # fmt: skip
    # The rim: rows in the view (points: the closed box test ST_Intersects makes) but not in a whole
    # cell, as the cells are counted (tile_cell on geom_3857). Its four strips lead the index.
    strips = " OR ".join(
        f"p.geom && ST_MakeEnvelope({box}, 4326)"
        for box in (
            ":b_w, :b_s, :i_w, :b_n",
            ":i_e, :b_s, :b_e, :b_n",
            ":i_w, :b_s, :i_e, :i_s",
            ":i_w, :i_n, :i_e, :b_n",
        )
    )
    rim_where = f"""({strips})
        AND ST_X(p.geom) BETWEEN :b_w AND :b_e AND ST_Y(p.geom) BETWEEN :b_s AND :b_n
        AND NOT (tile_cell(ST_X(p.geom_3857), :c_level) BETWEEN :c_cx0 AND :c_cx1
                 AND tile_cell(-ST_Y(p.geom_3857), :c_level) BETWEEN :c_cy0 AND :c_cy1)"""
    if whole_register:
        rim_where = f"p.geom IS NULL OR ({rim_where})"  # no cell holds a record without a location
    rim_where = f"{where} AND ({rim_where})"
    rim_sql = _row_totals(projection, rim_where)
    sums = ", ".join(f"s.{k} + r.{k} AS {k}" for k in _TOTALS)
    sql = f"SELECT {sums} FROM ({stored_sql}) s, ({rim_sql}) r"
    return dict(conn.execute(text(sql), params).mappings().one())


def _order(sort_key: SortKey, descending: bool) -> str:
    """ORDER BY of a page: the key, then the id (walkable keys: in the key's direction, as the index
    runs; a nullable field's unknown values last, by id, as they follow its walk)."""
    direction = "DESC" if descending else "ASC"
    if sort_key.indexed:
        return f"{sort_key.sql} {direction}, f.id {direction}"
    if sort_key.runs:  # never NULL; each run walked by id
        return f"{sort_key.sql} {direction}, f.id"
    if sort_key.field:
        return (
            f"{sort_key.sql} {direction} NULLS LAST, "
            f"CASE WHEN {sort_key.sql} IS NOT NULL THEN f.id END {direction}, f.id"
        )
    return f"{sort_key.sql} {direction} NULLS LAST, f.id"


def page(
    conn: Connection,
    flt: PropertyFilter,
    viewer: visibility.Viewer,
    *,
    sort: str,
    limit: int,
    offset: int,
    totals: dict[str, Any],
) -> list[dict[str, Any]]:
    """One sorted page of the records matching ``flt``; their ``totals`` pick the plan."""
    key, descending = parse_sort(sort)
    sort_key = SORT_KEYS[key]
    count = int(totals["count"])
    where, params = flt.where(viewer)
    items = ", ".join(f"'{c}', f.{c}" for c in ITEM_COLUMNS)
    projection = _projection(viewer)

    def rows(
        extra: str, order: str, take: int, skip: int, fence: str = "", raw: str = ""
    ) -> list[dict[str, Any]]:
        sql = f"""
            SELECT json_build_object({items}) AS item FROM (
              SELECT {projection}, ST_X(p.geom) AS lon, ST_Y(p.geom) AS lat{raw}
              FROM property p WHERE {where} {extra} {fence}
            ) f ORDER BY {order} LIMIT :take OFFSET :skip"""
        return [row[0] for row in conn.execute(text(sql), {**params, "take": take, "skip": skip})]

    walk = (sort_key.indexed or sort_key.field is not None) and count > WALK_FROM_COUNT
    if walk:  # the register's size from the coarsest stored cells (a few rows)
        placed = conn.execute(
            text("SELECT coalesce(sum(n), 0) FROM tile_aggregate_total WHERE level = 0")
        ).scalar_one()
        walk = count >= WALK_FROM_SHARE * int(placed)
    order = _order(sort_key, descending)
    if sort_key.field is None or not walk:
        # With few rows in view, OFFSET 0 keeps them a set of their own, found by the bbox and then
        # sorted: without it the LIMIT may tempt the planner to walk an index past a million rows.
        fence = "" if walk or not (sort_key.indexed or sort_key.field) else "OFFSET 0"
        return rows("", order, limit, offset, fence)
    shown = visibility.sql_column(sort_key.field, viewer, "p")
    direction = "DESC" if descending else "ASC"
    parts: list[tuple[int | None, str, str, str]]  # size (None: not counted), filter, order, extra column
    if sort_key.runs:
        # One run per rating, each in the index (rag, id) by id, then the unrated (or hidden) by id.
        parts = [
            (int(totals[r]), f"AND p.{sort_key.field} = '{r}' AND ({shown}) = '{r}'", "f.id", "")
            for r in sort_key.runs
        ]
        parts.append((int(totals["unrated"]), f"AND ({shown}) IS NULL", "f.id", ""))
        if descending:
            parts.reverse()
    else:
        # The values the viewer sees, walked in the field's index (the stored value orders them as
        # the shown one does: the two are equal there), then the unknown or hidden ones by id.
        known = int(totals[sort_key.known]) if sort_key.known else None
        parts = [
            (
                known,
                f"AND p.{sort_key.field} IS NOT NULL AND ({shown}) IS NOT NULL",
                f"f.sort_raw {direction}, f.id {direction}",
                f", p.{sort_key.field} AS sort_raw",
            ),
            (None if known is None else count - known, f"AND ({shown}) IS NULL", "f.id", ""),
        ]
    found: list[dict[str, Any]] = []
    start = 0  # where the part begins in the whole list
    for size, extra, part_order, raw in parts:
        if len(found) == limit:
            break
        skip = max(0, offset + len(found) - start)
        if size is None:  # not counted in the totals: a part ends where its rows run out
            take = limit - len(found)
            got = rows(extra, part_order, take, skip, raw=raw)
            found += got
            if len(got) < take:
                size = skip + len(got) if got or skip == 0 else _count(conn, where, extra, params)
        elif skip < size:
            found += rows(extra, part_order, min(limit - len(found), size - skip), skip, raw=raw)
        start += size or 0
    return found


def _count(conn: Connection, where: str, extra: str, params: dict[str, Any]) -> int:
    """How many records match (a page past a part the totals do not count)."""
    return int(
        conn.execute(text(f"SELECT count(*) FROM property p WHERE {where} {extra}"), params).scalar_one()
    )


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
    parse_sort(sort)
    row = totals(conn, flt, viewer)
    count = int(row["count"])
    value_known = int(row["value_known"])
    return {
        "count": count,
        "gia_m2": round(float(row["gia_m2"]), 1),
        "gia_known": int(row["gia_known"]),
        "value_gbp": int(row["value_gbp"]) if value_known else None,
        "value_known": value_known,
        "rag": {k: int(row[k]) for k in ("red", "amber", "green", "unrated")},
        "items": page(conn, flt, viewer, sort=sort, limit=limit, offset=offset, totals=row),
        "sort": sort,
        "limit": limit,
        "offset": offset,
        "next_offset": offset + limit if offset + limit < count else None,
    }
