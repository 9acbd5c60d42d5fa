"""Tile aggregate cells also keep floor area and value sums, so a national "In view" needs no scan.

Revision ID: 0010
Revises: 0003
Create Date: 2026-11-30

``GET /properties/summary`` at a national view summed floor area and value
over a million rows (4.7 s). The cells of migration 0003 already count the
buildings by owner, use, RAG and sensitivity; they now also keep, per cell:

- ``gia_n`` / ``gia_sum_m2``: buildings with a floor area, and its sum;
- ``value_n`` / ``value_sum_gbp``: buildings with a value outside the
  commercially sensitive disposal stages, and its sum;
- ``withheld_n`` / ``withheld_sum_gbp``: the same for buildings in those stages,
  whose value only their owner (and an admin) may see.

The split lets visibility be applied to sums exactly as to rows: a partner
sees value + (its own body's) withheld, the public neither.

The note trigger, the commit-time fold and ``tile_aggregate_rebuild()`` are
replaced by versions that carry the new sums. The fold keeps a cell row when
any sum moved, so a change of floor area or value alone reaches the cells.
Literals (grid, zooms, buffer, feed lock, the stages) are copied from the
application on purpose: a migration never imports application code.
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0003"
branch_labels = None
depends_on = None

HALF_M = "20037508.342789244"
AGGREGATE_MAX_LEVEL = 9
MAX_ZOOM = 22
BUFFER_FRACTION = "(64.0 / 4096.0)"
FEED_LOCK = 7262001
WITHHELD_STAGES = "('marketed', 'under_offer')"  # gis.vocab.COMMERCIALLY_SENSITIVE_STAGES on 2026-11-30

SUM_COLUMNS = (
    ("gia_n", "integer"),
    ("gia_sum_m2", "double precision"),
    ("value_n", "integer"),
    ("value_sum_gbp", "numeric"),
    ("withheld_n", "integer"),
    ("withheld_sum_gbp", "numeric"),
)
PENDING_COLUMNS = (("gia_m2", "double precision"), ("value_gbp", "bigint"), ("withheld", "boolean"))


def _functions(sums: bool) -> str:
    """The note, fold and rebuild functions, with the new sums (``sums``) or as migration 0003 made them."""
    pending = ", gia_m2, value_gbp, withheld" if sums else ""

    def noted(alias: str) -> str:
        if not sums:
            return ""
        return f", {alias}.gia_m2, {alias}.value_gbp, coalesce({alias}.disposal_stage IN {WITHHELD_STAGES}, false)"

    # Sums of a fold: rows of tile_pending p, each signed by its delta.
    fold_exprs = (
        "coalesce(sum(p.delta) FILTER (WHERE p.gia_m2 IS NOT NULL), 0)",
        "coalesce(sum(p.delta * p.gia_m2), 0)",
        "coalesce(sum(p.delta) FILTER (WHERE p.value_gbp IS NOT NULL AND NOT p.withheld), 0)",
        "coalesce(sum(p.delta::numeric * p.value_gbp) FILTER (WHERE NOT p.withheld), 0)",
        "coalesce(sum(p.delta) FILTER (WHERE p.value_gbp IS NOT NULL AND p.withheld), 0)",
        "coalesce(sum(p.delta::numeric * p.value_gbp) FILTER (WHERE p.withheld), 0)",
    )
    fold_sums = "".join(f", {e}" for e in fold_exprs) if sums else ""
    withheld = f"coalesce(p.disposal_stage IN {WITHHELD_STAGES}, false)"
    rebuild_sums = (
        f""", count(p.gia_m2), coalesce(sum(p.gia_m2), 0),
             count(p.value_gbp) FILTER (WHERE NOT {withheld}),
             coalesce(sum(p.value_gbp) FILTER (WHERE NOT {withheld}), 0),
             count(p.value_gbp) FILTER (WHERE {withheld}),
             coalesce(sum(p.value_gbp) FILTER (WHERE {withheld}), 0)"""
        if sums
        else ""
    )
    names = "".join(f", {c}" for c, _ in SUM_COLUMNS) if sums else ""
    total_sums = "".join(f", sum({c})" for c, _ in SUM_COLUMNS) if sums else ""
    having = "sum(p.delta) <> 0 OR sum(p.delta * p.x) <> 0 OR sum(p.delta * p.y) <> 0"
    if sums:  # a cell row also moves when only a floor area or a value changed
        having += "".join(f" OR {e} <> 0" for e in fold_exprs)
    add = "".join(f", {c} = a.{c} + excluded.{c}" for c, _ in SUM_COLUMNS) if sums else ""
    return f"""
        CREATE OR REPLACE FUNCTION tile_note_changes() RETURNS trigger LANGUAGE plpgsql SET jit = off AS $$
        BEGIN
          IF TG_OP IN ('UPDATE', 'DELETE') THEN
            INSERT INTO tile_pending (x, y, owner, use_category, rag, sensitive, delta{pending})
            SELECT ST_X(o.geom_3857), ST_Y(o.geom_3857), o.owner, o.use_category, o.rag, o.sensitive,
                   CASE WHEN o.deleted_at IS NULL THEN -1 ELSE 0 END{noted("o")}
            FROM old_rows o WHERE o.geom_3857 IS NOT NULL;
          END IF;
          IF TG_OP IN ('UPDATE', 'INSERT') THEN
            INSERT INTO tile_pending (x, y, owner, use_category, rag, sensitive, delta{pending})
            SELECT ST_X(n.geom_3857), ST_Y(n.geom_3857), n.owner, n.use_category, n.rag, n.sensitive,
                   CASE WHEN n.deleted_at IS NULL THEN 1 ELSE 0 END{noted("n")}
            FROM new_rows n WHERE n.geom_3857 IS NOT NULL;
          END IF;
          IF FOUND THEN
            INSERT INTO tile_tx VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING;
          END IF;
          RETURN NULL;
        END $$;

        CREATE OR REPLACE FUNCTION tile_fold_transaction() RETURNS trigger LANGUAGE plpgsql SET jit = off AS $$
        BEGIN
          PERFORM pg_advisory_xact_lock({FEED_LOCK});
          INSERT INTO tile_aggregate AS a (level, cx, cy, owner, use_category, rag, sensitive, n, sum_x, sum_y{names})
          SELECT l, tile_cell(p.x, l), tile_cell(-p.y, l), p.owner, p.use_category, p.rag, p.sensitive,
                 sum(p.delta), sum(p.delta * p.x), sum(p.delta * p.y){fold_sums}
          FROM tile_pending p, generate_series(0, {AGGREGATE_MAX_LEVEL}) l
          WHERE p.txid = NEW.txid AND p.delta <> 0
          GROUP BY 1, 2, 3, 4, 5, 6, 7
          HAVING {having}
          ORDER BY 1, 2, 3, 4, 5, 6, 7
          ON CONFLICT ON CONSTRAINT tile_aggregate_key DO UPDATE
            SET n = a.n + excluded.n, sum_x = a.sum_x + excluded.sum_x, sum_y = a.sum_y + excluded.sum_y{add};
          INSERT INTO tile_aggregate_total AS a (level, cx, cy, rag, sensitive, n, sum_x, sum_y{names})
          SELECT l, tile_cell(p.x, l), tile_cell(-p.y, l), p.rag, p.sensitive,
                 sum(p.delta), sum(p.delta * p.x), sum(p.delta * p.y){fold_sums}
          FROM tile_pending p, generate_series(0, {AGGREGATE_MAX_LEVEL}) l
          WHERE p.txid = NEW.txid AND p.delta <> 0
          GROUP BY 1, 2, 3, 4, 5
          HAVING {having}
          ORDER BY 1, 2, 3, 4, 5
          ON CONFLICT ON CONSTRAINT tile_aggregate_total_key DO UPDATE
            SET n = a.n + excluded.n, sum_x = a.sum_x + excluded.sum_x, sum_y = a.sum_y + excluded.sum_y{add};
          DELETE FROM tile_aggregate WHERE n = 0
            AND (level, cx, cy) IN (SELECT l, tile_cell(p.x, l), tile_cell(-p.y, l)
                                    FROM tile_pending p, generate_series(0, {AGGREGATE_MAX_LEVEL}) l
                                    WHERE p.txid = NEW.txid AND p.delta < 0);
          DELETE FROM tile_aggregate_total WHERE n = 0
            AND (level, cx, cy) IN (SELECT l, tile_cell(p.x, l), tile_cell(-p.y, l)
                                    FROM tile_pending p, generate_series(0, {AGGREGATE_MAX_LEVEL}) l
                                    WHERE p.txid = NEW.txid AND p.delta < 0);
          DELETE FROM tile_cache c USING (
            SELECT DISTINCT z, tx, ty FROM (
              SELECT z, 2 * {HALF_M} / (2 ^ z) AS size, p.x, p.y
              FROM (SELECT DISTINCT x, y FROM tile_pending WHERE txid = NEW.txid) p,
                   generate_series(0, {MAX_ZOOM}) z
            ) s,
            LATERAL generate_series(
              greatest(floor((s.x - s.size * {BUFFER_FRACTION} + {HALF_M}) / s.size), 0)::integer,
              least(floor((s.x + s.size * {BUFFER_FRACTION} + {HALF_M}) / s.size), 2 ^ z - 1)::integer) tx,
            LATERAL generate_series(
              greatest(floor(({HALF_M} - s.y - s.size * {BUFFER_FRACTION}) / s.size), 0)::integer,
              least(floor(({HALF_M} - s.y + s.size * {BUFFER_FRACTION}) / s.size), 2 ^ z - 1)::integer) ty
          ) t
          WHERE c.z = t.z AND c.x = t.tx AND c.y = t.ty;
          UPDATE tile_cache_state SET generation = generation + 1;
          DELETE FROM tile_pending WHERE txid = NEW.txid;
          DELETE FROM tile_tx WHERE txid = NEW.txid;
          RETURN NULL;
        END $$;

        CREATE OR REPLACE FUNCTION tile_aggregate_rebuild() RETURNS bigint LANGUAGE plpgsql SET jit = off AS $$
        DECLARE cells bigint;
        BEGIN
          PERFORM pg_advisory_xact_lock({FEED_LOCK});
          DELETE FROM tile_aggregate;
          INSERT INTO tile_aggregate (level, cx, cy, owner, use_category, rag, sensitive, n, sum_x, sum_y{names})
          SELECT l, tile_cell(ST_X(p.geom_3857), l), tile_cell(-ST_Y(p.geom_3857), l),
                 p.owner, p.use_category, p.rag, p.sensitive,
                 count(*), sum(ST_X(p.geom_3857)), sum(ST_Y(p.geom_3857)){rebuild_sums}
          FROM property p, generate_series(0, {AGGREGATE_MAX_LEVEL}) l
          WHERE p.deleted_at IS NULL AND p.geom_3857 IS NOT NULL
          GROUP BY 1, 2, 3, 4, 5, 6, 7;
          GET DIAGNOSTICS cells = ROW_COUNT;
          DELETE FROM tile_aggregate_total;
          INSERT INTO tile_aggregate_total (level, cx, cy, rag, sensitive, n, sum_x, sum_y{names})
          SELECT level, cx, cy, rag, sensitive, sum(n), sum(sum_x), sum(sum_y){total_sums}
          FROM tile_aggregate GROUP BY 1, 2, 3, 4, 5;
          DELETE FROM tile_cache;
          UPDATE tile_cache_state SET generation = generation + 1;
          RETURN cells;
        END $$;
    """


def upgrade() -> None:
    for table in ("tile_aggregate", "tile_aggregate_total"):
        columns = ", ".join(f"ADD COLUMN {c} {t} NOT NULL DEFAULT 0" for c, t in SUM_COLUMNS)
        op.execute(f"ALTER TABLE {table} {columns}")
    columns = ", ".join(
        f"ADD COLUMN {c} {t}" + (" NOT NULL DEFAULT false" if t == "boolean" else "")
        for c, t in PENDING_COLUMNS
    )
    op.execute(f"ALTER TABLE tile_pending {columns}")
    op.execute(_functions(sums=True))
    # The page of an "In view" list sorted by name walks this index at national scale instead of
    # sorting a million rows; the id breaks ties, as the list does (owner and use have theirs).
    op.execute("CREATE INDEX property_name_idx ON property (name, id) WHERE deleted_at IS NULL")
    # Sorted by floor area, value or town, the list walks the known values (both directions) and
    # takes the unknown ones after, by id.
    for column in ("gia_m2", "value_gbp", "post_town"):
        op.execute(
            f"CREATE INDEX property_{column}_idx ON property ({column}, id) "
            f"WHERE deleted_at IS NULL AND {column} IS NOT NULL"
        )
    op.execute("SELECT tile_aggregate_rebuild()")


def downgrade() -> None:
    op.execute(
        "DROP INDEX IF EXISTS property_name_idx, property_gia_m2_idx, property_value_gbp_idx, property_post_town_idx"
    )
    op.execute(_functions(sums=False))
    for table in ("tile_aggregate", "tile_aggregate_total"):
        op.execute(f"ALTER TABLE {table} " + ", ".join(f"DROP COLUMN {c}" for c, _ in SUM_COLUMNS))
    op.execute("ALTER TABLE tile_pending " + ", ".join(f"DROP COLUMN {c}" for c, _ in PENDING_COLUMNS))
