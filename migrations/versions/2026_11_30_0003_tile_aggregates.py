"""Tile aggregates kept by the database, a shared tile cache that writes invalidate, shared rate buckets.

Revision ID: 0003
Revises: 0009
Create Date: 2026-11-30

Low-zoom tiles draw a 64×64 grid of clusters. Instead of grouping a million
rows per request, ``tile_aggregate`` holds, for every zoom below the points
zoom, each grid cell's count by the attributes the map filters on (owner,
use, RAG) and by ``sensitive`` (which decides who may see it), with the sums
of the positions so the cell's centroid is exact.

Writes keep it current in their own transaction, in two steps:
- statement-level triggers (transition tables, as history) append each
  changed point, old and new position, to ``tile_pending``;
- at COMMIT one deferred trigger per transaction, under the feed lock that
  already serialises committers, folds those points into the aggregates,
  deletes the cached tiles whose area (with its buffer) holds any of them,
  at every zoom, and advances ``tile_cache_state.generation``.
Folding at commit under one lock means no two writers ever lock aggregate
rows in different orders (the level-0 cells are shared by every write), so
the aggregates add no deadlock. A reader caches a tile only if the generation
it read before rendering is still current (checked under a share lock), so a
tile rendered from a snapshot older than a write can never be cached after
that write's invalidation.

Literals below (grid size, zooms, tile buffer, the feed lock id) are copied
from the application on purpose: a migration never imports application code.
"""

from __future__ import annotations

from alembic import op

revision = "0003"
down_revision = "0009"
branch_labels = None
depends_on = None

HALF_M = "20037508.342789244"  # half the Web Mercator world, metres
GRID_SHIFT = 6  # 2^6 = 64 cells per tile side
AGGREGATE_MAX_LEVEL = 9  # zooms 0..9 draw clusters (the points zoom is 10)
MAX_ZOOM = 22
BUFFER_FRACTION = "(64.0 / 4096.0)"  # tile buffer / extent: the margin a tile reads past its edge
FEED_LOCK = 7262001  # the lock the feed numbering takes at commit (migration 0001)


def upgrade() -> None:
    op.execute(
        f"""
        CREATE FUNCTION tile_cell(v double precision, level integer) RETURNS integer
          LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
          -- Column (for x) or row (for -y) of the grid cell at ``level``: the tile at zoom level+{GRID_SHIFT}.
          SELECT least(greatest(floor((v + {HALF_M}) / (2 * {HALF_M}) * (2 ^ (level + {GRID_SHIFT}))), 0),
                       (2 ^ (level + {GRID_SHIFT})) - 1)::integer
        $$;

        CREATE TABLE tile_aggregate (
            level smallint NOT NULL,
            cx integer NOT NULL,
            cy integer NOT NULL,
            owner text NOT NULL,
            use_category text NOT NULL,
            rag text,
            sensitive boolean NOT NULL,
            n integer NOT NULL,
            sum_x double precision NOT NULL,
            sum_y double precision NOT NULL,
            CONSTRAINT tile_aggregate_key UNIQUE NULLS NOT DISTINCT
                (level, cx, cy, owner, use_category, rag, sensitive)
        );

        -- The same cells summed over owner and use: what an unfiltered (national) view reads,
        -- at most eight rows a cell instead of one per owner, use and rating.
        CREATE TABLE tile_aggregate_total (
            level smallint NOT NULL,
            cx integer NOT NULL,
            cy integer NOT NULL,
            rag text,
            sensitive boolean NOT NULL,
            n integer NOT NULL,
            sum_x double precision NOT NULL,
            sum_y double precision NOT NULL,
            CONSTRAINT tile_aggregate_total_key UNIQUE NULLS NOT DISTINCT (level, cx, cy, rag, sensitive)
        );

        -- Points changed by the current transaction; emptied by the fold at COMMIT.
        CREATE UNLOGGED TABLE tile_pending (
            txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
            x double precision NOT NULL,
            y double precision NOT NULL,
            owner text NOT NULL,
            use_category text NOT NULL,
            rag text,
            sensitive boolean NOT NULL,
            delta smallint NOT NULL  -- +1 counted from now on, -1 no longer counted, 0 position only
        );
        CREATE TABLE tile_tx (txid xid8 PRIMARY KEY);

        -- Rendered tiles, shared by every worker. Unlogged: a cache may be lost in a crash.
        CREATE UNLOGGED TABLE tile_cache (
            z smallint NOT NULL,
            x integer NOT NULL,
            y integer NOT NULL,
            variant text NOT NULL,  -- filters and the caller's visibility tier
            id bigserial NOT NULL,
            mode text NOT NULL,
            etag text NOT NULL,
            data bytea NOT NULL,
            PRIMARY KEY (z, x, y, variant)
        );
        CREATE INDEX tile_cache_age_idx ON tile_cache (id);
        CREATE TABLE tile_cache_state (
            id boolean PRIMARY KEY DEFAULT true CHECK (id),
            generation bigint NOT NULL DEFAULT 0
        );
        INSERT INTO tile_cache_state DEFAULT VALUES;

        -- Token buckets of the rate limiter, shared by every worker.
        CREATE UNLOGGED TABLE rate_bucket (
            caller text PRIMARY KEY,
            tokens double precision NOT NULL,
            at timestamptz NOT NULL
        );

        -- Take one token from a caller's bucket; returns 0 if granted, else the seconds to wait.
        CREATE FUNCTION rate_take(p_caller text, p_capacity double precision, p_per_s double precision,
                                  p_cost double precision DEFAULT 1)
          RETURNS double precision LANGUAGE plpgsql AS $$
        DECLARE
          have double precision;
          now_ts timestamptz;
        BEGIN
          INSERT INTO rate_bucket (caller, tokens, at) VALUES (p_caller, p_capacity, clock_timestamp())
            ON CONFLICT (caller) DO NOTHING;
          SELECT tokens, at INTO have, now_ts FROM rate_bucket WHERE caller = p_caller FOR UPDATE;
          have := least(p_capacity, have + greatest(0, extract(epoch FROM clock_timestamp() - now_ts)) * p_per_s);
          now_ts := clock_timestamp();
          IF random() < 0.001 THEN  -- forget callers whose buckets have long been full
            DELETE FROM rate_bucket WHERE at < now_ts - make_interval(secs => 2 * p_capacity / p_per_s);
          END IF;
          IF have >= p_cost THEN
            UPDATE rate_bucket SET tokens = have - p_cost, at = now_ts WHERE caller = p_caller;
            RETURN 0;
          END IF;
          UPDATE rate_bucket SET tokens = have, at = now_ts WHERE caller = p_caller;
          RETURN (p_cost - have) / p_per_s;
        END $$;

        CREATE FUNCTION tile_note_changes() RETURNS trigger LANGUAGE plpgsql SET jit = off AS $$
        BEGIN
          IF TG_OP IN ('UPDATE', 'DELETE') THEN
            INSERT INTO tile_pending (x, y, owner, use_category, rag, sensitive, delta)
            SELECT ST_X(o.geom_3857), ST_Y(o.geom_3857), o.owner, o.use_category, o.rag, o.sensitive,
                   CASE WHEN o.deleted_at IS NULL THEN -1 ELSE 0 END
            FROM old_rows o WHERE o.geom_3857 IS NOT NULL;
          END IF;
          IF TG_OP IN ('UPDATE', 'INSERT') THEN
            INSERT INTO tile_pending (x, y, owner, use_category, rag, sensitive, delta)
            SELECT ST_X(n.geom_3857), ST_Y(n.geom_3857), n.owner, n.use_category, n.rag, n.sensitive,
                   CASE WHEN n.deleted_at IS NULL THEN 1 ELSE 0 END
            FROM new_rows n WHERE n.geom_3857 IS NOT NULL;
          END IF;
          IF FOUND THEN
            INSERT INTO tile_tx VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING;
          END IF;
          RETURN NULL;
        END $$;

        CREATE TRIGGER tile_note_insert AFTER INSERT ON property
          REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tile_note_changes();
        CREATE TRIGGER tile_note_update AFTER UPDATE ON property
          REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
          FOR EACH STATEMENT EXECUTE FUNCTION tile_note_changes();
        CREATE TRIGGER tile_note_delete AFTER DELETE ON property
          REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tile_note_changes();

        -- jit off: the planner's guesses for the tile ranges are large, and compiling them took
        -- seconds at every commit for work that takes a millisecond.
        CREATE FUNCTION tile_fold_transaction() RETURNS trigger LANGUAGE plpgsql SET jit = off AS $$
        BEGIN
          PERFORM pg_advisory_xact_lock({FEED_LOCK});
          INSERT INTO tile_aggregate AS a (level, cx, cy, owner, use_category, rag, sensitive, n, sum_x, sum_y)
          SELECT l, tile_cell(p.x, l), tile_cell(-p.y, l), p.owner, p.use_category, p.rag, p.sensitive,
                 sum(p.delta), sum(p.delta * p.x), sum(p.delta * p.y)
          FROM tile_pending p, generate_series(0, {AGGREGATE_MAX_LEVEL}) l
          WHERE p.txid = NEW.txid AND p.delta <> 0
          GROUP BY 1, 2, 3, 4, 5, 6, 7
          HAVING sum(p.delta) <> 0 OR sum(p.delta * p.x) <> 0 OR sum(p.delta * p.y) <> 0
          ORDER BY 1, 2, 3, 4, 5, 6, 7
          ON CONFLICT ON CONSTRAINT tile_aggregate_key DO UPDATE
            SET n = a.n + excluded.n, sum_x = a.sum_x + excluded.sum_x, sum_y = a.sum_y + excluded.sum_y;
          INSERT INTO tile_aggregate_total AS a (level, cx, cy, rag, sensitive, n, sum_x, sum_y)
          SELECT l, tile_cell(p.x, l), tile_cell(-p.y, l), p.rag, p.sensitive,
                 sum(p.delta), sum(p.delta * p.x), sum(p.delta * p.y)
          FROM tile_pending p, generate_series(0, {AGGREGATE_MAX_LEVEL}) l
          WHERE p.txid = NEW.txid AND p.delta <> 0
          GROUP BY 1, 2, 3, 4, 5
          HAVING sum(p.delta) <> 0 OR sum(p.delta * p.x) <> 0 OR sum(p.delta * p.y) <> 0
          ORDER BY 1, 2, 3, 4, 5
          ON CONFLICT ON CONSTRAINT tile_aggregate_total_key DO UPDATE
            SET n = a.n + excluded.n, sum_x = a.sum_x + excluded.sum_x, sum_y = a.sum_y + excluded.sum_y;
          DELETE FROM tile_aggregate WHERE n = 0
            AND (level, cx, cy) IN (SELECT l, tile_cell(p.x, l), tile_cell(-p.y, l)
                                    FROM tile_pending p, generate_series(0, {AGGREGATE_MAX_LEVEL}) l
                                    WHERE p.txid = NEW.txid AND p.delta < 0);
          DELETE FROM tile_aggregate_total WHERE n = 0
            AND (level, cx, cy) IN (SELECT l, tile_cell(p.x, l), tile_cell(-p.y, l)
                                    FROM tile_pending p, generate_series(0, {AGGREGATE_MAX_LEVEL}) l
                                    WHERE p.txid = NEW.txid AND p.delta < 0);
          -- Every cached tile, at every zoom, whose buffered area holds a changed point.
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

        CREATE CONSTRAINT TRIGGER tile_fold_transaction AFTER INSERT ON tile_tx
          DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION tile_fold_transaction();

        -- After a bulk load with triggers off: recount everything, drop every cached tile.
        CREATE FUNCTION tile_aggregate_rebuild() RETURNS bigint LANGUAGE plpgsql SET jit = off AS $$
        DECLARE cells bigint;
        BEGIN
          PERFORM pg_advisory_xact_lock({FEED_LOCK});
          DELETE FROM tile_aggregate;
          INSERT INTO tile_aggregate (level, cx, cy, owner, use_category, rag, sensitive, n, sum_x, sum_y)
          SELECT l, tile_cell(ST_X(p.geom_3857), l), tile_cell(-ST_Y(p.geom_3857), l),
                 p.owner, p.use_category, p.rag, p.sensitive,
                 count(*), sum(ST_X(p.geom_3857)), sum(ST_Y(p.geom_3857))
          FROM property p, generate_series(0, {AGGREGATE_MAX_LEVEL}) l
          WHERE p.deleted_at IS NULL AND p.geom_3857 IS NOT NULL
          GROUP BY 1, 2, 3, 4, 5, 6, 7;
          GET DIAGNOSTICS cells = ROW_COUNT;
          DELETE FROM tile_aggregate_total;
          INSERT INTO tile_aggregate_total (level, cx, cy, rag, sensitive, n, sum_x, sum_y)
          SELECT level, cx, cy, rag, sensitive, sum(n), sum(sum_x), sum(sum_y)
          FROM tile_aggregate GROUP BY 1, 2, 3, 4, 5;
          DELETE FROM tile_cache;
          UPDATE tile_cache_state SET generation = generation + 1;
          RETURN cells;
        END $$;

        GRANT SELECT, INSERT, UPDATE, DELETE ON tile_aggregate, tile_aggregate_total, tile_pending, tile_tx, tile_cache,
          rate_bucket TO estate_app;
        GRANT SELECT, UPDATE ON tile_cache_state TO estate_app;
        GRANT USAGE, SELECT ON SEQUENCE tile_cache_id_seq TO estate_app;
        """
    )
    op.execute("SELECT tile_aggregate_rebuild()")


def downgrade() -> None:
    op.execute(
        """
        DROP TRIGGER IF EXISTS tile_note_insert ON property;
        DROP TRIGGER IF EXISTS tile_note_update ON property;
        DROP TRIGGER IF EXISTS tile_note_delete ON property;
        DROP TABLE IF EXISTS tile_tx, tile_pending, tile_aggregate, tile_aggregate_total, tile_cache, tile_cache_state, rate_bucket;
        DROP FUNCTION IF EXISTS rate_take(text, double precision, double precision, double precision), tile_fold_transaction(), tile_note_changes(), tile_aggregate_rebuild(),
          tile_cell(double precision, integer);
        """
    )
