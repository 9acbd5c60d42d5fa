"""The register: organisations, properties, history written by the database, change feed.

Frozen history: vocabularies are written out as they stood on this date, never
imported, so a fresh database and an upgraded one stay alike.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


# Columns recorded in history and the change feed (the point as lon/lat, a footprint as GeoJSON).
# Listed, not to_jsonb(row): PostGIS's geometry-to-JSON cast costs ~0.2 ms a
# row, which made a 10,000-record batch spend seconds writing its history.
STATE_COLUMNS = (
    "id",
    "owner",
    "asset_ref",
    "uprn",
    "name",
    "street_number",
    "street",
    "post_town",
    "postcode",
    "tenure",
    "tenure_detail",
    "holding_type",
    "use_category",
    "gia_m2",
    "site_area_ha",
    "utilisation_pct",
    "fte",
    "value_gbp",
    "valuation_basis",
    "valuation_date",
    "running_cost_gbp_pa",
    "maintenance_backlog_gbp",
    "condition",
    "listed_grade",
    "lease_expiry_date",
    "rag",
    "rag_reason",
    "rag_set_by",
    "rag_set_at",
    "disposal_stage",
    "disposal_blockers",
    "sensitive",
    "version",
    "created_at",
    "created_by",
    "updated_at",
    "updated_by",
    "deleted_at",
    "deleted_by",
)


def _state_function() -> str:
    pairs = ", ".join(f"'{c}', p.{c}" for c in STATE_COLUMNS)
    return f"""
        CREATE FUNCTION property_state(p property) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
          SELECT jsonb_build_object({pairs}, 'lon', ST_X(p.geom), 'lat', ST_Y(p.geom),
                 'footprint', CASE WHEN p.footprint IS NULL THEN NULL ELSE ST_AsGeoJSON(p.footprint, 9)::jsonb END)
        $$;
    """


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute(
        """
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'estate_app') THEN
            CREATE ROLE estate_app NOLOGIN;
          END IF;
        END $$;
        """
    )
    op.execute("GRANT estate_app TO CURRENT_USER")
    op.execute(
        """
        CREATE TABLE organisation (
            code text PRIMARY KEY CHECK (code ~ '^[a-z0-9][a-z0-9-]{1,62}$'),
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            kind text NOT NULL CHECK (kind IN ('county', 'district', 'unitary', 'police', 'fire', 'nhs_trust', 'nhs_icb', 'central_government', 'education', 'other')),
            gss_code text CHECK (gss_code ~ '^[EWSN][0-9]{8}$'),
            created_at timestamptz NOT NULL DEFAULT now()
        )
        """
    )
    op.execute(
        """
        CREATE TABLE property (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            -- Integer feature id for vector tiles (MVT ids must be integers).
            fid bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
            owner text NOT NULL REFERENCES organisation(code),
            asset_ref text NOT NULL CHECK (length(asset_ref) BETWEEN 1 AND 100),
            uprn bigint CHECK (uprn BETWEEN 1 AND 999999999999),
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            street_number text CHECK (length(street_number) <= 50),
            street text CHECK (length(street) <= 200),
            post_town text CHECK (length(post_town) <= 100),
            postcode text CHECK (length(postcode) <= 10),
            geom geometry(Point, 4326),
            -- Metric and web-mercator copies kept by the database: distances in metres
            -- (co-location) and tiles read indexed geometry without per-row transforms.
            geom_bng geometry(Point, 27700) GENERATED ALWAYS AS (ST_Transform(geom, 27700)) STORED,
            geom_3857 geometry(Point, 3857) GENERATED ALWAYS AS (ST_Transform(geom, 3857)) STORED,
            footprint geometry(MultiPolygon, 4326) CHECK (footprint IS NULL OR ST_IsValid(footprint)),
            tenure text CHECK (tenure IN ('freehold', 'leasehold', 'other')),
            tenure_detail text CHECK (tenure_detail IN ('occupied', 'ground_leasehold', 'leasehold', 'sub_leasehold', 'licence', 'vacant')),
            holding_type text CHECK (holding_type IN ('land', 'building', 'land_and_building')),
            use_category text NOT NULL DEFAULT 'other' CHECK (use_category IN ('office', 'customer_service_centre', 'library', 'school', 'police_station', 'fire_station', 'health_centre', 'hospital', 'depot', 'crematorium_cemetery', 'leisure', 'community_centre', 'court', 'jobcentre', 'land', 'other')),
            gia_m2 double precision CHECK (gia_m2 >= 0 AND gia_m2 < 'Infinity'),
            site_area_ha double precision CHECK (site_area_ha >= 0 AND site_area_ha < 'Infinity'),
            utilisation_pct double precision CHECK (utilisation_pct BETWEEN 0 AND 100),
            fte double precision CHECK (fte >= 0 AND fte < 'Infinity'),
            value_gbp bigint CHECK (value_gbp >= 0),
            valuation_basis text CHECK (valuation_basis IN ('euv', 'mv', 'drc', 'fair_value')),
            valuation_date date,
            running_cost_gbp_pa bigint CHECK (running_cost_gbp_pa >= 0),
            maintenance_backlog_gbp bigint CHECK (maintenance_backlog_gbp >= 0),
            condition text CHECK (condition IN ('A', 'B', 'C', 'D')),
            listed_grade text CHECK (listed_grade IN ('I', 'II*', 'II')),
            lease_expiry_date date,
            rag text CHECK (rag IN ('red', 'amber', 'green')),
            rag_reason text CHECK (length(rag_reason) <= 1000),
            rag_set_by text,
            rag_set_at timestamptz,
            disposal_stage text NOT NULL DEFAULT 'retained' CHECK (disposal_stage IN ('retained', 'under_review', 'declared_surplus', 'marketed', 'under_offer', 'sold')),
            disposal_blockers text[] NOT NULL DEFAULT '{}'
                CHECK (disposal_blockers <@ ARRAY['operational_use', 'planning', 'contamination', 'title', 'lease']::text[]),
            sensitive boolean NOT NULL DEFAULT false,
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            created_by text NOT NULL,
            updated_at timestamptz NOT NULL DEFAULT now(),
            updated_by text NOT NULL,
            deleted_at timestamptz,
            deleted_by text,
            CONSTRAINT property_owner_asset_ref_key UNIQUE (owner, asset_ref),
            CONSTRAINT property_rag_has_reason CHECK (rag IS NULL OR rag_reason IS NOT NULL)
        )
        """
    )
    op.execute("CREATE INDEX property_geom_idx ON property USING gist (geom) WHERE deleted_at IS NULL")
    op.execute(
        "CREATE INDEX property_geom_bng_idx ON property USING gist (geom_bng) WHERE deleted_at IS NULL"
    )
    op.execute(
        "CREATE INDEX property_geom_3857_idx ON property USING gist (geom_3857) WHERE deleted_at IS NULL"
    )
    op.execute("CREATE INDEX property_owner_idx ON property (owner, id)")
    op.execute("CREATE INDEX property_rag_idx ON property (rag, id)")
    op.execute("CREATE INDEX property_use_idx ON property (use_category, id)")
    op.execute("CREATE INDEX property_town_idx ON property (lower(post_town), id)")
    op.execute(
        "CREATE INDEX property_postcode_idx ON property (upper(replace(postcode, ' ', '')) text_pattern_ops)"
    )
    op.execute("CREATE INDEX property_uprn_idx ON property (uprn)")
    # No index on value or name: value ranges are rarely selective and name search is a
    # substring match (ILIKE '%q%') no btree serves; each index costs every bulk load.

    op.execute(_state_function())
    # History and the change feed. History rows are appended by statement-level
    # triggers (one INSERT per statement, so a 10,000-row COPY stays fast), and
    # each writing transaction gets one feed_tx row whose sequence number is
    # assigned at COMMIT under a lock: feed order is commit order, so a reader
    # that has seen sequence n can never later see a smaller one appear.
    op.execute(
        """
        CREATE TABLE property_history (
            id bigserial PRIMARY KEY,
            property_id uuid NOT NULL,
            owner text NOT NULL,
            action text NOT NULL CHECK (action IN ('insert', 'update', 'delete')),
            actor text NOT NULL,
            changed_at timestamptz NOT NULL DEFAULT now(),
            txid xid8 NOT NULL DEFAULT pg_current_xact_id(),
            version integer NOT NULL,
            before jsonb,
            after jsonb
        );
        CREATE INDEX property_history_property_idx ON property_history (property_id, id);
        CREATE INDEX property_history_txid_idx ON property_history (txid, id);

        CREATE SEQUENCE feed_seq;
        CREATE TABLE feed_tx (
            txid xid8 PRIMARY KEY,
            seq bigint UNIQUE,
            committed_at timestamptz
        );
        CREATE TABLE feed_state (
            id boolean PRIMARY KEY DEFAULT true CHECK (id),
            pruned_through bigint NOT NULL DEFAULT 0
        );
        INSERT INTO feed_state DEFAULT VALUES;

        CREATE FUNCTION estate_actor() RETURNS text LANGUAGE plpgsql STABLE AS $$
        DECLARE actor text := current_setting('estate.actor', true);
        BEGIN
          IF actor IS NULL OR actor = '' THEN
            RAISE EXCEPTION 'no actor set for this transaction: set estate.actor before writing'
              USING ERRCODE = 'insufficient_privilege';
          END IF;
          RETURN actor;
        END $$;

        CREATE FUNCTION property_before_write() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE actor text := estate_actor();
        BEGIN
          IF TG_OP = 'INSERT' THEN
            NEW.version := 1;
            NEW.created_at := now(); NEW.created_by := actor;
            NEW.updated_at := now(); NEW.updated_by := actor;
            IF NEW.rag IS NOT NULL THEN
              NEW.rag_set_by := coalesce(NEW.rag_set_by, actor);
              NEW.rag_set_at := coalesce(NEW.rag_set_at, now());
            END IF;
            RETURN NEW;
          END IF;
          -- An update that changes nothing is no change: no new version, no history.
          NEW.version := OLD.version; NEW.created_at := OLD.created_at; NEW.created_by := OLD.created_by;
          NEW.updated_at := OLD.updated_at; NEW.updated_by := OLD.updated_by;
          NEW.rag_set_by := OLD.rag_set_by; NEW.rag_set_at := OLD.rag_set_at;
          -- Generated columns are computed after BEFORE triggers; copy them so the rows compare.
          NEW.geom_bng := OLD.geom_bng; NEW.geom_3857 := OLD.geom_3857;
          IF NEW IS NOT DISTINCT FROM OLD THEN
            RETURN NULL;
          END IF;
          IF NEW.rag IS DISTINCT FROM OLD.rag OR NEW.rag_reason IS DISTINCT FROM OLD.rag_reason THEN
            NEW.rag_set_by := actor; NEW.rag_set_at := now();
          END IF;
          NEW.version := OLD.version + 1;
          NEW.updated_at := now(); NEW.updated_by := actor;
          RETURN NEW;
        END $$;

        CREATE TRIGGER property_before_write BEFORE INSERT OR UPDATE ON property
          FOR EACH ROW EXECUTE FUNCTION property_before_write();

        CREATE FUNCTION feed_mark_transaction() RETURNS void LANGUAGE sql AS $$
          INSERT INTO feed_tx (txid) VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING;
        $$;

        CREATE FUNCTION property_history_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE actor text := estate_actor();
        BEGIN
          INSERT INTO property_history (property_id, owner, action, actor, version, before, after)
          SELECT n.id, n.owner, 'insert', actor, n.version, NULL,
                 property_state(n)
          FROM new_rows n;
          PERFORM feed_mark_transaction();
          RETURN NULL;
        END $$;

        CREATE FUNCTION property_history_update() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE actor text := estate_actor();
        BEGIN
          INSERT INTO property_history (property_id, owner, action, actor, version, before, after)
          SELECT n.id, n.owner,
                 CASE WHEN n.deleted_at IS NOT NULL AND o.deleted_at IS NULL THEN 'delete' ELSE 'update' END,
                 actor, n.version,
                 property_state(o),
                 property_state(n)
          FROM new_rows n JOIN old_rows o ON o.id = n.id;
          IF FOUND THEN PERFORM feed_mark_transaction(); END IF;
          RETURN NULL;
        END $$;

        CREATE FUNCTION property_history_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE actor text := estate_actor();
        BEGIN
          INSERT INTO property_history (property_id, owner, action, actor, version, before, after)
          SELECT o.id, o.owner, 'delete', actor, o.version + 1,
                 property_state(o),
                 NULL
          FROM old_rows o;
          PERFORM feed_mark_transaction();
          RETURN NULL;
        END $$;

        CREATE TRIGGER property_history_insert AFTER INSERT ON property
          REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION property_history_insert();
        CREATE TRIGGER property_history_update AFTER UPDATE ON property
          REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
          FOR EACH STATEMENT EXECUTE FUNCTION property_history_update();
        CREATE TRIGGER property_history_delete AFTER DELETE ON property
          REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION property_history_delete();

        -- At COMMIT: take the feed lock, then number this transaction. The lock is
        -- held until the commit is visible, so numbers become visible in order.
        CREATE FUNCTION feed_number_transaction() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          PERFORM pg_advisory_xact_lock(7262001);
          UPDATE feed_tx SET seq = nextval('feed_seq'), committed_at = clock_timestamp()
            WHERE txid = NEW.txid;
          RETURN NULL;
        END $$;
        CREATE CONSTRAINT TRIGGER feed_number_transaction AFTER INSERT ON feed_tx
          DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION feed_number_transaction();

        -- History is append-only for everyone, owner included.
        CREATE FUNCTION property_history_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'property_history is append-only' USING ERRCODE = 'insufficient_privilege';
        END $$;
        CREATE TRIGGER property_history_immutable BEFORE UPDATE OR DELETE ON property_history
          FOR EACH ROW EXECUTE FUNCTION property_history_immutable();
        """
    )
    op.execute(
        """
        GRANT USAGE ON SCHEMA public TO estate_app;
        GRANT SELECT, INSERT, UPDATE ON organisation TO estate_app;
        GRANT SELECT, INSERT, UPDATE ON property TO estate_app;
        GRANT SELECT, INSERT ON property_history TO estate_app;
        GRANT SELECT, INSERT, UPDATE ON feed_tx TO estate_app;
        GRANT SELECT ON feed_state TO estate_app;
        GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO estate_app;
        GRANT SELECT ON spatial_ref_sys TO estate_app;
        GRANT SELECT ON alembic_version TO estate_app;
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP FUNCTION IF EXISTS property_state(property) CASCADE;
        DROP TABLE IF EXISTS property_history CASCADE;
        DROP TABLE IF EXISTS feed_tx CASCADE;
        DROP TABLE IF EXISTS feed_state CASCADE;
        DROP SEQUENCE IF EXISTS feed_seq;
        DROP TABLE IF EXISTS property CASCADE;
        DROP TABLE IF EXISTS organisation CASCADE;
        DROP FUNCTION IF EXISTS property_history_immutable, feed_number_transaction,
          property_history_delete, property_history_update, property_history_insert,
          feed_mark_transaction, property_before_write, estate_actor;
        """
    )
